"""cnnlab's experiments: one module per classic study.

Each is ``cnnlab run NAME`` and ``python -m experiments.NAME`` (the name with ``_`` for
``-``), with the options of `experiments._harness.add_options`. Each module holds a
``STUDY`` (`experiments._harness.Study`). `EXPERIMENTS` lists them in the order
``cnnlab list`` shows them.
"""

import importlib

#: Every study, in teaching order.
EXPERIMENTS = (
    "conv-basics",
    "mnist-cnn",
    "lenet",
    "batchnorm",
    "reproduce-keras",
    "autoencoder",
    "latent-2d",
    "denoise",
    "lenet-autoencoder",
    "noise-to-digit",
    "segmentation",
)


def get(name: str):
    """The `Study` called ``name``.

    Raises:
      KeyError: an unknown name; the message lists the known ones.
    """
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module("experiments." + name.replace("-", "_")).STUDY

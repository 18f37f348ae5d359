"""cnnlab's studies: one module per classic experiment, installed as ``cnnlab.studies``.

The repository keeps them in its top-level ``experiments/`` folder; the package installs them
as ``cnnlab.studies``, so they never clash with a project's own ``experiments`` package. Each
is ``cnnlab run NAME`` and ``python -m cnnlab.studies.NAME`` (the name with ``_`` for ``-``),
with the options of `cnnlab.studies._options.add_options`, and has a typed config
(``cnnlab config NAME``). Each module holds a ``STUDY`` (`cnnlab.studies._harness.Study`).
`EXPERIMENTS` lists them in the order ``cnnlab list`` shows them.
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
    "transfer-segmentation",
)


def get(name: str):
    """The `Study` called ``name``.

    Raises:
      KeyError: an unknown name; the message lists the known ones.
    """
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module("." + name.replace("-", "_"), __name__).STUDY

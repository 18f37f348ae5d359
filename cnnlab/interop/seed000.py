"""Seed 000 (Visual Recognition assignment 4, section 1): a Keras autoencoder's weights as NumPy, run one op at a time.

The seed trains Keras's convolutional autoencoder (Listing 3: an encoder and a decoder
``Sequential``, themselves in a third), saves its weights as NumPy, and feeds them to its
own convolution, max pooling and upsampling functions in the order of its Listing 8 to
reproduce Keras's output (its Figure 1.2). Here:

- `keras_model` builds Listing 3 in Keras 3 and `compile_as_seed` compiles it as Listing 8
  does (``Adadelta(lr=0.5, rho=0.95)``, binary cross-entropy);
- `save_npz` writes the weights the seed reads (``m.encoder.layers[i].get_weights()``) to an
  ``.npz`` keyed ``"encoder/0/kernel"``, ...; `load_npz` reads them back, checked;
- `forward` is Listing 8, one `cnnlab.ops` call per line of the seed: no NNX layer;
- `LISTINGS` holds Listings 1 and 2 (layer, output shape, Param #) as printed.

Keras is imported only by the caller: the builders take the ``keras`` module.
"""

import os

import numpy as np

__all__ = ["LISTINGS", "STEPS", "compile_as_seed", "forward", "keras_model", "load_npz", "save_npz"]

#: Listings 1 (encoder) and 2 (decoder) of the seed as printed: (layer, output shape, Param #), and the totals.
LISTINGS = {
    "encoder": (
        [("conv2d_1 (Conv2D)", (None, 28, 28, 16), 160), ("max_pooling2d_1 (MaxPooling2", (None, 14, 14, 16), 0),
         ("conv2d_2 (Conv2D)", (None, 14, 14, 8), 1160), ("max_pooling2d_2 (MaxPooling2", (None, 7, 7, 8), 0),
         ("conv2d_3 (Conv2D)", (None, 7, 7, 8), 584), ("max_pooling2d_3 (MaxPooling2", (None, 4, 4, 8), 0)],
        1904,
    ),
    "decoder": (
        [("conv2d_4 (Conv2D)", (None, 4, 4, 8), 584), ("up_sampling2d_1 (UpSampling2", (None, 8, 8, 8), 0),
         ("conv2d_5 (Conv2D)", (None, 8, 8, 8), 584), ("up_sampling2d_2 (UpSampling2", (None, 16, 16, 8), 0),
         ("conv2d_6 (Conv2D)", (None, 14, 14, 16), 1168), ("up_sampling2d_3 (UpSampling2", (None, 28, 28, 16), 0),
         ("conv2d_7 (Conv2D)", (None, 28, 28, 1), 145)],
        2481,
    ),
}  # fmt: skip

#: The Keras layers whose weights Listing 8 reads (``m.encoder.layers[i]``), and each one's padding there.
CONVS = (("encoder", 0, "SAME"), ("encoder", 2, "SAME"), ("encoder", 4, "SAME"),
         ("decoder", 0, "SAME"), ("decoder", 2, "SAME"), ("decoder", 4, "VALID"), ("decoder", 6, "SAME"))  # fmt: skip

#: Listing 8 line by line, as `forward` runs it: (the seed's line, the cnnlab call).
STEPS = (
    ("my_conv2d(input_matrix, encoder.layers[0], 'same')", "ops.conv2d(padding='SAME')"),
    ("np.maximum(0, z)", "ops.relu"), ("my_maxpool((2,2), z)", "ops.max_pool2d(2, padding='SAME')"),
    ("my_conv2d(z, encoder.layers[2], 'same')", "ops.conv2d(padding='SAME')"),
    ("np.maximum(0, z)", "ops.relu"), ("my_maxpool((2,2), z)", "ops.max_pool2d(2, padding='SAME')"),
    ("my_conv2d(z, encoder.layers[4], 'same')", "ops.conv2d(padding='SAME')"),
    ("np.maximum(0, z)", "ops.relu"), ("my_maxpool((2,2), z)", "ops.max_pool2d(2, padding='SAME')"),
    ("my_conv2d(z, decoder.layers[0], 'same')", "ops.conv2d(padding='SAME')"),
    ("np.maximum(0, z)", "ops.relu"), ("my_upsample((2,2), z)", "ops.upsample2d(2)"),
    ("my_conv2d(z, decoder.layers[2], 'same')", "ops.conv2d(padding='SAME')"),
    ("np.maximum(0, z)", "ops.relu"), ("my_upsample((2,2), z)", "ops.upsample2d(2)"),
    ("my_conv2d(z, decoder.layers[4])", "ops.conv2d(padding='VALID')"),
    ("np.maximum(0, z)", "ops.relu"), ("my_upsample((2,2), z)", "ops.upsample2d(2)"),
    ("my_conv2d(z, decoder.layers[6], 'same')", "ops.conv2d(padding='SAME')"),
    ("np.vectorize(sigmoid)(z)", "ops.sigmoid"),
)  # fmt: skip


def keras_model(keras):
    """Listing 3 in Keras 3: ``(model, encoder, decoder)``, ``model = Sequential([encoder, decoder])``.

    The encoder is three ``Conv2D(3x3, relu, same)`` + ``MaxPooling2D(2, same)`` stages (16, 8, 8
    filters), the decoder ``Conv2D`` + ``UpSampling2D`` three times (8, 8, then 16 filters with no
    padding) and a ``Conv2D(1, sigmoid, same)``; `cnnlab.models.ConvAutoencoder` is the same network.
    """
    L = keras.layers
    conv = lambda n, **kw: L.Conv2D(n, (3, 3), activation=kw.pop("activation", "relu"), **kw)  # noqa: E731
    encoder = keras.Sequential(
        [keras.Input((28, 28, 1)), conv(16, padding="same"), L.MaxPooling2D((2, 2), padding="same"),
         conv(8, padding="same"), L.MaxPooling2D((2, 2), padding="same"),
         conv(8, padding="same"), L.MaxPooling2D((2, 2), padding="same")],
        name="encoder",
    )  # fmt: skip
    decoder = keras.Sequential(
        [keras.Input((4, 4, 8)), conv(8, padding="same"), L.UpSampling2D((2, 2)),
         conv(8, padding="same"), L.UpSampling2D((2, 2)), conv(16), L.UpSampling2D((2, 2)),
         conv(1, activation="sigmoid", padding="same")],
        name="decoder",
    )  # fmt: skip
    return keras.Sequential([keras.Input((28, 28, 1)), encoder, decoder], name="autoencoder"), encoder, decoder


def compile_as_seed(keras, model) -> None:
    """Listing 8's compile: ``Adadelta(lr=0.5, rho=0.95, epsilon=None)`` (None: Keras's 1e-7), binary cross-entropy."""
    opt = keras.optimizers.Adadelta(learning_rate=0.5, rho=0.95, epsilon=1e-7)
    model.compile(optimizer=opt, loss="binary_crossentropy")


def save_npz(encoder, decoder, path: str | os.PathLike) -> None:
    """The weights Listing 8 reads, as NumPy: ``"encoder/0/kernel"``, ``"encoder/0/bias"``, ... (Keras layer index)."""
    parts = {"encoder": encoder, "decoder": decoder}
    arrays = {}
    for part, i, _ in CONVS:
        layer = parts[part].layers[i]
        # `v.value`, not `layer.get_weights()`: Keras's `Variable.numpy()` warns under NumPy 2.
        kernel, bias = (np.asarray(v.value) for v in layer.weights)
        arrays[f"{part}/{i}/kernel"], arrays[f"{part}/{i}/bias"] = kernel, bias
    np.savez(path, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """`save_npz`'s arrays; ValueError naming the file and the keys when any is missing (never unpickles)."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    need = [f"{p}/{i}/{w}" for p, i, _ in CONVS for w in ("kernel", "bias")]
    if missing := [k for k in need if k not in arrays]:
        raise ValueError(f"seed000.load_npz: {os.fspath(path)!r} lacks {missing}; it holds {sorted(arrays)}")
    return arrays


def forward(weights: dict, x, *, trace: list | None = None):
    """Listing 8 with `cnnlab.ops`: ``(N, 28, 28, 1)`` images -> ``(N, 28, 28, 1)`` reconstructions.

    Args:
      weights: `load_npz`'s dict (HWIO kernels, biases).
      x: ``(N, 28, 28, 1)`` float images in [0, 1] (the seed feeds one, ``x_test[4]``).
      trace: if given, each step's output shape is appended to it, in `STEPS` order.
    """
    import jax.numpy as jnp

    from cnnlab import ops

    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != (28, 28, 1):
        raise ValueError(f"seed000.forward: x must be (N, 28, 28, 1); got {tuple(x.shape)}")
    after = {"encoder": lambda z: ops.max_pool2d(z, 2, padding="SAME"), "decoder": lambda z: ops.upsample2d(z, 2)}
    log = trace.append if trace is not None else (lambda _: None)
    z = x
    for n, (part, i, padding) in enumerate(CONVS):
        w = {k: jnp.asarray(weights[f"{part}/{i}/{k}"], jnp.float32) for k in ("kernel", "bias")}
        z = ops.conv2d(z, w["kernel"], w["bias"], padding=padding)
        log(tuple(z.shape))
        if n == len(CONVS) - 1:
            break
        z = ops.relu(z)
        log(tuple(z.shape))
        z = after[part](z)
        log(tuple(z.shape))
    z = ops.sigmoid(z)
    log(tuple(z.shape))
    return z

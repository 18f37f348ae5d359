"""Reference models in their home frameworks: the classic Keras 3 and PyTorch networks `cnnlab.models` reproduces.

Each builder takes the framework module (``keras`` on the JAX backend, ``torch``), so that
importing this module imports neither; `train_torch_classifier` is the plain PyTorch training
loop the ``reproduce-keras`` study uses, and `softmax` turns either framework's logits into
float64 probabilities for comparison. Load the trained weights into the matching cnnlab model
with `cnnlab.interop.keras.load_weights` or `cnnlab.interop.torch.load_state_dict`.
"""

import numpy as np

__all__ = [
    "keras_conv_autoencoder",
    "keras_mnist_cnn",
    "keras_seed004_cnn",
    "softmax",
    "torch_lenet5",
    "train_torch_classifier",
]


def keras_conv_autoencoder(keras):
    """The convolutional autoencoder of "Building Autoencoders in Keras" (Chollet, 2016), in Keras 3.

    ``(N, 28, 28, 1)`` in [0, 1] -> three conv 3x3 + max-pool 2 stages down to ``(N, 4, 4, 8)``
    -> conv + upsample back to ``(N, 28, 28, 1)``, sigmoid; `cnnlab.models.ConvAutoencoder`.
    """
    L = keras.layers
    inp = keras.Input((28, 28, 1))
    x = L.Conv2D(16, (3, 3), activation="relu", padding="same")(inp)
    x = L.MaxPooling2D((2, 2), padding="same")(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = L.MaxPooling2D((2, 2), padding="same")(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = L.MaxPooling2D((2, 2), padding="same")(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = L.UpSampling2D((2, 2))(x)
    x = L.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = L.UpSampling2D((2, 2))(x)
    x = L.Conv2D(16, (3, 3), activation="relu")(x)
    x = L.UpSampling2D((2, 2))(x)
    decoded = L.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    return keras.Model(inp, decoded)


def keras_mnist_cnn(keras):
    """Seed 004's MNIST CNN ("MNIST with Conv2d", In [17]) returning logits; `cnnlab.models.MnistCNN`.

    ``(N, 28, 28, 1)`` -conv3 32 same, max2-> ``(N, 14, 14, 32)`` -conv3 16 same, max2->
    ``(N, 7, 7, 16)`` -flatten, dense-> ``(N, 10)``; no activation on the convolutions, as in
    the seed. `keras_seed004_cnn` is the seed's model itself (Reshape in front, softmax out).
    """
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, padding="same"),
            L.MaxPooling2D(2),
            L.Conv2D(16, 3, padding="same"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(10),
        ]
    )


def keras_seed004_cnn(keras):
    """Seed 004's network and training configuration exactly (In [17]), compiled as the seed compiles it.

    ``Input((28, 28))``, ``Reshape((28, 28, 1))``, ``Conv2D(32, (3, 3), padding='same')``,
    ``MaxPooling2D((2, 2))``, ``Conv2D(16, (3, 3), padding='same')``, ``MaxPooling2D((2, 2))``,
    ``Flatten()``, ``Dense(10, activation='softmax')``; sparse categorical cross-entropy,
    ``Adam()`` with Keras's defaults (learning rate 1e-3, epsilon 1e-7), accuracy as ``'acc'``.
    The seed then calls ``fit(x_train, y_train, epochs=5)``: batch 32, Keras's default.
    Its weights load into ``cnnlab.models.MnistCNN()`` with `cnnlab.interop.keras.load_weights`.
    """
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            L.Reshape((28, 28, 1)),
            L.Conv2D(32, (3, 3), padding="same"),
            L.MaxPooling2D((2, 2)),
            L.Conv2D(16, (3, 3), padding="same"),
            L.MaxPooling2D((2, 2)),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(), optimizer=keras.optimizers.Adam(), metrics=["acc"])
    return model


def torch_lenet5(torch):
    """LeNet-5 in PyTorch (NCHW), returning logits; `cnnlab.models.LeNet5`.

    ``padding=2`` is Keras's SAME for a 5x5 stride-1 convolution: ``(N, 1, 28, 28)`` -conv5 6,
    tanh, avg2-> ``(N, 6, 14, 14)`` -conv5 16, tanh, avg2-> ``(N, 16, 5, 5)`` -> 120 -> 84 -> 10.
    """
    T = torch.nn
    return T.Sequential(
        T.Conv2d(1, 6, 5, padding=2), T.Tanh(), T.AvgPool2d(2),
        T.Conv2d(6, 16, 5), T.Tanh(), T.AvgPool2d(2), T.Flatten(),
        T.Linear(400, 120), T.Tanh(), T.Linear(120, 84), T.Tanh(), T.Linear(84, 10),
    )  # fmt: skip


def train_torch_classifier(torch, model, x, y, *, epochs: int, batch_size: int, learning_rate: float, seed: int):
    """Trains a PyTorch classifier with Adam and cross-entropy, reshuffling every epoch; returns it in eval mode.

    Args:
      torch: the ``torch`` module.
      model: a ``torch.nn.Module`` returning logits.
      x: float32 NHWC images ``(N, H, W, C)`` (NumPy); they are fed as NCHW.
      y: int64 labels ``(N,)``.
      epochs, batch_size, learning_rate: as in Keras's ``fit`` (the last batch may be smaller).
      seed: seeds the shuffling's ``torch.Generator``.
    """
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    # A C-order copy, as the study always made it: np.ascontiguousarray trains to other float rounding.
    xt, yt = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


def softmax(z) -> np.ndarray:
    """Row-wise softmax of logits ``(N, K)`` in float64, the largest logit subtracted first.

    Example:
      >>> softmax(np.log([[1.0, 3.0]]))
      array([[0.25, 0.75]])
    """
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

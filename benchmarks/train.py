"""Training throughput: cnnlab.train.fit against PyTorch eager, Keras 3 fit and plain Flax NNX.

The Keras-tutorial MNIST CNN (`cnnlab.models.MnistCNN`: conv3x3 32 same relu, max2,
conv3x3 16 same relu, max2, dense 10; 12,794 parameters) trained with adam on
Fashion-MNIST, one epoch per framework after one warm-up epoch (which compiles), at
batch 32 and 128. Reported as images per second and as cnnlab's throughput over each
peer's (above 1: cnnlab is faster).

- cnnlab scan: `train.fit` (one compiled `lax.scan` per epoch);
- cnnlab per-step: `train.fit(per_step=True)`;
- Flax NNX per-step: `nnx.Conv`/`nnx.Linear`, `nnx.Optimizer`, an `nnx.jit` step in a
  Python loop (flax's examples/mnist style), same data on the device;
- Keras 3 fit: the same `Sequential` on the JAX backend, `model.fit(epochs=1)`;
- PyTorch eager: the same network in NCHW, `torch.optim.Adam`, a Python loop.

    python benchmarks/train.py                      # 6,400 images, batches 32 and 128
    python benchmarks/train.py --examples 60000 --batches 128
"""

import argparse
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from cnnlab import data, models, train


def _cnnlab(x, y, batch, per_step):
    model = models.MnistCNN(rngs=nnx.Rngs(0))
    hist = train.fit(model, (x, y), loss="softmax_cross_entropy", optimizer="adam", epochs=2, batch_size=batch,
                     per_step=per_step, verbose=False)
    return hist["time_s"][1]


class _FlaxCNN(nnx.Module):
    def __init__(self, rngs):
        self.c1 = nnx.Conv(1, 32, (3, 3), padding="SAME", rngs=rngs)
        self.c2 = nnx.Conv(32, 16, (3, 3), padding="SAME", rngs=rngs)
        self.d = nnx.Linear(7 * 7 * 16, 10, rngs=rngs)

    def __call__(self, x):
        pool = lambda h: nnx.max_pool(h, (2, 2), (2, 2))  # noqa: E731
        h = pool(nnx.relu(self.c2(pool(nnx.relu(self.c1(x))))))
        return self.d(h.reshape(h.shape[0], -1))


def _flax(x, y, batch):
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    model = _FlaxCNN(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, i):
        xb, yb = xd[i].astype(jnp.float32) / 255, yd[i]

        def loss(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(xb), yb).mean()

        value, grads = nnx.value_and_grad(loss)(model)
        opt.update(model, grads)
        return value

    times = []
    for epoch in range(2):
        idx = np.asarray(data.epoch_indices(jax.random.key(epoch), len(x), batch_size=batch)[0])
        t0 = time.perf_counter()
        for rows in idx:
            v = step(model, opt, rows)
        jax.block_until_ready(v)
        times.append(time.perf_counter() - t0)
    return times[1]


def _keras(x, y, batch):
    import keras

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xf = x.astype(np.float32) / 255
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        model.fit(xf, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        times.append(time.perf_counter() - t0)
    return times[1]


def _torch(x, y, batch):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    yt = torch.from_numpy(y.astype(np.int64))
    times = []
    for epoch in range(2):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        t0 = time.perf_counter()
        for s in range(len(x) // batch):
            i = perm[s * batch:(s + 1) * batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[i]), yt[i])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times[1]


PEERS = {
    "cnnlab scan": lambda x, y, b: _cnnlab(x, y, b, per_step=False),
    "cnnlab per-step": lambda x, y, b: _cnnlab(x, y, b, per_step=True),
    "Flax NNX per-step": _flax,
    "Keras 3 fit (jax)": _keras,
    "PyTorch eager": _torch,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=6400, help="training images per epoch")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    args = parser.parse_args()
    ds = data.load("fashion_mnist")
    x, y = ds.images[: args.examples], ds.labels[: args.examples]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
          f"({jax.default_backend()}), {len(x)} Fashion-MNIST images, MnistCNN, adam; second epoch timed")
    for batch in args.batches:
        rate = {}
        for name, run in PEERS.items():
            steps = len(x) // batch
            rate[name] = steps * batch / run(x, y, batch)
        ours = rate["cnnlab scan"]
        print(f"\nbatch {batch}")
        print(f"| {'framework':<20} | {'images/s':>9} | {'cnnlab scan / it':>16} |")
        print(f"| {'-' * 20} | {'-' * 9}: | {'-' * 16}: |")
        for name, r in rate.items():
            print(f"| {name:<20} | {r:>9.0f} | {ours / r:>16.2f} |")


if __name__ == "__main__":
    main()

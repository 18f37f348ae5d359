"""One training task per zoo model, and the training loops that time it in each framework.

`task(name)` builds the cnnlab model, walks its architecture (`_arch`) and makes synthetic
data of its shapes: images (or noise vectors) uniform in [0, 1), and integer labels for
classifiers and `Segmenter` (softmax cross-entropy) or targets of the output's shape for
the rest (mean squared error; an autoencoder's target is its input). Throughput does not
depend on the values. Each ``train_*`` runs ``epochs`` epochs of adam (1e-3) at one batch
size and returns each epoch's wall time and the last step's loss; the first epoch includes
compilation (JAX, Keras, ``torch.compile``).
"""

import time
from dataclasses import dataclass

import _arch
import _peers
import numpy as np
from flax import nnx

from cnnlab import models

#: Per-example inputs where a zoo model's are not 28x28 grey digits.
INPUTS = {"CifarCNN": (32, 32, 3), "NoiseToDigit": (100,), "Segmenter": (64, 64, 1)}
#: Zoo variants beside each class's defaults: ``(label, class name, keyword arguments)``.
VARIANTS = (("CifarCNN+BN", "CifarCNN", {"batch_norm": True}),)


@dataclass(frozen=True)
class Task:
    """A zoo model's training task: its architecture, input shape and synthetic data."""

    label: str
    name: str
    kwargs: dict
    input_shape: tuple
    arch: object  # list[_arch.Op] | _arch.UNet
    classify: bool
    x: np.ndarray
    y: np.ndarray

    def model(self, seed: int = 0):
        """A fresh cnnlab model."""
        return models.ZOO[self.name](**self.kwargs, rngs=nnx.Rngs(seed))


def labels() -> list[str]:
    """Every zoo model's label, and the variants', in `models.ZOO` order."""
    out = []
    for name in models.ZOO:
        out.append(name)
        out += [label for label, base, _ in VARIANTS if base == name]
    return out


def task(label: str, examples: int, seed: int = 0) -> Task:
    """The `Task` of zoo model (or variant) ``label`` with ``examples`` synthetic examples."""
    variants = {v[0]: v[1:] for v in VARIANTS}
    name, kwargs = variants.get(label, (label, {}))
    if name not in models.ZOO:
        raise ValueError(f"zoo: unknown model {label!r}; known: {', '.join(labels())}")
    shape = INPUTS.get(name, (28, 28, 1))
    arch = _arch.walk(models.ZOO[name](**kwargs, rngs=nnx.Rngs(seed)), shape)
    out_shape = _arch.ops_of(arch)[-1].out_shape
    classify = isinstance(models.ZOO[name], type) and issubclass(models.ZOO[name], models.Classifier | models.Segmenter)
    rng = np.random.default_rng(seed)
    x = rng.random((examples, *shape), np.float32)
    if classify:
        y = rng.integers(0, out_shape[-1], (examples, *out_shape[:-1])).astype(np.int32)
    else:
        y = x if tuple(out_shape) == tuple(shape) else rng.random((examples, *out_shape), np.float32)
    return Task(label, name, kwargs, shape, arch, classify, x, y)


def train_cnnlab(t: Task, batch: int, epochs: int, *, per_step=False, compute_dtype=None) -> tuple[list, float]:
    """`cnnlab.train.fit` (one compiled ``lax.scan`` per epoch, or ``per_step``)."""
    from cnnlab import train

    loss = "softmax_cross_entropy" if t.classify else "mse"
    hist = train.fit(t.model(), (t.x, t.y), loss=loss, optimizer="adam", epochs=epochs, batch_size=batch,
                     per_step=per_step, compute_dtype=compute_dtype, metrics=(), verbose=False)  # fmt: skip
    return list(hist["time_s"]), float(hist["loss"][-1])


def train_flax(t: Task, batch: int, epochs: int) -> tuple[list, float]:
    """Plain Flax NNX: the peer of flax's own layers, ``nnx.Optimizer``, an ``nnx.jit`` step in a Python loop."""
    import jax
    import jax.numpy as jnp
    import optax

    model = _peers.flax_model(t.arch, nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    xd, yd = jnp.asarray(t.x), jnp.asarray(t.y)

    @nnx.jit
    def step(model, opt, rows):
        def loss_fn(model):
            out = model(xd[rows])
            if t.classify:
                return optax.softmax_cross_entropy_with_integer_labels(out, yd[rows]).mean()
            return jnp.mean((out - yd[rows]) ** 2)

        value, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return value

    times, steps = [], len(t.x) // batch
    for epoch in range(epochs):
        perm = np.random.default_rng(epoch).permutation(len(t.x))[: steps * batch].reshape(steps, batch)
        t0 = time.perf_counter()
        for rows in perm:
            value = step(model, opt, jnp.asarray(rows))
        jax.block_until_ready(value)
        times.append(time.perf_counter() - t0)
    return times, float(value)


def train_torch(t: Task, batch: int, epochs: int, *, compile=False, device="cpu") -> tuple[list, float]:
    """PyTorch eager (or ``torch.compile``d) in NCHW, ``torch.optim.Adam``, a Python loop; data on ``device``."""
    import torch

    net = _peers.torch_model(torch, t.arch).to(device).train()
    step_net = torch.compile(net) if compile else net
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    nchw = (lambda a: a.transpose(0, 3, 1, 2)) if t.x.ndim == 4 else (lambda a: a)
    xt = torch.from_numpy(np.ascontiguousarray(nchw(t.x))).to(device)
    if t.classify:
        yt = torch.from_numpy(t.y.astype(np.int64)).to(device)
        loss_fn = torch.nn.functional.cross_entropy
    else:
        yt = torch.from_numpy(np.ascontiguousarray(t.y.transpose(0, 3, 1, 2) if t.y.ndim == 4 else t.y)).to(device)
        loss_fn = torch.nn.functional.mse_loss
    times, steps = [], len(t.x) // batch
    for epoch in range(epochs):
        perm = torch.randperm(len(t.x), generator=torch.Generator().manual_seed(epoch)).to(device)
        t0 = time.perf_counter()
        for s in range(steps):
            i = perm[s * batch : (s + 1) * batch]
            opt.zero_grad()
            loss = loss_fn(step_net(xt[i]), yt[i])
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times, float(loss.detach().cpu())


def train_keras(t: Task, batch: int, epochs: int) -> tuple[list, float]:
    """Keras 3 on the JAX backend: the peer model, ``compile(adam)``, ``fit`` one epoch at a time."""
    import keras

    keras.utils.set_random_seed(0)
    model = _peers.keras_model(keras, t.arch, t.input_shape)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if t.classify else "mse"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    steps, times = len(t.x) // batch, []
    x, y = t.x[: steps * batch], t.y[: steps * batch]
    for _ in range(epochs):
        t0 = time.perf_counter()
        hist = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        times.append(time.perf_counter() - t0)
    return times, float(hist.history["loss"][-1])

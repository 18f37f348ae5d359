"""The zoo's architectures in PyTorch, Keras 3 and plain Flax NNX, built from `_arch` at run time.

One place for every peer network, so they stay in step with `cnnlab.models`: each builder
reads the `_arch.Op`s that `_arch.walk` took from the cnnlab model itself, never a copy of
its layer list. The PyTorch peer computes what the cnnlab model computes when it has the
same weights (Keras's "same" padding and transposed-convolution cropping written out as
explicit pads and crops; NCHW flattening, which `cnnlab.interop.torch` converts); the Keras
peer is the same layer list in Keras 3 (NHWC, so `cnnlab.interop.keras` loads it as is);
the Flax peer uses flax's own layers (`nnx.Conv`, `nnx.ConvTranspose`, `nnx.BatchNorm`,
`nnx.max_pool`, ...) with the same shapes and parameter counts. The frameworks are passed
in (``torch``, ``keras``), so importing this module imports neither.
"""

import _arch
import jax
import jax.numpy as jnp
from flax import nnx

# ---------------------------------------------------------------- PyTorch (NCHW)


def _torch_op(torch, op: _arch.Op):
    T, a = torch.nn, op.args
    if op.kind == "conv":
        (pt, pb), (pl, pr) = a["pads"]
        sym = pt == pb and pl == pr
        conv = T.Conv2d(a["cin"], a["cout"], a["k"], a["s"], (pt, pl) if sym else 0, a["d"], bias=a["bias"])
        return conv if sym else T.Sequential(T.ZeroPad2d((pl, pr, pt, pb)), conv)
    if op.kind == "conv_transpose":
        (ct, cb), (cl, cr) = a["crop"]
        if ct == cb >= 0 and cl == cr >= 0:  # PyTorch's own padding crops both ends alike
            return T.ConvTranspose2d(a["cin"], a["cout"], a["k"], a["s"], (ct, cl), 0, 1, a["bias"], a["d"])
        conv = T.ConvTranspose2d(a["cin"], a["cout"], a["k"], a["s"], 0, 0, 1, a["bias"], a["d"])
        return T.Sequential(conv, T.ZeroPad2d((-cl, -cr, -ct, -cb)))  # negative pads crop
    if op.kind == "dense":
        return T.Linear(a["cin"], a["cout"])
    if op.kind == "batch_norm":
        bn = T.BatchNorm2d if len(op.in_shape) == 3 else T.BatchNorm1d
        return bn(a["features"], eps=a["epsilon"], momentum=1 - a["momentum"])
    if op.kind == "act":
        return {"relu": T.ReLU, "sigmoid": T.Sigmoid, "tanh": T.Tanh}[a["fn"]]()
    if op.kind in ("max_pool", "avg_pool"):
        (pt, pb), (pl, pr) = a["pads"]
        if pt or pl or ((pb or pr) and (op.kind == "avg_pool" or a["s"] != a["k"])):
            raise ValueError(f"_peers: {op.kind} with pads {a['pads']} has no PyTorch counterpart here")
        pool = T.MaxPool2d if op.kind == "max_pool" else T.AvgPool2d
        return pool(a["k"], a["s"], ceil_mode=bool(pb or pr))  # ceil_mode: Keras's "same" end windows
    if op.kind == "upsample":
        return T.Upsample(scale_factor=a["size"], mode="nearest")
    if op.kind == "flatten":
        return T.Flatten()
    if op.kind == "unflatten":
        h, w, c = op.out_shape
        return T.Unflatten(1, (c, h, w))
    if op.kind == "dropout":
        return T.Dropout(a["rate"])
    raise ValueError(f"_peers: no PyTorch layer for {op.kind}")


def torch_model(torch, arch):
    """A ``torch.nn.Module`` (NCHW) of ``arch`` (a list of `_arch.Op` or a `_arch.UNet`)."""
    T = torch.nn
    if not isinstance(arch, _arch.UNet):
        return T.Sequential(*(_torch_op(torch, op) for op in arch))

    class UNet(T.Module):
        def __init__(self):
            super().__init__()
            stage = {k: T.Sequential(*(_torch_op(torch, op) for op in v)) for k, v in arch.stages.items()}
            self.down1, self.down2, self.bottom = stage["down1"], stage["down2"], stage["bottom"]
            self.up2, self.up1, self.head = stage["up2"], stage["up1"], stage["head"]
            self.pool, self.up = _torch_op(torch, arch.pool), _torch_op(torch, arch.upsample)

        def merge(self, x, skip):
            return torch.cat([self.up(x), skip], 1) if arch.skips else self.up(x)

        def forward(self, x):
            s1 = self.down1(x)
            s2 = self.down2(self.pool(s1))
            y = self.up2(self.merge(self.bottom(self.pool(s2)), s2))
            return self.head(self.up1(self.merge(y, s1)))

    return UNet()


# ---------------------------------------------------------------- Keras 3 (NHWC)


def _keras_layers(keras, ops):
    """Keras layers for ``ops``, an activation folded into the layer before it (as Keras code writes it)."""
    L, out, i = keras.layers, [], 0
    while i < len(ops):
        op, a = ops[i], ops[i].args
        nxt = ops[i + 1] if i + 1 < len(ops) else None
        act = nxt.args["fn"] if nxt is not None and nxt.kind == "act" and op.kind in _arch.WEIGHTED else None
        i += 2 if act else 1
        if op.kind in ("conv", "conv_transpose"):
            out += _keras_conv(keras, op, act)
        elif op.kind == "dense":
            out.append(L.Dense(a["cout"], activation=act))
        elif op.kind == "batch_norm":
            out.append(L.BatchNormalization(momentum=a["momentum"], epsilon=a["epsilon"]))
        elif op.kind == "act":
            out.append(L.Activation(a["fn"]))
        elif op.kind in ("max_pool", "avg_pool"):
            cls = L.MaxPooling2D if op.kind == "max_pool" else L.AveragePooling2D
            padding = "same" if any(p for pair in a["pads"] for p in pair) else "valid"
            out.append(cls(a["k"], a["s"], padding))
        elif op.kind == "upsample":
            out.append(L.UpSampling2D(a["size"]))
        elif op.kind == "flatten":
            out.append(L.Flatten())
        elif op.kind == "unflatten":
            out.append(L.Reshape(op.out_shape))
        elif op.kind == "dropout":
            out.append(L.Dropout(a["rate"]))
        else:
            raise ValueError(f"_peers: no Keras layer for {op.kind}")
    return out


def _keras_conv(keras, op, act) -> list:
    """A Keras convolution; explicit pads before it, or crops after it, where "same"/"valid" do not fit."""
    L, a = keras.layers, op.args
    padding = _keras_padding(op)
    kw = dict(dilation_rate=a["d"], activation=act, use_bias=a["bias"])
    if op.kind == "conv":
        pre = [] if padding else [L.ZeroPadding2D(a["pads"])]
        return [*pre, L.Conv2D(a["cout"], a["k"], a["s"], padding or "valid", **kw)]
    post = [] if padding else [L.Cropping2D(a["crop"])]
    if any(c < 0 for pair in a["crop"] for c in pair) and not padding:
        raise ValueError(f"_peers: a transposed convolution padded by {a['crop']} has no Keras counterpart here")
    out_pad = a["output_padding"] if padding else None
    return [L.Conv2DTranspose(a["cout"], a["k"], a["s"], padding or "valid", output_padding=out_pad, **kw), *post]


def _keras_padding(op) -> str | None:
    """``"same"``/``"valid"`` where Keras's own padding gives the op's output, else None."""
    a = op.args
    if op.kind == "conv":
        if all(p == (0, 0) for p in a["pads"]):
            return "valid"
        same = tuple(_arch.same_pads(op.in_shape[i], a["k"][i], a["s"][i], a["d"][i]) for i in range(2))
        return "same" if tuple(a["pads"]) == same else None
    if all(c == (0, 0) for c in a["crop"]):
        return "valid"
    tf_same = all(op.out_shape[i] == op.in_shape[i] * a["s"][i] and lo == max(lo + hi, 0) // 2
                  for i, (lo, hi) in enumerate(a["crop"]))  # fmt: skip
    return "same" if tf_same else None


def keras_model(keras, arch, input_shape):
    """A Keras 3 model of ``arch`` taking per-example ``input_shape`` (NHWC)."""
    if not isinstance(arch, _arch.UNet):
        return keras.Sequential([keras.Input(input_shape), *_keras_layers(keras, arch)])
    L = keras.layers

    def run(ops, x):
        for layer in _keras_layers(keras, ops):
            x = layer(x)
        return x

    def merge(x, skip):
        x = run([arch.upsample], x)
        return L.Concatenate()([x, skip]) if arch.skips else x

    inp = keras.Input(input_shape)
    s1 = run(arch.stages["down1"], inp)
    s2 = run(arch.stages["down2"], run([arch.pool], s1))
    y = run(arch.stages["up2"], merge(run(arch.stages["bottom"], run([arch.pool], s2)), s2))
    return keras.Model(inp, run(arch.stages["head"], run(arch.stages["up1"], merge(y, s1))))


# ---------------------------------------------------------------- Flax NNX (flax's own layers)


def _flax_op(op: _arch.Op, rngs):
    a = op.args
    if op.kind == "conv":
        return nnx.Conv(a["cin"], a["cout"], a["k"], a["s"], padding=a["pads"], kernel_dilation=a["d"],
                        use_bias=a["bias"], rngs=rngs)  # fmt: skip
    if op.kind == "conv_transpose":
        return _FlaxConvTranspose(op, rngs)
    if op.kind == "dense":
        return nnx.Linear(a["cin"], a["cout"], rngs=rngs)
    if op.kind == "batch_norm":
        return nnx.BatchNorm(a["features"], momentum=a["momentum"], epsilon=a["epsilon"], rngs=rngs)
    if op.kind == "act":
        return {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[a["fn"]]
    if op.kind in ("max_pool", "avg_pool"):
        pool = nnx.max_pool if op.kind == "max_pool" else nnx.avg_pool
        return lambda x: pool(x, a["k"], a["s"], padding=a["pads"])
    if op.kind == "upsample":
        h, w, c = op.out_shape
        return lambda x: jax.image.resize(x, (x.shape[0], h, w, c), "nearest")
    if op.kind in ("flatten", "unflatten"):
        return lambda x: x.reshape(x.shape[0], *op.out_shape)
    if op.kind == "dropout":
        return nnx.Dropout(a["rate"], rngs=rngs)
    raise ValueError(f"_peers: no Flax layer for {op.kind}")


class _FlaxConvTranspose(nnx.Module):
    """`nnx.ConvTranspose` (VALID: every input pixel times every tap) cropped to the op's output."""

    def __init__(self, op, rngs):
        a = op.args
        self.conv = nnx.ConvTranspose(a["cin"], a["cout"], a["k"], a["s"], padding="VALID",
                                      kernel_dilation=a["d"], use_bias=a["bias"], rngs=rngs)  # fmt: skip
        self.crop, self.out = a["crop"], op.out_shape

    def __call__(self, x):
        y = self.conv(x)
        (t, _), (left, _) = self.crop
        y = y[:, t : t + self.out[0], left : left + self.out[1]]
        short = (self.out[0] - y.shape[1], self.out[1] - y.shape[2])  # zeros at the end (stride > kernel)
        return jnp.pad(y, [(0, 0), (0, short[0]), (0, short[1]), (0, 0)]) if any(short) else y


class _FlaxUNet(nnx.Module):
    def __init__(self, arch, rngs):
        self.stages = nnx.Dict({k: nnx.Sequential(*(_flax_op(op, rngs) for op in v)) for k, v in arch.stages.items()})
        self.pool, self.up, self.skips = _flax_op(arch.pool, rngs), arch.upsample, arch.skips

    def _merge(self, x, skip):
        h, w, _ = skip.shape[1:]
        x = jax.image.resize(x, (x.shape[0], h, w, x.shape[-1]), "nearest")
        return jnp.concatenate([x, skip], -1) if self.skips else x

    def __call__(self, x):
        s = self.stages
        s1 = s["down1"](x)
        s2 = s["down2"](self.pool(s1))
        y = s["up2"](self._merge(s["bottom"](self.pool(s2)), s2))
        return s["head"](s["up1"](self._merge(y, s1)))


def flax_model(arch, rngs: nnx.Rngs):
    """A Flax NNX model of ``arch`` made of flax's own layers."""
    if isinstance(arch, _arch.UNet):
        return _FlaxUNet(arch, rngs)
    return nnx.Sequential(*(_flax_op(op, rngs) for op in arch))

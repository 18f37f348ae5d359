"""cnnlab.ops against PyTorch (torch.nn.functional) as the oracle, forward and gradients.

PyTorch runs in float64 on copies of the float32 inputs our ops see, so the comparison is at
our float32 tolerance. Layouts are converted at the boundary (tests/ops/torch_helpers.py):
NHWC <-> NCHW, HWIO <-> OIHW, and our transposed-conv kernel (KH, KW, C_out, C_in) <->
PyTorch's (C_in, C_out, KH, KW).

Where the two libraries mean different things by the same words the oracle is adapted
explicitly, never our op: Keras/TF "SAME" padding (odd pixel at the bottom/right) is built
with `F.pad`; Keras batch-norm momentum is PyTorch's `1 - momentum`, and PyTorch's running
variance uses the unbiased batch variance where ours uses the biased one.

Gradients are vector-Jacobian products with one random cotangent, ours by `jax.vjp` and
PyTorch's by `backward(cotangent)`, w.r.t. every array input.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab import ops
from tests.ops.torch_helpers import (
    channels_first,
    channels_last,
    kernel_from_torch,
    kernel_to_torch,
    same_pads,
    t64,
    to_np,
    torch_pad_arg,
)
from tests.tolerances import assert_close

# One intra-op thread: deterministic summation order in the oracle, and no oversubscription
# of the two cores that pytest-xdist already keeps busy.
torch.set_num_threads(1)

SEEDS = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- helpers


def _ours(fn, arrays, cotangent=None, **static):
    """Our op under `jit`: (output, grads w.r.t. each of `arrays` for `cotangent`) as numpy."""
    f = functools.partial(fn, **static)
    arrays = tuple(jnp.asarray(a) for a in arrays)
    if cotangent is None:
        return np.asarray(jax.jit(f)(*arrays)), None
    shape = jax.eval_shape(f, *arrays).shape
    expected_shape = np.shape(cotangent)
    assert shape == expected_shape, f"output shape {shape}, PyTorch gives {expected_shape}"

    @jax.jit
    def fwd_bwd(args, ct):
        out, pullback = jax.vjp(f, *args)
        return out, pullback(ct)

    out, grads = fwd_bwd(arrays, jnp.asarray(cotangent))
    return np.asarray(out), [np.asarray(g) for g in grads]


def _check(out, grads, expected, expected_grads, names, context):
    assert out.shape == expected.shape, f"{context}: shape {out.shape} vs torch {expected.shape}"
    assert_close(out, expected, err_msg=f"forward; {context}")
    for name, g, e in zip(names, grads, expected_grads, strict=True):
        assert g.shape == e.shape, f"d/d{name}: shape {g.shape} vs torch {e.shape}; {context}"
        assert_close(g, e, np.float32, grad=True, err_msg=f"d/d{name}; {context}")


def _cotangent(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _int_or_tuple(draw, values):
    """Pass a repeated value as an int half of the time, to exercise both argument forms."""
    values = tuple(values)
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return values


def _distinct(rng, shape):
    """Float32 values without ties (a scaled permutation), so max-pool subgradients are unique."""
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float32) / 4 - n / 8).reshape(shape)


def _axis_pads(case, i):
    """(before, after) padding of spatial axis i as PyTorch must see it for this case."""
    kind = case["kind"]
    if kind == "VALID":
        return (0, 0)
    if kind == "SAME":
        stride = case["stride"][i] if case["stride"] is not None else case["window"][i]
        return same_pads(case["spatial"][i], case["window"][i], stride, case["dilation"][i])
    return case["pads"][i]


# --------------------------------------------------------------------------- strategies


@st.composite
def _windowed_cases(draw, ndim, *, max_window, dilations, pools):
    """Shapes and static config shared by conv and pooling: VALID / SAME / int / explicit."""
    window = tuple(draw(st.integers(1, max_window)) for _ in range(ndim))
    if pools and draw(st.booleans()):
        stride = None  # defaults to the window
    else:
        stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.sampled_from(dilations)) for _ in range(ndim))
    # "int" pads every side alike; "pair" is (ph, pw) in 2-D; "explicit" is asymmetric:
    # ((top, bottom), (left, right)) in 2-D, (left, right) in 1-D.
    kinds = ["VALID", "SAME", "int", "pair", "explicit"]
    kind = draw(st.sampled_from(kinds if ndim == 2 else [k for k in kinds if k != "pair"]))
    # PyTorch pools allow padding <= window // 2; conv padding is free.
    limits = [w // 2 if pools else 2 for w in window]
    if kind == "int":
        p = draw(st.integers(0, min(limits)))
        pads, padding = ((p, p),) * ndim, p
    elif kind == "pair":
        padding = tuple(draw(st.integers(0, m)) for m in limits)
        pads = tuple((p, p) for p in padding)
    elif kind == "explicit":
        pads = tuple((draw(st.integers(0, m)), draw(st.integers(0, m))) for m in limits)
        padding = pads if ndim == 2 else pads[0]
    else:
        pads, padding = None, kind
    spatial = []
    for i in range(ndim):
        eff = dilation[i] * (window[i] - 1) + 1
        lo = 1 if kind == "SAME" else max(1, eff - (sum(pads[i]) if pads else 0))
        spatial.append(draw(st.integers(lo, lo + 5)))
    return dict(
        batch=draw(st.sampled_from([1, 2])),
        spatial=tuple(spatial),
        window=window,
        stride=stride,
        dilation=dilation,
        kind=kind,
        pads=pads,
        padding=padding,
        stride_arg=None if stride is None else _int_or_tuple(draw, stride),
        window_arg=_int_or_tuple(draw, window),
        dilation_arg=_int_or_tuple(draw, dilation),
        seed=draw(SEEDS),
    )


def _unwrap1(arg):
    """1-D ops take ints; our strategies build 1-tuples."""
    return arg[0] if isinstance(arg, tuple) and len(arg) == 1 and isinstance(arg[0], int) else arg


# --------------------------------------------------------------------------- conv1d / conv2d


@pytest.mark.parametrize("ndim", [1, 2])
@given(data=st.data())
def test_conv_matches_torch(ndim, data):
    case = data.draw(_windowed_cases(ndim, max_window=4, dilations=[1, 2], pools=False))
    c_in, c_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    use_bias = data.draw(st.booleans())
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], *case["spatial"], c_in)).astype(np.float32)
    k = rng.standard_normal((*case["window"], c_in, c_out)).astype(np.float32)
    b = rng.standard_normal((c_out,)).astype(np.float32) if use_bias else None

    xt, wt = channels_first(x).requires_grad_(), kernel_to_torch(k).requires_grad_()
    bt = t64(b, requires_grad=True) if use_bias else None
    conv = F.conv1d if ndim == 1 else F.conv2d
    stride, dilation = case["stride"], case["dilation"]
    if case["kind"] in ("int", "pair"):  # PyTorch's own symmetric padding argument
        out_t = conv(xt, wt, bt, stride=stride, padding=case["padding"], dilation=dilation)
    else:
        pads = [_axis_pads(case, i) for i in range(ndim)]
        out_t = conv(F.pad(xt, torch_pad_arg(pads)), wt, bt, stride=stride, dilation=dilation)
    expected = channels_last(out_t)
    ct = _cotangent(rng, expected.shape)
    out_t.backward(channels_first(ct))
    expected_grads = [channels_last(xt.grad), kernel_from_torch(wt.grad)]
    expected_grads += [to_np(bt.grad)] if use_bias else []

    fn = ops.conv1d if ndim == 1 else ops.conv2d
    arrays = [x, k] + ([b] if use_bias else [])
    static = dict(
        stride=_unwrap1(case["stride_arg"]),
        padding=case["padding"],
        dilation=_unwrap1(case["dilation_arg"]),
    )
    out, grads = _ours(fn, arrays, ct, **static)
    _check(
        out,
        grads,
        expected,
        expected_grads,
        ["x", "kernel", "bias"][: len(arrays)],
        f"{fn.__name__} x{x.shape} kernel{k.shape} {static}",
    )


# --------------------------------------------------------------------------- conv2d_transpose


@st.composite
def _conv_transpose_cases(draw):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple(draw(st.integers(0, d * (k - 1))) for k, d in zip(kernel, dilation))
    # PyTorch: output_padding must be smaller than either stride or dilation.
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    spatial = []
    for k, s, d, p, op in zip(kernel, stride, dilation, padding, out_pad):
        # output = (in - 1) * s - 2p + d (k - 1) + op + 1 must be at least 1
        need = 2 * p - d * (k - 1) - op
        lo = max(1, -(-need // s) + 1)
        spatial.append(draw(st.integers(lo, lo + 4)))
    return dict(
        batch=draw(st.sampled_from([1, 2])),
        spatial=tuple(spatial),
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=out_pad,
        static=dict(
            stride=_int_or_tuple(draw, stride),
            padding=_int_or_tuple(draw, padding),
            output_padding=_int_or_tuple(draw, out_pad),
            dilation=_int_or_tuple(draw, dilation),
        ),
        c_in=draw(st.integers(1, 3)),
        c_out=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        seed=draw(SEEDS),
    )


def _conv_transpose_data(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], *case["spatial"], case["c_in"])).astype(np.float32)
    k = rng.standard_normal((*case["kernel"], case["c_out"], case["c_in"])).astype(np.float32)
    b = rng.standard_normal((case["c_out"],)).astype(np.float32) if case["bias"] else None
    return rng, x, k, b


@given(case=_conv_transpose_cases())
def test_conv2d_transpose_matches_torch(case):
    """PyTorch padding semantics: out = (in-1)*s - 2p + d*(k-1) + output_padding + 1."""
    rng, x, k, b = _conv_transpose_data(case)
    xt, wt = channels_first(x).requires_grad_(), kernel_to_torch(k).requires_grad_()
    bt = t64(b, requires_grad=True) if case["bias"] else None
    out_t = F.conv_transpose2d(
        xt,
        wt,
        bt,
        stride=case["stride"],
        padding=case["padding"],
        output_padding=case["output_padding"],
        dilation=case["dilation"],
    )
    expected = channels_last(out_t)
    ct = _cotangent(rng, expected.shape)
    out_t.backward(channels_first(ct))
    expected_grads = [channels_last(xt.grad), kernel_from_torch(wt.grad)]
    expected_grads += [to_np(bt.grad)] if case["bias"] else []

    arrays = [x, k] + ([b] if case["bias"] else [])
    out, grads = _ours(ops.conv2d_transpose, arrays, ct, **case["static"])
    _check(
        out,
        grads,
        expected,
        expected_grads,
        ["x", "kernel", "bias"][: len(arrays)],
        f"conv2d_transpose x{x.shape} kernel{k.shape} {case['static']}",
    )


@given(
    case=_conv_transpose_cases().map(lambda c: {**c, "padding": None, "output_padding": None}),
    kind=st.sampled_from(["SAME", "VALID"]),
)
def test_conv2d_transpose_keras_padding_matches_cropped_torch(case, kind):
    """Keras/TF SAME and VALID, built from PyTorch's uncropped (padding=0) transposed conv.

    TF defines conv2d_transpose as the input-gradient of a conv2d whose input has the output's
    size: out = in*s (SAME) or in*s + max(k_eff - s, 0) (VALID), and that conv's SAME/VALID
    padding `before` is where the output starts in the full (in-1)*s + k_eff result. Where the
    output is longer than the full result (k_eff < s) it continues with zeros, plus the bias.
    """
    rng, x, k, b = _conv_transpose_data(case)
    full = channels_last(
        F.conv_transpose2d(
            channels_first(x),
            kernel_to_torch(k),
            None,
            stride=case["stride"],
            dilation=case["dilation"],
        )
    )
    slices = []
    for i, (size, kk, s, d) in enumerate(zip(case["spatial"], case["kernel"], case["stride"], case["dilation"])):
        eff = d * (kk - 1) + 1
        out_len = size * s if kind == "SAME" else size * s + max(eff - s, 0)
        before = same_pads(out_len, kk, s, d)[0] if kind == "SAME" else 0
        pad_after = max(before + out_len - full.shape[1 + i], 0)
        slices.append((before, out_len, pad_after))
    (bh, lh, ph), (bw, lw, pw) = slices
    expected = np.pad(full, ((0, 0), (0, ph), (0, pw), (0, 0)))[:, bh : bh + lh, bw : bw + lw]
    if case["bias"]:
        expected = expected + b.astype(np.float64)

    static = {**case["static"], "padding": kind}
    static.pop("output_padding")
    arrays = [x, k] + ([b] if case["bias"] else [])
    out, _ = _ours(ops.conv2d_transpose, arrays, **static)
    assert out.shape == expected.shape, f"{out.shape} vs {expected.shape}; {static} x{x.shape}"
    assert_close(out, expected, err_msg=f"x{x.shape} kernel{k.shape} {static}")


@pytest.mark.parametrize(
    ("pads", "output_padding", "stride", "dilation", "kernel"),
    [
        (((0, 1), (2, 0)), 0, 2, 1, (3, 3)),
        (((1, 2), (0, 1)), (1, 0), (2, 1), (1, 2), (3, 2)),
        (((2, 0), (1, 1)), 1, 3, 1, (4, 3)),  # output_padding past the full output: zeros + bias
    ],
)
def test_conv2d_transpose_asymmetric_padding_crops_torch_full_output(pads, output_padding, stride, dilation, kernel):
    """((top, bottom), (left, right)) generalises PyTorch's symmetric `padding`: `top` rows are
    cut from the start of the uncropped (padding=0) output and `bottom` from its end, then
    `output_padding` rows are added back at the bottom/right."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    k = rng.standard_normal((*kernel, 2, 3)).astype(np.float32)
    b = rng.standard_normal((2,)).astype(np.float32)
    s2 = (stride, stride) if isinstance(stride, int) else stride
    d2 = (dilation, dilation) if isinstance(dilation, int) else dilation
    op2 = (output_padding,) * 2 if isinstance(output_padding, int) else output_padding
    full = channels_last(F.conv_transpose2d(channels_first(x), kernel_to_torch(k), stride=s2, dilation=d2))
    (top, bottom), (left, right) = pads
    rows = full.shape[1] - top - bottom + op2[0]
    cols = full.shape[2] - left - right + op2[1]
    extended = np.pad(full, ((0, 0), (0, op2[0]), (0, op2[1]), (0, 0)))
    expected = extended[:, top : top + rows, left : left + cols] + b.astype(np.float64)

    out, _ = _ours(
        ops.conv2d_transpose, [x, k, b], stride=stride, padding=pads, output_padding=output_padding, dilation=dilation
    )
    assert out.shape == expected.shape
    assert_close(out, expected)


def test_conv2d_transpose_torch_and_keras_padding_differ_by_one_pixel():
    """The classic trap: same output shape, contents shifted by one pixel.

    With stride 2 and a 3x3 kernel the uncropped transposed conv has 2*in + 1 rows.
    PyTorch padding=1, output_padding=1 keeps rows 1 .. 2*in; Keras padding="SAME" keeps
    rows 0 .. 2*in - 1 (TF's SAME conv puts its one padding pixel at the bottom). So
    torch_style[:, i, j] == keras_style[:, i + 1, j + 1] for i < 2*in - 1, j < 2*in - 1.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    k = rng.standard_normal((3, 3, 2, 3)).astype(np.float32)
    b = rng.standard_normal((2,)).astype(np.float32)

    torch_style, _ = _ours(ops.conv2d_transpose, [x, k, b], stride=2, padding=1, output_padding=1)
    keras_style, _ = _ours(ops.conv2d_transpose, [x, k, b], stride=2, padding="SAME")
    assert torch_style.shape == keras_style.shape == (2, 8, 10, 2)

    full = channels_last(F.conv_transpose2d(channels_first(x), kernel_to_torch(k), t64(b), stride=2, padding=0))
    assert full.shape == (2, 9, 11, 2)
    expected_torch = channels_last(
        F.conv_transpose2d(channels_first(x), kernel_to_torch(k), t64(b), stride=2, padding=1, output_padding=1)
    )
    assert_close(expected_torch, full[:, 1:, 1:], np.float64)  # the oracle's own arithmetic
    assert_close(torch_style, expected_torch, err_msg="PyTorch-style padding=1, output_padding=1")
    assert_close(keras_style, full[:, :-1, :-1], err_msg="Keras-style padding='SAME'")

    assert not np.allclose(torch_style, keras_style, atol=1e-2), "the two forms must differ"
    assert_close(torch_style[:, :-1, :-1], keras_style[:, 1:, 1:], err_msg="one-pixel shift")


def test_conv2d_transpose_int_padding_defaults_to_torch_output_padding_zero():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 4, 2)).astype(np.float32)
    k = rng.standard_normal((3, 3, 2, 2)).astype(np.float32)
    out, _ = _ours(ops.conv2d_transpose, [x, k], stride=2, padding=1)
    expected = channels_last(F.conv_transpose2d(channels_first(x), kernel_to_torch(k), stride=2, padding=1))
    assert out.shape == expected.shape == (1, 5, 7, 2)
    assert_close(out, expected)


# --------------------------------------------------------------------------- pooling


def _torch_pool(kind_of_pool, xt, case):
    ndim = len(case["spatial"])
    window = case["window"]
    stride = case["stride"] if case["stride"] is not None else window
    pool = {
        ("max", 1): F.max_pool1d,
        ("max", 2): F.max_pool2d,
        ("avg", 1): F.avg_pool1d,
        ("avg", 2): F.avg_pool2d,
    }[kind_of_pool, ndim]
    kw = {} if kind_of_pool == "max" else {"count_include_pad": True}
    if case["kind"] in ("int", "pair"):  # PyTorch's own symmetric padding argument
        return pool(xt, window, stride, padding=case["padding"], **kw)
    pads = torch_pad_arg([_axis_pads(case, i) for i in range(ndim)])
    if kind_of_pool == "max":  # padding never wins a max
        return pool(F.pad(xt, pads, value=-float("inf")), window, stride)
    if case["kind"] == "SAME":
        # Keras/TF SAME average pooling divides by the number of real pixels in each window.
        area = float(np.prod(window))
        total = pool(F.pad(xt, pads), window, stride) * area
        count = pool(F.pad(torch.ones_like(xt), pads), window, stride) * area
        return total / count
    return pool(F.pad(xt, pads), window, stride)  # explicit padding: zeros counted in the mean


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("reduce", ["max", "avg"])
@given(data=st.data())
def test_pool_matches_torch(reduce, ndim, data):
    case = data.draw(_windowed_cases(ndim, max_window=4, dilations=[1], pools=True))
    channels = data.draw(st.integers(1, 3))
    rng = np.random.default_rng(case["seed"])
    x = _distinct(rng, (case["batch"], *case["spatial"], channels))
    if reduce == "avg":
        x = rng.standard_normal(x.shape).astype(np.float32)

    xt = channels_first(x).requires_grad_()
    out_t = _torch_pool(reduce, xt, case)
    expected = channels_last(out_t)
    ct = _cotangent(rng, expected.shape)
    out_t.backward(channels_first(ct))

    fn = getattr(ops, f"{reduce}_pool{ndim}d")
    static = dict(stride=_unwrap1(case["stride_arg"]), padding=case["padding"])
    out, grads = _ours(fn, [x], ct, window=_unwrap1(case["window_arg"]), **static)
    _check(
        out,
        grads,
        expected,
        [channels_last(xt.grad)],
        ["x"],
        f"{fn.__name__} x{x.shape} window={case['window_arg']} {static}",
    )


# --------------------------------------------------------------------------- upsample2d


def _check_upsample(x, scale, method, rng):
    xt = channels_first(x).requires_grad_()
    scale_pair = (scale, scale) if isinstance(scale, int) else scale
    kw = {"align_corners": False} if method == "bilinear" else {}
    out_t = F.interpolate(xt, scale_factor=tuple(float(s) for s in scale_pair), mode=method, **kw)
    expected = channels_last(out_t)
    ct = _cotangent(rng, expected.shape)
    out_t.backward(channels_first(ct))
    out, grads = _ours(ops.upsample2d, [x], ct, scale=scale, method=method)
    _check(
        out, grads, expected, [channels_last(xt.grad)], ["x"], f"upsample2d x{x.shape} scale={scale} method={method}"
    )


@given(
    batch=st.sampled_from([1, 2]),
    spatial=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    channels=st.integers(1, 3),
    scale=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    as_int=st.booleans(),
    method=st.sampled_from(["nearest", "bilinear"]),
    seed=SEEDS,
)
def test_upsample2d_matches_torch(batch, spatial, channels, scale, as_int, method, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *spatial, channels)).astype(np.float32)
    _check_upsample(x, scale[0] if as_int and scale[0] == scale[1] else scale, method, rng)


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_upsample2d_anisotropic_scale_matches_torch(method):
    rng = np.random.default_rng(2)
    _check_upsample(rng.standard_normal((2, 3, 4, 2)).astype(np.float32), (2, 3), method, rng)


# --------------------------------------------------------------------------- batch_norm


@given(
    layout=st.sampled_from(["nhwc", "nc", "nchw"]),
    batch=st.integers(1, 3),
    spatial=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    channels=st.integers(1, 4),
    training=st.booleans(),
    defaults=st.booleans(),
    momentum=st.sampled_from([0.9, 0.5, 0.99]),
    epsilon=st.sampled_from([1e-3, 1e-5]),
    seed=SEEDS,
)
def test_batch_norm_matches_torch(layout, batch, spatial, channels, training, defaults, momentum, epsilon, seed):
    """y and the running statistics, in Keras terms, from F.batch_norm.

    PyTorch: running = (1 - m_t) * running + m_t * batch_stat with m_t = 1 - momentum, and the
    variance it folds in is the unbiased one, n/(n-1) times the biased variance that both
    frameworks normalise with. Ours folds in the biased one, so from torch's running_var:
    ours = momentum * var + (torch_var - momentum * var) * (n - 1) / n.
    """
    if defaults:
        momentum, epsilon = 0.99, 1e-3
    shape = {"nhwc": (batch, *spatial, channels), "nc": (batch, channels), "nchw": (batch, channels, *spatial)}[layout]
    n = int(np.prod(shape)) // channels
    assume(n > 1 or not training)  # PyTorch refuses training statistics of one value
    rng = np.random.default_rng(seed)
    shift = rng.normal(0, 2, channels)
    cshape = (1, 1, 1, channels) if layout == "nhwc" else (1, channels) + (1,) * (len(shape) - 2)
    x = (rng.standard_normal(shape) * 1.5 + shift.reshape(cshape)).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    beta = rng.standard_normal(channels).astype(np.float32)
    mean = rng.standard_normal(channels).astype(np.float32)
    var = rng.uniform(0.5, 2.0, channels).astype(np.float32)

    to_torch = channels_first if layout == "nhwc" else t64
    from_torch = channels_last if layout == "nhwc" else to_np
    xt = to_torch(x).requires_grad_()
    gt, bt = t64(gamma, requires_grad=True), t64(beta, requires_grad=True)
    running_mean, running_var = t64(mean), t64(var)
    y_t = F.batch_norm(xt, running_mean, running_var, gt, bt, training=training, momentum=1.0 - momentum, eps=epsilon)
    expected_y = from_torch(y_t)
    ct = _cotangent(rng, expected_y.shape)
    y_t.backward(to_torch(ct))
    expected_grads = [from_torch(xt.grad), to_np(gt.grad), to_np(bt.grad)]
    expected_mean = to_np(running_mean)
    expected_var = to_np(running_var)
    if training:
        m_var = momentum * var.astype(np.float64)
        expected_var = m_var + (expected_var - m_var) * (n - 1) / n

    static = dict(training=training)
    if not defaults:
        static.update(momentum=momentum, epsilon=epsilon)
    if layout == "nchw":
        static.update(axis=1)
    context = f"batch_norm {layout} x{x.shape} {static}"
    y, new_mean, new_var = jax.jit(functools.partial(ops.batch_norm, **static))(x, gamma, beta, mean, var)
    assert_close(new_mean, expected_mean, np.float32, err_msg=f"new_mean; {context}")
    assert_close(new_var, expected_var, np.float32, err_msg=f"new_var; {context}")

    def y_only(x, gamma, beta):
        return ops.batch_norm(x, gamma, beta, mean, var, **static)[0]

    out, grads = _ours(y_only, [x, gamma, beta], ct)
    assert_close(np.asarray(y), expected_y, err_msg=f"y of the (y, mean, var) call; {context}")
    _check(out, grads, expected_y, expected_grads, ["x", "gamma", "beta"], context)


# --------------------------------------------------------------------------- dense, activations


@given(
    lead=st.sampled_from([(1,), (3,), (2, 3)]),
    features=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    use_bias=st.booleans(),
    seed=SEEDS,
)
@settings(max_examples=10)
def test_dense_matches_torch_linear(lead, features, use_bias, seed):
    rng = np.random.default_rng(seed)
    d_in, d_out = features
    x = rng.standard_normal((*lead, d_in)).astype(np.float32)
    k = rng.standard_normal((d_in, d_out)).astype(np.float32)
    b = rng.standard_normal((d_out,)).astype(np.float32) if use_bias else None
    xt, kt = t64(x, requires_grad=True), t64(k, requires_grad=True)
    bt = t64(b, requires_grad=True) if use_bias else None
    out_t = F.linear(xt, kt.T, bt)  # F.linear's weight is (out, in)
    ct = _cotangent(rng, tuple(out_t.shape))
    out_t.backward(t64(ct))
    arrays = [x, k] + ([b] if use_bias else [])
    out, grads = _ours(ops.dense, arrays, ct)
    expected_grads = [to_np(xt.grad), to_np(kt.grad)] + ([to_np(bt.grad)] if use_bias else [])
    _check(
        out,
        grads,
        to_np(out_t),
        expected_grads,
        ["x", "kernel", "bias"][: len(arrays)],
        f"dense x{x.shape} kernel{k.shape}",
    )


_ACTIVATIONS = [
    ("relu", {}, torch.relu),
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
    ("softmax", {}, lambda t: torch.softmax(t, dim=-1)),
    ("softmax", {"axis": 1}, lambda t: torch.softmax(t, dim=1)),
    ("softmax", {"axis": 0}, lambda t: torch.softmax(t, dim=0)),
]


@pytest.mark.parametrize(("name", "static", "oracle"), _ACTIVATIONS, ids=[f"{n}{s}" for n, s, _ in _ACTIVATIONS])
def test_activation_matches_torch(name, static, oracle):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 4, 5)) * 4).astype(np.float32)
    # Saturated inputs: sigmoid/tanh tails, and softmax logits that overflow a naive exp.
    x[0, 0] = [-100.0, -30.0, 30.0, 100.0, 0.5]
    if name == "softmax":
        x[1] += 500.0
    xt = t64(x, requires_grad=True)
    out_t = oracle(xt)
    ct = _cotangent(rng, x.shape)
    out_t.backward(t64(ct))
    out, grads = _ours(getattr(ops, name), [x], ct, **static)
    assert np.all(np.isfinite(out)), f"{name}: non-finite output"
    _check(out, grads, to_np(out_t), [to_np(xt.grad)], ["x"], f"{name} {static}")


# --------------------------------------------------------------------------- losses


def _loss_data(loss, rng, n, d):
    if loss == "softmax_cross_entropy":
        logits = (rng.standard_normal((n, d)) * 3).astype(np.float32)
        labels = rng.integers(0, d, n).astype(np.int32)
        return logits, labels
    if loss == "binary_crossentropy":
        pred = rng.uniform(0.01, 0.99, (n, d)).astype(np.float32)
    elif loss == "binary_crossentropy_logits":
        pred = (rng.standard_normal((n, d)) * 4).astype(np.float32)
    else:
        pred = rng.standard_normal((n, d)).astype(np.float32)
    if loss.startswith("binary"):  # hard labels and soft targets
        target = rng.uniform(0, 1, (n, d))
        target = np.where(rng.random((n, d)) < 0.5, np.round(target), target).astype(np.float32)
    else:
        target = rng.standard_normal((n, d)).astype(np.float32)
    return pred, target


def _torch_loss(loss, pred_t, target):
    if loss == "softmax_cross_entropy":
        return F.cross_entropy(pred_t, torch.from_numpy(target.astype(np.int64)))
    oracle = {
        "binary_crossentropy": F.binary_cross_entropy,
        "binary_crossentropy_logits": F.binary_cross_entropy_with_logits,
        "mse": F.mse_loss,
        "mae": F.l1_loss,
    }[loss]
    return oracle(pred_t, t64(target))  # reduction="mean" over every element


def _our_loss(loss):
    if loss == "binary_crossentropy_logits":
        return functools.partial(ops.binary_crossentropy, from_logits=True)
    return getattr(ops, loss)


_LOSSES = ["binary_crossentropy", "binary_crossentropy_logits", "mse", "mae", "softmax_cross_entropy"]


@pytest.mark.parametrize("loss", _LOSSES)
@given(n=st.integers(1, 4), d=st.integers(1, 5), seed=SEEDS)
@settings(max_examples=10)
def test_loss_matches_torch(loss, n, d, seed):
    """Mean-reduced losses and their gradients w.r.t. the prediction (and target if real)."""
    assume(loss != "softmax_cross_entropy" or d > 1)
    rng = np.random.default_rng(seed)
    pred, target = _loss_data(loss, rng, n, d)
    pred_t = t64(pred, requires_grad=True)
    diff_target = loss in ("mse", "mae")
    target_t = t64(target, requires_grad=True) if diff_target else None
    value_t = (
        _torch_loss(loss, pred_t, target)
        if not diff_target
        else {"mse": F.mse_loss, "mae": F.l1_loss}[loss](pred_t, target_t)
    )
    ct = np.float32(rng.standard_normal())
    value_t.backward(t64(ct))
    expected_grads = [to_np(pred_t.grad)] + ([to_np(target_t.grad)] if diff_target else [])

    fn = _our_loss(loss)
    if diff_target:
        out, grads = _ours(fn, [pred, target], ct)
    else:
        out, grads = _ours(lambda p: fn(p, jnp.asarray(target)), [pred], ct)
    names = ["pred", "target"] if diff_target else ["pred"]
    _check(out, grads, to_np(value_t), expected_grads, names, f"{loss} pred{pred.shape}")


def test_losses_from_logits_are_stable_for_saturated_logits():
    """A from-logits loss must not go through a saturated sigmoid/exp (log(0), inf - inf)."""
    logits = np.array([[-60.0, -20.0, 20.0, 60.0], [60.0, -60.0, 0.0, 35.0]], np.float32)
    targets = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]], np.float32)
    expected = F.binary_cross_entropy_with_logits(t64(logits), t64(targets))
    got = ops.binary_crossentropy(jnp.asarray(logits), jnp.asarray(targets), from_logits=True)
    assert_close(got, to_np(expected), err_msg="binary_crossentropy(from_logits=True)")

    big = logits * 20  # softmax logits around +-1200: exp overflows float32 without the max shift
    labels = np.array([0, 1], np.int32)
    expected = F.cross_entropy(t64(big), torch.from_numpy(labels.astype(np.int64)))
    got = ops.softmax_cross_entropy(jnp.asarray(big), jnp.asarray(labels))
    assert_close(got, to_np(expected), err_msg="softmax_cross_entropy")

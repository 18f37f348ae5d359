"""conv1d, conv2d, conv2d_transpose against NumPy loops, jax.lax, identities and hand-worked values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from jax import lax
from jax.test_util import check_grads

from cnnlab import ops
from tests.ops import reference as ref
from tests.tolerances import assert_close

DN = ("NHWC", "HWIO", "NHWC")


def rand(rng, *shape, dtype=np.float32):
    return jnp.asarray(rng.standard_normal(shape), dtype)


# -- hand-worked examples -------------------------------------------------------------


def test_conv1d_classic_exercise():
    # [2, 3, -1, 5, -2] * [1, 2, 1], no padding: 2+6-1=7, 3-2+5=6, -1+10-2=7.
    x = jnp.array([2.0, 3.0, -1.0, 5.0, -2.0]).reshape(1, 5, 1)
    k = jnp.array([1.0, 2.0, 1.0]).reshape(3, 1, 1)
    np.testing.assert_array_equal(ops.conv1d(x, k)[0, :, 0], [7.0, 6.0, 7.0])


def test_conv2d_28x28_with_5x5_valid_is_24x24():
    x = jnp.ones((1, 28, 28, 1))
    y = ops.conv2d(x, jnp.ones((5, 5, 1, 1)))
    assert y.shape == (1, 24, 24, 1)
    np.testing.assert_array_equal(y, 25.0)


def test_conv2d_arange_literal():
    # 3x3 image 0..8, 2x2 ones kernel: each output is the sum of a 2x2 block.
    x = jnp.arange(9.0).reshape(1, 3, 3, 1)
    y = ops.conv2d(x, jnp.ones((2, 2, 1, 1)))
    np.testing.assert_array_equal(y[0, :, :, 0], [[8.0, 12.0], [20.0, 24.0]])
    # stride 2, SAME on a 3x3 input: output 2x2, padding (0, 1) so the second
    # row/column sees the zero border: [[0+1+3+4, 2+5], [6+7, 8]].
    y = ops.conv2d(x, jnp.ones((2, 2, 1, 1)), stride=2, padding="SAME")
    np.testing.assert_array_equal(y[0, :, :, 0], [[8.0, 7.0], [13.0, 8.0]])


def test_conv1d_gradient_by_hand():
    # y_i = sum_k x_{i+k} w_k with L = sum_i y_i * g_i.
    # dL/dx_j = sum_i g_i w_{j-i}  (the "full" correlation of g with w reversed)
    # dL/dw_k = sum_i g_i x_{i+k}  (the correlation of x with g)
    x = np.array([2.0, 3.0, -1.0, 5.0, -2.0])
    w = np.array([1.0, 2.0, 1.0])
    g = np.array([1.0, -1.0, 2.0])
    dx_hand = np.array([1 * 1, 1 * 2 + -1 * 1, 1 * 1 + -1 * 2 + 2 * 1, -1 * 1 + 2 * 2, 2 * 1])
    dw_hand = np.array([2 * 1 + 3 * -1 + -1 * 2, 3 * 1 + -1 * -1 + 5 * 2, -1 * 1 + 5 * -1 + -2 * 2])
    np.testing.assert_array_equal(dx_hand, [1, 1, 1, 3, 2])
    np.testing.assert_array_equal(dw_hand, [-3, 14, -10])

    def loss(x, w):
        return jnp.sum(ops.conv1d(x.reshape(1, 5, 1), w.reshape(3, 1, 1))[0, :, 0] * g)

    dx, dw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32))
    np.testing.assert_array_equal(dx, dx_hand)
    np.testing.assert_array_equal(dw, dw_hand)


def test_stride2_same_on_even_input_pads_bottom_right_only():
    # 4 -> 2 with k=3, s=2: total padding (2-1)*2+3-4 = 1, all of it at the end (TF/Keras);
    # a symmetric (1, 1) would be PyTorch's padding=1 and shift every output.
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    k = jnp.asarray(np.random.default_rng(0).standard_normal((3, 3, 1, 1)), jnp.float32)
    got = ops.conv2d(x, k, stride=2, padding="SAME")
    assert_close(got, ref.conv2d(x, k, stride=(2, 2), pads=((0, 1), (0, 1))))
    sym = ref.conv2d(x, k, stride=(2, 2), pads=((1, 1), (1, 1)))
    assert sym.shape == got.shape and not np.allclose(sym, got)


# -- sweeps against the NumPy loop and lax ---------------------------------------------


@st.composite
def conv_cases(draw, max_size=9):
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(
        st.one_of(
            st.sampled_from(["SAME", "VALID", "same"]),
            st.integers(0, 2),
            st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
        )
    )
    return n, (h, w), cin, cout, (kh, kw), stride, dilation, padding


def explicit(padding, size, k_eff, stride):
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return ((0, 0), (0, 0))
        return tuple(ref.same_pads(s, k, st_) for s, k, st_ in zip(size, k_eff, stride))
    if isinstance(padding, int):
        return ((padding, padding),) * 2
    return padding


@given(conv_cases(), st.booleans())
def test_conv2d_matches_numpy_loop_and_lax(case, with_bias):
    n, size, cin, cout, k, stride, dilation, padding = case
    k_eff = [(a - 1) * d + 1 for a, d in zip(k, dilation)]
    pads = explicit(padding, size, k_eff, stride)
    assume(all(s + lo + hi >= e for s, (lo, hi), e in zip(size, pads, k_eff)))
    rng = np.random.default_rng(0)
    x, w, b = rand(rng, n, *size, cin), rand(rng, *k, cin, cout), rand(rng, cout)
    bias = b if with_bias else None
    got = jax.jit(lambda x, w: ops.conv2d(x, w, bias, stride=stride, padding=padding, dilation=dilation))(x, w)
    assert_close(got, ref.conv2d(x, w, bias, stride, pads, dilation))
    want = lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation, dimension_numbers=DN)
    assert_close(got, want if bias is None else want + b.reshape(1, 1, 1, -1))
    assert got.shape[1:3] == ops.conv_output_size(size, k, stride=stride, padding=padding, dilation=dilation)


@given(conv_cases(), st.booleans())
def test_conv2d_gradients_match_lax(case, with_bias):
    n, size, cin, cout, k, stride, dilation, padding = case
    k_eff = [(a - 1) * d + 1 for a, d in zip(k, dilation)]
    pads = explicit(padding, size, k_eff, stride)
    assume(all(s + lo + hi >= e for s, (lo, hi), e in zip(size, pads, k_eff)))
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, n, *size, cin), rand(rng, *k, cin, cout), rand(rng, cout)

    def ours(x, w, b):
        y = ops.conv2d(x, w, b if with_bias else None, stride=stride, padding=padding, dilation=dilation)
        return jnp.sum(jnp.sin(y))

    def theirs(x, w, b):
        y = lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation, dimension_numbers=DN)
        return jnp.sum(jnp.sin(y + b.reshape(1, 1, 1, -1) if with_bias else y))

    for g1, g2 in zip(jax.jit(jax.grad(ours, (0, 1, 2)))(x, w, b), jax.jit(jax.grad(theirs, (0, 1, 2)))(x, w, b)):
        assert_close(g1, g2, grad=True)


@st.composite
def transpose_cases(draw):
    n = draw(st.integers(1, 2))
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    crop = tuple(
        (draw(st.integers(0, (a - 1) * d)),) * 2 for a, d in zip(k, dilation)
    )  # PyTorch requires padding <= dilation * (k - 1)
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    return n, size, cin, cout, k, stride, dilation, crop, extra


@given(transpose_cases())
def test_conv2d_transpose_int_padding_matches_scatter_loop(case):
    n, size, cin, cout, k, stride, dilation, crop, extra = case
    rng = np.random.default_rng(2)
    x, w = rand(rng, n, *size, cin), rand(rng, *k, cout, cin)
    want = ref.conv2d_transpose(x, w, stride, crop, extra, dilation)
    assume(min(want.shape[1:3]) >= 1)
    got = jax.jit(
        lambda x: ops.conv2d_transpose(
            x, w, stride=stride, padding=(crop[0][0], crop[1][0]), output_padding=extra, dilation=dilation
        )
    )(x)
    assert_close(got, want)
    assert got.shape[1:3] == ops.conv_transpose_output_size(
        size, k, stride=stride, padding=(crop[0][0], crop[1][0]), output_padding=extra, dilation=dilation
    )


@given(
    st.integers(1, 7),
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from(["SAME", "VALID"]),
    st.booleans(),
)
def test_conv2d_transpose_keras_padding_matches_lax_conv_transpose(size, k, s, padding, with_bias):
    # lax.conv_transpose with transpose_kernel=True and string padding is exactly
    # Keras's rule when output_padding is None (Keras calls it on the JAX backend).
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, 2, size, size + 1, 3), rand(rng, k, k, 4, 3), rand(rng, 4)
    got = jax.jit(lambda x: ops.conv2d_transpose(x, w, b if with_bias else None, stride=s, padding=padding))(x)
    want = lax.conv_transpose(x, w, (s, s), padding, dimension_numbers=DN, transpose_kernel=True)
    assert_close(got, want + b.reshape(1, 1, 1, -1) if with_bias else want)


@given(conv_cases(max_size=7))
def test_conv2d_transpose_is_the_adjoint_of_conv2d(case):
    # <conv2d(z, k), x> == <z, conv2d_transpose(x, k)> for every z, x: the transpose is the
    # vector-Jacobian product of conv2d (jax tests/lax_test.py, _conv_transpose_via_grad).
    n, size, cin, cout, k, stride, dilation, padding = case
    k_eff = [(a - 1) * d + 1 for a, d in zip(k, dilation)]
    pads = explicit(padding, size, k_eff, stride)
    assume(all(s + lo + hi >= e for s, (lo, hi), e in zip(size, pads, k_eff)))
    rng = np.random.default_rng(4)
    z, w = rand(rng, n, *size, cout), rand(rng, *k, cout, cin)

    def f(z):
        return ops.conv2d(z, w, stride=stride, padding=pads, dilation=dilation)

    y = jax.eval_shape(f, z)
    x = rand(rng, *y.shape)
    # output_padding recovers the rows the forward conv's floor division dropped.
    extra = tuple((s + lo + hi - e) % st_ for s, (lo, hi), e, st_ in zip(size, pads, k_eff, stride))
    assume(all(e < max(st_, d) for e, st_, d in zip(extra, stride, dilation)))
    got = jax.jit(
        lambda x: ops.conv2d_transpose(x, w, stride=stride, padding=pads, output_padding=extra, dilation=dilation)
    )(x)
    assert_close(got, jax.jit(lambda x: jax.vjp(f, z)[1](x)[0])(x))


def test_keras_and_pytorch_transposed_conv_differ_by_one_pixel():
    # Same output size 2H, different alignment: PyTorch (padding=1, output_padding=1) crops
    # one pixel at the top/left of the full output; Keras SAME (k=3, s=2) crops none at the
    # top/left (left pad = min(ceil(3/2), 2) = 2 = k - 1) and one at the bottom/right.
    rng = np.random.default_rng(5)
    x, w = rand(rng, 1, 4, 4, 2), rand(rng, 3, 3, 2, 2)
    keras_style = ops.conv2d_transpose(x, w, stride=2, padding="SAME")
    torch_style = ops.conv2d_transpose(x, w, stride=2, padding=1, output_padding=1)
    assert keras_style.shape == torch_style.shape == (1, 8, 8, 2)
    assert not np.allclose(keras_style, torch_style)
    full = ref.conv2d_transpose(x, w, (2, 2))  # (1, 9, 9, 2), nothing cropped
    assert_close(keras_style, full[:, :8, :8])
    assert_close(torch_style, full[:, 1:, 1:])
    assert_close(keras_style[:, 1:, 1:], torch_style[:, :-1, :-1])


def test_conv2d_transpose_shapes_of_the_classic_models():
    x = jnp.zeros((2, 7, 7, 64))
    # StridedAutoencoder decoder: 7x7 valid from 1x1, then stride-2 SAME doublings.
    assert ops.conv2d_transpose(jnp.zeros((2, 1, 1, 2)), jnp.zeros((7, 7, 64, 2))).shape == (2, 7, 7, 64)
    assert ops.conv2d_transpose(x, jnp.zeros((3, 3, 32, 64)), stride=2, padding="SAME").shape == (2, 14, 14, 32)
    # DenoisingAutoencoder: 4 -> 6 (3x3 valid), 12 -> 13 (2x2 valid), 26 -> 28 (3x3 valid).
    assert ops.conv2d_transpose(jnp.zeros((1, 4, 4, 8)), jnp.zeros((3, 3, 8, 8))).shape == (1, 6, 6, 8)
    assert ops.conv2d_transpose(jnp.zeros((1, 12, 12, 8)), jnp.zeros((2, 2, 8, 8))).shape == (1, 13, 13, 8)
    assert ops.conv2d_transpose(jnp.zeros((1, 26, 26, 8)), jnp.zeros((3, 3, 1, 8))).shape == (1, 28, 28, 1)


@given(
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 2),
    st.one_of(st.sampled_from(["SAME", "VALID"]), st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
)
def test_conv1d_matches_numpy_loop_and_lax(length, k, s, d, padding):
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, 2, length, 3), rand(rng, k, 3, 2), rand(rng, 2)
    k_eff = (k - 1) * d + 1
    if isinstance(padding, str):
        pads = (0, 0) if padding == "VALID" else ref.same_pads(length, k_eff, s)
    elif isinstance(padding, int):
        pads = (padding, padding)
    else:
        pads = padding
    assume(length + sum(pads) >= k_eff)
    got = ops.conv1d(x, w, b, stride=s, padding=padding, dilation=d)
    want = ref.conv2d(x[:, None], w[None], b, (1, s), ((0, 0), pads), (1, d))[:, 0]
    assert_close(got, want)
    lax_y = lax.conv_general_dilated(x, w, (s,), [pads], rhs_dilation=(d,), dimension_numbers=("NWC", "WIO", "NWC"))
    assert_close(got, lax_y + b.reshape(1, 1, -1))


# -- numerical gradients, transformations, dtypes ----------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w: ops.conv2d(x, w, stride=2, padding="SAME"),
        lambda x, w: ops.conv2d(x, w, padding=((1, 0), (2, 1)), dilation=2),
        lambda x, w: ops.conv2d_transpose(x, w, stride=2, padding="SAME"),
        lambda x, w: ops.conv2d_transpose(x, w, stride=(2, 3), padding=1, output_padding=(1, 0)),
    ],
    ids=["conv-s2-same", "conv-dil-asym", "convT-keras", "convT-torch"],
)
def test_conv_gradients_against_finite_differences(fn):
    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, 5, 6, 3)), jnp.float64)
        w = jnp.asarray(rng.standard_normal((3, 3, 3, 3)), jnp.float64)
        check_grads(fn, (x, w), order=2, modes=("fwd", "rev"))


def test_conv1d_gradient_against_finite_differences():
    rng = np.random.default_rng(8)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, 9, 2)), jnp.float64)
        w = jnp.asarray(rng.standard_normal((3, 2, 4)), jnp.float64)
        check_grads(lambda x, w: ops.conv1d(x, w, stride=2, padding="SAME"), (x, w), order=1)


def test_jit_vmap_and_eager_agree():
    rng = np.random.default_rng(9)
    x = rand(rng, 2, 8, 8, 3)
    kernels = rand(rng, 5, 3, 3, 3, 4)  # a batch of 5 kernels

    def f(k):
        return ops.conv2d(x, k, stride=2, padding="SAME")

    eager = np.stack([f(k) for k in kernels])
    np.testing.assert_array_equal(jax.jit(jax.vmap(f))(kernels), jax.vmap(f)(kernels))
    assert_close(jax.vmap(f)(kernels), eager)
    np.testing.assert_array_equal(jax.jit(f)(kernels[0]), jax.jit(f)(kernels[0]))
    assert_close(jax.jit(f)(kernels[0]), eager[0])
    # vmap over an unbatched image axis too: x of shape (5, 2, 8, 8, 3) against one kernel
    xs = rand(rng, 5, 2, 8, 8, 3)
    g = jax.vmap(lambda x: ops.conv2d_transpose(x, kernels[0].swapaxes(2, 3), stride=2, padding="SAME"))
    assert_close(g(xs)[3], ops.conv2d_transpose(xs[3], kernels[0].swapaxes(2, 3), stride=2, padding="SAME"))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_inputs(dtype):
    rng = np.random.default_rng(10)
    x, w = rand(rng, 2, 9, 9, 4), rand(rng, 3, 3, 4, 5) * 0.3
    got = ops.conv2d(x.astype(dtype), w.astype(dtype), padding="SAME")
    assert got.dtype == dtype
    want = ref.conv2d(x.astype(dtype).astype(np.float32), w.astype(dtype).astype(np.float32), pads=((1, 1), (1, 1)))
    assert_close(got, want, dtype, err_msg="conv2d")
    wt = w.swapaxes(2, 3)
    got_t = ops.conv2d_transpose(x.astype(dtype), wt.astype(dtype), stride=2, padding="SAME")
    assert got_t.dtype == dtype
    # Keras SAME, k=3, s=2: the full 17-pixel output loses its last row and column.
    full = ref.conv2d_transpose(x.astype(dtype).astype(np.float32), wt.astype(dtype).astype(np.float32), (2, 2))
    want_t = full[:, :18, :18]
    assert_close(got_t, want_t, dtype, err_msg="conv2d_transpose")


@pytest.mark.parametrize("cin, cout", [(1, 16), (16, 1), (8, 8)], ids=["im2col", "hybrid", "square"])
@pytest.mark.parametrize(
    "k, stride, dilation, padding",
    [
        (3, 1, 1, "SAME"),
        (3, 2, 1, "SAME"),
        (4, 3, 1, ((2, 0), (1, 3))),
        (3, 1, 2, "VALID"),
        (1, 2, 1, "VALID"),
        (5, (2, 1), (1, 2), 2),
    ],
)
def test_both_conv_layouts_match_lax_with_wide_channels(cin, cout, k, stride, dilation, padding):
    # Small hypothesis channel counts mostly pick one internal layout; these widths force
    # each (im2col for few input channels, column-gather/row-scatter for many).
    rng = np.random.default_rng(11)
    x, w = rand(rng, 2, 11, 9, cin), rand(rng, k, k, cin, cout)
    s = (stride, stride) if isinstance(stride, int) else stride
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    k_eff = [(k - 1) * di + 1 for di in d]
    pads = explicit(padding, (11, 9), k_eff, s)
    f = jax.jit(lambda x, w: ops.conv2d(x, w, stride=stride, padding=padding, dilation=dilation))
    g = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, s, pads, rhs_dilation=d, dimension_numbers=DN))
    assert_close(f(x, w), g(x, w))
    cot = rand(rng, *g(x, w).shape)
    ours = jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) * cot), (0, 1)))(x, w)
    theirs = jax.jit(jax.grad(lambda x, w: jnp.sum(g(x, w) * cot), (0, 1)))(x, w)
    for a, b in zip(ours, theirs):
        assert_close(a, b, grad=True)
    # The transposed conv's two forms: scatter (stride > 1 or C_out <= C_in), gather otherwise.
    wt = rand(rng, k, k, cin, cout)  # (KH, KW, C_out=cin, C_in=cout)
    y = rand(rng, 2, 5, 4, cout)
    got = ops.conv2d_transpose(y, wt, stride=stride, padding=1 if k > 2 else 0, dilation=dilation)
    crop = ((1, 1), (1, 1)) if k > 2 else ((0, 0), (0, 0))
    assert_close(got, ref.conv2d_transpose(y, wt, s, crop, (0, 0), d))


@pytest.mark.parametrize("padding, stride", [("SAME", 1), ("VALID", 2)])
def test_single_channel_patches_forward_mode_and_second_order_match_lax(padding, stride):
    """One input channel builds its patches by selects with a custom JVP: jvp, grad and
    grad-of-grad must still be lax's (the JVP is the concatenation of the tangents)."""
    rng = np.random.default_rng(5)
    x, w = rand(rng, 3, 10, 9, 1), rand(rng, 3, 3, 1, 6)
    tx, tw, v = rand(rng, *x.shape), rand(rng, *w.shape), rand(rng, *x.shape)
    pads = explicit(padding, (10, 9), (3, 3), (stride, stride))

    def ours(x, w):
        return ops.conv2d(x, w, stride=stride, padding=padding)

    def theirs(x, w):
        return lax.conv_general_dilated(x, w, (stride, stride), pads, dimension_numbers=DN)

    for a, b in zip(jax.jvp(ours, (x, w), (tx, tw)), jax.jvp(theirs, (x, w), (tx, tw))):
        assert_close(a, b, grad=True)

    def hvp(f):  # d/dx <d/dx sum(tanh(f)), v>: a Hessian-vector product in x
        inner = jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, w))))
        return jax.jit(jax.grad(lambda x: jnp.vdot(inner(x), v)))(x)

    assert_close(hvp(ours), hvp(theirs), grad=True)
    assert float(jnp.max(jnp.abs(hvp(theirs)))) > 1e-3  # the second derivative is not trivially zero

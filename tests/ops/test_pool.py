"""Pooling against NumPy loops, lax.reduce_window, and hand-worked values."""

from functools import partial

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


def test_max_pool1d_with_stride_by_hand():
    x = jnp.array([1.0, 3.0, 2.0, 5.0, 4.0, 0.0, 7.0]).reshape(1, 7, 1)
    np.testing.assert_array_equal(ops.max_pool1d(x, 2)[0, :, 0], [3.0, 5.0, 4.0])  # last pixel dropped
    np.testing.assert_array_equal(ops.max_pool1d(x, 3, stride=2)[0, :, 0], [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(ops.max_pool1d(x, 2, padding="SAME")[0, :, 0], [3.0, 5.0, 4.0, 7.0])


def test_avg_pool_same_divides_by_real_pixels_only():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    got = ops.avg_pool2d(x, 2, stride=1, padding="SAME")
    np.testing.assert_allclose(got[0, :, :, 0], [[2.5, 3.0], [3.5, 4.0]])
    # Explicit padding counts the zeros, as PyTorch's count_include_pad=True.
    got = ops.avg_pool2d(x, 2, stride=1, padding=((0, 1), (0, 1)))
    np.testing.assert_allclose(got[0, :, :, 0], [[2.5, 1.5], [1.75, 1.0]])


def test_max_pool_same_pads_with_minus_infinity_not_zero():
    x = -jnp.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # all negative
    got = ops.max_pool2d(x, 2, stride=2, padding="SAME")
    np.testing.assert_array_equal(got[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])
    got = ops.max_pool2d(x, 3, stride=1, padding=1)
    assert float(got.max()) == -1.0 and float(got[0, 2, 2, 0]) == -5.0


@st.composite
def pool_cases(draw):
    n = draw(st.integers(1, 2))
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    window = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(
        st.one_of(
            st.sampled_from(["SAME", "VALID"]),
            st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
        )
    )
    return n, size, window, stride, padding


def _pads(padding, size, window, stride):
    if padding == "VALID":
        return ((0, 0), (0, 0))
    if padding == "SAME":
        return tuple(ref.same_pads(s, k, st_) for s, k, st_ in zip(size, window, stride))
    return padding


@given(pool_cases(), st.sampled_from(["max", "avg"]))
def test_pool2d_matches_numpy_loop_and_reduce_window(case, kind):
    n, size, window, stride, padding = case
    strides = stride or window
    pads = _pads(padding, size, window, strides)
    assume(all(s + lo + hi >= k and max(lo, hi) < k for s, (lo, hi), k in zip(size, pads, window)))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((n, *size, 3)), jnp.float32)
    fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    got = jax.jit(partial(fn, window=window, stride=stride, padding=padding))(x)
    count_pad = not isinstance(padding, str)
    assert_close(got, ref.pool2d(x, window, strides, pads, kind, count_pad=count_pad))
    dims, strd, lpads = (1, *window, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0))
    if kind == "max":
        want = lax.reduce_window(x, -jnp.inf, lax.max, dims, strd, lpads)
    else:
        sums = lax.reduce_window(x, 0.0, lax.add, dims, strd, lpads)
        ones = jnp.ones_like(x)
        want = sums / (
            lax.reduce_window(ones, 0.0, lax.add, dims, strd, lpads) if padding == "SAME" else window[0] * window[1]
        )
    assert_close(got, want)


@given(pool_cases(), st.sampled_from(["max", "avg"]))
def test_pool2d_gradients_match_reduce_window(case, kind):
    n, size, window, stride, padding = case
    strides = stride or window
    pads = _pads(padding, size, window, strides)
    assume(all(s + lo + hi >= k and max(lo, hi) < k for s, (lo, hi), k in zip(size, pads, window)))
    # Distinct values, so every max is unique and the subgradient is too.
    x = jnp.asarray(np.random.default_rng(1).permutation(n * size[0] * size[1] * 2).reshape(n, *size, 2), jnp.float32)
    dims, strd, lpads = (1, *window, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0))
    if kind == "max":
        ours = partial(ops.max_pool2d, window=window, stride=stride, padding=padding)
        theirs = lambda x: lax.reduce_window(x, -jnp.inf, lax.max, dims, strd, lpads)  # noqa: E731
    else:
        ours = partial(ops.avg_pool2d, window=window, stride=stride, padding=padding)
        counts = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, dims, strd, lpads)
        denom = counts if padding == "SAME" else window[0] * window[1]
        theirs = lambda x: lax.reduce_window(x, 0.0, lax.add, dims, strd, lpads) / denom  # noqa: E731
    g = jnp.asarray(np.random.default_rng(2).standard_normal(theirs(x).shape), jnp.float32)
    grad_ours = jax.jit(jax.grad(lambda x: jnp.sum(ours(x) * g)))(x)
    assert_close(grad_ours, jax.jit(jax.grad(lambda x: jnp.sum(theirs(x) * g)))(x), grad=True)


@given(
    st.integers(1, 12),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from(["SAME", "VALID", 1, (0, 2)]),
    st.sampled_from(["max", "avg"]),
)
def test_pool1d_matches_numpy_loop(length, window, stride, padding, kind):
    strides = stride or window
    if padding == "VALID":
        pads = (0, 0)
    elif padding == "SAME":
        pads = ref.same_pads(length, window, strides)
    else:
        pads = (padding, padding) if isinstance(padding, int) else padding
    assume(length + sum(pads) >= window and max(pads) < window)
    x = jnp.asarray(np.random.default_rng(3).standard_normal((2, length, 3)), jnp.float32)
    fn = ops.max_pool1d if kind == "max" else ops.avg_pool1d
    got = fn(x, window, stride=stride, padding=padding)
    want = ref.pool2d(
        x[:, None], (1, window), (1, strides), ((0, 0), pads), kind, count_pad=not isinstance(padding, str)
    )
    assert_close(got, want[:, 0])


def test_pool_ties_share_the_gradient():
    # All four pixels tie: the gradient 1 is split equally (a valid subgradient).
    x = jnp.ones((1, 2, 2, 1))
    g = jax.grad(lambda x: ops.max_pool2d(x, 2).sum())(x)
    np.testing.assert_allclose(g.sum(), 1.0)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_gradients_against_finite_differences(kind):
    rng = np.random.default_rng(4)
    fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    with jax.enable_x64(True):
        x = jnp.asarray(rng.permutation(2 * 7 * 6 * 2).reshape(2, 7, 6, 2) / 10.0, jnp.float64)
        check_grads(lambda x: fn(x, 3, stride=2, padding="SAME"), (x,), order=2, eps=1e-3)
        check_grads(lambda x: fn(x, 2), (x,), order=1, eps=1e-3)


def test_pool_jit_vmap_eager_agree_and_bfloat16():
    x = jnp.asarray(np.random.default_rng(5).standard_normal((4, 2, 9, 9, 3)), jnp.float32)
    f = partial(ops.max_pool2d, window=3, stride=2, padding="SAME")
    np.testing.assert_array_equal(jax.jit(jax.vmap(f))(x), jnp.stack([f(xi) for xi in x]))
    h = partial(ops.avg_pool2d, window=2)
    got = h(x[0].astype(jnp.bfloat16))
    assert got.dtype == jnp.bfloat16
    assert_close(got, ref.pool2d(x[0].astype(jnp.bfloat16).astype(np.float32), (2, 2), (2, 2), ((0, 0), (0, 0)), "avg"))


@pytest.mark.parametrize("window", [2, 3, (2, 3), 4, 5])
def test_max_pool_gradient_on_ties_is_a_subgradient(window):
    # Small integers: many windows hold several tied maxima. Whatever the split, each window's
    # gradient must be non-negative, zero off its maxima and sum to the upstream gradient.
    kh, kw = (window, window) if isinstance(window, int) else window
    x = np.random.default_rng(6).integers(0, 3, (2, 2 * kh, 3 * kw, 3)).astype(np.float32)
    up = np.random.default_rng(7).uniform(0.5, 2.0, (2, 2, 3, 3)).astype(np.float32)
    g = np.asarray(jax.grad(lambda x: (ops.max_pool2d(x, window) * up).sum())(jnp.asarray(x)))
    for n in range(2):
        for i in range(2):
            for j in range(3):
                for c in range(3):
                    win = x[n, i * kh : (i + 1) * kh, j * kw : (j + 1) * kw, c]
                    gw = g[n, i * kh : (i + 1) * kh, j * kw : (j + 1) * kw, c]
                    assert (gw >= 0).all() and (gw[win < win.max()] == 0).all()
                    np.testing.assert_allclose(gw.sum(), up[n, i, j, c], rtol=1e-6)


def test_max_pool_three_way_tie_by_hand():
    # Pairs (0,0)-(0,1) and (1,0)-(1,1), then the pair maxima: the tied first pair halves
    # twice, the second pair's winner once.
    x = jnp.array([[1.0, 1.0], [1.0, 0.0]]).reshape(1, 2, 2, 1)
    g = jax.grad(lambda x: ops.max_pool2d(x, 2).sum())(x)
    np.testing.assert_array_equal(g[0, :, :, 0], [[0.25, 0.25], [0.5, 0.0]])


def _maximum_tree_pool(x, kh, kw, pads):
    """Oracle for tiled max pooling: the tree of `jnp.maximum`s, differentiated by JAX's own rules."""
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-jnp.inf)
    oh, ow = xp.shape[1] // kh, xp.shape[2] // kw
    xp = xp[:, : oh * kh, : ow * kw]
    views = [xp[:, i::kh, j::kw] for i in range(kh) for j in range(kw)]
    while len(views) > 1:
        views = [jnp.maximum(a, b) for a, b in zip(views[0::2], views[1::2])] + views[len(views) // 2 * 2 :]
    return views[0]


@pytest.mark.parametrize(
    "shape, window, padding, pads",
    [
        ((2, 8, 8, 3), 2, "VALID", ((0, 0), (0, 0))),
        ((2, 7, 9, 3), 2, "VALID", ((0, 0), (0, 0))),  # a remainder row and column dropped
        ((2, 7, 7, 2), 2, "SAME", ((0, 1), (0, 1))),  # -inf padding bottom and right
        ((1, 6, 9, 2), (2, 3), "VALID", ((0, 0), (0, 0))),
        ((1, 9, 9, 2), 3, "VALID", ((0, 0), (0, 0))),  # nine taps: an odd node carried up
        ((1, 8, 8, 2), 4, "VALID", ((0, 0), (0, 0))),
    ],
)
def test_tiled_max_pool_derivatives_match_jax_maximum_tree_with_ties(shape, window, padding, pads):
    """Forward mode, reverse mode, vmap and a Hessian-vector product of the tiled max pool
    equal JAX's own derivatives of the same tree of maxima, on integers (ties everywhere)
    with a NaN."""
    kh, kw = (window, window) if isinstance(window, int) else window
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, shape).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x, t = jnp.asarray(x), jnp.asarray(rng.standard_normal(shape), jnp.float32)
    ours = partial(ops.max_pool2d, window=window, padding=padding)
    oracle = partial(_maximum_tree_pool, kh=kh, kw=kw, pads=pads)
    y, ty = jax.jvp(ours, (x,), (t,))
    y_want, ty_want = jax.jvp(oracle, (x,), (t,))
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_allclose(ty, ty_want, rtol=1e-6, atol=1e-7)  # sums in another order
    u = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)

    def grads(f):
        return jax.jit(jax.vmap(jax.grad(lambda x: jnp.nansum(f(x[None])[0] ** 2 * u[0]))))(x)

    np.testing.assert_allclose(grads(ours), grads(oracle), rtol=1e-6)

    def hvp(f):
        return jax.jvp(jax.grad(lambda x: jnp.nansum(f(x) ** 2 * u)), (x,), (t,))[1]

    np.testing.assert_allclose(hvp(ours), hvp(oracle), rtol=1e-6)

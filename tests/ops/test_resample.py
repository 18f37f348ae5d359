"""upsample2d against NumPy loops and jax.image.resize."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from cnnlab import ops
from tests.ops import reference as ref
from tests.tolerances import assert_close


def test_nearest_by_hand():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(
        ops.upsample2d(x, 2)[0, :, :, 0],
        [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]],
    )


def test_bilinear_by_hand():
    # Half-pixel centres, 1-D [0, 4] upsampled x2: samples at -0.25 (clamped to 0), 0.25,
    # 0.75, 1.25 (clamped to 1) -> [0, 1, 3, 4]. align_corners=True would give [0, 4/3, 8/3, 4].
    x = jnp.array([0.0, 4.0]).reshape(1, 1, 2, 1)
    np.testing.assert_allclose(ops.upsample2d(x, (1, 2), method="bilinear")[0, 0, :, 0], [0.0, 1.0, 3.0, 4.0])


@given(
    st.integers(1, 2),
    st.tuples(st.integers(1, 7), st.integers(1, 7)),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.sampled_from(["nearest", "bilinear"]),
)
def test_upsample_matches_numpy_loop_and_jax_image(n, size, scale, method):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((n, *size, 3)), jnp.float32)
    got = jax.jit(lambda x: ops.upsample2d(x, scale, method=method))(x)
    loop = ref.upsample_nearest if method == "nearest" else ref.upsample_bilinear
    assert_close(got, loop(x, scale))
    out_shape = (n, size[0] * scale[0], size[1] * scale[1], 3)
    assert_close(got, jax.image.resize(x, out_shape, method))
    g = jnp.asarray(np.random.default_rng(1).standard_normal(out_shape), jnp.float32)
    ours = jax.jit(jax.grad(lambda x: jnp.sum(ops.upsample2d(x, scale, method=method) * g)))(x)
    theirs = jax.jit(jax.grad(lambda x: jnp.sum(jax.image.resize(x, out_shape, method) * g)))(x)
    assert_close(ours, theirs, grad=True)


def test_upsample_finite_differences_vmap_and_bfloat16():
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, 3, 4, 2)), jnp.float64)
        for method in ("nearest", "bilinear"):
            check_grads(partial(ops.upsample2d, scale=(2, 3), method=method), (x,), order=2)
    xs = jnp.asarray(rng.standard_normal((3, 2, 4, 4, 2)), jnp.float32)
    f = lambda x: ops.upsample2d(x, 2, method="bilinear")  # noqa: E731
    assert_close(jax.vmap(f)(xs), jnp.stack([f(x) for x in xs]))
    got = f(xs[0].astype(jnp.bfloat16))
    assert got.dtype == jnp.bfloat16
    assert_close(got, ref.upsample_bilinear(xs[0].astype(jnp.bfloat16).astype(np.float32), (2, 2)))

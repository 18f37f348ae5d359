"""Seed 002's batch-normalization questions, answered with numbers (section 1.2 and 1.3).

Seed 002 asks two questions about the training-mode transform
``BN(z) = gamma * (z - mean_B(z)) / sqrt(var_B(z) + eps) + beta`` (statistics over the batch,
per unit; variance biased, as its formula writes it):

1. *Why does the bias B before batch norm become unnecessary?* ``BN(xW + b) == BN(xW)`` for
   every ``b``: adding a constant to every row moves the batch mean by the same constant and
   leaves the variance alone, so the subtraction removes it; and ``d BN(xW + b) / db = 0``.
   `bias_redundancy` measures both in float32 for biases of growing size.
2. *Why not force mean 0 and variance 1?* Most standardized values fall where sigmoid is
   nearly its tangent line ``1/2 + z/4`` (about 68% in ``[-1, 1]`` for normal data, where
   the two differ by at most 0.019), so forcing unit variance makes a sigmoid layer nearly
   linear. ``gamma`` and ``beta`` undo that: ``gamma = sqrt(var + eps), beta = mean``
   gives back the input (the seed's note 6). `sigmoid_linearity` and `identity_recovery`
   measure both.

Its section 1.2.2 (test time) normalises with moving averages of the batch statistics;
`lag_note` says when a trained network's evaluation-mode accuracy trails its training-mode
accuracy because those averages lag.

`demo` runs all three on the seed's own test batch shape (``2.5 * randn(m, 4) + 3`` through a
``Dense(5)``, the batch its ``BatchNormalizedLayer`` check uses), with more rows.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "EPSILON",
    "Demo",
    "answers",
    "batch_norm",
    "bias_redundancy",
    "demo",
    "identity_recovery",
    "lag_note",
    "numbers",
    "sigmoid_linearity",
]

#: Keras's BatchNormalization epsilon, the one the seed's layers use.
EPSILON = 1e-3
#: The band of standardized values the seed calls sigmoid's linear range.
LINEAR_BAND = 1.0


def batch_norm(z, gamma=1.0, beta=0.0, eps: float = EPSILON):
    """Training-mode batch norm of ``z`` ``(batch, units)``: per unit, over the batch, biased variance."""
    z = jnp.asarray(z)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"batch_norm: z must be (batch >= 2, units); got shape {z.shape}")
    mean, var = z.mean(axis=0, keepdims=True), z.var(axis=0, keepdims=True)
    gamma, beta = (jnp.reshape(jnp.asarray(v, z.dtype), (1, -1)) for v in (gamma, beta))  # one per unit, or one
    return gamma * (z - mean) / jnp.sqrt(var + eps) + beta


def bias_redundancy(x, w, biases) -> dict:
    """How far ``BN(xW + b)`` is from ``BN(xW)``, and the gradient with respect to ``b``, per bias.

    Args:
      x: inputs ``(batch, m)``; w: weights ``(m, n)``.
      biases: bias vectors ``(k, n)`` (or one ``(n,)``) to add before batch norm.

    Returns:
      ``{"bias_scale": (k,) max |b|, "max_abs_diff": (k,) max |BN(xW + b) - BN(xW)|,
      "grad_b": (k,) max |d L / d b|, "grad_w": (k,) max |d L / d W|}``, float64 arrays, where
      ``L = sum(c * BN(xW + b))`` for a fixed random ``c`` (any loss gives the same zero for ``b``).
    """
    x, w = jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32)
    biases = jnp.atleast_2d(jnp.asarray(biases, jnp.float32))
    z = x @ w
    c = jax.random.normal(jax.random.key(0), z.shape)
    reference = batch_norm(z)

    def loss(w, b):
        return jnp.sum(c * batch_norm(x @ w + b[None]))

    grad = jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(None, 0))
    g_w, g_b = grad(w, biases)
    out = jax.vmap(lambda b: batch_norm(z + b[None]))(biases)
    return {
        "bias_scale": np.abs(np.asarray(biases, np.float64)).max(axis=1),
        "max_abs_diff": np.asarray(jnp.abs(out - reference[None]).max(axis=(1, 2)), np.float64),
        "grad_b": np.asarray(jnp.abs(g_b).max(axis=1), np.float64),
        "grad_w": np.asarray(jnp.abs(g_w).max(axis=(1, 2)), np.float64),
    }


def sigmoid_linearity(z, band: float = LINEAR_BAND) -> dict:
    """How linear sigmoid is on the values ``z``.

    Returns:
      ``{"share_in_band": share of |z| <= band, "max_gap_in_band": max |sigmoid(z) - (1/2 + z/4)|
      over the values in the band, "mean_tangent_gap": that gap's mean over all values,
      "r2": R^2 of the best straight line through (z, sigmoid(z))}``.
    """
    z = np.asarray(z, np.float64).ravel()
    s = 1.0 / (1.0 + np.exp(-z))
    gap = np.abs(s - (0.5 + z / 4))
    slope, intercept = np.polyfit(z, s, 1)
    residual = s - (slope * z + intercept)
    r2 = 1.0 - residual.var() / s.var()
    inside = np.abs(z) <= band
    return {"share_in_band": float(inside.mean()), "max_gap_in_band": float(gap[inside].max(initial=0.0)),
            "mean_tangent_gap": float(gap.mean()), "r2": float(r2)}  # fmt: skip


def identity_recovery(z, eps: float = EPSILON) -> float:
    """max |BN(z) - z| with ``gamma = sqrt(var + eps)`` and ``beta = mean`` (the seed's note 6): about 0."""
    z = jnp.asarray(z, jnp.float32)
    gamma, beta = jnp.sqrt(z.var(axis=0) + eps), z.mean(axis=0)
    return float(jnp.abs(batch_norm(z, gamma, beta, eps) - z).max())


@dataclasses.dataclass(frozen=True)
class Demo:
    """The numbers `demo` measured, and the values behind its figure.

    Attributes:
      bias: `bias_redundancy`'s arrays, for biases of growing size.
      standardized, scaled: `sigmoid_linearity` of ``BN(xW)`` with ``gamma = 1`` and with ``gamma = scale``.
      scale: the larger gamma, a value the network could learn.
      identity_gap: `identity_recovery` of ``xW``.
      z: the standardized values ``BN(xW)`` (for histograms).
    """

    bias: dict
    standardized: dict
    scaled: dict
    scale: float
    identity_gap: float
    z: np.ndarray


def demo(rows: int = 1000, *, seed: int = 0, scale: float = 4.0) -> Demo:
    """The three answers on the seed's test batch: ``x = 2.5 * randn(rows, 4) + 3``, ``W`` ``(4, 5)``.

    The biases tried are ``0`` and ``10^k`` times a random direction for ``k = -2 .. 3``.
    """
    if not isinstance(rows, int) or rows < 2:
        raise ValueError(f"demo: rows must be an int >= 2 (a batch); got {rows!r}")
    rng = np.random.default_rng(seed)
    x = (2.5 * rng.standard_normal((rows, 4)) + 3).astype(np.float32)
    w = (rng.standard_normal((4, 5)) / 2).astype(np.float32)
    direction = rng.uniform(-1, 1, 5)
    biases = np.stack([0 * direction] + [10.0**k * direction / np.abs(direction).max() for k in range(-2, 4)])
    z = np.asarray(batch_norm(x @ w), np.float64)
    return Demo(
        bias=bias_redundancy(x, w, biases),
        standardized=sigmoid_linearity(z),
        scaled=sigmoid_linearity(scale * z),
        scale=scale,
        identity_gap=identity_recovery(x @ w),
        z=z,
    )


def numbers(d: Demo) -> dict[str, float]:
    """The demo's headline numbers, flat (for ``metrics.json``)."""
    biased = d.bias["bias_scale"] > 0
    return {
        "bias_max_abs_diff": float(d.bias["max_abs_diff"][biased].max()),
        "bias_grad_max": float(d.bias["grad_b"].max()),
        "weight_grad_max": float(d.bias["grad_w"].max()),
        "sigmoid_share_in_band": d.standardized["share_in_band"],
        "sigmoid_max_gap_in_band": d.standardized["max_gap_in_band"],
        "sigmoid_r2": d.standardized["r2"],
        "sigmoid_share_in_band_scaled": d.scaled["share_in_band"],
        "sigmoid_r2_scaled": d.scaled["r2"],
        "identity_max_abs_diff": d.identity_gap,
    }


def answers(d: Demo) -> str:
    """Seed 002's two questions answered in words, with the demo's numbers (one markdown paragraph)."""
    n, rows = numbers(d), len(d.z)
    return (
        f"**Seed 002's questions, measured** (`cnnlab.bn_theory`, on the seed's own test batch `2.5 * randn({rows}, 4)"
        " + 3` through a 4-to-5 Dense). *Why is the bias before batch norm unnecessary?* Adding b to every row moves"
        " the batch mean by b and leaves the variance alone, so BN subtracts it again: for biases up to "
        f"{d.bias['bias_scale'].max():g}, max |BN(xW + b) - BN(xW)| = {n['bias_max_abs_diff']:.1e} (float32 "
        f"rounding, growing with |b|), and the gradient of a loss with respect to b is at most "
        f"{n['bias_grad_max']:.1e}, against {n['weight_grad_max']:.3g} for W: b never learns, and beta takes its "
        f"place. *Why not force mean 0 and variance 1?* After BN with gamma = 1, {n['sigmoid_share_in_band']:.0%} of"
        f" the values lie in [-1, 1], where sigmoid is within {n['sigmoid_max_gap_in_band']:.3f} of its tangent "
        f"1/2 + z/4, and a straight line explains R² = {n['sigmoid_r2']:.3f} of sigmoid's output: the layer is "
        f"nearly linear. With gamma = {d.scale:g}, {n['sigmoid_share_in_band_scaled']:.0%} lie there and R² falls "
        f"to {n['sigmoid_r2_scaled']:.3f}. gamma and beta let the network choose: gamma = sqrt(var + eps), beta = "
        f"mean gives the input back (max |BN(z) - z| = {n['identity_max_abs_diff']:.1e}; the seed's note 6)."
    )


def lag_note(histories, steps_per_epoch: int, *, margin: float = 0.1) -> str:
    """A paragraph on the epochs where evaluation-mode accuracy trails training-mode accuracy by ``margin``.

    Args:
      histories: one `cnnlab.train.History` (or list of records with ``accuracy`` and
        ``val_accuracy``) per seed of a batch-normalized network.
      steps_per_epoch: optimizer steps an epoch.

    Returns:
      ``""`` when no epoch's mean over seeds lags by more than ``margin``; else the epochs and
      the likely cause (moving statistics with Keras's momentum 0.99).
    """
    records = [h.records if hasattr(h, "records") else h for h in histories]
    train_acc = np.mean([[rec["accuracy"] for rec in rs] for rs in records], axis=0)
    val_acc = np.mean([[rec["val_accuracy"] for rec in rs] for rs in records], axis=0)
    lagging = [e for e in range(len(train_acc)) if train_acc[e] - val_acc[e] > margin]
    if not lagging:
        return ""
    shown = "; ".join(f"epoch {e + 1}: {val_acc[e]:.3f} vs {train_acc[e]:.3f}" for e in lagging)
    steps = f"{steps_per_epoch:,} step{'' if steps_per_epoch == 1 else 's'}"
    return (
        "Where the batch-norm network's validation accuracy (evaluation mode) trails its training accuracy "
        f"(training mode: batch statistics, dropout on) by more than {margin:g}, mean over seeds ({shown}), the "
        "likely cause is the moving statistics: evaluation normalises with averages that follow the batch "
        "statistics with momentum 0.99 (the Keras default), about 100 steps' memory, and with "
        f"{steps} an epoch of a network that is still changing fast they lag behind it "
        "(the improved model's validation line in `curves.png`, and `sweep.png`)."
        + (" This holds at the end too, so the final test accuracy understates the batch-norm network."
           if lagging[-1] == len(train_acc) - 1 else "")
    )  # fmt: skip

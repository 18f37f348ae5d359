"""Batch normalization: `BatchNorm`, and `BatchNormalized(layer, activation)` = layer -> BN -> activation."""

import jax.numpy as jnp
from flax import nnx

from cnnlab import ops
from cnnlab.nn._util import Activation, check_channels, check_features, linear, resolve_activation

__all__ = ["BatchNorm", "BatchNormalized"]


class BatchNorm(nnx.Module):
    """Batch normalization over the last axis, Keras `BatchNormalization` semantics (`ops.batch_norm`).

    Parameters `scale` (Keras `gamma`) and `bias` (`beta`) are `nnx.Param`; the moving
    statistics `mean` and `var` are `nnx.BatchStat`. Training mode normalizes with the batch
    mean and biased batch variance and updates `new = momentum * old + (1 - momentum) * batch`;
    evaluation mode normalizes with the moving statistics. The mode is switched the NNX way,
    like `nnx.BatchNorm`: the attribute `use_running_average`, set by `model.train()` (False)
    and `model.eval()` (True) or by `nnx.view`, or overridden per call.

    Args:
      num_features: C, size of the channel (last) axis.
      momentum: weight of the old moving statistics (Keras 0.99; PyTorch's is `1 - this`).
      epsilon: added to the variance (Keras 1e-3).
      use_scale, use_bias: learn `scale`/`bias` (Keras `scale`/`center`); when off they are 1/0.
      use_running_average: initial mode; False = training (NNX default).
      dtype: parameter and statistics dtype.
      rngs: `nnx.Rngs`, for signature symmetry with the other layers (nothing random here).

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import BatchNorm
      >>> bn = BatchNorm(32, rngs=nnx.Rngs(0))
      >>> bn(jnp.ones((8, 14, 14, 32))).shape, bn.mean.shape
      ((8, 14, 14, 32), (32,))
    """

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        use_scale: bool = True,
        use_bias: bool = True,
        use_running_average: bool = False,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        check_features("BatchNorm", num_features=num_features)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNorm: epsilon must be > 0, got {epsilon}")
        del rngs  # nothing random: scale starts at 1, bias at 0, as in Keras
        self.num_features = self.out_features = num_features
        self.momentum, self.epsilon = momentum, epsilon
        self.use_running_average = use_running_average
        self.scale = nnx.Param(jnp.ones((num_features,), dtype)) if use_scale else None
        self.bias = nnx.Param(jnp.zeros((num_features,), dtype)) if use_bias else None
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), dtype))
        self.var = nnx.BatchStat(jnp.ones((num_features,), dtype))

    def __call__(self, x, *, use_running_average: bool | None = None):
        """Normalize `(..., C)`; in training also update `mean` and `var` in place.

        Args:
          x: `(N, ..., C)` floats.
          use_running_average: overrides the module's mode for this call when not None.
        """
        check_channels("BatchNorm", x, self.num_features, "C")
        mode = self.use_running_average if use_running_average is None else use_running_average
        if not isinstance(mode, bool):
            raise TypeError(f"BatchNorm: use_running_average must be a bool, got {mode!r}")
        c = self.num_features
        gamma = self.scale[...] if self.scale is not None else jnp.ones((c,), x.dtype)
        beta = self.bias[...] if self.bias is not None else jnp.zeros((c,), x.dtype)
        y, new_mean, new_var = ops.batch_norm(
            x,
            gamma,
            beta,
            self.mean[...],
            self.var[...],
            training=not mode,
            momentum=self.momentum,
            epsilon=self.epsilon,
        )
        if not mode:
            self.mean[...] = new_mean
            self.var[...] = new_var
        return y

    def set_view(self, use_running_average: bool | None = None):
        """Hook for `nnx.view(model, use_running_average=...)`, as `nnx.BatchNorm` has."""
        if use_running_average is not None:
            self.use_running_average = use_running_average


class BatchNormalized(nnx.Module):
    """`activation(BatchNorm(layer(x)))`: the classic Keras Conv/Dense -> BatchNormalization -> Activation.

    The wrapped layer must have no activation of its own (normalization goes between the
    affine map and the nonlinearity). It keeps its bias, as the Keras recipe does.

    Args:
      layer: a `Conv1D`, `Conv2D`, `Conv2DTranspose` or `Dense` (anything with
        `out_features` and `activation`), built with `activation=None`.
      activation: applied after the normalization; None, a name or a callable.
      momentum, epsilon: for the `BatchNorm`.
      rngs: `nnx.Rngs`.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from cnnlab.nn import BatchNormalized, Conv2D
      >>> rngs = nnx.Rngs(0)
      >>> block = BatchNormalized(Conv2D(3, 32, 3, padding="same", rngs=rngs), "relu", rngs=rngs)
      >>> block(jnp.ones((8, 32, 32, 3))).shape
      (8, 32, 32, 32)
    """

    def __init__(
        self,
        layer: nnx.Module,
        activation: Activation = None,
        *,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        rngs: nnx.Rngs,
    ):
        if not hasattr(layer, "out_features") or not hasattr(layer, "activation"):
            raise TypeError(
                f"BatchNormalized: layer must be a Conv1D, Conv2D, Conv2DTranspose or Dense, got {type(layer).__name__}"
            )
        if layer.activation is not linear:
            raise ValueError(
                f"BatchNormalized: the wrapped {type(layer).__name__} must have activation=None "
                f"(got {layer.activation!r}); pass the activation to BatchNormalized instead"
            )
        self.layer = layer
        self.norm = BatchNorm(layer.out_features, momentum=momentum, epsilon=epsilon, rngs=rngs)
        self.activation = resolve_activation("BatchNormalized", activation)
        self.out_features = layer.out_features

    def __call__(self, x):
        """`layer -> batch norm -> activation`."""
        return self.activation(self.norm(self.layer(x)))

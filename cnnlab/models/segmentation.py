"""`Segmenter`: a small U-Net-style encoder-decoder giving per-pixel class logits."""

import jax.numpy as jnp
from flax import nnx

from cnnlab import nn, ops
from cnnlab.models.registry import zoo_model

__all__ = ["Segmenter"]


@zoo_model
class Segmenter(nnx.Module):
    """Two-level encoder-decoder (a small U-Net, Ronneberger et al. 2015) with optional skips.

    Each stage is two ReLU 3x3 SAME convolutions; the encoder max-pools, the decoder
    upsamples (nearest) and, with `skips`, concatenates the encoder features of the same
    resolution before its convolutions. A 1x1 convolution gives the logits.
    With `w = width`:
    `(N,H,W,C) -2x conv w-> (N,H,W,w)=s1 -max2-> -2x conv 2w-> (N,H/2,W/2,2w)=s2 -max2->
    (N,H/4,W/4,2w) -2x conv 4w-> (N,H/4,W/4,4w) -up2, ++s2-> (N,H/2,W/2,6w) -2x conv 2w->
    (N,H/2,W/2,2w) -up2, ++s1-> (N,H,W,3w) -2x conv w-> (N,H,W,w) -conv1-> (N,H,W,classes)`
    (without skips the concatenations are skipped: 4w and 2w channels enter the decoder stages).
    H and W must be multiples of 4.

    Args:
      num_classes: classes per pixel.
      in_channels: image channels.
      width: filters of the first stage.
      skips: concatenate encoder features into the decoder.
      rngs: `nnx.Rngs`.
    """

    def __init__(self, num_classes: int = 2, *, in_channels: int = 1, width: int = 16, skips: bool = True,
                 rngs: nnx.Rngs):  # fmt: skip
        def stage(c_in, c_out):
            return nn.Sequential(
                nn.Conv2D(c_in, c_out, 3, padding="same", activation="relu", rngs=rngs),
                nn.Conv2D(c_out, c_out, 3, padding="same", activation="relu", rngs=rngs),
            )

        w = width
        self.num_classes, self.skips = num_classes, skips
        self.down1 = stage(in_channels, w)
        self.down2 = stage(w, 2 * w)
        self.bottom = stage(2 * w, 4 * w)
        self.up2 = stage(4 * w + (2 * w if skips else 0), 2 * w)
        self.up1 = stage(2 * w + (w if skips else 0), w)
        self.head = nn.Conv2D(w, num_classes, 1, rngs=rngs)
        self.pool = nn.MaxPool2D(2)
        self.upsample = nn.UpSampling2D(2)

    def _merge(self, x, skip):
        x = self.upsample(x)
        return jnp.concatenate([x, skip], axis=-1) if self.skips else x

    def __call__(self, x):
        """`(N, H, W, C)` images -> `(N, H, W, num_classes)` logits."""
        if not hasattr(x, "ndim") or x.ndim != 4 or x.shape[1] % 4 or x.shape[2] % 4:
            got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"Segmenter: x must be (N, H, W, C) with H and W multiples of 4, got {got}")
        s1 = self.down1(x)
        s2 = self.down2(self.pool(s1))
        y = self.bottom(self.pool(s2))
        y = self.up2(self._merge(y, s2))
        y = self.up1(self._merge(y, s1))
        return self.head(y)

    def probabilities(self, x):
        """Per-pixel class probabilities `(N, H, W, num_classes)`: softmax of the logits."""
        return ops.softmax(self(x))

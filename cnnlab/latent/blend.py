"""How much of an image is a double exposure: the share of its ink drawn in half-tones.

A pixel cross-fade of two digits at ``t = 1/2`` draws each digit's strokes at half
intensity where the other has none: its ink is mostly grey. A digit, drawn or decoded, has
strokes near full intensity and grey only along their edges. `halftone_share` counts that
grey, as the number seed 003 Q17's question ("What do you notice?") can be answered with.

Example:
  >>> import numpy as np
  >>> a = np.zeros((1, 4, 4, 1), np.float32); a[0, 1, :] = 1.0   # a horizontal stroke
  >>> b = np.zeros((1, 4, 4, 1), np.float32); b[0, :, 2] = 1.0   # a vertical one
  >>> float(halftone_share(a)[0]), round(float(halftone_share((a + b) / 2)[0]), 3)  # 6 of 7 ink pixels grey
  (0.0, 0.857)
"""

import numpy as np

__all__ = ["halftone_share"]


def halftone_share(images, *, ink: float = 0.1, low: float = 0.3, high: float = 0.7) -> np.ndarray:
    """Per image, the share of its ink pixels (above ``ink``) whose value lies in ``[low, high]``.

    Args:
      images: ``(N, H, W, C)`` floats in [0, 1] (a decoder's linear output may overshoot: it
        is clipped to [0, 1] first), or uint8 (scaled by 1/255).
      ink: the least value counted as ink.
      low, high: the half-tone band, ``ink <= low <= high <= 1``.

    Returns:
      float64 ``(N,)``; an image without ink scores 0.

    Raises:
      ValueError: ``images`` is not 4-D, or the thresholds are out of order.
    """
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"halftone_share: images must be (N, H, W, C), got shape {x.shape}")
    if not 0 <= ink <= low <= high <= 1:
        raise ValueError(f"halftone_share: needs 0 <= ink <= low <= high <= 1, got ink={ink}, low={low}, high={high}")
    x = x / 255.0 if x.dtype == np.uint8 else np.clip(x.astype(np.float64), 0, 1)
    inked = (x > ink).reshape(len(x), -1)
    grey = ((x >= low) & (x <= high)).reshape(len(x), -1) & inked
    return grey.sum(1) / np.maximum(inked.sum(1), 1)

"""`make_canvases`: a per-pixel segmentation task built offline from real digits.

Each canvas holds a few digits placed at seeded random positions so that their ink does not
overlap (their bounding boxes are kept apart where possible), and its mask gives every pixel a
class: 0 (`BACKGROUND`) for background, ``d + 1`` for a pixel of digit ``d``. The segmentation
study trains `models.Segmenter` on canvases of training digits and scores it on canvases of test
digits, so no digit is seen in both.
"""

import numpy as np

__all__ = ["BACKGROUND", "CANVAS_CLASSES", "make_canvases"]

#: Class 0 of a canvas mask is the background; digit d is class d + 1.
BACKGROUND = 0
#: The names of the mask classes: ``CANVAS_CLASSES[masks[i, y, x]]`` names a pixel.
CANVAS_CLASSES = ("background", *(f"digit {d}" for d in range(10)))


def _check_count(name: str, value, lo: int, *, what: str = "") -> None:
    """Raises ValueError unless ``value`` is an int (not a bool) >= ``lo``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"make_canvases: {name} must be an int >= {what or lo}; got {value!r}")


def _checked_digits(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """``(M, H, W)`` uint8 digits and their ``(M,)`` integer labels in 0..9, or an error naming the problem."""
    imgs = np.asarray(images)
    if imgs.ndim == 4 and imgs.shape[-1] == 1:
        imgs = imgs[..., 0]
    if imgs.ndim != 3:
        raise ValueError(f"make_canvases: images must be (M, H, W) or (M, H, W, 1); got {np.shape(images)}")
    if imgs.dtype != np.uint8:
        raise TypeError(f"make_canvases: images must be uint8 (0..255); got {imgs.dtype}")
    lab = np.asarray(labels)
    if lab.shape != imgs.shape[:1] or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"make_canvases: labels must be integer ({len(imgs)},); got {lab.shape} {lab.dtype}")
    if lab.size and (lab.min() < 0 or lab.max() > 9):
        raise ValueError(f"make_canvases: labels must be digits 0..9; got values {lab.min()}..{lab.max()}")
    return imgs, lab


def _ink_boxes(imgs: np.ndarray) -> np.ndarray:
    """Each digit's ink bounding box (pixels > 0) in its own frame: int64 ``(M, 4)`` top, bottom, left, right
    (bottom and right exclusive); ``(0, 0, 0, 0)`` for a blank digit."""
    ink = imgs > 0
    rows_any, cols_any = ink.any(2), ink.any(1)
    boxes = np.zeros((len(imgs), 4), np.int64)
    for i in range(len(imgs)):
        r, c = np.flatnonzero(rows_any[i]), np.flatnonzero(cols_any[i])
        boxes[i] = (r[0], r[-1] + 1, c[0], c[-1] + 1) if r.size else (0, 0, 0, 0)
    return boxes


def _overlap(box, taken) -> int:
    """Total area ``box`` (top, bottom, left, right) shares with the boxes in ``taken``."""
    t, b, lft, rgt = box
    return sum(max(0, min(b, B) - max(t, T)) * max(0, min(rgt, R) - max(lft, L)) for T, B, L, R in taken)


def _place(rng, box, taken, free_rows: int, free_cols: int, attempts: int) -> tuple[int, int]:
    """The ``(top, left)`` of the first of up to ``attempts`` uniform draws whose ink ``box`` overlaps
    nothing in ``taken``, else of the least overlapping draw (the first among equals)."""
    best, best_overlap = None, None
    for _ in range(attempts):
        top, left = rng.integers(0, free_rows), rng.integers(0, free_cols)
        overlap = _overlap(box + (top, top, left, left), taken)
        if best is None or overlap < best_overlap:
            best, best_overlap = (top, left), overlap
        if overlap == 0:
            break
    return best


def make_canvases(
    images,
    labels,
    n: int,
    *,
    size: int = 64,
    digits_per_canvas: int = 3,
    seed: int,
    threshold: int = 128,
    attempts: int = 50,
):
    """Canvases of real digits and their per-pixel class masks, fully determined by ``seed``.

    For each canvas, ``digits_per_canvas`` digits are drawn at random (without replacement
    within a canvas) and placed one after another. A position is drawn uniformly (the
    digit entirely inside the canvas) up to ``attempts`` times until the bounding
    box of the digit's ink (pixels > 0) overlaps no earlier digit's; if none is free, the
    candidate whose box overlaps least is taken. The canvas pixel is the maximum over the
    digits covering it. The mask is built in placement order: each digit writes its class
    ``label + 1`` on its foreground pixels (intensity >= ``threshold``), so where the
    foregrounds of two digits meet the later one wins; every other pixel is `BACKGROUND` (0).

    Args:
      images: ``(M, 28, 28, 1)`` or ``(M, 28, 28)`` uint8 digits (0..255).
      labels: ``(M,)`` integer classes in ``[0, 9]``.
      n: number of canvases.
      size: canvas height and width (at least the digit size; a multiple of 4 for `Segmenter`).
      digits_per_canvas: digits on each canvas (at most M).
      seed: seeds NumPy's ``default_rng``; the same seed and inputs give the same canvases.
      threshold: the intensity (1..255) from which a digit's pixel is foreground.
      attempts: positions tried per digit before accepting the least overlapping.

    Returns:
      ``(canvases, masks, placements)``: uint8 ``(n, size, size, 1)``; int32 ``(n, size, size)``
      with values in ``[0, 10]``; int64 ``(n, digits_per_canvas, 3)`` holding, per placed digit
      in order, ``(index into images, top row, left column)``.

    Raises:
      ValueError / TypeError: shapes, dtypes or values outside what is described above.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> digits = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
      >>> canvases, masks, placed = make_canvases(digits, np.arange(20) % 10, 5, seed=0)
      >>> canvases.shape, masks.shape, placed.shape
      ((5, 64, 64, 1), (5, 64, 64), (5, 3, 3))
    """
    imgs, lab = _checked_digits(images, labels)
    for name, v in (("n", n), ("digits_per_canvas", digits_per_canvas), ("attempts", attempts)):
        _check_count(name, v, 1)
    h, w = imgs.shape[1:]
    _check_count("size", size, max(h, w), what=f"the digit size {max(h, w)}")
    if digits_per_canvas > len(imgs):
        raise ValueError(f"make_canvases: digits_per_canvas {digits_per_canvas} exceeds the {len(imgs)} images")
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer) or not 1 <= threshold <= 255:
        raise ValueError(f"make_canvases: threshold must be an int in 1..255; got {threshold!r}")

    boxes = _ink_boxes(imgs)
    rng = np.random.default_rng(seed)
    canvases = np.zeros((n, size, size), np.uint8)
    masks = np.full((n, size, size), BACKGROUND, np.int32)
    placements = np.zeros((n, digits_per_canvas, 3), np.int64)
    for c in range(n):
        taken = []  # absolute ink boxes already on this canvas
        for j, idx in enumerate(rng.choice(len(imgs), digits_per_canvas, replace=False)):
            top, left = _place(rng, boxes[idx], taken, size - h + 1, size - w + 1, attempts)
            taken.append(tuple(boxes[idx] + (top, top, left, left)))
            placements[c, j] = (idx, top, left)
            window = canvases[c, top : top + h, left : left + w]
            np.maximum(window, imgs[idx], out=window)
            masks[c, top : top + h, left : left + w][imgs[idx] >= threshold] = lab[idx] + 1
    return canvases[..., None], masks, placements

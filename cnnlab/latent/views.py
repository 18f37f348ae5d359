"""What each ``cnnlab latent`` command computes, as arrays: `interpolation`, `grid`, `samples`,
`generated`, `codes` (and `principal_plane`, the 2-D view of wider codes).

Each takes a model (any with ``encode``/``decode``; `generated` a `NoiseToDigit`) and returns
plain NumPy arrays, so the figures `cnnlab.latent.commands` draws can be checked against
independent computations.
"""

import numpy as np

PATHS = {"lerp": "linear", "slerp": "spherical"}


class CommandError(ValueError):
    """A request the run cannot answer (no encoder, an index out of range, ...): one line, status 2."""


def interpolation(model, x0, x1, *, steps: int, path: str = "lerp", space: str = "both") -> dict[str, np.ndarray]:
    """Rows of ``steps`` images from ``x0`` to ``x1``, by row label: the pixel cross-fade and/or the latent path."""
    from cnnlab import latent

    rows = {}
    if space in ("pixel", "both"):
        rows["pixel"] = np.asarray(latent.interpolate_pixels(x0, x1, steps))
    if space in ("latent", "both"):
        rows[f"latent ({path})"] = np.asarray(latent.interpolate_latent(model, x0, x1, steps, method=PATHS[path]))
    return rows


def principal_plane(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean ``(D,)`` and first two principal directions ``(2, D)`` of flat codes ``z`` ``(N, D)``.

    Each direction's largest entry (in absolute value) is made positive, so the sign is fixed.
    """
    mean = z.mean(0)
    _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
    pcs = vt[:2]
    return mean, pcs * np.sign(pcs[np.arange(2), np.abs(pcs).argmax(1)])[:, None]


def grid(model, z: np.ndarray, n: int) -> dict:
    """The decoded ``n x n`` grid over the test codes ``z``: the 2-D plane, or its first two principal components.

    The grid spans the 1st to 99th percentile of the codes (or of their principal-component
    scores) plus 8% on each side, as latent-2d draws it; other components stay at the mean.

    Returns:
      ``images (n, n, H, W, C)``, ``coords (n, n, 2)`` (latent or PC coordinates, top row highest),
      ``points (N, 2)`` (the codes in those coordinates) and ``pca`` (``None``, or ``(mean, pcs)``).
    """
    from cnnlab import latent

    flat = z.reshape(len(z), -1).astype(np.float64)
    if flat.shape[1] < 2:
        raise CommandError(f"grid: the codes have {flat.shape[1]} number(s); a grid needs at least 2")
    pca = None if z.ndim == 2 and z.shape[1] == 2 else principal_plane(flat)
    points = flat if pca is None else (flat - pca[0]) @ pca[1].T
    lo, hi = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    pad = 0.08 * np.maximum(hi - lo, 1e-6)
    if pca is None:
        images, coords = latent.latent_grid(model, tuple(lo - pad), tuple(hi + pad), n)
        return {"images": np.asarray(images), "coords": np.asarray(coords), "points": points, "pca": None}
    u = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n)
    v = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)[::-1]  # top row: the highest second coordinate
    coords = np.stack(np.meshgrid(u, v, indexing="xy"), axis=-1)  # [i, j] = (u_j, v_i)
    on_plane = (pca[0] + coords.reshape(n * n, 2) @ pca[1]).astype(np.float32).reshape((n * n, *z.shape[1:]))
    images = np.asarray(latent.decode(model, on_plane))
    return {"images": images.reshape((n, n, *images.shape[1:])), "coords": coords, "points": points, "pca": pca}


def samples(model, z: np.ndarray, labels: np.ndarray, digit: int, *, n: int, temperature: float, seed: int) -> dict:
    """``n`` codes from ``N(mean, temperature^2 cov)`` of the codes ``z`` of class ``digit``, and their images."""
    import jax

    from cnnlab import latent

    mine = z[labels == digit]
    if len(mine) < 2:
        raise CommandError(f"digit {digit}: {len(mine)} code(s) of that class; a covariance needs at least 2")
    means, covs = latent.class_stats(mine, np.zeros(len(mine), np.int32), 1)
    covs = covs * np.float32(temperature**2)
    codes = latent.sample_class(jax.random.key(seed), means, covs, np.zeros(n, np.int32)).reshape((n, *z.shape[1:]))
    images = np.asarray(latent.decode(model, codes))
    return {"mean": np.asarray(means[0]), "cov": np.asarray(covs[0]), "count": len(mine), "codes": np.asarray(codes),
            "images": images}  # fmt: skip


def generated(model, digit: int, *, n: int, seed: int) -> dict:
    """noise-to-digit's phase-2 generator driven by class-coded noise (`cnnlab.models.generators.class_noise`)."""
    import jax

    from cnnlab import latent
    from cnnlab.models.generators import class_noise

    noise = class_noise(jax.random.key(seed), np.full(n, digit), model.noise_dim)
    return {"codes": np.asarray(noise), "images": np.asarray(latent.decode(model, noise))}


def codes(model, images) -> np.ndarray:
    """The codes of ``images`` (`cnnlab.latent.encode`)."""
    from cnnlab import latent

    return np.asarray(latent.encode(model, images))

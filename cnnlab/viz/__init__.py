"""cnnlab.viz: matplotlib figures for the experiments.

Each function returns a matplotlib ``Figure`` and saves nothing; the experiment harness
(``Run.figure``) writes it. matplotlib picks its non-interactive backend
(Agg) by itself on a machine without a display.
"""

from cnnlab.viz.curves import compare_histories as compare_histories
from cnnlab.viz.curves import sweep_curves as sweep_curves
from cnnlab.viz.features import feature_maps as feature_maps
from cnnlab.viz.features import kernel_grid as kernel_grid
from cnnlab.viz.images import image_rows as image_rows
from cnnlab.viz.images import to_display as to_display
from cnnlab.viz.latent import interpolation_strips as interpolation_strips
from cnnlab.viz.latent import latent_manifold as latent_manifold
from cnnlab.viz.latent import latent_scatter as latent_scatter

__all__ = [
    "compare_histories",
    "feature_maps",
    "image_rows",
    "interpolation_strips",
    "kernel_grid",
    "latent_manifold",
    "latent_scatter",
    "sweep_curves",
    "to_display",
]

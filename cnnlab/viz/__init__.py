"""cnnlab.viz: matplotlib figures for the experiments.

Each function returns a matplotlib ``Figure`` and saves nothing; the experiment harness
(``Run.figure``) writes it. matplotlib picks its non-interactive backend
(Agg) by itself on a machine without a display.

The general figures are imported here; the studies' own figures live in submodules,
imported by name: `cnnlab.viz.convolution` (padding, stride, template matching),
`cnnlab.viz.denoise` (quality histograms, checkerboard), `cnnlab.viz.sweeps` (paired
seeds), `cnnlab.viz.agreement` (cnnlab beside Keras/PyTorch), `cnnlab.viz.classifiers`
(mistakes with their softmax, confusion matrix, seed 003 Q11), `cnnlab.viz.segmentation`
and `cnnlab.viz.generators` (whose main functions are also here).
"""

from cnnlab.viz.curves import compare_histories as compare_histories
from cnnlab.viz.curves import sweep_curves as sweep_curves
from cnnlab.viz.features import feature_maps as feature_maps
from cnnlab.viz.features import kernel_grid as kernel_grid
from cnnlab.viz.generators import class_grid as class_grid
from cnnlab.viz.generators import class_panels as class_panels
from cnnlab.viz.generators import first_of_each_class as first_of_each_class
from cnnlab.viz.generators import mean_collapse as mean_collapse
from cnnlab.viz.generators import per_class_bars as per_class_bars
from cnnlab.viz.generators import quality_diversity as quality_diversity
from cnnlab.viz.images import image_rows as image_rows
from cnnlab.viz.images import to_display as to_display
from cnnlab.viz.latent import interpolation_strips as interpolation_strips
from cnnlab.viz.latent import latent_manifold as latent_manifold
from cnnlab.viz.latent import latent_scatter as latent_scatter
from cnnlab.viz.segmentation import digit_palette as digit_palette
from cnnlab.viz.segmentation import iou_bars as iou_bars
from cnnlab.viz.segmentation import mask_overlay as mask_overlay
from cnnlab.viz.segmentation import pet_palette as pet_palette
from cnnlab.viz.segmentation import segmentation_overlays as segmentation_overlays

__all__ = [
    "class_grid",
    "class_panels",
    "compare_histories",
    "digit_palette",
    "feature_maps",
    "first_of_each_class",
    "image_rows",
    "interpolation_strips",
    "iou_bars",
    "kernel_grid",
    "latent_manifold",
    "latent_scatter",
    "mask_overlay",
    "mean_collapse",
    "per_class_bars",
    "pet_palette",
    "quality_diversity",
    "segmentation_overlays",
    "sweep_curves",
    "to_display",
]

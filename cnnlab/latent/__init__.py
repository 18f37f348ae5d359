"""cnnlab.latent: what an autoencoder's latent space holds.

Encode a dataset and decode any codes (`encode`, `decode`, batched and jit-compiled);
paths between codes (`lerp`, `slerp`); pixel-space against latent-space interpolation of
two images (`interpolate_pixels`, `interpolate_latent`); the decoded grid over a 2-D latent
(`latent_grid`); class-conditional Gaussians to sample new codes from (`class_stats`,
`sample_class`). See ``docs/latent.md``. Every public name is listed here. The command line
``cnnlab latent RUN interpolate|grid|sample|encode`` (`cnnlab.latent.commands`, imported on
its own) runs these on the models a saved run kept.
"""

from cnnlab.latent.codes import decode as decode
from cnnlab.latent.codes import encode as encode
from cnnlab.latent.codes import interpolate_latent as interpolate_latent
from cnnlab.latent.codes import interpolate_pixels as interpolate_pixels
from cnnlab.latent.codes import latent_grid as latent_grid
from cnnlab.latent.paths import lerp as lerp
from cnnlab.latent.paths import slerp as slerp
from cnnlab.latent.stats import class_stats as class_stats
from cnnlab.latent.stats import sample_class as sample_class

__all__ = [
    "class_stats",
    "decode",
    "encode",
    "interpolate_latent",
    "interpolate_pixels",
    "latent_grid",
    "lerp",
    "sample_class",
    "slerp",
]

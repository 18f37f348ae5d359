"""`VGGEncoder` (VGG16 / VGG19 up to a named layer) and `TransferSegmenter`, seed 002's segmenter.

Seed 002 (section 3, "Semantic segmentation") cuts Keras's ImageNet VGG19 at ``'block5_conv2'``,
freezes it, and decodes its features with ``UpSampling2D`` + ``Conv2DTranspose`` layers to a
one-channel sigmoid mask trained with binary cross-entropy. The encoder's layers here carry
Keras's names (``block1_conv1`` ... ``block5_pool``), so `cnnlab.interop.keras_weights`
loads a Keras applications weights file into it layer by layer.
"""

import jax.numpy as jnp
from flax import nnx

from cnnlab import nn
from cnnlab.models.registry import zoo_model

__all__ = ["IMAGENET_BGR_MEAN", "VGG_BLOCKS", "TransferSegmenter", "VGGEncoder", "vgg_layer_names"]

#: Convolutions per block of each VGG (Simonyan & Zisserman 2015, configurations D and E);
#: block b has ``width * (1, 2, 4, 8, 8)[b - 1]`` filters (``width`` is 64 in VGG).
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_SCALE = (1, 2, 4, 8, 8)
#: Keras's ``preprocess_input`` for VGG ("caffe" mode): BGR channel means of ImageNet, on 0..255.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def vgg_layer_names(arch: str = "vgg19", up_to: str | None = None) -> tuple[str, ...]:
    """Keras's names of the convolutions and poolings of ``arch``, in order, up to and including ``up_to``
    (default: all of them, ``block5_pool``).

    Raises:
      ValueError: an unknown ``arch``, or an ``up_to`` that is not one of its layers (the message lists them).
    """
    if arch not in VGG_BLOCKS:
        raise ValueError(f"vgg_layer_names: arch must be one of {sorted(VGG_BLOCKS)}; got {arch!r}")
    names = []
    for b, convs in enumerate(VGG_BLOCKS[arch], start=1):
        names += [f"block{b}_conv{i}" for i in range(1, convs + 1)] + [f"block{b}_pool"]
    if up_to is None:
        return tuple(names)
    if up_to not in names:
        raise ValueError(f"vgg_layer_names: {arch} has no layer {up_to!r}; its layers are {', '.join(names)}")
    return tuple(names[: names.index(up_to) + 1])


@zoo_model
class VGGEncoder(nnx.Module):
    """VGG16 or VGG19's convolutional layers up to ``up_to``, as Keras's ``Model(vgg.input,
    vgg.get_layer(up_to).output)``: 3x3 SAME ReLU convolutions, 2x2 max pooling after each block.

    `(N, H, W, 3) -> (N, H / 2**p, W / 2**p, C)` where p is the number of poolings up to ``up_to``
    (`downsampling` is ``2**p``) and C the filters of its block; H and W multiples of ``2**p``.
    For ``'block5_conv2'`` of VGG19 (seed 002): `(N, 224, 224, 3) -> (N, 14, 14, 512)`.

    Args:
      arch: ``"vgg16"`` or ``"vgg19"``.
      up_to: the last layer kept, a Keras layer name such as ``"block5_conv2"``.
      width: filters of block 1 (VGG's 64); the blocks have ``width * (1, 2, 4, 8, 8)``. Only 64
        takes ImageNet weights; smaller widths make quick runs affordable on a CPU.
      preprocess: take RGB images in [0, 1] and apply Keras's VGG ``preprocess_input`` first
        (times 255, RGB to BGR, minus `IMAGENET_BGR_MEAN`), as ImageNet weights expect. False
        feeds the input to ``block1_conv1`` as is, as Keras's model does.
      rngs: `nnx.Rngs`.
    """

    def __init__(self, arch: str = "vgg19", *, up_to: str = "block5_conv2", width: int = 64,
                 preprocess: bool = False, rngs: nnx.Rngs):  # fmt: skip
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"VGGEncoder: width must be a positive int (VGG's is 64); got {width!r}")
        self.layer_names = vgg_layer_names(arch, up_to)
        self.arch, self.up_to, self.width, self.preprocess = arch, up_to, width, bool(preprocess)
        c_in = 3
        for name in self.layer_names:
            block = int(name[5])
            if name.endswith("_pool"):
                setattr(self, name, nn.MaxPool2D(2))
            else:
                c_out = width * _SCALE[block - 1]
                setattr(self, name, nn.Conv2D(c_in, c_out, 3, padding="same", activation="relu", rngs=rngs))
                c_in = c_out
        self.out_channels = c_in

    @property
    def downsampling(self) -> int:
        """The factor by which height and width shrink: 2 to the number of poolings kept."""
        return 2 ** sum(n.endswith("_pool") for n in self.layer_names)

    @property
    def blocks(self) -> int:
        """The blocks the encoder reaches into (5 for ``'block5_conv2'``)."""
        return int(self.layer_names[-1][5])

    def __call__(self, x):
        """`(N, H, W, 3)` images -> `(N, H / downsampling, W / downsampling, out_channels)` features."""
        f = self.downsampling
        if not hasattr(x, "ndim") or x.ndim != 4 or x.shape[-1] != 3 or x.shape[1] % f or x.shape[2] % f:
            got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"VGGEncoder: x must be (N, H, W, 3) with H and W multiples of {f}; got {got}")
        if self.preprocess:
            x = x[..., ::-1] * 255.0 - jnp.asarray(IMAGENET_BGR_MEAN, x.dtype).reshape(1, 1, 1, 3)
        for name in self.layer_names:
            x = getattr(self, name)(x)
        return x


@zoo_model
class TransferSegmenter(nnx.Module):
    """Seed 002's segmentation network: a `VGGEncoder` and a decoder of ``UpSampling2D`` +
    ``Conv2DTranspose`` layers to a one-channel sigmoid mask (the probability of foreground).

    The decoder inverts the encoder block by block, from its last block down to block 1, as the
    seed's ``decoder`` does: each inverse block upsamples by 2 (nearest) where the encoder pooled
    and applies a ReLU ``Conv2DTranspose(3x3, same)``; the seed's widths are 256, 128, 128, 64 and 32
    for blocks 5 to 1 (``width * (4, 2, 2, 1, 1/2)``), then ``Conv2DTranspose(16, 3x3)`` and
    ``Conv2DTranspose(1, 1x1, sigmoid)``. The seed upsamples in all five inverse blocks although
    ``'block5_conv2'`` comes before ``block5_pool``, so its mask would be twice the input's size;
    here block 5's inverse does not upsample and the mask has the input's size.
    With ``'block5_conv2'`` and width w: `(N,H,W,C) [grey C=1 is repeated to RGB] -VGG19->
    (N,H/16,W/16,8w) -ct 4w-> -up,ct 2w-> (N,H/8,..) -up,ct 2w-> (N,H/4,..) -up,ct w-> (N,H/2,..)
    -up,ct w/2-> (N,H,W,w/2) -ct w/4-> -ct 1, sigmoid-> (N,H,W,1)`.

    Args:
      arch, up_to, width, preprocess: the `VGGEncoder`'s.
      in_channels: 3 (RGB) or 1 (grey, repeated into the three channels VGG takes).
      rngs: `nnx.Rngs`.
    """

    def __init__(self, arch: str = "vgg19", *, up_to: str = "block5_conv2", width: int = 64,
                 in_channels: int = 3, preprocess: bool = False, rngs: nnx.Rngs):  # fmt: skip
        if in_channels not in (1, 3):
            raise ValueError(f"TransferSegmenter: in_channels must be 1 (grey) or 3 (RGB); got {in_channels!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 4 or width % 4:
            raise ValueError(f"TransferSegmenter: width must be a positive multiple of 4 (VGG's 64); got {width!r}")
        self.in_channels = in_channels
        self.encoder = VGGEncoder(arch, up_to=up_to, width=width, preprocess=preprocess, rngs=rngs)
        pooled = {int(n[5]) for n in self.encoder.layer_names if n.endswith("_pool")}
        widths = {5: 4 * width, 4: 2 * width, 3: 2 * width, 2: width, 1: width // 2}
        layers, c = [], self.encoder.out_channels
        for b in range(self.encoder.blocks, 0, -1):
            if b in pooled:
                layers.append(nn.UpSampling2D(2))
            layers.append(nn.Conv2DTranspose(c, widths[b], 3, padding="same", activation="relu", rngs=rngs))
            c = widths[b]
        layers.append(nn.Conv2DTranspose(c, width // 4, 3, padding="same", activation="relu", rngs=rngs))
        layers.append(nn.Conv2DTranspose(width // 4, 1, 1, padding="same", activation="sigmoid", rngs=rngs))
        self.decoder = nn.Sequential(*layers)

    def __call__(self, x):
        """`(N, H, W, in_channels)` images in [0, 1] -> `(N, H, W, 1)` foreground probabilities."""
        if not hasattr(x, "ndim") or x.ndim != 4 or x.shape[-1] != self.in_channels:
            got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"TransferSegmenter: x must be (N, H, W, {self.in_channels}); got {got}")
        if self.in_channels == 1:
            x = jnp.repeat(x, 3, axis=-1)
        return self.decoder(self.encoder(x))

"""PyTorch as an oracle: layouts and padding conventions between cnnlab and PyTorch.

cnnlab is NHWC / HWIO (NLC / LIO in 1-D); PyTorch is NCHW / OIHW. The oracle runs in
float64 on copies of the float32 inputs our ops see, so that its own rounding is negligible.
"""

import numpy as np
import torch

# The one permutation between our conv kernels and PyTorch's weights, both ways round:
#   conv2d            HWIO (KH, KW, C_in, C_out)  <->  OIHW (C_out, C_in, KH, KW)
#   conv2d_transpose  (KH, KW, C_out, C_in)       <->  (C_in, C_out, KH, KW)
# (ours -> torch is (3, 2, 0, 1); torch -> ours is (2, 3, 1, 0)); 1-D drops one spatial axis.
_KERNEL_TO_TORCH = {3: (2, 1, 0), 4: (3, 2, 0, 1)}
_KERNEL_FROM_TORCH = {3: (2, 1, 0), 4: (2, 3, 1, 0)}


def t64(a, *, requires_grad: bool = False) -> torch.Tensor:
    """A float64, C-contiguous torch tensor holding a copy of `a` (never a view of a read-only
    jax buffer; contiguous because some CPU kernels, e.g. slow_conv2d's backward, need it)."""
    t = torch.from_numpy(np.array(a, dtype=np.float64, order="C", copy=True))
    return t.requires_grad_(requires_grad)


def to_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def channels_first(a) -> torch.Tensor:
    """NHWC / NLC numpy -> NCHW / NCL float64 tensor (a leaf that can require grad)."""
    a = np.asarray(a)
    perm = (0, a.ndim - 1) + tuple(range(1, a.ndim - 1))
    return t64(np.transpose(a, perm))


def channels_last(t: torch.Tensor) -> np.ndarray:
    """NCHW / NCL tensor -> NHWC / NLC numpy."""
    perm = (0,) + tuple(range(2, t.ndim)) + (1,)
    return to_np(t).transpose(perm)


def kernel_to_torch(k) -> torch.Tensor:
    """Our conv (HWIO) or transposed-conv (HW,C_out,C_in) kernel -> PyTorch weight layout."""
    k = np.asarray(k)
    return t64(np.transpose(k, _KERNEL_TO_TORCH[k.ndim]))


def kernel_from_torch(t: torch.Tensor) -> np.ndarray:
    """PyTorch weight (or its .grad) -> our kernel layout."""
    return to_np(t).transpose(_KERNEL_FROM_TORCH[t.ndim])


def torch_pad_arg(pads) -> tuple:
    """((top, bottom), (left, right)) or ((left, right),) -> F.pad's (left, right, top, bottom)."""
    out = ()
    for lo, hi in reversed(tuple(pads)):
        out += (lo, hi)
    return out


def same_pads(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow/Keras SAME padding of one axis: out = ceil(size / stride), odd pixel after."""
    eff = dilation * (window - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2

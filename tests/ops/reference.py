"""Slow, obviously right NumPy references (float64), in the manner of jax's lax_reference.

Each loops over output (or input) pixels and writes the definition out; nothing
here shares code with `cnnlab.ops`. Padding is always given explicitly as
`((top, bottom), (left, right))`; `same_pads` computes Keras/TensorFlow's SAME
padding from its definition so the tests can state it independently.
"""

import math

import numpy as np


def same_pads(size, k, stride):
    """TensorFlow's SAME: output ceil(size/stride), the odd extra pixel at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1)):
    """y[n,i,j,o] = b[o] + sum_{a,c,ch} xp[n, i*sh + a*dh, j*sw + c*dw, ch] * w[a, c, ch, o]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.zeros((n, h + sum(pads[0]), wd + sum(pads[1]), x.shape[3]))
    xp[:, pads[0][0] : pads[0][0] + h, pads[1][0] : pads[1][0] + wd] = x
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for c in range(kw):
                    y[:, i, j] += xp[:, i * sh + a * dh, j * sw + c * dw] @ w[a, c]
    if b is not None:
        y += np.asarray(b, np.float64)
    return y


def conv2d_transpose(x, w, stride=(1, 1), crop=((0, 0), (0, 0)), extra=(0, 0), dilation=(1, 1)):
    """Scatter form: each input pixel stamps `w` (KH, KW, C_out, C_in) into the output.

    The full output is `(H - 1) * s + d * (K - 1) + 1` long; PyTorch's `padding` crops
    `crop` pixels from each side, and `extra` (output_padding) rows/cols are appended
    at the bottom/right (they receive stamps only if the full output reaches them).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, h, wd, _ = x.shape
    kh, kw, co, _ = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    fh = (h - 1) * sh + (kh - 1) * dh + 1 + extra[0]
    fw = (wd - 1) * sw + (kw - 1) * dw + 1 + extra[1]
    full = np.zeros((n, fh, fw, co))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for c in range(kw):
                    full[:, i * sh + a * dh, j * sw + c * dw] += x[:, i, j] @ w[a, c].T
    (t, btm), (lft, rgt) = crop
    return full[:, t : fh - btm, lft : fw - rgt]


def pool2d(x, window, stride, pads, kind, count_pad=False):
    """Max or average over each window of the padded input.

    Max: padding never wins. Average: `count_pad=False` divides by the real pixels
    under the window (Keras/TF SAME), `True` by the window size (PyTorch explicit).
    """
    x = np.asarray(x, np.float64)
    n, h, wd, ch = x.shape
    (kh, kw), (sh, sw) = window, stride
    (t, _), (lft, _) = pads
    oh = (h + sum(pads[0]) - kh) // sh + 1
    ow = (wd + sum(pads[1]) - kw) // sw + 1
    y = np.zeros((n, oh, ow, ch))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - t, j * sw - lft
            rows = [r for r in range(r0, r0 + kh) if 0 <= r < h]
            cols = [c for c in range(c0, c0 + kw) if 0 <= c < wd]
            patch = x[:, rows][:, :, cols]
            if kind == "max":
                y[:, i, j] = patch.max(axis=(1, 2))
            else:
                y[:, i, j] = patch.sum(axis=(1, 2)) / (kh * kw if count_pad else len(rows) * len(cols))
    return y


def upsample_nearest(x, scale):
    """out[n, i, j] = x[n, i // sh, j // sw]."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    sh, sw = scale
    y = np.zeros((n, h * sh, w * sw, c))
    for i in range(h * sh):
        for j in range(w * sw):
            y[:, i, j] = x[:, i // sh, j // sw]
    return y


def upsample_bilinear(x, scale):
    """Half-pixel centres: sample at ((i + .5) / s - .5), clamped to the image, per axis."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    sh, sw = scale

    def taps(o, s, size):
        src = min(max((o + 0.5) / s - 0.5, 0.0), size - 1)
        lo = int(math.floor(src))
        hi = min(lo + 1, size - 1)
        return lo, hi, src - lo

    y = np.zeros((n, h * sh, w * sw, c))
    for i in range(h * sh):
        r0, r1, fr = taps(i, sh, h)
        for j in range(w * sw):
            c0, c1, fc = taps(j, sw, w)
            y[:, i, j] = (
                (1 - fr) * (1 - fc) * x[:, r0, c0]
                + (1 - fr) * fc * x[:, r0, c1]
                + fr * (1 - fc) * x[:, r1, c0]
                + fr * fc * x[:, r1, c1]
            )
    return y


def batch_norm(x, gamma, beta, mean, var, training, momentum, epsilon, axis=-1):
    """Keras BatchNormalization in float64: biased batch variance, momentum on the old value."""
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    red = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    if training:
        m = x.mean(axis=red)
        v = ((x - m.reshape(shape)) ** 2).mean(axis=red)
        new_mean = momentum * np.asarray(mean, np.float64) + (1 - momentum) * m
        new_var = momentum * np.asarray(var, np.float64) + (1 - momentum) * v
    else:
        m, v = np.asarray(mean, np.float64), np.asarray(var, np.float64)
        new_mean, new_var = m, v
    y = (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + epsilon)
    y = y * np.asarray(gamma, np.float64).reshape(shape) + np.asarray(beta, np.float64).reshape(shape)
    return y, new_mean, new_var

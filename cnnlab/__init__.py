"""cnnlab: the classic convolutional-network toolkit, reimplemented in JAX."""

__version__ = "0.1.0"

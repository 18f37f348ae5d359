"""cnnlab.interop: weights in and out of Keras 3 objects and files, PyTorch state dicts, NumPy `.npz`.

`cnnlab.interop.keras.load_weights` / `export_weights`, `cnnlab.interop.torch.load_state_dict`,
`save_npz` / `load_npz`. Keras and PyTorch are never imported at module load (Keras only when
a Keras model is passed); `.weights.h5` / `.keras` files are read with h5py.
"""

from cnnlab.interop import keras, torch
from cnnlab.interop.npz import load_npz, save_npz

__all__ = ["keras", "load_npz", "save_npz", "torch"]

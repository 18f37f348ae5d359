"""cnnlab.data: image datasets as arrays, transforms, and device-resident batching.

See ``docs/data.md``. Every public name is listed here.
"""

from cnnlab.data._idx import parse_idx as parse_idx
from cnnlab.data._idx import read_idx as read_idx
from cnnlab.data.batching import REMAINDERS as REMAINDERS
from cnnlab.data.batching import epoch_indices as epoch_indices
from cnnlab.data.batching import iterate_batches as iterate_batches
from cnnlab.data.batching import num_batches as num_batches
from cnnlab.data.batching import take as take
from cnnlab.data.batching import to_device as to_device
from cnnlab.data.canvases import BACKGROUND as BACKGROUND
from cnnlab.data.canvases import CANVAS_CLASSES as CANVAS_CLASSES
from cnnlab.data.canvases import make_canvases as make_canvases
from cnnlab.data.dataset import Dataset as Dataset
from cnnlab.data.dataset import DataUnavailableError as DataUnavailableError
from cnnlab.data.dataset import UnsupportedDatasetError as UnsupportedDatasetError
from cnnlab.data.segmentation import SEGMENTATION_DATASETS as SEGMENTATION_DATASETS
from cnnlab.data.segmentation import SegmentationDataset as SegmentationDataset
from cnnlab.data.segmentation import load_segmentation as load_segmentation
from cnnlab.data.sources import OFFLINE_ANNOUNCEMENT as OFFLINE_ANNOUNCEMENT
from cnnlab.data.sources import SOURCES as SOURCES
from cnnlab.data.sources import load as load
from cnnlab.data.streaming import open_source as open_source
from cnnlab.data.streaming import stream_batches as stream_batches
from cnnlab.data.transforms import channel_stats as channel_stats
from cnnlab.data.transforms import flip_horizontal as flip_horizontal
from cnnlab.data.transforms import one_hot as one_hot
from cnnlab.data.transforms import pad_to as pad_to
from cnnlab.data.transforms import random_flip as random_flip
from cnnlab.data.transforms import random_translate as random_translate
from cnnlab.data.transforms import salt_and_pepper as salt_and_pepper
from cnnlab.data.transforms import salt_and_pepper_mse as salt_and_pepper_mse
from cnnlab.data.transforms import select_classes as select_classes
from cnnlab.data.transforms import standardize as standardize
from cnnlab.data.transforms import to_float as to_float
from cnnlab.data.transforms import train_val_split as train_val_split
from cnnlab.data.transforms import translate as translate

__all__ = [
    "BACKGROUND",
    "CANVAS_CLASSES",
    "DataUnavailableError",
    "Dataset",
    "OFFLINE_ANNOUNCEMENT",
    "REMAINDERS",
    "SEGMENTATION_DATASETS",
    "SOURCES",
    "SegmentationDataset",
    "UnsupportedDatasetError",
    "channel_stats",
    "epoch_indices",
    "flip_horizontal",
    "iterate_batches",
    "load",
    "load_segmentation",
    "make_canvases",
    "num_batches",
    "one_hot",
    "open_source",
    "pad_to",
    "parse_idx",
    "random_flip",
    "random_translate",
    "read_idx",
    "salt_and_pepper",
    "salt_and_pepper_mse",
    "select_classes",
    "standardize",
    "stream_batches",
    "take",
    "to_device",
    "to_float",
    "train_val_split",
    "translate",
]

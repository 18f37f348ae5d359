"""cnnlab.train: fit, evaluate and predict any Flax NNX model; optimizers, checkpoints, history.

See ``docs/train.md``. Every public name is listed here.
"""

from cnnlab.train.batch_stats import recompute_batch_stats as recompute_batch_stats
from cnnlab.train.checkpoint import Checkpointer as Checkpointer
from cnnlab.train.checkpoint import CheckpointError as CheckpointError
from cnnlab.train.engine import fit as fit
from cnnlab.train.evaluate import evaluate as evaluate
from cnnlab.train.evaluate import predict as predict
from cnnlab.train.guards import DivergenceError as DivergenceError
from cnnlab.train.guards import NonFiniteLossError as NonFiniteLossError
from cnnlab.train.history import History as History
from cnnlab.train.history import plot_histories as plot_histories
from cnnlab.train.many import fit_many as fit_many
from cnnlab.train.objectives import LOSSES as LOSSES
from cnnlab.train.objectives import METRICS as METRICS
from cnnlab.train.objectives import Objective as Objective
from cnnlab.train.objectives import accuracy as accuracy
from cnnlab.train.objectives import per_example as per_example
from cnnlab.train.optimizers import OPTIMIZERS as OPTIMIZERS
from cnnlab.train.optimizers import inverse_time_decay as inverse_time_decay
from cnnlab.train.optimizers import make_optimizer as make_optimizer
from cnnlab.train.restore import restore_model as restore_model
from cnnlab.train.state import TrainState as TrainState
from cnnlab.train.tensorboard import TensorBoard as TensorBoard

__all__ = [
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "CheckpointError",
    "Checkpointer",
    "DivergenceError",
    "History",
    "NonFiniteLossError",
    "Objective",
    "TensorBoard",
    "TrainState",
    "accuracy",
    "evaluate",
    "fit",
    "fit_many",
    "inverse_time_decay",
    "make_optimizer",
    "per_example",
    "plot_histories",
    "predict",
    "recompute_batch_stats",
    "restore_model",
]

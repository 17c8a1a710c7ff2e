"""Training of the four model families: config, loop, callbacks, resumable state, DDP."""

from gan3d_core.training.config import TrainConfig
from gan3d_core.training.run import load_run_config, prepare_data, train_run
from gan3d_core.training.trainer import (
    Trainer,
    TrainerCallback,
    TrainingData,
    TrainingDiverged,
)

__all__ = [
    "TrainConfig",
    "Trainer",
    "TrainerCallback",
    "TrainingData",
    "TrainingDiverged",
    "load_run_config",
    "prepare_data",
    "train_run",
]

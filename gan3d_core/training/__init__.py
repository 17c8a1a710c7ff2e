"""Training of the model families: config, loops, stages, callbacks, resumable state, DDP.

Submodules load on first use (as in :mod:`gan3d_core`), so ``gan3d --help`` and the
command-line parser read :mod:`~gan3d_core.training.config` without importing torch.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["TrainConfig"],
        "run": ["load_run_config", "prepare_data", "train_run"],
        "trainer": ["Trainer", "TrainerCallback", "TrainingData", "TrainingDiverged"],
    },
)

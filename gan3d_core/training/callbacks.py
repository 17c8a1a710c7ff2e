"""Trainer callbacks: a progress bar and TensorBoard logs. Neither is needed to train."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gan3d_core.training.trainer import Trainer, TrainerCallback

SHOWN_LOSSES = (
    "loss_d",
    "loss_projection_d",
    "loss_g",
    "loss_e",
    "silhouette",
    "d_accuracy_real",
    "d_accuracy_fake",
    "train_iou",
)


def projection_image(voxels: np.ndarray) -> np.ndarray:
    """uint8 (R, 3R) image: occupancy max-projected along x, y and z (z up), dark on white."""
    x_view = voxels.max(axis=0).T[::-1]  # (z, y): seen from the side, up is up
    y_view = voxels.max(axis=1).T[::-1]  # (z, x): seen from the front
    z_view = voxels.max(axis=2)  # (x, y): seen from above
    panel = np.concatenate([x_view, y_view, z_view], axis=1)
    return (255 * (1.0 - np.clip(panel, 0, 1))).astype(np.uint8)


class ProgressBarCallback(TrainerCallback):
    """A tqdm bar over all steps with the latest losses and an ETA."""

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self._bar = None

    def on_train_start(self, trainer: Trainer) -> None:
        from tqdm import tqdm

        from gan3d_core.training.run import split_words

        fraction = trainer.config.validation_fraction
        print(split_words(trainer.train_data, trainer.validation_data, fraction), file=sys.stderr)
        self._bar = tqdm(
            total=trainer.total_steps, initial=trainer.step, desc="training", unit="step"
        )

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        self._bar.update(trainer.step - self._bar.n)
        if trainer.step % self.every == 0:
            shown = {k: f"{v:.3g}" for k, v in logs.items() if k in SHOWN_LOSSES}
            self._bar.set_postfix(epoch=f"{trainer.epoch:.2f}", **shown, refresh=False)

    def on_validation_end(self, trainer: Trainer, metrics: dict, images: dict) -> None:
        summary = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        self._bar.write(f"step {trainer.step}: {summary}")

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        if self._bar is not None:
            self._bar.close()


class TensorBoardCallback(TrainerCallback):
    """Losses, D accuracies, validation metrics and sample images under ``run_dir/events``."""

    def __init__(self, log_dir: str | Path, every: int = 1) -> None:
        self.log_dir = Path(log_dir)
        self.every = every
        self._writer = None

    @property
    def writer(self):
        """Made at the first figure, so a run refused before training writes nothing."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir))
        return self._writer

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if trainer.step % self.every == 0:
            for key, value in logs.items():
                self.writer.add_scalar(f"train/{key}", value, trainer.step)

    def on_validation_end(self, trainer: Trainer, metrics: dict, images: dict) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(f"validation/{key}", value, trainer.step)
        for name, grids in images.items():
            panel = np.concatenate([projection_image(g) for g in grids], axis=0)
            self.writer.add_image(f"images/{name}", panel, trainer.step, dataformats="HW")
        self.writer.flush()

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        if self._writer is not None:
            self._writer.close()


class StageTensorBoard:
    """A staged run's figures under ``log_dir/<stage>``: each validation's training means
    and validation figures (a :data:`gan3d_core.training.stages.RecordHook`). A stage's
    writer is made at its first figure, so a refused run writes nothing."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writers: dict = {}

    def __call__(self, stage: str, record: dict) -> None:
        if stage not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[stage] = SummaryWriter(str(self.log_dir / stage))
        writer = self._writers[stage]
        for section in ("train", "validation"):
            for key, value in record.get(section, {}).items():
                writer.add_scalar(f"{section}/{key}", value, record["step"])
        writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()

"""A generic, resumable loop for the stages of the staged recipe (minGPT's habit: the loop
logs, checkpoints and resumes; each stage module owns its networks and its loss).

A stage saves ``<run_dir>/<name>.state.safetensors`` (weights, optimizer moments, step,
validation history) every ``checkpoint_every`` steps and when stopped, and appends one JSON
line per validation to ``<name>.log.jsonl``. Running a stage whose state file exists
continues from its step; a finished stage returns at once. Every step seeds its own random
generators from (seed, step), so a resumed stage continues exactly as if never stopped.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gan3d_core.io.atomic import write_bytes_atomic
from gan3d_core.training.state import load_training_state, save_training_state

ProgressHook = Callable[[float, str], None]
StopHook = Callable[[], bool]
RecordHook = Callable[[str, dict], None]


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast training to (None: float32). ``auto`` picks bfloat16 where the
    hardware multiplies it natively: GPUs that support it, and CPUs with AMX tiles (the
    shape autoencoder's step runs 2x faster there; benchmarks/bench_staged.py)."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and torch.cpu._is_amx_tile_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` (from :func:`autocast_dtype`); None: plain float32."""
    return torch.autocast(
        torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None
    )


@dataclass(frozen=True)
class StageSchedule:
    """How long a stage trains and how often it validates and saves."""

    steps: int
    validate_every: int = 250
    checkpoint_every: int = 100
    # cosine: the learning rates fall to min_lr_fraction of their value by the last step
    min_lr_fraction: float = 0.05
    # the rates rise linearly over the first warmup_steps (pretrained weights: no big
    # first steps while the optimizer's moments are still empty)
    warmup_steps: int = 0

    def lr_factor(self, step: int) -> float:
        floor = self.min_lr_fraction
        cosine = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / max(1, self.steps)))
        return cosine * min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else cosine


class TrainingStage(ABC):
    """One stage: its networks (``modules``), optimizers with base rates, a step and a
    validation figure. Subclasses never write files; :func:`run_stage` does."""

    name: str = "stage"

    def __init__(self) -> None:
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_rates: dict[str, float] = {}

    @property
    @abstractmethod
    def modules(self) -> nn.Module:
        """Everything the stage trains, saved in its state file."""

    @abstractmethod
    def train_step(self, step: int) -> dict[str, float]:
        """One update from the batch of ``step`` (seeded by it); returns losses to log."""

    @abstractmethod
    def validate(self) -> dict[str, float]:
        """Held-out figures; ``score`` is the one the stage is judged by."""

    def set_lr_factor(self, factor: float) -> None:
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_rates[name] * factor


@dataclass
class StageResult:
    steps: int
    seconds: float
    validation: dict[str, float]
    reason: str  # "finished", "stopped" or "already finished"


def stage_state_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / f"{name}.state.safetensors"


def load_stage(stage: TrainingStage, run_dir: str | Path) -> dict[str, Any] | None:
    """Restore a stage's networks and optimizers from its state file; its info or None."""
    path = stage_state_path(run_dir, stage.name)
    if not path.is_file():
        return None
    return load_training_state(path, stage.modules, stage.optimizers)


def run_stage(
    stage: TrainingStage,
    run_dir: str | Path,
    schedule: StageSchedule,
    progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    on_record: RecordHook | None = None,
) -> StageResult:
    """Train ``stage`` to ``schedule.steps``, resuming from its state file if there is one.

    Each validation's record (step, seconds, training means, validation figures) goes to
    ``run_dir/<stage>.log.jsonl`` and to ``on_record(stage name, record)``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    info = load_stage(stage, run_dir) or {"step": 0, "elapsed": 0.0, "validation": {}}
    step, elapsed_before = int(info["step"]), float(info["elapsed"])
    validation: dict[str, float] = info.get("validation", {})
    if step >= schedule.steps:
        return StageResult(step, elapsed_before, validation, "already finished")
    started = time.time()
    log_path = run_dir / f"{stage.name}.log.jsonl"
    _drop_records_after(log_path, step)  # logged past the last save, then killed: redone

    # the training figures since the last validation, kept with the state: the record a
    # resumed stage logs next averages the same steps as one never stopped
    running: dict[str, list[float]] = {
        key: [float(value) for value in values]
        for key, values in info.get("running", {}).items()
        if isinstance(values, list) and all(isinstance(v, (int, float)) for v in values)
    }

    def save() -> None:
        state = {"step": step, "elapsed": elapsed_before + time.time() - started}
        save_training_state(
            stage_state_path(run_dir, stage.name),
            stage.modules,
            stage.optimizers,
            state | {"validation": validation, "running": running},
        )

    reason = "finished"
    stage.modules.train()
    while step < schedule.steps:
        if should_stop is not None and should_stop():
            reason = "stopped"
            break
        stage.set_lr_factor(schedule.lr_factor(step))
        logs = stage.train_step(step)
        bad = [key for key, value in logs.items() if not np.isfinite(value)]
        if bad:
            raise FloatingPointError(
                f"{stage.name}: {bad[0]} became {logs[bad[0]]} at step {step + 1}; "
                f"the last saved state in {run_dir} is kept"
            )
        step += 1
        for key, value in logs.items():
            running.setdefault(key, []).append(value)
        if step % schedule.validate_every == 0 or step == schedule.steps:
            stage.modules.eval()
            with torch.no_grad():
                # undefined figures (NaN: e.g. a class with no held-out shape) are left out
                validation = {
                    k: round(float(v), 5) for k, v in stage.validate().items() if np.isfinite(v)
                }
            stage.modules.train()
            record = {
                "step": step,
                "seconds": round(elapsed_before + time.time() - started, 1),
                "train": {k: round(float(np.mean(v)), 5) for k, v in running.items()},
                "validation": validation,
            }
            running.clear()
            with log_path.open("a") as log:
                log.write(json.dumps(record) + "\n")
            if on_record is not None:
                on_record(stage.name, record)
        if step % schedule.checkpoint_every == 0 or step == schedule.steps:
            save()
        if progress is not None:
            score = validation.get("score")
            shown = f", last validation {score:.3f}" if score is not None else ""
            progress(step / schedule.steps, f"{stage.name}: step {step} of {schedule.steps}{shown}")
    if reason == "stopped":
        save()
    stage.modules.eval()
    return StageResult(step, elapsed_before + time.time() - started, validation, reason)


def _drop_records_after(log_path: Path, step: int) -> None:
    """Leave out of a stage's log the records of steps after ``step``, the one it resumes
    from: a run killed between a validation and the next save trains those steps again."""
    if not log_path.is_file():
        return
    lines = log_path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if _record_step(line) <= step]
    if len(kept) != len(lines):
        write_bytes_atomic(log_path, "".join(kept).encode())


def _record_step(line: str) -> float:
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")  # a line cut short by the kill


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, forward_batches: Iterable[Callable[[], Any]]) -> None:
    """Re-estimate every BatchNorm's running statistics as a plain average over the given
    forward passes (as ``torch.optim.swa_utils.update_bn``): the running averages trail
    weights that Adam moves quickly, and eval-mode outputs suffer for it."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = module.training
    momenta = {norm: norm.momentum for norm in norms}
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    module.train()
    for forward in forward_batches:
        forward()
    for norm, momentum in momenta.items():
        norm.momentum = momentum
    module.train(was_training)

"""Resumable training state in one ``.safetensors`` file: weights, optimizer moments, step.

Like checkpoints, nothing here is pickled: tensors go into safetensors, the rest (step,
optimizer hyper-parameters, counters) into JSON header metadata. Randomness needs no saved
state because every step seeds its own generators from (seed, step, rank).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from gan3d_core.errors import CheckpointError, first_line
from gan3d_core.io.atomic import check_input_file, write_bytes_atomic
from gan3d_core.io.inputs import parse_json

STATE_FORMAT = "gan3d-studio-training-state"


def save_training_state(
    path: str | os.PathLike,
    networks: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    info: dict[str, Any],
) -> Path:
    """Write model weights, optimizer states and ``info`` (JSON-ready) atomically."""
    tensors: dict[str, torch.Tensor] = {
        f"model.{name}": t.detach().cpu().contiguous() for name, t in networks.state_dict().items()
    }
    groups = {}
    for opt_name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        groups[opt_name] = state["param_groups"]
        for index, values in state["state"].items():
            for key, value in values.items():
                tensor = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"optim.{opt_name}.{index}.{key}"] = tensor.detach().cpu().contiguous()
    metadata = {
        "format": STATE_FORMAT,
        "info": json.dumps(info),
        "param_groups": json.dumps(groups),
    }
    return write_bytes_atomic(path, safetensors_bytes(tensors, metadata=metadata))


def load_training_state(
    path: str | os.PathLike,
    networks: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, Any]:
    """Restore what :func:`save_training_state` wrote into ``networks`` and ``optimizers``."""
    path = check_input_file(path, "training state", CheckpointError)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != STATE_FORMAT:
                raise CheckpointError(f"{path}: not a gan3d-studio training state")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read training state ({exc})") from None
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        networks.load_state_dict(model_state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: weights do not fit this model ({first_line(exc)})"
        ) from None
    try:
        groups = parse_json(metadata.get("param_groups", ""), path, CheckpointError, "state")
        for opt_name, optimizer in optimizers.items():
            per_param: dict[int, dict[str, torch.Tensor]] = {}
            prefix = f"optim.{opt_name}."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    index, name = key[len(prefix) :].split(".", 1)
                    per_param.setdefault(int(index), {})[name] = value
            optimizer.load_state_dict({"state": per_param, "param_groups": groups[opt_name]})
        info = parse_json(metadata.get("info", ""), path, CheckpointError, "state")
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: training state does not fit this run ({first_line(exc)})"
        ) from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: training state has no run information")
    return info

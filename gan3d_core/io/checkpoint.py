"""Checkpoints: one ``.safetensors`` file with a JSON model card in its header metadata.

Loading parses only the safetensors header (JSON) and raw tensor bytes; nothing is ever
unpickled, so a checkpoint from a stranger cannot run code. Every way a file can be wrong
gets a :class:`~gan3d_core.errors.CheckpointError` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import safe_open

from gan3d_core.config import ModelConfig
from gan3d_core.errors import CheckpointError, first_line
from gan3d_core.io.atomic import check_input_file, write_bytes_atomic
from gan3d_core.io.card import STORAGE_KINDS, validate_card
from gan3d_core.io.inputs import parse_json
from gan3d_core.limits import MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_HEADER_BYTES, MAX_PARAMETERS

if TYPE_CHECKING:  # torch loads only where tensors do: `gan3d info` reads the header alone
    import torch

    from gan3d_core.models import GanNetworks

FORMAT_NAME = "gan3d-studio"
FORMAT_VERSION = 1
RUN_MODEL_FILE = "model.safetensors"  # the usable checkpoint in a training run's folder
RUN_SETTINGS_FILE = "config.json"  # and the settings it was started with
# int8 storage: weight matrices of at least this many values are stored as int8 with a
# float16 scale per group of up to INT8_GROUP_VALUES weights of a row (tensor NAME +
# SCALE_SUFFIX); smaller tensors, where the scales would cost more than they save, and
# biases and norms stay float16. One float32 scale per row (the files before groups) cost
# the four fine-tuned backbones of the bundled model 0.001 IoU from one view and three of
# 395 held-out shapes' class (0.4476 and 89.1 % against 0.4486 and 89.9 % in float, read
# once); groups of 128: 0.4490 and 89.6 %, for 0.13 MB more.
INT8_MIN_VALUES = 1 << 12
INT8_GROUP_VALUES = 128
FLOAT16_SMALLEST = 2.0**-24  # a scale under float16's smallest would read as zero
SCALE_SUFFIX = ".int8_scale"
# The latent sampler, which makes random shapes, stays float16 (0.1 MB more). The generator
# is int8 since a fourth fine-tuned image head needed its 4.7 MB: its shapes from the
# bundled model's training latents differ from float16's in 0.005 % of voxels (IoU 0.990
# between the two; 0.006 % with a scale per row).
INT8_KEEP_FLOAT16 = ("latent_sampler.",)
# The safetensors header is a little-endian u64 length followed by that much JSON.
_MAX_HEADER_BYTES = MAX_CHECKPOINT_HEADER_BYTES


def save_checkpoint(
    path: str | os.PathLike,
    networks: GanNetworks,
    card: dict[str, Any] | None = None,
    storage: str | None = None,
) -> Path:
    """Write ``networks`` and a model card to ``path`` atomically.

    The card is stored as JSON in the header metadata under ``model_card``; its ``config``
    and ``format_version`` entries are filled in from ``networks``. ``storage`` ``float16``
    stores floating point weights as float16 (half the file); ``int8`` stores the large
    weight matrices as int8 with a scale per group of a row instead (about a quarter).
    Loading turns them back into float32.
    """
    from safetensors.torch import save as safetensors_bytes

    if storage not in (None, *STORAGE_KINDS):
        raise ValueError(f"storage must be one of {', '.join(STORAGE_KINDS)}, got {storage!r}")
    card = dict(card or {})
    card.pop("storage", None)
    card["format"] = FORMAT_NAME
    card["format_version"] = FORMAT_VERSION
    card["config"] = networks.config.to_dict()
    tensors = {name: t.detach().cpu().contiguous() for name, t in networks.state_dict().items()}
    if storage is not None:
        card["storage"] = storage
        for name, tensor in list(tensors.items()):
            if not tensor.is_floating_point():
                continue
            if (
                storage == "int8"
                and tensor.ndim >= 2
                and tensor.numel() >= INT8_MIN_VALUES
                and not name.startswith(INT8_KEEP_FLOAT16)
            ):  # from float32, so that packing an int8 file again changes no weight
                tensors[name], tensors[name + SCALE_SUFFIX] = quantize_int8(tensor)
            else:
                tensors[name] = tensor.half()
    metadata = {"format": FORMAT_NAME, "model_card": json.dumps(card)}
    return write_bytes_atomic(path, safetensors_bytes(tensors, metadata=metadata))


def quantize_int8(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation of ``tensor``, a float16 scale per group of at most
    :data:`INT8_GROUP_VALUES` consecutive weights of a row (first-axis index): int8 values
    of the same shape and scales (rows, groups), such that :func:`dequantize_int8` returns
    each weight within half a step of its group's scale."""
    import torch

    rows = tensor.detach().float().reshape(tensor.shape[0], -1)
    grouped = _in_groups(rows, -(-rows.shape[1] // INT8_GROUP_VALUES))
    wanted = (grouped.abs().amax(dim=2) / 127.0).clamp(min=FLOAT16_SMALLEST)
    if not torch.isfinite(wanted.half()).all():
        raise ValueError("weights too large for int8 storage (their scale passes float16's)")
    scale = wanted.half()  # rounded up where float16 rounded down: no weight past 127 steps
    scale = torch.where(scale.float() < wanted, torch.nextafter(scale, scale + 1), scale)
    values = torch.round(grouped / scale.float()[:, :, None]).clamp(-127, 127).to(torch.int8)
    return _from_groups(values, tensor.shape).contiguous(), scale.contiguous()


def dequantize_int8(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 weights from int8 ``values`` and their scales: (rows, groups) from
    :func:`quantize_int8`, or one per row (rows,), as files packed before groups hold."""
    rows = values.float().reshape(values.shape[0], -1)
    if scale.ndim == 1:
        return (rows * scale.float()[:, None]).reshape(values.shape)
    return _from_groups(_in_groups(rows, scale.shape[1]) * scale.float()[:, :, None], values.shape)


def _in_groups(rows: torch.Tensor, groups: int) -> torch.Tensor:
    """Rows (R, C) as (R, groups, ceil(C / groups)): consecutive weights, the last group
    padded with zeros."""
    import torch.nn.functional as F

    size = -(-rows.shape[1] // groups)
    return F.pad(rows, (0, groups * size - rows.shape[1])).view(len(rows), groups, size)


def _from_groups(grouped: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """:func:`_in_groups` undone, into a tensor of ``shape``."""
    columns = math.prod(shape[1:])
    return grouped.reshape(len(grouped), -1)[:, :columns].reshape(shape)


def checkpoint_file(path: str | os.PathLike) -> Path:
    """``path``, or the checkpoint a training run's folder holds (RUN_DIR/model.safetensors):
    whatever takes a checkpoint takes a run folder too. A run folder with no model yet (a
    staged run stopped in a stage) is refused saying so."""
    path = Path(path)
    try:
        if not path.is_dir():
            return path
        if (path / RUN_MODEL_FILE).is_file():
            return path / RUN_MODEL_FILE
        stopped = run_states(path)
    except OSError:  # a folder that may not be entered: the reader says so
        return path
    if stopped:
        raise CheckpointError(
            f"{path}: a training run with no model yet (stopped before it saved one); "
            f"gan3d train -o {path} --resume trains on"
        )
    return path


def run_states(run_dir: str | os.PathLike) -> list[Path]:
    """The resumable states a training run's folder holds: an end-to-end run's
    training_state.safetensors, a staged run's STAGE.state.safetensors."""
    return sorted(Path(run_dir).glob("*state.safetensors"))


def read_model_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of a checkpoint, read from its header alone (no tensor is loaded)."""
    return _read_card(path)[0]


def read_model_config(path: str | os.PathLike) -> ModelConfig:
    """The architecture a checkpoint holds, read from its header alone."""
    return _read_card(path)[1]


def config_differences(theirs: ModelConfig, ours: ModelConfig, ignored=()) -> list[str]:
    """Where two architectures differ, in words ("latent_dim 128 (run: 200)")."""
    return [
        f"{field.name} {getattr(theirs, field.name)} (run: {getattr(ours, field.name)})"
        for field in dataclasses.fields(ModelConfig)
        if field.name not in ignored and getattr(theirs, field.name) != getattr(ours, field.name)
    ]


def _read_card(path: str | os.PathLike) -> tuple[dict[str, Any], ModelConfig]:
    path = check_input_file(
        checkpoint_file(path), "checkpoint", CheckpointError, MAX_CHECKPOINT_BYTES
    )
    _check_structure(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:  # metadata only
            metadata = handle.metadata()
    except Exception as exc:  # safetensors raises several private error types
        raise CheckpointError(
            f"{path}: not a valid .safetensors file ({first_line(exc)})"
        ) from None
    return _parse_card(path, metadata)


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[GanNetworks, dict[str, Any]]:
    """Rebuild the networks stored in ``path`` and return them (in eval mode) with the card."""
    import torch

    card, config = _read_card(path)
    path = checkpoint_file(path)
    # Shapes and sizes are compared on a skeleton with no storage ("meta" tensors), so a
    # card declaring huge networks is refused before any weight is allocated.
    skeleton = _skeleton(path, config)
    expected = skeleton.state_dict()
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = set(handle.keys())
            scales = {
                name for name in names
                if name.endswith(SCALE_SUFFIX) and name.removesuffix(SCALE_SUFFIX) in names
            }  # fmt: skip
            scaled = {name.removesuffix(SCALE_SUFFIX) for name in scales}
            _check_tensor_names(path, names - scales, set(expected))
            for name, tensor in expected.items():
                shape = tuple(handle.get_slice(name).get_shape())
                if shape != tuple(tensor.shape):
                    raise CheckpointError(
                        f"{path}: tensor {name} has shape {shape}, the model "
                        f"config needs {tuple(tensor.shape)}"
                    )
            state = {}
            for name, tensor in expected.items():
                state[name] = _read_tensor(path, handle, name, name in scaled).to(tensor.dtype)
                if state[name].is_floating_point() and not torch.isfinite(state[name]).all():
                    raise CheckpointError(
                        f"{path}: this checkpoint's weights are not finite (tensor {name} "
                        "holds NaN or infinite values); it cannot make shapes"
                    )
                _check_tensor_values(path, name, state[name], skeleton.config)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read tensors ({first_line(exc)})") from None
    # the weights go into the skeleton as they are: no random initialisation to overwrite
    skeleton.load_state_dict(state, assign=True)
    return skeleton.to(device).eval(), card


def _check_tensor_values(path: Path, name: str, tensor: torch.Tensor, config) -> None:
    """Refuse finite values no trained network holds: a batch norm's negative variance
    (its square root makes every output NaN), a class index past the model's classes
    (audit: such files loaded, then every command failed without naming them)."""
    if name.endswith("running_var") and bool((tensor < 0).any()):
        raise CheckpointError(
            f"{path}: tensor {name} holds negative variances; the checkpoint is corrupt"
        )
    if (
        name == "bank.labels"
        and len(tensor)
        and (int(tensor.min()) < 0 or int(tensor.max()) >= max(config.num_classes, 1))
    ):
        raise CheckpointError(
            f"{path}: tensor {name} holds class indices outside 0..{config.num_classes - 1}; "
            "the checkpoint is corrupt"
        )


def _read_tensor(path: Path, handle, name: str, scaled: bool) -> torch.Tensor:
    """Tensor ``name`` of an open checkpoint, int8-stored weights dequantized."""
    import torch

    stored = handle.get_tensor(name)
    if not scaled:
        if stored.dtype == torch.int8:
            raise CheckpointError(f"{path}: tensor {name} is stored as int8 with no scale")
        return stored
    scale = handle.get_tensor(name + SCALE_SUFFIX)
    rows, columns = (stored.shape[0], stored[0].numel()) if stored.ndim else (0, 0)
    per_row = scale.ndim == 1 and scale.shape[0] == rows  # the files before groups
    grouped = scale.ndim == 2 and scale.shape[0] == rows and 0 < scale.shape[1] <= columns
    if stored.dtype != torch.int8 or not rows or not (per_row or grouped):
        raise CheckpointError(
            f"{path}: tensor {name}{SCALE_SUFFIX} does not match an int8 tensor {name} "
            f"(scale {tuple(scale.shape)}, tensor {stored.dtype} {tuple(stored.shape)})"
        )
    return dequantize_int8(stored, scale)


def _skeleton(path: Path, config: ModelConfig) -> GanNetworks:
    """The networks ``config`` describes, with storage-free meta tensors for weights;
    refuses configs over :data:`~gan3d_core.limits.MAX_PARAMETERS`."""
    import torch
    from torch.overrides import TorchFunctionMode

    from gan3d_core.models import GanNetworks

    class ShapesOnly(TorchFunctionMode):
        """Skips the values of two initialisations, which on the meta device have no kernel
        but a Python reference whose first call imports torch._dynamo: about 1 s, most of
        a model's load (nn.Embedding's normal_, the latent bank's eye)."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.nn.init.normal_:
                return kwargs["tensor"]  # as nn.init hands it on
            if func is torch.eye:
                rows = args[0]
                columns = args[1] if len(args) > 1 else kwargs.get("m", rows)
                return torch.empty(rows, columns, dtype=kwargs.get("dtype"), device="meta")
            return func(*args, **kwargs)

    try:
        with torch.device("meta"), ShapesOnly():
            skeleton = GanNetworks(config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: {first_line(exc)}") from None
    count = sum(math.prod(tensor.shape) for tensor in skeleton.state_dict().values())
    if count > MAX_PARAMETERS:
        raise CheckpointError(
            f"{path}: model config describes {count:,} parameters, over the limit of "
            f"{MAX_PARAMETERS:,}"
        )
    return skeleton


def _check_structure(path: Path) -> None:
    """Refuse files that are not safetensors before any parser sees them, saying what they are.

    A safetensors file starts with a little-endian u64 header length, then a JSON object.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as exc:  # a file it may not read (permissions), or a vanished one
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror or exc})") from None
    if len(head) == 9:
        (header_length,) = struct.unpack("<Q", head[:8])
        limit = min(_MAX_HEADER_BYTES, path.stat().st_size - 8)
        if 2 <= header_length <= limit and head[8:9] == b"{":
            return
    if head.startswith(b"PK\x03\x04"):
        what = "a zip archive (a PyTorch .pt/.pth checkpoint)"
    elif head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        what = "a Python pickle"
    else:
        raise CheckpointError(f"{path}: not a .safetensors file, or truncated")
    raise CheckpointError(
        f"{path}: is {what}; gan3d-studio never unpickles files, it loads only .safetensors "
        "checkpoints"
    )


def _parse_card(path: Path, metadata: dict[str, str] | None) -> tuple[dict[str, Any], ModelConfig]:
    if not metadata or "model_card" not in metadata:
        raise CheckpointError(
            f"{path}: a .safetensors file but not a gan3d-studio checkpoint (no model card in "
            "its metadata)"
        )
    card = parse_json(metadata["model_card"], path, CheckpointError, "model card")
    return card, validate_card(path, card, FORMAT_VERSION)


def _check_tensor_names(path: Path, found: set[str], expected: set[str]) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(f"{path}: missing tensors {', '.join(missing[:3])}{more}")
    if unexpected:
        more = f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        raise CheckpointError(
            f"{path}: unexpected tensors {', '.join(unexpected[:3])}{more} (made for another model?)"
        )

"""Short reprs for result objects that hold arrays: a notebook shows what they hold (each
array's dtype and shape) in a line, not hundreds of lines of pixels and voxels."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def summary_repr(result: Any) -> str:
    """``Name(field=value, ...)`` for a dataclass, arrays shown as ``float32(224, 224, 3)``
    and sequences of them (or long ones of anything) by count and the first item."""
    fields = ", ".join(
        f"{field.name}={_summary(getattr(result, field.name))}"
        for field in dataclasses.fields(result)
        if field.repr
    )
    return f"{type(result).__name__}({fields})"


def _summary(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{value.shape}" if value.size > 8 else repr(value.tolist())
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
        return f"[{len(value)} x {_summary(value[0])}]"
    if isinstance(value, (list, tuple)) and len(value) > 50:  # a dataset's thousands of files
        return f"[{len(value)} items: {value[0]!r}, ...]"
    return repr(value)

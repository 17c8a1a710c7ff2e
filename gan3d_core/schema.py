"""Field-by-field type checks of JSON values against a dataclass's annotations.

A config read from a file (a checkpoint's model card, ``--config``, a run folder) is checked
here before the dataclass sees it, so a wrong type gets a message naming the field and the
type it needs instead of a Python internal (``'<' not supported between 'str' and 'int'``).
Annotations this module does not know (a type added later) are left to the dataclass.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Union

from gan3d_core.errors import UsageError, is_control_character

# A JSON list in a config is short (layer widths, class names).
MAX_LIST_ITEMS = 10_000


def check_field_types(cls: type, data: dict[str, Any], what: str) -> None:
    """Raise ``ValueError`` naming the first field of ``data`` whose value does not fit the
    annotation of ``cls``'s field of that name (unknown names are the caller's concern)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in data and not matches(data[field.name], hints[field.name]):
            raise ValueError(
                f"{what}: {field.name} must be {describe(hints[field.name])}, got "
                f"{shown(data[field.name])}"
            )


def matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a type annotation (bool is not an int here, NaN no float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)) or len(value) > MAX_LIST_ITEMS:
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(matches, value, args))
        return not args or all(matches(item, args[0]) for item in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def describe(hint: Any) -> str:
    """``int | None`` -> 'an integer or null'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    names = {
        type(None): "null",
        bool: "true or false",
        int: "an integer",
        float: "a finite number",
        str: "a string",
    }
    if hint in names:
        return names[hint]
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values"
        item = describe(args[0]) if args else "values"
        for article in ("an ", "a "):
            item = item.removeprefix(article)
        return f"a list of {item}s" if args else "a list"
    return getattr(hint, "__name__", str(hint))


def shown(value: Any) -> str:
    """A JSON value in a message: short, one line."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int after checking it is a whole number (numpy's too, not a bool or a
    float) from ``low`` to ``high``; a UsageError naming ``name`` otherwise."""
    import numpy as np  # here: schema is read by the torch-free `gan3d info`, numpy is cheap

    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (low <= value and (high is None or value <= high))
    ):
        upper = f" to {high:,}" if high is not None else " or more"
        given = repr(int(value) if isinstance(value, np.integer) else value)
        given = given if len(given) <= 40 else given[:37] + "..."
        raise UsageError(f"{name} must be a whole number {low}{upper}, got {given}")
    return int(value)


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds characters a terminal acts on or hides (newlines, escapes,
    bidirectional overrides): a model card's names are printed as they are."""
    return any(is_control_character(character) for character in text)


def class_name_problem(name: str) -> str | None:
    """What makes ``name`` unfit for a class name, or None: class names become parts of
    file names (``gan3d sample``'s ``sample_chair_0_000.stl``) and are printed, so a file
    from elsewhere must not name a class ``../../x`` or hide escapes in one."""
    if any(separator in name for separator in "/\\") or name in (".", ".."):
        return "is a path, not a plain name"
    if has_control_characters(name):
        return "holds control characters"
    if name != name.strip():
        return "starts or ends with blanks"
    return None

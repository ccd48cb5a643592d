"""Checks of a suite's values when it loads (or when flags replace them), with the field
named: a wrong type must fail before anything trains, not as one failed record per cell.

Hand checks against the ``Profile`` dataclass's own type hints (about fifty lines; a
schema library would add a dependency and a second description of the same fields).
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Iterable, Mapping

from benchmark.cells import LABEL_TYPES
from benchmark.errors import ConfigError

AT_LEAST_ONE = {"epochs", "batch_size", "crop_size", "eval_every", "checkpoint_every", "eval_batch_size",
                "max_train_images", "max_test_images"}
POSITIVE = {"lr", "detector_width"}
_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _profile_hints() -> dict[str, Any]:
    from benchmark.profiles import Profile

    return typing.get_type_hints(Profile)


def _describe(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _describe(args[0])
    return _WORDS.get(hint, str(hint))


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as ``hint`` (ints become floats for float fields, so 1 and 1.0 are one key),
    or raise TypeError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return None if value is None and type(None) in args else _coerce(next(a for a in args if a is not type(None)), value)
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(_coerce(args[0], v) for v in value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (bool, int, str) and isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
        return value
    raise TypeError


def check_profile_value(name: str, value: Any, where: str) -> Any:
    """One profile field's value, checked and coerced; the error names the field and the fix."""
    hints = _profile_hints()
    if name not in hints:
        close = difflib.get_close_matches(name, list(hints), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown profile field {name!r}{hint}; known: {', '.join(sorted(hints))}")
    try:
        value = _coerce(hints[name], value)
    except TypeError:
        raise ConfigError(f"{where}: profile field {name} = {value!r} must be {_describe(hints[name])}") from None
    if value is not None and ((name in AT_LEAST_ONE and value < 1) or (name in POSITIVE and value <= 0)):
        raise ConfigError(f"{where}: profile field {name} = {value!r} must be {'at least 1' if name in AT_LEAST_ONE else '> 0'}")
    return value


def check_profile_overrides(overrides: Any, where: str) -> dict[str, Any]:
    """A ``[profile_overrides]`` table: every value (or every entry of a table by detector) checked."""
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: profile_overrides must be a table of profile fields, not {overrides!r}")
    clean: dict[str, Any] = {}
    for name, value in overrides.items():
        if isinstance(value, Mapping):  # a table by detector: {ISNet = 1.0, default = 0.25}
            clean[name] = {d: check_profile_value(name, v, f"{where} ({name}.{d})") for d, v in value.items()}
        else:
            clean[name] = check_profile_value(name, value, where)
    return clean


def check_axis(axis: str, values: Any, where: str) -> tuple[Any, ...]:
    """An axis as a non-empty list of strings (seeds: of integers >= 0; labels: label types)."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        kind = "integers" if axis == "seeds" else "strings"
        raise ConfigError(f"{where}: {axis} must be a list of {kind}, e.g. {axis} = {_example(axis)}, not {values!r}")
    if not values:
        raise ConfigError(f"{where}: {axis} is empty; give at least one, e.g. {axis} = {_example(axis)}")
    for value in values:
        if axis == "seeds" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ConfigError(f"{where}: seeds must be integers >= 0, not {value!r}")
        if axis != "seeds" and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: {axis} must be a list of names, not {value!r} in {list(values)!r}")
        if axis == "labels" and value not in LABEL_TYPES:
            close = difflib.get_close_matches(value, LABEL_TYPES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: {value!r} is not a label type{hint}; valid: {', '.join(LABEL_TYPES)}")
    return tuple(values)


def _example(axis: str) -> str:
    return {"seeds": "[0, 1, 2]", "labels": '["centroid", "coarse"]', "detectors": '["DNANet"]',
            "methods": '["full", "lesps"]', "datasets": '["SIRST"]'}.get(axis, "[...]")


def check_strings(data: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    for key in keys:
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{where}: {key} must be a string, not {data[key]!r}")

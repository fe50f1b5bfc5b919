"""Checks and coerces demo parameters, given as typed JSON or as `key=value` strings from chat."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

from workers.demos.base import Demo
from workers.errors import DemoParamError

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_LIST_SPLIT = re.compile(r"[,;\s]+")
_MAX_TEXT = 4000  # longer than a chat message: not a parameter someone typed


class _Invalid(ValueError):
    """A value failed its schema; carries the human reason without the parameter name."""


def validate_params(demo: Demo, raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` checked against `demo.params`, coerced to the schema's types, with defaults filled in."""
    properties: dict[str, dict[str, Any]] = demo.params.get("properties", {})
    for key in raw:
        if not isinstance(key, str) or key not in properties:
            raise DemoParamError(str(key), _unknown_reason(demo.name, properties))
    required = set(demo.params.get("required", ()))
    values: dict[str, Any] = {}
    for name, schema in properties.items():
        if name in raw:
            try:
                values[name] = _coerce(schema, raw[name])
            except _Invalid as error:
                raise DemoParamError(name, str(error)) from None
        elif "default" in schema:
            values[name] = copy.deepcopy(schema["default"])
        elif name in required:
            raise DemoParamError(name, "is required")
    return values


def _unknown_reason(demo_name: str, properties: Mapping[str, Any]) -> str:
    """Why a key was refused, naming the keys the demo does take."""
    if not properties:
        return f"unknown parameter; {demo_name} takes no parameters"
    return f"unknown parameter; {demo_name} takes: {', '.join(properties)}"


def _coerce(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` as the schema's type, or `_Invalid` with the reason."""
    kind = schema.get("type")
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        raise _Invalid(f"is too long ({len(value):,} characters)")
    if kind == "integer":
        return _in_range(schema, _to_int(value))
    if kind == "number":
        return _in_range(schema, _to_float(value))
    if kind == "boolean":
        return _to_bool(value)
    if kind == "string":
        return _to_str(schema, value)
    if kind == "array":
        return _to_list(schema, value)
    raise TypeError(f"schema type {kind!r} is not supported")


def _to_int(value: Any) -> int:
    """A whole number from an int, an integral float or text such as "100000", "1_000_000" or "1e6"."""
    if isinstance(value, bool):
        raise _Invalid(f"expected a whole number, got {_show(value)}")
    if isinstance(value, int):
        return value
    number = value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = _parse_float(text, "a whole number", value)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    raise _Invalid(f"expected a whole number, got {_show(value)}")


def _to_float(value: Any) -> float:
    """A finite float from a number or its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid(f"expected a number, got {_show(value)}")
    try:
        number = _parse_float(value.strip(), "a number", value) if isinstance(value, str) else float(value)
    except OverflowError:
        raise _Invalid(f"must be a finite number, got {_show(value)}") from None
    if not math.isfinite(number):
        raise _Invalid(f"must be a finite number, got {_show(value)}")
    return number


def _parse_float(text: str, expected: str, original: Any) -> float:
    """`float(text)`, or `_Invalid` naming what was expected."""
    try:
        return float(text)
    except ValueError:
        raise _Invalid(f"expected {expected}, got {_show(original)}") from None


def _to_bool(value: Any) -> bool:
    """True or False from a bool or from text such as "true", "yes", "off"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid(f"expected true or false, got {_show(value)}")


def _to_str(schema: Mapping[str, Any], value: Any) -> str:
    """Text within the schema's `enum` and `maxLength`."""
    if not isinstance(value, str):
        raise _Invalid(f"expected text, got {_show(value)}")
    text = value.strip()
    if "enum" in schema and text not in schema["enum"]:
        raise _Invalid(f"must be one of: {', '.join(map(str, schema['enum']))}; got {_show(value)}")
    if "maxLength" in schema and len(text) > schema["maxLength"]:
        raise _Invalid(f"must be at most {schema['maxLength']} characters, got {len(text)}")
    return text


def _to_list(schema: Mapping[str, Any], value: Any) -> list[Any]:
    """A list from a JSON list, one scalar, or chat text such as "1,2,3" or "[1, 2, 3]"."""
    if isinstance(value, str):
        inner = value.strip().strip("[]()").strip()
        items: list[Any] = _LIST_SPLIT.split(inner) if inner else []
    elif isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        items = [value]
    else:
        raise _Invalid(f"expected a list such as 1,2,3, got {_show(value)}")
    _check_length(schema, len(items))
    item_schema = schema.get("items", {})
    coerced = []
    for index, item in enumerate(items, start=1):
        try:
            coerced.append(_coerce(item_schema, item))
        except _Invalid as error:
            raise _Invalid(f"item {index}: {error}") from None
    return coerced


def _check_length(schema: Mapping[str, Any], count: int) -> None:
    """`_Invalid` when a list has fewer than `minItems` or more than `maxItems` values."""
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if count < low:
        raise _Invalid(f"needs at least {low} value{'s' if low != 1 else ''}, got {count}")
    if high is not None and count > high:
        raise _Invalid(f"takes at most {high} value{'s' if high != 1 else ''}, got {count}")


def _in_range(schema: Mapping[str, Any], number: int | float) -> int | float:
    """`number` when within the schema's `minimum` and `maximum`, else `_Invalid`."""
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and number < low) or (high is not None and number > high):
        raise _Invalid(f"must be {_bounds(low, high)}, got {_number(number)}")
    return number


def _bounds(low: int | float | None, high: int | float | None) -> str:
    """The allowed range in words."""
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    if low is not None:
        return f"at least {_number(low)}"
    if high is not None:
        return f"at most {_number(high)}"
    return "any number"


def _number(value: int | float) -> str:
    """A bound or value as a person reads it: 50,000,000 or 1e-05."""
    text = f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return text if len(text) <= 24 else text[:21] + "..."


def _show(value: Any) -> str:
    """A short one-line rendering of a refused value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "nothing"
    text = repr(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= 40 else text[:37] + "..."

"""YAML written for people (the stack-file template): scalars that mean what they say.

A template that writes `updateMode: {{ mode }}` turns `Off` into a boolean and `1.10` into the
number 1.1. Every scalar and key goes through `quote`: plain when it cannot be misread by a YAML
1.1 reader (PyYAML) or a YAML 1.2 one (the Pulumi engine's Go parser), double-quoted otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

# Conservative plain scalars: start with a letter, '_' or '/', no spaces, no flow indicators.
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@+=-]*(:[A-Za-z0-9_./@+=-]+)*$")
# Words some YAML version reads as booleans or null (YAML 1.1: y, n, yes, no, on, off).
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def quote(value: Any) -> str:
    """One YAML scalar that reads back as exactly `value`."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = _float(value)
    elif isinstance(value, str):
        plain = _PLAIN.match(value) and value.lower() not in _RESERVED
        text = value if plain else json.dumps(value, ensure_ascii=False)
    else:
        raise TypeError(f"not a YAML scalar: {value!r}")
    if yaml.safe_load(text) != value or type(yaml.safe_load(text)) is not type(value):
        raise ValueError(f"cannot write {value!r} as a YAML scalar")
    return text


def _float(value: float) -> str:
    if value != value:  # NaN is the only value unequal to itself
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"  # YAML 1.1 reads 1e-05 as text; 1.0e-05 is a float in both versions
    return f"{mantissa}e{exponent}" if exponent else mantissa


def block(value: Any, indent: int) -> str:
    """A mapping or list as block-style YAML lines at `indent` spaces (no trailing newline)."""
    return "\n".join(_lines(value, indent))


def _lines(value: Any, indent: int) -> Iterator[str]:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if _nested(item):
                yield f"{pad}{quote(key)}:"
                yield from _lines(item, indent + 2)
            else:
                yield f"{pad}{quote(key)}: {_inline(item)}"
    elif isinstance(value, list):
        for item in value:
            if _nested(item):
                nested = list(_lines(item, indent + 2))
                yield pad + "- " + nested[0][indent + 2 :]
                yield from nested[1:]
            else:
                yield f"{pad}- {_inline(item)}"
    else:
        yield pad + quote(value)


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return quote(value)

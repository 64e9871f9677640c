"""Turn a /predict request body into a feature matrix, or a 400 message that says what is wrong."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .models import Matrix

EXPECTED = 'expected a JSON object {"instances": [[number, ...], ...]}'


class BadRequestError(ValueError):
    """Client error; the message is returned to the client as is."""


def _no_constants(token: str) -> Any:
    raise BadRequestError(f"{token} is not a number JSON allows; {EXPECTED}")


def parse_instances(body: bytes, n_features: int | None, max_rows: int) -> Matrix:
    try:
        payload = json.loads(body, parse_constant=_no_constants)
    except BadRequestError:
        raise
    except (ValueError, RecursionError) as error:
        raise BadRequestError(f"body is not valid JSON ({error}); {EXPECTED}") from None
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadRequestError(EXPECTED)
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise BadRequestError(f"instances must be a non-empty list of rows; {EXPECTED}")
    if len(instances) > max_rows:
        raise BadRequestError(
            f"instances has {len(instances)} rows; at most {max_rows} per request"
        )
    width = n_features if n_features is not None else _width(instances[0], 0)
    for index, row in enumerate(instances):
        if not isinstance(row, list):
            raise BadRequestError(f"instances[{index}] is {_kind(row)}, expected a list of numbers")
        if len(row) != width:
            raise BadRequestError(
                f"instances[{index}] has {len(row)} features; the model expects {width}"
            )
        for column, value in enumerate(row):
            kind = type(value)
            # bool is an int subclass: compare exact types so true/false are refused.
            if kind is not float and kind is not int:
                raise BadRequestError(
                    f"instances[{index}][{column}] is {_kind(value)}, expected a number"
                )
    try:
        rows = np.asarray(instances, dtype=np.float64)
    except OverflowError:
        raise BadRequestError("a number in instances is too large for a 64-bit float") from None
    # JSON has no NaN or infinity (refused above), but 1e999 parses as inf. Every row is finite
    # past this point, which lets the models skip their own finiteness checks.
    if not np.isfinite(rows).all():
        raise BadRequestError("a number in instances is too large for a 64-bit float")
    return rows


def _width(row: Any, index: int) -> int:
    if not isinstance(row, list) or not row:
        raise BadRequestError(f"instances[{index}] is {_kind(row)}, expected a list of numbers")
    return len(row)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", dict: "an object", list: "a list"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)

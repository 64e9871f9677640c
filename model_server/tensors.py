"""Typed tensors of the Open Inference Protocol: datatype names <-> numpy dtypes, decoding a
request input (JSON `data` or the binary extension's raw bytes) into an array with every value
checked against its datatype, encoding an output, and the range check of a model's own dtype.

Why strict: a JSON number that does not fit its declared datatype (1e300 as FP32, 2**40 as
INT32), a boolean in a numeric tensor or a string where numbers belong is a client bug; silently
converting it (to inf, to a wrapped integer, to 1.0) would return a meaningless prediction.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
NUMERIC = frozenset(name for name in DATATYPES if name not in ("BOOL", "BYTES"))


class TensorError(ValueError):
    """A client error in a tensor; the message names the tensor and says what is wrong."""


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The protocol's name for a numpy dtype (strings and objects are BYTES)."""
    if dtype.kind in "OUS":
        return "BYTES"
    for name, known in DATATYPES.items():
        if known == dtype:
            return name
    raise TypeError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _flatten(data: Any, shape: Sequence[int], name: str) -> list[Any]:
    """Row-major values of `data`, which the protocol allows flat or nested to the shape."""
    if not isinstance(data, list):
        raise TensorError(f"input {name!r}: data must be a list, got {_kind(data)}")
    count = element_count(shape)
    if len(data) == count and (count == 0 or not isinstance(data[0], list)):
        return data
    level: list[Any] = data
    for depth, size in enumerate(shape[:-1]):
        if len(level) != size or not all(isinstance(row, list) for row in level):
            raise TensorError(
                f"input {name!r}: data is neither {count} flat values nor nested to shape "
                f"{list(shape)} (dimension {depth} has {len(level)} items, expected {size})"
            )
        level = [value for row in level for value in row]
    if len(level) != count:
        raise TensorError(
            f"input {name!r}: data has {len(level)} values; shape {list(shape)} needs {count}"
        )
    return level


def _check_json_values(values: list[Any], datatype: str, name: str) -> None:
    # Exact type tests: bool is an int subclass, and True must not pass for a number.
    accepted: tuple[type, ...]
    if datatype == "BOOL":
        expected, accepted = "true or false", (bool,)
    elif datatype == "BYTES":
        expected, accepted = "a string", (str,)
    elif datatype.startswith("FP"):
        expected, accepted = "a number", (int, float)
    else:
        expected, accepted = "an integer", (int,)
    for index, value in enumerate(values):
        if type(value) not in accepted:
            raise TensorError(
                f"input {name!r}: element {index} is {_kind(value)}; {datatype} expects {expected}"
            )


def decode_json(
    name: str,
    datatype: str,
    shape: Sequence[int],
    data: Any,
    model_dtype: np.dtype[Any] | None = None,
) -> Array:
    """`data` as an array of `datatype`. With `model_dtype`, floats must also fit the dtype the
    model computes in (one check, against the narrower of the two)."""
    dtype = _dtype(name, datatype)
    values = _flatten(data, shape, name)
    _check_json_values(values, datatype, name)
    if datatype == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = [value.encode() for value in values]
        return array.reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = (min(values), max(values)) if values else (0, 0)
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise TensorError(
                f"input {name!r}: {bad} is out of range for {datatype} ({info.min} to {info.max})"
            )
        return np.array(values, dtype=dtype).reshape(shape)
    if dtype.kind == "f":
        try:
            wide = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond any float
            raise TensorError(f"input {name!r}: a value is too large for {datatype}") from None
        # Small tensors (one row, typically) are checked in Python: cheaper than numpy calls.
        peak = max(map(abs, values)) if len(values) <= 64 else None
        if (
            model_dtype is not None
            and model_dtype.kind == "f"
            and (model_dtype.itemsize < dtype.itemsize)
        ):
            check_fits(wide, model_dtype, f"input {name!r}", peak=peak)
        else:
            check_fits(wide, dtype, f"input {name!r}", datatype, peak=peak)
        return wide.astype(dtype, copy=False).reshape(shape)
    return np.array(values, dtype=dtype).reshape(shape)


def decode_binary(name: str, datatype: str, shape: Sequence[int], raw: bytes) -> Array:
    """The binary tensor extension: little-endian, row-major; BYTES as 4-byte length + bytes."""
    dtype = _dtype(name, datatype)
    count = element_count(shape)
    if datatype == "BYTES":
        items: list[bytes] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise TensorError(f"input {name!r}: binary BYTES data ends inside a length")
            (size,) = struct.unpack_from("<I", raw, offset)
            items.append(raw[offset + 4 : offset + 4 + size])
            offset += 4 + size
        if offset != len(raw) or len(items) != count:
            raise TensorError(
                f"input {name!r}: binary BYTES data holds {len(items)} elements; "
                f"shape {list(shape)} needs {count}"
            )
        array = np.empty(count, dtype=object)
        array[:] = items
        return array.reshape(shape)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise TensorError(
            f"input {name!r}: {len(raw)} bytes of binary data; shape {list(shape)} of "
            f"{datatype} needs {expected}"
        )
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    if dtype.kind == "f" and not np.isfinite(array).all():
        raise TensorError(f"input {name!r}: NaN or infinity in {datatype} data")
    return array


def encode_binary(array: Array) -> bytes:
    if array.dtype.kind in "OUS":
        parts = []
        for value in array.reshape(-1).tolist():
            item = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(item)) + item)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def check_fits(
    values: Array,
    dtype: np.dtype[Any],
    what: str,
    target: str = "the model's input",
    *,
    peak: float | None = None,
) -> None:
    """Refuse non-finite values, and finite ones beyond the float range of `dtype` (1e300 fed to
    a float32 model turns into infinity and a meaningless prediction). `target` names the
    type in the message: a declared datatype, or the model's input. `peak`: the largest
    magnitude, when the caller knows it already."""
    if values.size == 0:
        return
    if peak is None:
        # One reduction serves both checks: NaN fails every comparison, infinity exceeds any
        # limit.
        peak = float(np.abs(values).max())
    limit = _LIMITS.get(dtype.char)
    if limit is None:
        limit = float(np.finfo(dtype).max) if dtype.kind == "f" else math.inf
        _LIMITS[dtype.char] = limit
    if peak <= limit:
        return
    if not math.isfinite(peak):
        raise TensorError(f"{what}: NaN or infinity is not a valid input")
    raise TensorError(
        f"{what}: {peak:g} is out of range for {target} ({datatype_of(dtype)}, largest "
        f"magnitude {limit:.4g})"
    )


_LIMITS: dict[str, float] = {}  # by dtype character: hashing a str is cheaper


def needs_range_check(declared: str, model_dtype: np.dtype[Any]) -> bool:
    """Whether values decoded as `declared` (already checked against it) may still not fit a
    model computing in `model_dtype`."""
    if model_dtype.kind != "f":
        return False
    wide = DATATYPES[declared]
    return (wide.kind != "f" and model_dtype.itemsize < 4) or wide.itemsize > model_dtype.itemsize


def _dtype(name: str, datatype: str) -> np.dtype[Any]:
    dtype = DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise TensorError(
            f"input {name!r}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}"
        )
    return dtype


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", dict: "an object", list: "a list"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)

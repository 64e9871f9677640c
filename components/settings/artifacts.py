"""Does a model artifact hold what its framework's image loads? Checked when settings load.

One check per framework in ARTIFACT_CHECKS: `check(path)` returns when the file is in the
framework's own format and raises ValueError (ArtifactError: what the file is, what was
expected) when it is not, so `framework: onnx` with a .joblib file fails in the stack file's
error list instead of in a crash-looping container.

The checks read the format; they never execute the file. A joblib file is a pickle, and
unpickling runs code: the machine that deploys (CI, holding registry and cloud credentials)
must not run a model file it was only asked to ship. The serving container loads it for real.
"""

from __future__ import annotations

import bz2
import io
import lzma
import pickletools
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from ..mlflow_model import image_requirements, model_files, read_mlflow_model
from .stack import Framework

ArtifactCheck = Callable[[Path], None]


class ArtifactError(ValueError):
    """The artifact is not in the framework's format: `found` says what it is instead."""

    def __init__(self, found: str, expected: str) -> None:
        self.found = found
        self.expected = expected
        super().__init__(f"{found}; expected {expected}")


# --- scikit-learn: a joblib (or plain) pickle whose top object is a scikit-learn class -------

SKLEARN_EXPECTED = (
    "a scikit-learn estimator saved with joblib.dump (uncompressed or zlib/gzip/bz2/xz/lzma)"
)
# joblib's own magic numbers (joblib/compressor.py), checked in joblib's order.
_JOBLIB_COMPAT_PREFIX = b"ZF"  # joblib < 0.10
_LZ4_PREFIX = b"\x04\x22\x4d\x18"
_COMPRESSED: tuple[tuple[str, bytes], ...] = (
    ("zlib", b"\x78"),
    ("gzip", b"\x1f\x8b"),
    ("bz2", b"BZ"),
    ("xz", b"\xfd\x37\x7a\x58\x5a"),
    ("lzma", b"\x5d\x00"),
)
# Reading this far into a pickle without meeting a class means it holds plain data only.
_PICKLE_SCAN_BYTES = 1 << 20
_CHUNK = 64 * 1024
# Globals protocol 0/1 pickles (and copyreg) put before the class of the object they build.
_RECONSTRUCTORS = {
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("copyreg", "__newobj_ex__"),
}


class _Decompressed(io.RawIOBase):
    """A compressed file read as its decompressed bytes, chunk by chunk (models can be GBs)."""

    def __init__(self, source: BinaryIO, decompressor: _Decompressor) -> None:
        self._source = source
        self._decompressor = decompressor
        self._pending = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:  # pickletools reports opcode positions
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._source.read(_CHUNK)
            if not chunk:
                return 0
            self._pending = self._decompressor.decompress(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self._position += size
        return size


class _Decompressor:
    """zlib, bz2 and lzma decompressors share `decompress(bytes) -> bytes`."""

    def __init__(self, kind: str) -> None:
        self._inner: zlib._Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor
        if kind == "zlib":
            self._inner = zlib.decompressobj(zlib.MAX_WBITS)
        elif kind == "gzip":
            self._inner = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif kind == "bz2":
            self._inner = bz2.BZ2Decompressor()
        elif kind == "xz":
            self._inner = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        else:
            self._inner = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)

    def decompress(self, data: bytes) -> bytes:
        return self._inner.decompress(data)


def _first_class(stream: BinaryIO) -> tuple[str, str] | None:
    """(module, name) of the first class a pickle refers to: the class of the object it builds.
    None when the pickle ends (or runs on for _PICKLE_SCAN_BYTES) without one."""
    strings: list[str] = []
    for opcode, argument, position in pickletools.genops(stream):
        if position is not None and position > _PICKLE_SCAN_BYTES:
            return None
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, attribute = str(argument).partition(" ")
            found = (module, attribute)
        elif name == "STACK_GLOBAL":
            if len(strings) < 2:
                raise ValueError("STACK_GLOBAL without its module and name")
            found = (strings[-2], strings[-1])
        else:
            if isinstance(argument, str) and "UNICODE" in name:
                strings.append(argument)
            continue
        if found not in _RECONSTRUCTORS:
            return found
    return None


def _pickle_stream(file: BinaryIO) -> BinaryIO:
    """The pickle inside a joblib file: the file itself, or its decompressed bytes."""
    prefix = file.read(8)
    file.seek(0)
    if prefix.startswith(_JOBLIB_COMPAT_PREFIX):
        raise ArtifactError(
            "a joblib file in the format of joblib before 0.10, which this check does not read",
            f"{SKLEARN_EXPECTED}; load it and joblib.dump it again",
        )
    if prefix.startswith(_LZ4_PREFIX):
        raise ArtifactError(
            "an lz4-compressed joblib file; the scikit-learn image has no lz4 package to read it",
            SKLEARN_EXPECTED,
        )
    for kind, magic in _COMPRESSED:
        if prefix.startswith(magic):
            return _Decompressed(file, _Decompressor(kind))  # type: ignore[return-value]
    return file


def check_sklearn(path: Path) -> None:
    with path.open("rb") as file:
        if looks_like_onnx(file):
            raise ArtifactError("an ONNX model, not a joblib/pickle file", SKLEARN_EXPECTED)
        file.seek(0)
        try:
            found = _first_class(_pickle_stream(file))
        except ArtifactError:
            raise
        except (ValueError, EOFError, OSError, zlib.error, lzma.LZMAError) as error:
            raise ArtifactError(
                f"not a pickle or joblib file ({_short(error)})", SKLEARN_EXPECTED
            ) from None
    if found is None:
        raise ArtifactError("a pickle of plain data, with no estimator in it", SKLEARN_EXPECTED)
    module, name = found
    if module.split(".", 1)[0] != "sklearn":
        raise ArtifactError(
            f"a pickled {module}.{name}, which is not a scikit-learn class (the scikit-learn "
            "image installs scikit-learn, numpy and scipy only)",
            SKLEARN_EXPECTED,
        )


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 80 else text[:77] + "..."


# --- ONNX: a self-contained ModelProto ---------------------------------------------------------

ONNX_EXPECTED = "an ONNX model (a ModelProto as onnx.save writes it, with its weights inside)"

# Field numbers of onnx/onnx.proto (ModelProto, GraphProto, TensorProto).
_MODEL_IR_VERSION, _MODEL_GRAPH, _MODEL_OPSET_IMPORT = 1, 7, 8
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_TENSOR_DATA_LOCATION, _EXTERNAL = 14, 1
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class _WireError(ValueError):
    pass


def _varint(file: BinaryIO) -> int | None:
    """The next base-128 varint, or None at the end of the file."""
    value = shift = 0
    while True:
        byte = file.read(1)
        if not byte:
            if shift:
                raise _WireError("the file ends inside a number")
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise _WireError("a number longer than 10 bytes")


def _fields(file: BinaryIO, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value, end) of each field of the message ending at `end`.
    A length-delimited field's value is the offset where its bytes start and `end` where they
    stop; the next step continues after them whatever the caller read in between."""
    while file.tell() < end:
        key = _varint(file)
        if key is None:
            raise _WireError("the file ends inside a message")
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _WireError("field number 0")
        if wire == _VARINT:
            value = _varint(file)
            if value is None:
                raise _WireError("the file ends inside a field")
            yield number, wire, value, file.tell()
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if len(file.read(size)) != size:
                raise _WireError("the file ends inside a field")
            yield number, wire, 0, file.tell()
        elif wire == _LENGTH:
            length = _varint(file)
            start = file.tell()
            if length is None or start + length > end:
                raise _WireError("a field runs past the end of its message")
            yield number, wire, start, start + length
            file.seek(start + length)
        else:
            raise _WireError(f"wire type {wire} (groups are not used by ONNX)")
        if file.tell() > end:
            raise _WireError("a field runs past the end of its message")


def _onnx_summary(file: BinaryIO) -> dict[str, int]:
    """Counts of the ModelProto fields the check needs; _WireError when not a protobuf.
    Length-delimited fields are skipped by seeking, so a large model is not read into memory."""
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    counts = dict.fromkeys(
        ("ir_version", "graph", "opset_import", "inputs", "outputs", "external"), 0
    )
    for number, wire, value, field_end in _fields(file, size):
        if number == _MODEL_IR_VERSION and wire == _VARINT:
            counts["ir_version"] = value
        elif number == _MODEL_OPSET_IMPORT and wire == _LENGTH:
            counts["opset_import"] += 1
        elif number == _MODEL_GRAPH and wire == _LENGTH:
            counts["graph"] += 1
            file.seek(value)
            for g_number, g_wire, g_value, g_end in _fields(file, field_end):
                if g_wire != _LENGTH:
                    continue
                if g_number == _GRAPH_INPUT:
                    counts["inputs"] += 1
                elif g_number == _GRAPH_OUTPUT:
                    counts["outputs"] += 1
                elif g_number == _GRAPH_INITIALIZER:
                    file.seek(g_value)
                    for t_number, t_wire, t_value, _ in _fields(file, g_end):
                        if t_number == _TENSOR_DATA_LOCATION and t_wire == _VARINT:
                            counts["external"] += t_value == _EXTERNAL
        elif number in (_MODEL_IR_VERSION, _MODEL_GRAPH, _MODEL_OPSET_IMPORT):
            raise _WireError(f"ModelProto field {number} has the wrong wire type")
    return counts


def looks_like_onnx(file: BinaryIO) -> bool:
    """Whether the file parses as an ONNX ModelProto with a version and a graph."""
    try:
        counts = _onnx_summary(file)
    except _WireError:
        return False
    finally:
        file.seek(0)
    return counts["ir_version"] > 0 and counts["graph"] == 1


def _is_pickle(file: BinaryIO) -> bool:
    try:
        return _first_class(_pickle_stream(file)) is not None
    except (ValueError, EOFError, OSError, zlib.error, lzma.LZMAError):
        return False
    finally:
        file.seek(0)


def check_onnx(path: Path) -> None:
    with path.open("rb") as file:
        try:
            counts = _onnx_summary(file)
        except _WireError as error:
            file.seek(0)
            found = (
                "a joblib/pickle file (scikit-learn), not an ONNX model"
                if _is_pickle(file)
                else f"not an ONNX model: not a protobuf message ({error})"
            )
            raise ArtifactError(found, ONNX_EXPECTED) from None
    missing = [name for name in ("ir_version", "graph", "opset_import") if not counts[name]]
    if missing:
        raise ArtifactError(
            f"not an ONNX model: a protobuf message without {', '.join(missing)}", ONNX_EXPECTED
        )
    if counts["graph"] > 1:
        raise ArtifactError("not an ONNX model: more than one graph", ONNX_EXPECTED)
    if not counts["inputs"] or not counts["outputs"]:
        raise ArtifactError(
            "an ONNX graph without inputs or outputs, which the server cannot call", ONNX_EXPECTED
        )
    if counts["external"]:
        raise ArtifactError(
            f"an ONNX model with {counts['external']} tensor(s) in external data files, which "
            "are not copied into the image",
            f"{ONNX_EXPECTED}: onnx.save(model, path, save_as_external_data=False)",
        )


# --- XGBoost: a Booster saved as JSON or UBJSON -------------------------------------------------

XGBOOST_EXPECTED = "an XGBoost model saved with Booster.save_model as .json or .ubj"
# XGBoost writes one object whose first key is "learner", in JSON or in UBJSON (where a key is
# an integer-type marker, its length, then its bytes). XGBoost picks the reader by extension:
# .json and .ubj must hold that format; another extension is guessed from the first byte.
_XGBOOST_JSON = re.compile(rb'^\s*\{\s*"learner"\s*:')
_UBJSON_LENGTHS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}


def _xgboost_format(head: bytes) -> str | None:
    if _XGBOOST_JSON.match(head):
        return "json"
    if head[:1] == b"{" and head[1:2] in _UBJSON_LENGTHS:
        layout = _UBJSON_LENGTHS[head[1:2]]
        size = struct.calcsize(layout)
        (length,) = struct.unpack(layout, head[2 : 2 + size])
        if head[2 + size : 2 + size + length] == b"learner":
            return "ubj"
    return None


def check_xgboost(path: Path) -> None:
    with path.open("rb") as file:
        head = file.read(64)
    found = _xgboost_format(head)
    if found is None:
        if head.startswith(b"tree"):
            raise ArtifactError("a LightGBM text model, not an XGBoost model", XGBOOST_EXPECTED)
        raise ArtifactError(
            "not an XGBoost model: neither JSON nor UBJSON starting with its learner",
            XGBOOST_EXPECTED,
        )
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("json", "ubj") and suffix != found:
        raise ArtifactError(
            f"an XGBoost model in {found.upper()} named .{suffix}, which XGBoost would read as "
            f"{suffix.upper()}",
            f"{XGBOOST_EXPECTED}, the extension matching the format",
        )


# --- LightGBM: a Booster saved as a text model file --------------------------------------------

LIGHTGBM_EXPECTED = "a LightGBM model saved with Booster.save_model (the text model format)"
_LIGHTGBM_HEADER = re.compile(rb"^tree\r?\nversion=v\d+\r?\n")


def check_lightgbm(path: Path) -> None:
    with path.open("rb") as file:
        head = file.read(64)
    if not _LIGHTGBM_HEADER.match(head):
        found = (
            "an XGBoost model, not a LightGBM model"
            if _xgboost_format(head)
            else "not a LightGBM text model: it does not start with 'tree' and 'version=v...'"
        )
        raise ArtifactError(found, LIGHTGBM_EXPECTED)


# --- MLflow: a model directory with a python_function flavor -----------------------------------

MLFLOW_EXPECTED = (
    "an MLflow model directory: MLmodel with a python_function flavor, the model's pip "
    "requirements (requirements.txt or conda.yaml) and no symlinks"
)


def check_mlflow(path: Path) -> None:
    """Reads MLmodel and the requirements the image installs (components/mlflow_model.py);
    imports nothing from the model."""
    try:
        model = read_mlflow_model(path)
        image_requirements(model)
        model_files(path)
    except ValueError as error:
        raise ArtifactError(str(error), MLFLOW_EXPECTED) from None


ARTIFACT_CHECKS: Mapping[Framework, ArtifactCheck] = {
    Framework.SKLEARN: check_sklearn,
    Framework.ONNX: check_onnx,
    Framework.XGBOOST: check_xgboost,
    Framework.LIGHTGBM: check_lightgbm,
    Framework.MLFLOW: check_mlflow,
}

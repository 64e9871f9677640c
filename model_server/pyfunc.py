"""An MLflow pyfunc model's signature and outputs, translated to and from the server's rows.

/predict hands every model a float64 matrix (validated, finite); a pyfunc wants what its
signature says, and answers a DataFrame, Series, array or list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]

# Signature column types /predict can send (numbers); the others need another protocol.
NUMERIC_COLUMNS = {"double", "float", "long", "integer"}


def signature_input(schema: Any) -> tuple[Callable[[Matrix], Any], int | None]:
    """From the model's input signature (an mlflow Schema, or None): rows -> what its predict
    takes, and the feature count. Named columns get a DataFrame with those names and dtypes
    (MLflow refuses a bare array for them); a 2-D tensor gets an array of its dtype; no
    signature, the float64 rows as they are. ValueError for a signature /predict cannot feed."""
    import pandas as pd

    if schema is None:
        return (lambda rows: rows), None
    if schema.is_tensor_spec():
        (spec, *others) = schema.inputs
        shape = tuple(spec.shape)
        if others or len(shape) != 2:
            raise ValueError(f"the signature's input is not one 2-D tensor: {schema}")
        dtype = spec.type
        return (lambda rows: cast(rows, dtype, "input")), (shape[1] if shape[1] > 0 else None)
    for spec in schema.inputs:
        kind = getattr(spec.type, "name", str(spec.type))  # DataType members; Array, Map, ...
        if kind not in NUMERIC_COLUMNS:
            raise ValueError(
                f"input column {spec.name!r} is {kind}; /predict sends numbers, so every "
                f"column must be one of {', '.join(sorted(NUMERIC_COLUMNS))}"
            )
    names = schema.input_names()
    dtypes = schema.numpy_types()

    def frame(rows: Matrix) -> Any:
        return pd.DataFrame(
            {name: cast(rows[:, i], dtypes[i], name) for i, name in enumerate(names)}
        )

    return frame, len(names)


def cast(values: Matrix, dtype: Any, name: str) -> npt.NDArray[Any]:
    """float64 values -> the signature's dtype, refusing what would change them silently."""
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore"):  # an overflow is refused below, not warned about
        result = values.astype(dtype, copy=False)
    if dtype.kind in "iu" and not np.array_equal(result, values):
        raise ValueError(f"{name!r} takes whole numbers (the model's signature: {dtype})")
    if dtype.kind == "f" and not np.isfinite(result).all():
        raise ValueError(f"a number for {name!r} is too large for the model's {dtype}")
    return result


def json_rows(result: Any) -> list[Any]:
    """A pyfunc's output (DataFrame, Series, dict of columns, array, list) -> one JSON value
    per row: a one-column frame as its values, several columns as an object per row."""
    import pandas as pd

    if isinstance(result, dict):
        result = pd.DataFrame(result)
    if isinstance(result, pd.DataFrame):
        if result.shape[1] != 1:
            records: list[Any] = result.to_dict(orient="records")
            return records
        result = result.iloc[:, 0]
    if isinstance(result, pd.Series):
        values: list[Any] = result.tolist()
        return values
    rows: list[Any] = np.asarray(result).tolist()
    return rows

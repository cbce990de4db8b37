"""Predictions as columns: chosen input columns beside one column per output tensor.

An output of shape [rows] becomes a flat column; [rows, k, ...] a list column of the row's
values (flattened); strings become string columns (binary when not UTF-8). With one signature
a column is named after its output; with several (a multi-head model) `<signature>/<output>`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from headwater.bulk_inferrer.errors import InferenceSpecError
from headwater.bulk_inferrer.inference import InferenceBatch
from headwater.io import ModelInputError

__all__ = ["inference_columns", "output_column_names"]


def output_column_names(result: InferenceBatch) -> dict[tuple[str, str], str]:
    """(signature, output) -> column name."""
    several = len(result.signatures) > 1
    return {
        (signature, output): f"{signature}/{output}" if several else output
        for signature, outputs in result.outputs.items()
        for output in sorted(outputs)
    }


def inference_columns(result: InferenceBatch, keep_columns: Sequence[str] = ()) -> pa.RecordBatch:
    """`keep_columns` of the examples followed by one column per output, one row per example."""
    names = output_column_names(result)
    schema_names = result.examples.schema.names
    arrays: list[pa.Array] = []
    fields: list[str] = []
    for column in keep_columns:
        if column not in schema_names:
            raise ModelInputError(
                f"keep column {column!r} is not a column of the examples; columns are "
                f"{schema_names}"
            )
        arrays.append(result.examples.column(column))
        fields.append(column)
    for (signature, output), name in names.items():
        if name in fields:
            raise InferenceSpecError(
                f"output column {name!r} (signature {signature!r}) clashes with a kept input "
                "column of the same name; keep fewer columns"
            )
        arrays.append(_column(result.outputs[signature][output]))
        fields.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=fields)


def _column(array: np.ndarray) -> pa.Array:
    """An output array as an Arrow column (list column for more than one value per row)."""
    n = array.shape[0]
    flat = array.reshape(n, -1) if array.ndim != 1 else array
    if array.dtype.kind == "U":
        values = pa.array(flat.reshape(-1), type=pa.string())
    elif array.dtype.kind in "OS":
        values = pa.array(flat.reshape(-1), type=pa.binary())
        with contextlib.suppress(pa.ArrowInvalid):  # not UTF-8: keep the bytes
            values = values.cast(pa.string())
    else:
        values = pa.array(flat.reshape(-1))
    if array.ndim == 1:
        return values
    width = flat.shape[1]
    offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)

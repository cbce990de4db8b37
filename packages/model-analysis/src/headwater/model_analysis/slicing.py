"""Slices of a batch: a vectorized group-by on Arrow columns, one pass per `SlicingSpec`.

A slice key is a tuple of (feature, value) pairs in the spec's order; the overall slice is
`()`. An example whose slicing feature is missing belongs to no slice of that spec. A
multivalent (list) feature puts an example in one slice per distinct value; at most one
multivalent feature per cross.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.model_analysis.config import SlicingSpec
from headwater.model_analysis.errors import EvalInputError

__all__ = [
    "SliceKey",
    "SliceValue",
    "parse_slice_key",
    "slice_groups",
    "slice_key_str",
    "slice_partitions",
]

SliceValue = int | float | str
SliceKey = tuple[tuple[str, SliceValue], ...]


def slice_key_str(key: SliceKey) -> str:
    """ "Overall" or "feature=value,feature=value" (TFMA's display form)."""
    return "Overall" if not key else ",".join(f"{k}={v}" for k, v in key)


def parse_slice_key(text: str) -> tuple[tuple[str, str], ...]:
    """Inverse of `slice_key_str`, with values left as strings."""
    if text in ("", "Overall"):
        return ()
    return tuple(tuple(part.split("=", 1)) for part in text.split(","))  # type: ignore[misc]


def _python_value(v: object) -> SliceValue:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int | float | str):
        return v
    return str(v)


def _encode(column: pa.Array) -> tuple[np.ndarray, list[SliceValue]]:
    """(codes with -1 for missing, distinct values) of a flat column."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    encoded = pc.dictionary_encode(column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    values = [_python_value(v) for v in encoded.dictionary.to_pylist()]
    return codes, values


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    index = batch.schema.get_field_index(name)
    if index < 0:
        raise EvalInputError(
            f"slicing feature {name!r} is not in the data; columns are {batch.schema.names}"
        )
    return batch.column(index)


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def slice_groups(
    batch: pa.RecordBatch, specs: Sequence[SlicingSpec]
) -> list[tuple[SliceKey, np.ndarray | None]]:
    """Every slice present in `batch`: (key, row indices), rows `None` for the overall slice."""
    out: list[tuple[SliceKey, np.ndarray | None]] = []
    for keys, rows, bounds in slice_partitions(batch, specs):
        if rows is None:
            out.append((keys[0], None))
            continue
        for i, key in enumerate(keys):
            out.append((key, rows[bounds[i] : bounds[i + 1]]))
    return out


def slice_partitions(
    batch: pa.RecordBatch, specs: Sequence[SlicingSpec]
) -> list[tuple[list[SliceKey], np.ndarray | None, np.ndarray]]:
    """The slices of `batch`, spec by spec, as (keys, rows, bounds): slice `keys[i]` holds the
    rows `rows[bounds[i]:bounds[i + 1]]` (ascending). For the overall slice `rows` is None
    (every row) and `bounds` is [0, num_rows]; a spec matching no row is left out.

    The rows of one spec's slices sit side by side, so a metric can gather its inputs once
    per spec and reduce each slice over a contiguous range.
    """
    out: list[tuple[list[SliceKey], np.ndarray | None, np.ndarray]] = []
    n = batch.num_rows
    for spec in specs:
        if spec.is_overall:
            out.append(([()], None, np.array([0, n], dtype=np.int64)))
            continue
        part = _partition(batch, spec, n)
        if part is not None:
            out.append(part)
    return out


def _partition(
    batch: pa.RecordBatch, spec: SlicingSpec, n: int
) -> tuple[list[SliceKey], np.ndarray, np.ndarray] | None:
    names = spec.columns
    columns = {name: _column(batch, name) for name in names}
    multivalent = [c for c in names if _is_list(columns[c].type)]
    if len(multivalent) > 1:
        raise EvalInputError(
            f"slicing spec {names}: crossing several multivalent features "
            f"({multivalent}) is not supported"
        )
    rows = np.arange(n, dtype=np.int64)
    codes_by_name: dict[str, np.ndarray] = {}
    values_by_name: dict[str, list[SliceValue]] = {}
    for name in multivalent:  # expand first: one (row, value) pair per distinct value
        column = columns[name]
        parents = pc.list_parent_indices(column).to_numpy().astype(np.int64)
        codes, values_by_name[name] = _encode(pc.list_flatten(column))
        keep = codes >= 0
        pairs = np.unique(np.stack([parents[keep], codes[keep]], axis=1), axis=0)
        rows, codes_by_name[name] = pairs[:, 0], pairs[:, 1]
    for name in names:
        if name not in codes_by_name:
            codes, values_by_name[name] = _encode(columns[name])
            codes_by_name[name] = codes[rows]
        if name in spec.feature_values:
            wanted = spec.feature_values[name]
            matches = [i for i, v in enumerate(values_by_name[name]) if str(v) == wanted]
            codes = codes_by_name[name]
            codes_by_name[name] = np.where(np.isin(codes, matches), codes, -1)
    valid = np.ones(len(rows), dtype=bool)
    for name in names:
        valid &= codes_by_name[name] >= 0
    rows = rows[valid]
    key_codes = np.zeros(len(rows), dtype=np.int64)
    for name in names:
        key_codes = key_codes * len(values_by_name[name]) + codes_by_name[name][valid]
    value_lists = [values_by_name[name] for name in names]
    if rows.size == 0:
        return None
    # A stable sort of small codes: numpy radix-sorts 16-bit keys (several times faster).
    small = int(key_codes.max()) < 2**16
    order = np.argsort(key_codes.astype(np.uint16) if small else key_codes, kind="stable")
    sorted_codes = key_codes[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_codes[1:] != sorted_codes[:-1]]))
    keys: list[SliceKey] = []
    for code in sorted_codes[starts].tolist():
        parts: list[tuple[str, SliceValue]] = []
        for name, values in zip(reversed(names), reversed(value_lists), strict=True):
            code, i = divmod(code, len(values))
            parts.append((name, values[i]))
        keys.append(tuple(reversed(parts)))
    return keys, rows[order], np.append(starts, len(order)).astype(np.int64)

"""Slicing by feature values: TFDV's `get_feature_value_slicer`, vectorized with Arrow.

A slice is named `<feature>_<value>` (several features: those parts joined by `_`, features
in name order), so slicing on `payment_type` gives datasets such as 'payment_type_Cash'.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.data_validation._arrow_numpy import from_numpy, string_array, to_numpy
from headwater.data_validation.options import SliceFunction
from headwater.data_validation.stats_errors import StatisticsError

__all__ = ["get_feature_value_slicer"]

_ROW = "__row__"


def get_feature_value_slicer(
    features: Mapping[str, Iterable[str | bytes | int] | None],
) -> SliceFunction:
    """A slice function crossing the given features' values (None: every value found).

    Example:
        StatsOptions(slice_functions=[get_feature_value_slicer({"payment_type": None})])
    """
    spec: dict[str, frozenset[str | int] | None] = {}
    for name, values in features.items():
        if values is None:
            spec[name] = None
            continue
        if isinstance(values, str | bytes):
            raise TypeError(f"slice values of {name!r} must be an iterable of values")
        chosen: set[str | int] = set()
        for value in values:
            if isinstance(value, bytes):
                chosen.add(value.decode("utf-8"))
            elif isinstance(value, str | int):
                chosen.add(value)
            else:
                raise TypeError(
                    f"slice values of {name!r} must be strings or integers, got {value!r}"
                )
        spec[name] = frozenset(chosen)

    def slicer(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.RecordBatch]]:
        parts = (
            _feature_rows(batch, name, spec[name])
            for name in sorted(spec)
            if name in batch.schema.names
        )
        present = [name for name in sorted(spec) if name in batch.schema.names]
        if present and batch.num_rows and all(_is_flat(batch.column(n).type) for n in present):
            yield from _flat_slices(batch, present, spec)
            return
        if batch.num_rows == 0:
            return
        tables = list(parts)
        if not tables:
            return
        joined = functools.reduce(
            lambda left, right: left.join(right, _ROW, join_type="inner"), tables
        )
        if joined.num_rows == 0:
            return
        names = [n for n in joined.column_names if n != _ROW]
        labelled = [
            pc.binary_join_element_wise(pa.scalar(f"{n}_"), joined.column(n), "")
            for n in sorted(names)
        ]
        key = pc.binary_join_element_wise(*labelled, "_")
        grouped = (
            pa.table({"key": key, _ROW: joined.column(_ROW)})
            .group_by("key")
            .aggregate([(_ROW, "list")])
        )
        for slice_key, rows in zip(
            grouped.column("key").to_pylist(),
            grouped.column(f"{_ROW}_list").to_pylist(),
            strict=True,
        ):
            yield slice_key, batch.take(pa.array(np.sort(np.asarray(rows, dtype=np.int64))))

    return slicer


def _feature_rows(
    batch: pa.RecordBatch, name: str, wanted: frozenset[str | int] | None
) -> pa.Table:
    """Distinct (row, value-as-text) pairs of one feature, restricted to `wanted` values."""
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        values = pc.list_flatten(column)
        rows = pc.list_parent_indices(column)
    else:
        values = column
        rows = pa.array(np.arange(len(column), dtype=np.int64))
    valid = values.is_valid()
    values = values.filter(valid)
    rows = rows.filter(valid)
    values = _utf8(values, name)
    if wanted is not None:
        if pa.types.is_integer(values.type):
            try:
                wanted_array = pa.array(sorted({int(v) for v in wanted}), values.type)
            except ValueError as exc:
                raise StatisticsError(
                    f"slice feature {name!r} holds integers; slice values "
                    f"{sorted(map(str, wanted))} are not all integers"
                ) from exc
        else:
            wanted_array = pa.array(sorted(str(v) for v in wanted), pa.string()).cast(values.type)
        keep = pc.is_in(values, value_set=wanted_array)
        values = values.filter(keep)
        rows = rows.filter(keep)
    text = values.cast(pa.string())
    table = pa.table({_ROW: rows.cast(pa.int64()), name: text})
    return table.group_by([_ROW, name]).aggregate([])


def _is_flat(kind: pa.DataType) -> bool:
    """Integers, strings or bytes (dictionary-encoded or not): sliced without Arrow's joins."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_integer(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _flat_slices(
    batch: pa.RecordBatch, names: list[str], spec: Mapping[str, frozenset[str | int] | None]
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The slices of flat features (one value per row at most): the same slices as the joins
    below, computed with a dictionary code per feature (no pyarrow.acero, hence no pandas)."""
    selected = np.ones(batch.num_rows, dtype=bool)
    codes: list[np.ndarray] = []
    labels: list[list[str]] = []
    for name in names:
        text, keep = _feature_text(batch, name, spec[name])
        encoded = pc.dictionary_encode(text)
        selected &= to_numpy(encoded.is_valid())
        if keep is not None:
            selected &= to_numpy(keep)
        indices = encoded.indices
        raw = np.frombuffer(
            indices.buffers()[1], dtype=np.int32, count=len(indices), offset=indices.offset * 4
        )
        codes.append(raw)
        labels.append(encoded.dictionary.to_pylist())
    rows = np.flatnonzero(selected)
    if rows.size == 0:
        return
    stacked = np.stack([code[rows] for code in codes], axis=1)
    combos, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    for combo, group in zip(combos, np.split(rows[order], bounds), strict=True):
        key = "_".join(
            f"{name}_{values[int(code)]}"
            for name, values, code in zip(names, labels, combo, strict=True)
        )
        yield key, batch.take(from_numpy(group))


def _feature_text(
    batch: pa.RecordBatch, name: str, wanted: frozenset[str | int] | None
) -> tuple[pa.Array, pa.Array | None]:
    """The feature's values as text, and which are among the `wanted` values (None: all)."""
    values = batch.column(name)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    values = _utf8(values, name)
    text = values.cast(pa.string())
    if wanted is None:
        return text, None
    if pa.types.is_integer(values.type):
        try:
            chosen = sorted({str(int(v)) for v in wanted})
        except ValueError as exc:
            raise StatisticsError(
                f"slice feature {name!r} holds integers; slice values "
                f"{sorted(map(str, wanted))} are not all integers"
            ) from exc
    else:
        chosen = sorted(str(v) for v in wanted)
    return text, pc.is_in(text, value_set=string_array(chosen))


def _utf8(values: pa.Array, name: str) -> pa.Array:
    """Bytes values as strings (slice keys are text); StatisticsError naming the slice feature
    when they are not UTF-8. Other types are returned as they are."""
    if not (pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)):
        return values
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise StatisticsError(
            f"slice feature {name!r} has values that are not valid UTF-8"
        ) from exc

"""Feature specs and the move between Arrow RecordBatches and tensors.

A raw dataset is described by a tensorflow-metadata `Schema`, a TF feature spec dict, or a
`DatasetMetadata` (TFT's: a Schema, also readable as its feature spec). Features with a `shape`
are dense (`FixedLenFeature`), others are sparse (`VarLenFeature`), as TFT reads schemas. Arrow
columns follow headwater.io's convention: a flat column is univalent (null = missing), a list
column is multivalent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.transform.errors import FeatureSpecError

FeatureSpec = dict[str, Any]
"""Feature name -> tf.io.FixedLenFeature | tf.io.VarLenFeature | tf.io.RaggedFeature."""

_TYPE_TO_TF = {schema_pb2.INT: "int64", schema_pb2.FLOAT: "float32", schema_pb2.BYTES: "string"}


def feature_spec(metadata: schema_pb2.Schema | Mapping[str, Any]) -> FeatureSpec:
    """The TF feature spec of a raw dataset's schema (or the spec itself, checked)."""
    import tensorflow as tf

    if isinstance(metadata, DatasetMetadata):
        return dict(metadata.feature_spec)
    if isinstance(metadata, Mapping):
        spec = dict(metadata)
        for name, f in spec.items():
            if not isinstance(f, tf.io.FixedLenFeature | tf.io.VarLenFeature | tf.io.RaggedFeature):
                raise FeatureSpecError(
                    f"feature spec for {name!r} must be tf.io.FixedLenFeature, VarLenFeature or "
                    f"RaggedFeature, got {type(f).__name__}"
                )
            if isinstance(f, tf.io.FixedLenFeature) and f.default_value is not None:
                # As TFT: a schema cannot carry the default, so the written metadata would
                # make the same data fail to transform later; reject it up front instead.
                raise FeatureSpecError(
                    f"feature {name!r} had default_value {f.default_value!r}, but "
                    "FixedLenFeature must have default_value=None (a schema cannot keep a "
                    "default); make it a VarLenFeature and fill missing values in "
                    "preprocessing_fn, e.g. tft.sparse_tensor_to_dense_with_shape(x, [None, 1], "
                    "default)"
                )
        return spec
    if not isinstance(metadata, schema_pb2.Schema):
        raise FeatureSpecError(
            "raw metadata must be a tensorflow_metadata Schema or a dict of tf.io feature "
            f"specs, got {type(metadata).__name__}"
        )
    spec = {}
    for f in metadata.feature:
        if f.type not in _TYPE_TO_TF:
            raise FeatureSpecError(f"feature {f.name!r} has no usable type in the schema")
        dtype = tf.dtypes.as_dtype(_TYPE_TO_TF[f.type])
        if f.HasField("shape"):
            dims = [int(d.size) for d in f.shape.dim]
            spec[f.name] = tf.io.FixedLenFeature(dims, dtype)
        else:
            spec[f.name] = tf.io.VarLenFeature(dtype)
    if metadata.sparse_feature:
        names = [s.name for s in metadata.sparse_feature]
        raise FeatureSpecError(f"schema sparse_feature entries are not supported yet: {names}")
    return spec


class DatasetMetadata(Mapping[str, Any]):
    """A dataset's schema, as TFT's `DatasetMetadata`: `.schema` is a tensorflow-metadata Schema.

    It is also the mapping of the dataset's feature spec (name -> tf.io feature), so code that
    reads the transformed metadata as a dict keeps working. Build one from a Schema, or with
    `DatasetMetadata.from_feature_spec(spec)` as TFT code does.
    """

    def __init__(self, schema: schema_pb2.Schema) -> None:
        if not isinstance(schema, schema_pb2.Schema):
            raise FeatureSpecError(
                f"DatasetMetadata needs a tensorflow_metadata Schema, got {type(schema).__name__}"
            )
        self._schema = schema
        self._spec: FeatureSpec | None = None

    @classmethod
    def from_feature_spec(
        cls, spec: Mapping[str, Any], domains: Mapping[str, tuple[int, int]] | None = None
    ) -> DatasetMetadata:
        """Metadata of a TF feature spec (dense features get a shape, as TFT writes them)."""
        metadata = cls(schema_from_spec(feature_spec(spec), domains or {}))
        metadata._spec = feature_spec(spec)
        return metadata

    @property
    def schema(self) -> schema_pb2.Schema:
        """The tensorflow-metadata Schema."""
        return self._schema

    @property
    def feature_spec(self) -> FeatureSpec:
        """Name -> tf.io.FixedLenFeature / VarLenFeature / RaggedFeature."""
        if self._spec is None:
            self._spec = feature_spec(self._schema)
        return self._spec

    def __getitem__(self, name: str) -> Any:
        return self.feature_spec[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.feature_spec)

    def __len__(self) -> int:
        return len(self.feature_spec)

    def __repr__(self) -> str:
        return f"DatasetMetadata({sorted(self.feature_spec)})"


def schema_from_spec(spec: FeatureSpec, domains: Mapping[str, tuple[int, int]]) -> Any:
    """A tensorflow-metadata Schema for a feature spec; int domains for categorical outputs."""
    import tensorflow as tf

    schema = schema_pb2.Schema()
    for name in sorted(spec):
        f = spec[name]
        feature = schema.feature.add(name=name)
        dtype = f.dtype
        feature.type = (
            schema_pb2.BYTES
            if dtype == tf.string
            else schema_pb2.INT
            if dtype.is_integer or dtype == tf.bool
            else schema_pb2.FLOAT
        )
        if isinstance(f, tf.io.FixedLenFeature):
            feature.presence.min_fraction = 1.0
            shape = feature.shape
            shape.SetInParent()
            for d in f.shape:
                shape.dim.add(size=int(d))
        else:
            feature.presence.min_fraction = 0.0
        if name in domains:
            lo, hi = domains[name]
            feature.int_domain.min = lo
            feature.int_domain.max = hi
            feature.int_domain.is_categorical = True
    return schema


def make_placeholders(spec: FeatureSpec) -> dict[str, Any]:
    """Graph placeholders for a batch of raw features, named after the features."""
    import tensorflow as tf

    out: dict[str, Any] = {}
    for name, f in spec.items():
        ph_name = _placeholder_name(name)
        if isinstance(f, tf.io.FixedLenFeature):
            out[name] = tf.compat.v1.placeholder(f.dtype, [None, *f.shape], name=ph_name)
        elif isinstance(f, tf.io.VarLenFeature):
            out[name] = tf.compat.v1.sparse_placeholder(f.dtype, [None, None], name=ph_name)
        else:
            values = tf.compat.v1.placeholder(f.dtype, [None], name=f"{ph_name}_values")
            splits = tf.compat.v1.placeholder(f.row_splits_dtype, [None], name=f"{ph_name}_splits")
            out[name] = tf.RaggedTensor.from_row_splits(values, splits, validate=False)
    return out


def _placeholder_name(feature: str) -> str:
    safe = "".join(c if c.isalnum() or c in "_-." else "_" for c in feature)
    return f"raw_{safe}"


def _arrow_type(dtype: Any) -> pa.DataType:
    """The Arrow type of a feature's values (bytes, int64 or float32)."""
    if dtype.name == "string":
        return pa.binary()
    return pa.int64() if dtype.is_integer else pa.float32()


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        raise FeatureSpecError(
            f"feature {name!r} is not a column of the batch (columns: {batch.schema.names})"
        )
    col = batch.column(idx)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _numpy(values: pa.Array, dtype: Any, name: str) -> np.ndarray:
    """Arrow values (no nulls) as a numpy array of the spec's dtype."""
    if pa.types.is_dictionary(values.type):  # e.g. Parquet's dictionary-encoded strings
        values = values.dictionary_decode()
    t = values.type
    if dtype.name == "string":
        if not (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        ):
            raise FeatureSpecError(f"feature {name!r}: expected strings, found Arrow type {t}")
        return values.to_numpy(zero_copy_only=False)
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        raise FeatureSpecError(
            f"feature {name!r}: expected {dtype.name} numbers, found Arrow type {t}"
        )
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype.as_numpy_dtype)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _list_parts(col: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Row lengths (null lists count 0) and the flat values of a list column."""
    lengths = pc.fill_null(pc.list_value_length(col), 0).to_numpy(zero_copy_only=False)
    return lengths.astype(np.int64), pc.list_flatten(col)


def to_feeds(
    batch: pa.RecordBatch, spec: FeatureSpec, placeholders: Mapping[str, Any]
) -> dict[Any, Any]:
    """A session feed dict for the features of `placeholders` from one RecordBatch."""
    feeds: dict[Any, Any] = {}
    for name, ph in placeholders.items():
        value = feature_value(batch, name, spec[name])
        if hasattr(ph, "row_splits"):  # ragged: (flat values, row splits)
            feeds[ph.flat_values], feeds[ph.row_splits] = value
        else:
            feeds[ph] = value
    return feeds


def feature_value(batch: pa.RecordBatch, name: str, f: Any) -> Any:
    """One raw feature of a RecordBatch as TensorFlow wants it: a numpy array (dense), a
    SparseTensorValue (VarLenFeature) or (flat values, row splits) (RaggedFeature)."""
    import tensorflow as tf

    n = batch.num_rows
    if batch.schema.get_field_index(name) < 0 and not isinstance(f, tf.io.FixedLenFeature):
        col = pa.nulls(n, _arrow_type(f.dtype))  # absent from this batch: missing in every row
    else:
        col = _column(batch, name)
    if isinstance(f, tf.io.FixedLenFeature):
        size = int(np.prod(f.shape)) if f.shape else 1
        if _is_list(col.type):
            lengths, flat = _list_parts(col)
            if flat.null_count or (lengths != size).any():
                row = int(np.flatnonzero(lengths != size)[0]) if (lengths != size).any() else -1
                raise FeatureSpecError(
                    f"feature {name!r} is dense with {size} value(s) per row, "
                    f"found {lengths[row] if row >= 0 else 'a null'} in row {row}"
                )
            values = _numpy(flat, f.dtype, name)
        else:
            if size != 1:
                raise FeatureSpecError(
                    f"feature {name!r} needs {size} values per row, found a flat column"
                )
            if col.null_count:
                if f.default_value is None:
                    row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                    raise FeatureSpecError(
                        f"feature {name!r} is required (FixedLenFeature without default) "
                        f"but row {row} is missing it"
                    )
                col = pc.fill_null(col, pa.scalar(f.default_value).cast(col.type))
            values = _numpy(col, f.dtype, name)
        return values.reshape([n, *f.shape])
    if _is_list(col.type):
        lengths, flat = _list_parts(col)
        if flat.null_count and isinstance(f, tf.io.VarLenFeature):
            raise FeatureSpecError(f"feature {name!r} has null values inside its lists")
    else:
        valid = ~col.is_null().to_numpy(zero_copy_only=False)
        lengths = valid.astype(np.int64)
        flat = col.drop_null() if col.null_count else col
    values = _numpy(flat, f.dtype, name)
    if isinstance(f, tf.io.VarLenFeature):
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        starts = np.cumsum(lengths) - lengths
        cols = np.arange(rows.size, dtype=np.int64) - np.repeat(starts, lengths)
        width = int(lengths.max()) if n else 0
        return tf.compat.v1.SparseTensorValue(
            np.stack([rows, cols], axis=1), values, np.array([n, width], np.int64)
        )
    splits = np.concatenate(([0], np.cumsum(lengths))).astype(f.row_splits_dtype.as_numpy_dtype)
    return values, splits


def output_spec(outputs: Mapping[str, Any]) -> FeatureSpec:
    """The feature spec of preprocessing_fn outputs (dense, sparse or ragged tensors)."""
    import tensorflow as tf

    spec: FeatureSpec = {}
    for name, t in outputs.items():
        if isinstance(t, tf.SparseTensor):
            spec[name] = tf.io.VarLenFeature(t.dtype)
        elif isinstance(t, tf.RaggedTensor):
            spec[name] = tf.io.RaggedFeature(t.dtype, row_splits_dtype=t.row_splits.dtype)
        else:
            dims = t.shape[1:]
            if dims.is_fully_defined():
                spec[name] = tf.io.FixedLenFeature([int(d) for d in dims], t.dtype)
            else:
                spec[name] = tf.io.VarLenFeature(t.dtype)
    return spec


def _arrow_values(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values, type=pa.binary())
    if values.dtype == np.bool_:
        return pa.array(values.astype(np.int64))
    return pa.array(values)


def to_record_batch(names: list[str], values: list[Any], num_rows: int) -> pa.RecordBatch:
    """Transformed tensors (numpy / SparseTensorValue / ragged parts) as one RecordBatch."""
    columns = []
    for name, v in zip(names, values, strict=True):
        if isinstance(v, tuple) and len(v) == 2:  # ragged: (flat values, row splits)
            flat, splits = v
            arr = pa.ListArray.from_arrays(pa.array(splits.astype(np.int32)), _arrow_values(flat))
        elif hasattr(v, "indices"):  # SparseTensorValue, row-major
            rows = np.asarray(v.indices)[:, 0] if len(v.indices) else np.zeros(0, np.int64)
            counts = np.bincount(rows, minlength=num_rows)
            offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
            arr = pa.ListArray.from_arrays(pa.array(offsets), _arrow_values(np.asarray(v.values)))
        else:
            v = np.asarray(v)
            if v.shape[:1] != (num_rows,):
                raise FeatureSpecError(
                    f"output {name!r} has {v.shape[0] if v.ndim else 'no'} rows for a batch of "
                    f"{num_rows}: preprocessing_fn outputs must keep the batch dimension"
                )
            if v.ndim == 1:
                arr = _arrow_values(v)
            else:
                width = int(np.prod(v.shape[1:]))
                offsets = np.arange(0, (num_rows + 1) * width, width, dtype=np.int32)
                arr = pa.ListArray.from_arrays(pa.array(offsets), _arrow_values(v.reshape(-1)))
        columns.append(arr)
    return pa.RecordBatch.from_arrays(columns, names=names)

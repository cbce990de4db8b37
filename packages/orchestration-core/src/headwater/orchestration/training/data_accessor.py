"""`DataAccessor.tf_dataset_factory`: an Examples split as a `tf.data.Dataset` for Keras.

The files of a split are read whatever their payload: TFRecord of tf.Example (gzip or not,
as TFX writes `Split-<name>/data_tfrecord-*.gz`) is read by `TFRecordDataset` and parsed a
batch at a time with `tf.io.parse_example`; Parquet is read by `headwater.io.read_parquet`
in large Arrow chunks, shuffled within each chunk, and cut into batches by `rebatch`. Both
yield `(features, label)` batches, shuffled, repeated and prefetched as the options say.
TensorFlow is imported only when a dataset is built.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.io import InputError
from headwater.orchestration.training.feature_spec import (
    infer_feature_spec,
    schema_as_feature_spec,
)

if TYPE_CHECKING:
    import tensorflow as tf

AUTOTUNE = -1
"""`tf.data.AUTOTUNE`, without importing TensorFlow."""

_PARQUET_CHUNK_ROWS = 65_536
_SAMPLE_RECORDS = 1_000
_MAX_READERS = 16


@dataclass(frozen=True)
class TensorFlowDatasetOptions:
    """How `tf_dataset_factory` batches, shuffles and repeats (tfx_bsl's options, same names)."""

    batch_size: int
    _: KW_ONLY
    drop_final_batch: bool = False
    num_epochs: int | None = None
    """Passes over the data; None repeats forever (TFX's default)."""
    shuffle: bool = True
    shuffle_buffer_size: int = 10_000
    shuffle_seed: int | None = None
    prefetch_buffer_size: int = AUTOTUNE
    reader_num_threads: int = AUTOTUNE
    parser_num_threads: int = AUTOTUNE
    sloppy_ordering: bool = False
    """Allow a non-deterministic order for speed."""
    label_key: str | None = None
    """When set, elements are `(features, label)` and `features` lacks the label."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if self.num_epochs is not None and self.num_epochs < 1:
            raise ValueError(f"num_epochs must be None or >= 1, got {self.num_epochs!r}")
        if self.shuffle_buffer_size < 1:
            raise ValueError(f"shuffle_buffer_size must be >= 1, got {self.shuffle_buffer_size!r}")


class DataAccessor:
    """Reads Examples files for a user's `run_fn` / `tuner_fn` (TFX's `fn_args.data_accessor`)."""

    def tf_dataset_factory(
        self,
        file_pattern: str | Sequence[str],
        options: TensorFlowDatasetOptions,
        schema: schema_pb2.Schema | None = None,
    ) -> tf.data.Dataset:
        """A dataset of `(features, label)` batches (or feature dicts without a label_key).

        `schema` gives the parsing spec (dense where a feature has a shape, sparse
        elsewhere); without one it is inferred from the first examples.
        """
        files = list_files(file_pattern)
        payload = detect_payload(files)
        if payload == "parquet":
            spec = schema_as_feature_spec(schema) if schema is not None else None
            return _parquet_dataset(files, options, spec)
        compression = "GZIP" if payload == "tfrecord_gzip" else ""
        if schema is not None:
            spec = schema_as_feature_spec(schema)
        else:
            spec = _infer_tfrecord_spec(files[0], compression)
        return _tfrecord_dataset(files, compression, options, spec)

    def record_batch_factory(
        self, file_pattern: str | Sequence[str], *, batch_size: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """The files as Arrow RecordBatches, whatever their payload (via headwater.io)."""
        from headwater.io import read_parquet, read_tfrecord

        files = list_files(file_pattern)
        read = read_parquet if detect_payload(files) == "parquet" else read_tfrecord
        for path in files:
            yield from read(path, batch_size=batch_size)


def list_files(file_pattern: str | Sequence[str]) -> list[str]:
    """Files matched by each pattern (a file, a glob or a directory), sorted, none hidden."""
    patterns = [file_pattern] if isinstance(file_pattern, str | os.PathLike) else file_pattern
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*")
        matched = sorted(p for p in glob.glob(pattern) if os.path.isfile(p) and not _is_hidden(p))
        if not matched:
            raise FileNotFoundError(f"no example files match {pattern!r}")
        files.extend(matched)
    return files


def detect_payload(files: Sequence[str]) -> str:
    """`parquet`, `tfrecord_gzip` or `tfrecord`, from each file's first bytes; all must agree."""
    kinds: dict[str, str] = {}
    for path in files:
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"PAR1":
            kinds[path] = "parquet"
        elif head[:2] == b"\x1f\x8b":
            kinds[path] = "tfrecord_gzip"
        else:
            kinds[path] = "tfrecord"
    found = set(kinds.values())
    if len(found) > 1:
        first = files[0]
        other = next(p for p in files if kinds[p] != kinds[first])
        raise InputError(
            f"example files mix payloads: {first} is {kinds[first]} but {other} is "
            f"{kinds[other]}; one split must hold one payload format"
        )
    return found.pop()


def _is_hidden(path: str) -> bool:
    return os.path.basename(path).startswith((".", "_"))


def _infer_tfrecord_spec(path: str, compression: str) -> dict[str, Any]:
    """Spec inferred from the first records of `path` (decoded by headwater.io)."""
    import tensorflow as tf

    from headwater.io import decode_examples

    dataset = tf.data.TFRecordDataset(path, compression_type=compression)
    records = [r.numpy() for r in dataset.take(_SAMPLE_RECORDS)]
    if not records:
        raise InputError(f"{path}: no records to infer a feature spec from; pass a schema")
    return infer_feature_spec([decode_examples(records)])


def _split_label(label_key: str | None, spec: dict[str, Any], where: str) -> Any:
    """A function mapping a feature dict to `(features, label)`, checking the label exists."""
    if label_key is None:
        return None
    if label_key not in spec:
        raise InputError(
            f"{where}: label_key {label_key!r} is not a feature; features are {sorted(spec)}"
        )

    def split(features: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        features = dict(features)
        label = features.pop(label_key)
        return features, label

    return split


def _tfrecord_dataset(
    files: list[str], compression: str, options: TensorFlowDatasetOptions, spec: dict[str, Any]
) -> tf.data.Dataset:
    """TFRecordDataset → shuffle → repeat → batch → parse_example → prefetch."""
    import tensorflow as tf

    deterministic = not options.sloppy_ordering
    split = _split_label(options.label_key, spec, files[0])
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if options.shuffle and len(files) > 1:
        dataset = dataset.shuffle(len(files), seed=options.shuffle_seed)
    # Every file at once by default: gzip inflation then overlaps with parsing (measured 1.6x
    # faster than one file per core on 2 cores, see tools/bench/bench_training_input.py).
    cycle = _MAX_READERS if options.reader_num_threads == AUTOTUNE else options.reader_num_threads
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": deterministic}
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=compression),
        cycle_length=max(1, min(cycle, len(files))),
        **(parallel if len(files) > 1 else {}),
    )
    if options.shuffle:
        dataset = dataset.shuffle(options.shuffle_buffer_size, seed=options.shuffle_seed)
    dataset = dataset.repeat(options.num_epochs)
    dataset = dataset.batch(options.batch_size, drop_remainder=options.drop_final_batch)
    dataset = dataset.map(
        lambda records: tf.io.parse_example(records, spec),
        num_parallel_calls=options.parser_num_threads,
        deterministic=deterministic,
    )
    if split is not None:
        dataset = dataset.map(split)
    return dataset.prefetch(options.prefetch_buffer_size)


def _parquet_dataset(
    files: list[str], options: TensorFlowDatasetOptions, spec: dict[str, Any] | None
) -> tf.data.Dataset:
    """Arrow chunks (shuffled within) from a generator → repeat → rebatch → prefetch."""
    import pyarrow.parquet as pq
    import tensorflow as tf

    from headwater.io import read_parquet

    if spec is None:
        sample = pq.ParquetFile(files[0]).iter_batches(batch_size=_SAMPLE_RECORDS)
        spec = infer_feature_spec([next(sample)])
    arrow_schema = pq.read_schema(files[0])
    for name in spec:
        if arrow_schema.get_field_index(name) < 0:
            raise InputError(
                f"{files[0]}: feature {name!r} of the schema is not a column; "
                f"columns are {arrow_schema.names}"
            )
    split = _split_label(options.label_key, spec, files[0])
    signature = {name: _tensor_spec(feature) for name, feature in spec.items()}
    columns = list(spec)
    chunk_rows = max(_PARQUET_CHUNK_ROWS, options.shuffle_buffer_size)
    epochs = [0]

    def chunks() -> Iterator[dict[str, Any]]:
        seed = None if options.shuffle_seed is None else options.shuffle_seed + epochs[0]
        epochs[0] += 1
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(files)) if options.shuffle else range(len(files))
        for i in order:
            path = files[i]
            for batch in read_parquet(path, batch_size=chunk_rows, columns=columns):
                if options.shuffle:
                    batch = batch.take(pa.array(rng.permutation(batch.num_rows)))
                yield {
                    name: _column_tensor(batch.column(name), feature, path, name)
                    for name, feature in spec.items()
                }

    dataset = tf.data.Dataset.from_generator(chunks, output_signature=signature)
    dataset = dataset.repeat(options.num_epochs)
    dataset = dataset.rebatch(options.batch_size, drop_remainder=options.drop_final_batch)
    sparse = [name for name, f in spec.items() if isinstance(f, tf.io.VarLenFeature)]
    if sparse:
        dataset = dataset.map(
            lambda b: {k: v.to_sparse() if k in sparse else v for k, v in b.items()}
        )
    if split is not None:
        dataset = dataset.map(split)
    return dataset.prefetch(options.prefetch_buffer_size)


def _tensor_spec(feature: Any) -> Any:
    """The generator's output spec of one feature: dense `[None, *shape]` or ragged rows."""
    import tensorflow as tf

    if isinstance(feature, tf.io.FixedLenFeature):
        return tf.TensorSpec([None, *feature.shape], feature.dtype)
    return tf.RaggedTensorSpec(
        [None, None], feature.dtype, ragged_rank=1, row_splits_dtype=tf.int64
    )


def _column_tensor(column: pa.Array, feature: Any, path: str, name: str) -> Any:
    """One Arrow column as the feature's dense numpy array or ragged tensor."""
    import tensorflow as tf

    dtype = feature.dtype.as_numpy_dtype if feature.dtype != tf.string else object
    is_list = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
    if isinstance(feature, tf.io.FixedLenFeature):
        if column.null_count:
            row = pc.index(column.is_null(), True).as_py()
            raise InputError(
                f"{path}: feature {name!r} is missing in row {row} of a chunk, but the schema "
                "gives it a fixed shape (every example must have it)"
            )
        width = int(np.prod(feature.shape)) if feature.shape else 1
        values = pc.list_flatten(column) if is_list else column
        if len(values) != width * len(column):
            raise InputError(
                f"{path}: feature {name!r} should have {width} value(s) per example "
                f"(schema shape {list(feature.shape)}), found {len(values)} for {len(column)} rows"
            )
        array = np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)
        return array.reshape((len(column), *feature.shape))
    if is_list:
        values = pc.list_flatten(column)
        lengths = pc.fill_null(pc.list_value_length(column), 0)
    else:
        values = column.drop_null()
        lengths = pc.cast(column.is_valid(), pa.int64())
    flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)
    return tf.RaggedTensor.from_row_lengths(flat, lengths.to_numpy().astype(np.int64))

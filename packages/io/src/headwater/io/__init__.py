"""Examples in and out as Arrow: CSV, Parquet, TFRecord of tf.Example, pandas; Beam sources/sinks.

Every reader yields `pyarrow.RecordBatch`es of one convention: a univalent feature is a flat
primitive column (null = missing), a multivalent feature a list column; types int64,
float32/float64, string/binary.

Example:
    for batch in read_csv("data/*.csv"):
        splits = assign_splits(batch, {"train": 2, "eval": 1})
    write_tfrecord(read_csv("data.csv"), "out/data_tfrecord", num_shards=2)
"""

from typing import TYPE_CHECKING, Any

from headwater.io.atomic import umask_file_mode, write_atomic
from headwater.io.batching import Batches
from headwater.io.convention import normalize_batch
from headwater.io.csv_files import read_csv
from headwater.io.errors import (
    HeadwaterError,
    InputError,
    InputNotFoundError,
    SkippedRow,
    SkippedRows,
)
from headwater.io.example_codec import decode_examples, encode_examples
from headwater.io.extras import MissingExtraError
from headwater.io.model_seam import (
    CLASSIFY_METHOD,
    DTYPE_BY_TF,
    PREDICT_METHOD,
    REGRESS_METHOD,
    LoadedModel,
    ModelHandler,
    ModelInputError,
    ModelLoadError,
    ModelRunError,
    SignatureSpec,
    TensorSpec,
    signature_feeds,
)
from headwater.io.paths import UnsafePathError, resolve_files, safe_path_component
from headwater.io.read_ahead import ReadAhead, read_ahead
from headwater.io.readers import (
    read_dataframe,
    read_parquet,
    read_tfrecord,
    read_tfrecord_parts,
)
from headwater.io.saved_model_signatures import read_signatures
from headwater.io.serialized_examples import SerializedBatch, read_serialized_examples
from headwater.io.splits import assign_splits, partition_keys, record_buckets, split_buckets
from headwater.io.writers import write_parquet, write_tfrecord

__all__ = [
    "CLASSIFY_METHOD",
    "DTYPE_BY_TF",
    "PREDICT_METHOD",
    "REGRESS_METHOD",
    "Batches",
    "HeadwaterError",
    "InputError",
    "InputNotFoundError",
    "LoadedModel",
    "MissingExtraError",
    "ModelHandler",
    "ModelInputError",
    "ModelLoadError",
    "ModelRunError",
    "ReadAhead",
    "ReadCsv",
    "ReadDataFrame",
    "ReadParquet",
    "ReadTFRecord",
    "ReadTFRecordParts",
    "RecordBatchCoder",
    "SavedModel",
    "SavedModelHandler",
    "SerializedBatch",
    "SignatureSpec",
    "SkippedRow",
    "SkippedRows",
    "TensorSpec",
    "UnsafePathError",
    "WriteParquet",
    "WriteTFRecord",
    "assign_splits",
    "decode_examples",
    "encode_examples",
    "normalize_batch",
    "partition_keys",
    "read_ahead",
    "read_csv",
    "read_dataframe",
    "read_parquet",
    "read_serialized_examples",
    "read_signatures",
    "read_tfrecord",
    "read_tfrecord_parts",
    "record_buckets",
    "resolve_files",
    "safe_path_component",
    "signature_feeds",
    "split_buckets",
    "umask_file_mode",
    "write_atomic",
    "write_parquet",
    "write_tfrecord",
]

if TYPE_CHECKING:
    from headwater.io.beam_io import (
        ReadCsv,
        ReadDataFrame,
        ReadParquet,
        ReadTFRecord,
        ReadTFRecordParts,
        RecordBatchCoder,
        WriteParquet,
        WriteTFRecord,
    )
    from headwater.io.saved_model import SavedModel, SavedModelHandler

_BEAM_NAMES = frozenset(
    [
        "ReadCsv",
        "ReadDataFrame",
        "ReadParquet",
        "ReadTFRecord",
        "ReadTFRecordParts",
        "RecordBatchCoder",
        "WriteParquet",
        "WriteTFRecord",
    ]
)


_TENSORFLOW_NAMES = frozenset(["SavedModel", "SavedModelHandler"])


def __getattr__(name: str) -> Any:
    """Load the Beam transforms and the TensorFlow handler on first use (seconds each)."""
    if name in _BEAM_NAMES:
        from headwater.io import beam_io

        return getattr(beam_io, name)
    if name in _TENSORFLOW_NAMES:
        from headwater.io import saved_model

        return getattr(saved_model, name)
    raise AttributeError(f"module 'headwater.io' has no attribute {name!r}")

"""Batch inference over examples into PredictionLog records and prediction columns.

A model runs through headwater.io's model-running seam (`SavedModelHandler`, or any
`ModelHandler`): in process with `run_bulk_inference`, or on any Beam runner with
`RunBulkInference` (Beam's RunInference). Results are written as TFX's PredictionLog TFRecords
and/or Parquet with chosen input columns beside each output.

Example:
    handler = SavedModelHandler("model/Format-Serving")
    results = run_bulk_inference(handler, read_tfrecord("examples/*.gz"), ModelSpec())
    write_inference_outputs(results, prediction_logs="out/prediction_logs-00000-of-00001.gz")
"""

from typing import TYPE_CHECKING, Any

from headwater.bulk_inferrer.columns import inference_columns, output_column_names
from headwater.bulk_inferrer.config import DataSpec, ModelSpec
from headwater.bulk_inferrer.errors import InferenceOutputError, InferenceSpecError
from headwater.bulk_inferrer.inference import (
    InferenceBatch,
    Inferrer,
    columns_to_decode,
    run_bulk_inference,
)
from headwater.bulk_inferrer.prediction_log import prediction_log_framed, prediction_log_records
from headwater.bulk_inferrer.writers import (
    PREDICTION_LOGS_PREFIX,
    InferenceOutputs,
    PredictionLogWriter,
    shard_name,
    write_inference_columns,
    write_inference_outputs,
    write_prediction_logs,
)
from headwater.io import SerializedBatch, read_serialized_examples

if TYPE_CHECKING:
    from headwater.bulk_inferrer.beam import (
        BeamModelHandler,
        ReadSerializedExamples,
        RunBulkInference,
        WriteInferenceColumns,
        WritePredictionLogs,
    )

__all__ = [
    "PREDICTION_LOGS_PREFIX",
    "BeamModelHandler",
    "DataSpec",
    "InferenceBatch",
    "InferenceOutputError",
    "InferenceOutputs",
    "InferenceSpecError",
    "Inferrer",
    "ModelSpec",
    "PredictionLogWriter",
    "ReadSerializedExamples",
    "RunBulkInference",
    "SerializedBatch",
    "WriteInferenceColumns",
    "WritePredictionLogs",
    "columns_to_decode",
    "inference_columns",
    "output_column_names",
    "prediction_log_framed",
    "prediction_log_records",
    "read_serialized_examples",
    "run_bulk_inference",
    "shard_name",
    "write_inference_columns",
    "write_inference_outputs",
    "write_prediction_logs",
]

_BEAM_NAMES = frozenset(
    [
        "BeamModelHandler",
        "ReadSerializedExamples",
        "RunBulkInference",
        "WriteInferenceColumns",
        "WritePredictionLogs",
    ]
)


def __getattr__(name: str) -> Any:
    """Load the Beam transforms on first use: importing apache_beam takes seconds."""
    if name in _BEAM_NAMES:
        from headwater.bulk_inferrer import beam

        return getattr(beam, name)
    raise AttributeError(f"module 'headwater.bulk_inferrer' has no attribute {name!r}")

"""The one seam every Headwater library uses to run a trained model, free of TensorFlow.

Model-analysis (inference inside an evaluation), bulk-inferrer, model-server and
infra-validator never load a SavedModel themselves: they ask a `ModelHandler` for a
`LoadedModel`, read its `SignatureSpec`s and call `LoadedModel.run` on numpy batches. The shape
follows Beam's `apache_beam.ml.inference.base.ModelHandler` (load once, run batches, say how big
a batch it likes) so that bulk inference on Beam is Beam's own `RunInference` with a thin adapter.

The TensorFlow SavedModel handler lives beside this module in `headwater.io.saved_model`
(extra `headwater-io[tensorflow]`); a library that never runs a model never imports TensorFlow.

Lifecycle:

    handler = SavedModelHandler("models/penguin/3")     # cheap: nothing loaded yet
    model = handler.load_model()                        # loads; raises ModelLoadError
    spec = model.signatures["serving_default"]          # inputs/outputs, dtypes, shapes
    outputs = model.run("serving_default", feeds)       # {output name: np.ndarray}
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.io.errors import HeadwaterError
from headwater.io.example_codec import encode_examples

__all__ = [
    "CLASSIFY_METHOD",
    "DTYPE_BY_TF",
    "PREDICT_METHOD",
    "REGRESS_METHOD",
    "LoadedModel",
    "ModelHandler",
    "ModelInputError",
    "ModelLoadError",
    "ModelRunError",
    "SignatureSpec",
    "TensorSpec",
    "signature_feeds",
]

PREDICT_METHOD = "tensorflow/serving/predict"
"""TF Serving's method name of a predict signature (also the SignatureDef default)."""
CLASSIFY_METHOD = "tensorflow/serving/classify"
"""TF Serving's method name of a classify signature (tf.Examples in, classes/scores out)."""
REGRESS_METHOD = "tensorflow/serving/regress"
"""TF Serving's method name of a regress signature (serialized tf.Example in, outputs out)."""


class ModelLoadError(HeadwaterError, OSError):
    """A model could not be loaded or lacks what was asked of it (path, signature, output)."""


class ModelInputError(HeadwaterError, ValueError):
    """Inputs that do not fit a signature: unknown or missing name, wrong dtype or shape."""


DTYPE_BY_TF: Mapping[str, str] = {
    "DT_FLOAT": "float32",
    "DT_DOUBLE": "float64",
    "DT_HALF": "float16",
    "DT_INT8": "int8",
    "DT_INT16": "int16",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_UINT8": "uint8",
    "DT_UINT16": "uint16",
    "DT_UINT32": "uint32",
    "DT_UINT64": "uint64",
    "DT_BOOL": "bool",
    "DT_STRING": "string",
    "DT_COMPLEX64": "complex64",
    "DT_COMPLEX128": "complex128",
}
"""TensorFlow's DataType enum name (TF Serving's metadata, TensorProto) -> TensorSpec.dtype."""


class ModelRunError(HeadwaterError, RuntimeError):
    """The model itself failed on inputs that fit its signature (a bug or resource in the model)."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature, described without TensorFlow.

    `dtype` is a numpy dtype name ("float32", "int64", "bool", ...) or "string" for tf.string
    (fed and returned as numpy object arrays of `bytes`). `shape` has None for unknown sizes;
    `shape is None` means an unknown rank. `tf_dtype` is TensorFlow's DataType enum name
    (e.g. "DT_FLOAT"), the form TF Serving's metadata and TensorProto use. `graph_name` is the
    graph tensor the SignatureDef maps the key to (TensorInfo.name, e.g.
    "serving_default_examples:0"; "" when unknown), which TF Serving's metadata reports; it
    does not take part in equality.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None
    tf_dtype: str = ""
    graph_name: str = field(default="", compare=False)

    @property
    def is_string(self) -> bool:
        """True for tf.string tensors (bytes in numpy object arrays)."""
        return self.dtype == "string"


@dataclass(frozen=True)
class SignatureSpec:
    """A signature's name, TF Serving method name, inputs and outputs keyed by their names."""

    name: str
    method_name: str
    inputs: Mapping[str, TensorSpec] = field(default_factory=dict)
    outputs: Mapping[str, TensorSpec] = field(default_factory=dict)

    @property
    def takes_serialized_examples(self) -> bool:
        """True when the only input is a rank-1 string tensor: serialized tf.Examples."""
        if len(self.inputs) != 1:
            return False
        only = next(iter(self.inputs.values()))
        return only.is_string and only.shape is not None and len(only.shape) == 1


@runtime_checkable
class LoadedModel(Protocol):
    """A model in memory: its signatures and a call that runs one batch through one of them.

    `run` must be safe to call from several threads at once (the model server does).
    """

    @property
    def path(self) -> str:
        """Where the model was loaded from."""
        ...

    @property
    def signatures(self) -> Mapping[str, SignatureSpec]:
        """Every callable signature, keyed by signature name."""
        ...

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs of one batch; raises ModelInputError for inputs that do not fit."""
        ...


class ModelHandler(abc.ABC):
    """Loads one model and says how it likes to be batched; subclass to run other frameworks.

    Shaped like Beam's ModelHandler: construction is cheap and picklable, `load_model` is
    called once per worker, `batch_elements_kwargs` feeds Beam's BatchElements.
    """

    @abc.abstractmethod
    def load_model(self) -> LoadedModel:
        """Load the model; raise ModelLoadError naming the path and what is wrong."""

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        """Keyword arguments for Beam's BatchElements (min/max batch size); {} lets Beam choose."""
        return {}

    def preferred_batch_size(self) -> int:
        """How many examples one `run` call should carry when the caller may choose."""
        return 1024


def signature_feeds(
    signature: SignatureSpec, batch: pa.RecordBatch, *, model: str = "model"
) -> dict[str, np.ndarray]:
    """The numpy inputs of `signature` for every row of `batch`, ready for `LoadedModel.run`.

    A signature that takes serialized tf.Examples gets each row encoded by `encode_examples`
    (null = absent feature); any other signature gets the columns named by its inputs, cast to
    the input's dtype, list columns of one length as a second axis. `model` labels errors.
    """
    if signature.takes_serialized_examples:
        name = next(iter(signature.inputs))
        records = np.empty(batch.num_rows, dtype=object)
        records[:] = encode_examples(batch)
        return {name: records}
    return {
        name: _column_feed(signature, batch, name, spec, model)
        for name, spec in signature.inputs.items()
    }


def _column_feed(
    signature: SignatureSpec, batch: pa.RecordBatch, name: str, spec: TensorSpec, model: str
) -> np.ndarray:
    """One raw-feature input from the column of the same name (vectorized, no row loop)."""
    where = f"{model}: signature {signature.name!r} input {name!r}"
    index = batch.schema.get_field_index(name)
    if index < 0:
        raise ModelInputError(
            f"{where} is not a column of the examples; columns are {batch.schema.names}"
        )
    column = batch.column(index)
    if column.null_count:
        raise ModelInputError(
            f"{where}: column {name!r} has {column.null_count} missing values in "
            f"{batch.num_rows} rows; fill them or use a serialized tf.Example signature"
        )
    width: int | None = None
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = pc.list_value_length(column)
        low, high = pc.min_max(lengths).values()
        if low.as_py() != high.as_py():
            raise ModelInputError(
                f"{where}: column {name!r} has lists of {low.as_py()} to {high.as_py()} values; "
                "a raw-feature input needs one length per row"
            )
        width = high.as_py() or 0
        values = column.flatten()
        if values.null_count:
            raise ModelInputError(f"{where}: column {name!r} has {values.null_count} null values")
    else:
        values = column
    is_text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    is_bytes = pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)
    if spec.is_string:
        if not (is_text or is_bytes):
            raise ModelInputError(f"{where} expects strings, column {name!r} is {column.type}")
        if is_text:
            values = values.cast(pa.large_binary() if "large" in str(values.type) else pa.binary())
        array = values.to_numpy(zero_copy_only=False)
    else:
        if is_text or is_bytes:
            raise ModelInputError(f"{where} expects {spec.dtype}, column {name!r} is {column.type}")
        array = values.to_numpy(zero_copy_only=False).astype(spec.dtype, copy=False)
    if width is not None:
        array = array.reshape(batch.num_rows, width)
    rank = None if spec.shape is None else len(spec.shape)
    if rank == 2 and array.ndim == 1:
        array = array.reshape(-1, 1)
    elif rank == 1 and array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    return array

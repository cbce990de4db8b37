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

from headwater.io.errors import HeadwaterError

__all__ = [
    "CLASSIFY_METHOD",
    "PREDICT_METHOD",
    "REGRESS_METHOD",
    "LoadedModel",
    "ModelHandler",
    "ModelInputError",
    "ModelLoadError",
    "SignatureSpec",
    "TensorSpec",
]

PREDICT_METHOD = "tensorflow/serving/predict"
"""TF Serving's method name of a predict signature (also the SignatureDef default)."""
CLASSIFY_METHOD = "tensorflow/serving/classify"
"""TF Serving's method name of a classify signature (serialized tf.Example in, classes/scores out)."""
REGRESS_METHOD = "tensorflow/serving/regress"
"""TF Serving's method name of a regress signature (serialized tf.Example in, outputs out)."""


class ModelLoadError(HeadwaterError, OSError):
    """A model could not be loaded or lacks what was asked of it (path, signature, output)."""


class ModelInputError(HeadwaterError, ValueError):
    """Inputs that do not fit a signature: unknown or missing name, wrong dtype or shape."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature, described without TensorFlow.

    `dtype` is a numpy dtype name ("float32", "int64", "bool", ...) or "string" for tf.string
    (fed and returned as numpy object arrays of `bytes`). `shape` has None for unknown sizes;
    `shape is None` means an unknown rank. `tf_dtype` is TensorFlow's DataType enum name
    (e.g. "DT_FLOAT"), the form TF Serving's metadata and TensorProto use.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None
    tf_dtype: str = ""

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

    def run(
        self, signature_name: str, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
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

"""The TensorFlow SavedModel handler of the model-running seam (extra `headwater-io[tensorflow]`).

The only module of headwater-io that imports TensorFlow. Signatures are described from the
SavedModel's own MetaGraph (`saved_model.pb`), so method names are the ones TF Serving reports
(classify/regress exports keep theirs; Keras and `tf.saved_model.save` write predict). `run`
checks names, dtypes and ranks with a few dictionary look-ups and calls the loaded concrete
function once: no per-row work, no retracing, safe from several threads.

Example:
    model = SavedModelHandler("models/penguin/3").load_model()
    outputs = model.run("serving_default", {"examples": np.array([b"..."], dtype=object)})
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from headwater.io.model_seam import (
    LoadedModel,
    ModelHandler,
    ModelInputError,
    ModelLoadError,
    ModelRunError,
    SignatureSpec,
)
from headwater.io.saved_model_signatures import read_signatures

__all__ = ["SavedModel", "SavedModelHandler"]

_STRING_KINDS = frozenset("OSU")


@dataclass(frozen=True)
class SavedModelHandler(ModelHandler):
    """Loads a TensorFlow SavedModel directory; picklable, nothing loaded until `load_model`.

    `tags` pick the MetaGraph (TF Serving's default "serve"); `signature_names`, when given,
    limits the model to those signatures and fails the load when one is missing.
    """

    path: str
    tags: tuple[str, ...] = ("serve",)
    signature_names: tuple[str, ...] | None = None
    batch_size: int = 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", os.fspath(self.path))
        object.__setattr__(self, "tags", tuple(self.tags))
        if self.signature_names is not None:
            object.__setattr__(self, "signature_names", tuple(self.signature_names))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")

    def load_model(self) -> SavedModel:
        """Load the SavedModel; ModelLoadError names the path and what is wrong."""
        return SavedModel.load(self.path, self.tags, self.signature_names)

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        """Let Beam grow batches up to `batch_size` examples."""
        return {"max_batch_size": self.batch_size}

    def preferred_batch_size(self) -> int:
        """`batch_size` examples per call."""
        return self.batch_size


class SavedModel(LoadedModel):
    """A loaded SavedModel: its signatures as TF Serving describes them and a thread-safe `run`."""

    def __init__(self, path: str, loaded: Any, signatures: Mapping[str, SignatureSpec]) -> None:
        self._path = path
        self._loaded = loaded  # keeps the functions' variables alive
        self._signatures = dict(signatures)
        self._functions = {name: loaded.signatures[name] for name in self._signatures}
        self._checks = {name: _input_checks(spec) for name, spec in self._signatures.items()}

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        tags: Iterable[str] = ("serve",),
        signature_names: Iterable[str] | None = None,
    ) -> SavedModel:
        """Load the MetaGraph tagged `tags` from `path`; raise ModelLoadError naming the reason."""
        import tensorflow as tf  # first: without the extra, say so before reading the model

        path = os.fspath(path)
        tags = tuple(tags)
        specs = dict(read_signatures(path, tags))  # one parser of saved_model.pb, TF-free
        if signature_names is not None:
            wanted = tuple(signature_names)
            missing = [name for name in wanted if name not in specs]
            if missing:
                raise ModelLoadError(
                    f"SavedModel {path}: no signature {missing[0]!r}; "
                    f"signatures are {sorted(specs)}"
                )
            specs = {name: specs[name] for name in wanted}
        try:
            loaded = tf.saved_model.load(path, tags=list(tags))
        except Exception as exc:  # TF raises OpError, ValueError, OSError, KeyError, ...
            raise ModelLoadError(f"SavedModel {path}: cannot load: {_first_line(exc)}") from exc
        callable_names = set(loaded.signatures.keys())
        lost = sorted(set(specs) - callable_names)
        if lost:
            raise ModelLoadError(
                f"SavedModel {path}: signature {lost[0]!r} is described but not callable; "
                f"callable signatures are {sorted(callable_names)}"
            )
        return cls(path, loaded, specs)

    @property
    def path(self) -> str:
        """The SavedModel directory."""
        return self._path

    @property
    def signatures(self) -> Mapping[str, SignatureSpec]:
        """Every loaded signature by name."""
        return self._signatures

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs of one batch through `signature_name`; ModelInputError when inputs do not fit."""
        function = self._functions.get(signature_name)
        if function is None:
            raise ModelInputError(
                f"model {self._path}: no signature {signature_name!r}; "
                f"signatures are {sorted(self._functions)}"
            )
        checks = self._checks[signature_name]
        if inputs.keys() != checks.keys():
            self._raise_names(signature_name, inputs)
        for name, array in inputs.items():
            dtype, rank, sizes = checks[name]
            if not isinstance(array, np.ndarray):
                self._raise(signature_name, name, "a numpy array", type(array).__name__)
            if dtype is None:
                if array.dtype.kind not in _STRING_KINDS:
                    self._raise(signature_name, name, "dtype string", f"dtype {array.dtype}")
            elif array.dtype != dtype:
                self._raise(signature_name, name, f"dtype {dtype}", f"dtype {array.dtype}")
            if rank is not None and array.ndim != rank:
                self._raise(signature_name, name, f"rank {rank}", f"shape {array.shape}")
            for axis, size in sizes:
                if array.shape[axis] != size:
                    self._raise(
                        signature_name, name, f"size {size} on axis {axis}", f"shape {array.shape}"
                    )
        try:
            result = function(**inputs)
        except Exception as exc:
            import tensorflow as tf

            where = f"model {self._path}: signature {signature_name!r}"
            if isinstance(exc, tf.errors.InvalidArgumentError | ValueError | TypeError):
                # parse errors, shape mismatches inside the graph: the caller's inputs
                raise ModelInputError(
                    f"{where} failed on its inputs: {_op_error_cause(exc)}"
                ) from exc
            raise ModelRunError(f"{where} failed: {_op_error_cause(exc)}") from exc
        return {name: tensor.numpy() for name, tensor in result.items()}

    def _raise_names(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> None:
        expected = self._checks[signature_name].keys()
        missing = sorted(set(expected) - set(inputs))
        unknown = sorted(set(inputs) - set(expected))
        found = f"missing {missing}" if missing else f"unknown {unknown}"
        raise ModelInputError(
            f"model {self._path}: signature {signature_name!r} takes inputs {sorted(expected)}; "
            f"{found}"
        )

    def _raise(self, signature_name: str, name: str, expected: str, found: str) -> None:
        spec = self._signatures[signature_name].inputs[name]
        raise ModelInputError(
            f"model {self._path}: signature {signature_name!r} input {name!r} expects {expected} "
            f"(spec {spec.dtype} {_shape_text(spec.shape)}), found {found}"
        )


_Check = tuple[np.dtype | None, int | None, tuple[tuple[int, int], ...]]


def _input_checks(spec: SignatureSpec) -> dict[str, _Check]:
    """Per input: its numpy dtype (None: strings), rank (None: any) and known (axis, size)s."""
    return {
        name: (
            None if tensor.is_string else np.dtype(tensor.dtype),
            None if tensor.shape is None else len(tensor.shape),
            tuple((a, s) for a, s in enumerate(tensor.shape or ()) if s is not None),
        )
        for name, tensor in spec.inputs.items()
    }


def _shape_text(shape: tuple[int | None, ...] | None) -> str:
    """A shape as TF prints it: [None, 3], or <unknown> rank."""
    if shape is None:
        return "<unknown rank>"
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


_NOISE = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "File ")


def _op_error_cause(exc: BaseException) -> str:
    """The line of a TensorFlow error that says what went wrong, without its graph noise.

    TF's graph execution errors start with "Graph execution error:" and a stack; the cause
    ("Key: x. Data types don't match ...") comes last, followed by node and op markers.
    """
    text = str(getattr(exc, "message", None) or exc).strip()
    lines = [
        re.sub(r"\s*(\[\[.*?\]\]|\[Op:[^\]]*\])", "", line).strip() for line in text.splitlines()
    ]
    meaningful = [line for line in lines if line and not line.startswith(_NOISE)]
    return meaningful[-1] if meaningful else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without TF's long traces."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

"""The TFLite target: convert one serving signature, run it in LiteRT, check parity, then publish.

Which signature: the one named, else a raw-features signature when the model has one (the
Trainer's `serving_raw`: builtin ops only, runs on any LiteRT), else `serving_default`. A
signature that parses serialized tf.Examples needs TensorFlow's select ops (`ParseExampleV2`):
it is converted with SELECT_TF_OPS when `allow_select_tf_ops` (the app must link the Flex
delegate; the artifact records `select_tf_ops`), otherwise it is a ConversionError.

Variables are frozen into the flatbuffer (the concrete function is converted together with the
loaded object), so the file needs nothing else. Optional post-training quantization: dynamic
range (int8 weights) or float16 weights; each has its own default tolerance.

The converted model runs in the maintained LiteRT interpreter (`ai-edge-litert`) on the same
feeds as the SavedModel (headwater.io's model seam); see `headwater.pusher.parity`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from headwater.pusher.parity import (
    ConversionError,
    Parity,
    Tolerance,
    compare_outputs,
    reference_outputs,
)

__all__ = [
    "QUANTIZATIONS",
    "TFLITE_FILE",
    "ConvertedModel",
    "TFLiteOptions",
    "choose_signature",
    "convert_to_tflite",
    "run_tflite",
    "verify_tflite",
]

TFLITE_FILE = "model.tflite"
"""The converted model's file name inside its version directory."""
CONVERSION_FILE = "conversion.json"
"""Beside the converted model: source signature, inputs, outputs, select ops, quantization."""
QUANTIZATIONS = ("none", "dynamic_range", "float16")
_DEFAULT_TOLERANCE = {
    "none": Tolerance(atol=1e-4, rtol=1e-4),
    "float16": Tolerance(atol=1e-2, rtol=1e-2),
    "dynamic_range": Tolerance(atol=5e-2, rtol=5e-2),
}


@dataclass(frozen=True, kw_only=True)
class TFLiteOptions:
    """How to convert to TFLite and how close to the SavedModel the result must stay."""

    signature_name: str | None = None
    """The SavedModel signature converted; None picks a raw-features one, else serving_default."""
    quantization: str = "none"
    """Post-training quantization: "none", "dynamic_range" (int8 weights) or "float16"."""
    allow_select_tf_ops: bool = True
    """Allow TensorFlow ops TFLite lacks (needs the Flex delegate where the model runs)."""
    tolerance: Tolerance | None = None
    """Parity tolerance; None: 1e-4 (none), 1e-2 (float16), 5e-2 (dynamic_range), abs and rel."""

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(
                f"quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}"
            )

    @property
    def parity_tolerance(self) -> Tolerance:
        """The tolerance in force: the one given or the quantization's default."""
        return self.tolerance or _DEFAULT_TOLERANCE[self.quantization]


@dataclass(frozen=True, kw_only=True)
class ConvertedModel:
    """A model converted to a target format, in a local directory, not yet published."""

    format: str
    directory: str
    signature_name: str
    select_tf_ops: bool = False
    quantization: str = "none"
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)


def choose_signature(signatures: Mapping[str, Any], requested: str | None, model: str) -> str:
    """The signature to convert: `requested`, else a raw-features one, else serving_default."""
    if requested is not None:
        if requested not in signatures:
            raise ConversionError(
                f"SavedModel {model}: no signature {requested!r}; signatures are "
                f"{sorted(signatures)}"
            )
        return requested
    raw = [n for n, s in sorted(signatures.items()) if not s.takes_serialized_examples]
    if "serving_raw" in raw:
        return "serving_raw"
    if raw:
        return raw[0]
    if "serving_default" in signatures:
        return "serving_default"
    if not signatures:
        raise ConversionError(f"SavedModel {model}: no serving signature to convert")
    return sorted(signatures)[0]


def convert_to_tflite(
    saved_model_dir: str, output_dir: str, options: TFLiteOptions | None = None
) -> ConvertedModel:
    """Convert one signature of the SavedModel to `output_dir/model.tflite` (+ conversion.json)."""
    from headwater.io.saved_model import SavedModelHandler

    options = options or TFLiteOptions()
    started = time.perf_counter()
    described = SavedModelHandler(saved_model_dir).load_model()
    name = choose_signature(described.signatures, options.signature_name, saved_model_dir)
    spec = described.signatures[name]
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    function = loaded.signatures[name]
    flatbuffer, select_ops = _convert(tf, function, loaded, options, saved_model_dir, name)
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, TFLITE_FILE), "wb") as f:
        f.write(flatbuffer)
    details = {
        "format": "tflite",
        "signature_name": name,
        "takes_serialized_examples": spec.takes_serialized_examples,
        "inputs": {k: [t.dtype, list(t.shape or ())] for k, t in spec.inputs.items()},
        "outputs": sorted(spec.outputs),
        "select_tf_ops": select_ops,
        "quantization": options.quantization,
    }
    with open(os.path.join(output_dir, CONVERSION_FILE), "w", encoding="utf-8") as f:
        json.dump(details, f, indent=2, sort_keys=True)
    return ConvertedModel(
        format="tflite",
        directory=output_dir,
        signature_name=name,
        select_tf_ops=select_ops,
        quantization=options.quantization,
        seconds=time.perf_counter() - started,
        details=details,
    )


def _convert(
    tf: Any, function: Any, loaded: Any, options: TFLiteOptions, model: str, name: str
) -> tuple[bytes, bool]:
    """The flatbuffer, and whether it needed select TF ops (tried only when builtins fail)."""
    attempts = [False, True] if options.allow_select_tf_ops else [False]
    failure = ""
    for select_ops in attempts:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], loaded)
        if select_ops:
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS,
                tf.lite.OpsSet.SELECT_TF_OPS,
            ]
        if options.quantization != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if options.quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert(), select_ops
        except Exception as exc:  # ConverterError, ValueError from MLIR, ...
            failure = _ops_failure(exc)
    hint = "" if options.allow_select_tf_ops else " (allow_select_tf_ops=False)"
    raise ConversionError(
        f"SavedModel {model}: signature {name!r} cannot be converted to TFLite{hint}: {failure}"
    )


def _ops_failure(exc: BaseException) -> str:
    """The converter's reason, naming the ops it could not convert when it says so."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "op" in line.lower() and ("not" in line or "Flex" in line)]
    chosen = (named or lines or [type(exc).__name__])[:2]
    return " ".join(chosen)[:500]


def run_tflite(model_path: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of the TFLite model's (only) signature on `feeds`, in the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=model_path)
        runner = interpreter.get_signature_runner()
        return {k: np.asarray(v) for k, v in runner(**feeds).items()}
    except (RuntimeError, ValueError) as exc:
        text = " ".join(str(exc).split())[:400]
        raise ConversionError(
            f"{model_path}: the LiteRT interpreter cannot run it: {text}"
        ) from exc


def verify_tflite(
    converted: ConvertedModel,
    saved_model_dir: str,
    batch: pa.RecordBatch,
    tolerance: Tolerance,
) -> tuple[Parity, float]:
    """Parity of the TFLite model with the SavedModel on `batch`, and the seconds it took."""
    started = time.perf_counter()
    feeds, expected = reference_outputs(saved_model_dir, converted.signature_name, batch)
    actual = run_tflite(os.path.join(converted.directory, TFLITE_FILE), feeds)
    parity = compare_outputs(expected, actual, tolerance, what=f"TFLite model of {saved_model_dir}")
    return parity, time.perf_counter() - started

"""Push one model to several targets: the SavedModel, TFLite and TensorFlow.js, all or nothing.

Every converted target is converted and checked for parity first; if any conversion or parity
check fails, nothing is published and each target's result says why (with the numbers). Then
the converted models are published (each to its own versioned base, `<destination>/tflite`
and `<destination>/tfjs` by default, as atomically as the backend allows) and the SavedModel
last, so a server never sees a new SavedModel whose mobile or web twin is missing. Retention
runs after a successful push on every base that was pushed to.

Example:
    report = push_targets(
        "Trainer/model/6/Format-Serving", "s3://models/penguin",
        targets=("saved_model", "tflite", "tfjs"), examples=eval_batch,
    )
    report.pushed, [r.properties() for r in report.results]
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from headwater.io import HeadwaterError
from headwater.pusher.destinations import Destination, push_to
from headwater.pusher.filesystem import PushError
from headwater.pusher.parity import Parity, Tolerance
from headwater.pusher.retention import RetentionPolicy, apply_retention
from headwater.pusher.tflite import TFLITE_FILE, TFLiteOptions

__all__ = [
    "TARGET_FORMATS",
    "PushReport",
    "SavedModelTarget",
    "TFJSTarget",
    "TFLiteTarget",
    "TargetResult",
    "push_targets",
    "target_from_config",
]

logger = logging.getLogger(__name__)

TARGET_FORMATS = ("saved_model", "tflite", "tfjs")


@dataclass(frozen=True, kw_only=True)
class SavedModelTarget:
    """The SavedModel itself, in TF Serving's `base/<version>/` layout."""

    destination: str | None = None
    """None: the push destination itself."""
    format: str = field(default="saved_model", init=False)


@dataclass(frozen=True, kw_only=True)
class TFLiteTarget:
    """A TFLite flatbuffer (`<version>/model.tflite`), published only within tolerance."""

    options: TFLiteOptions = field(default_factory=TFLiteOptions)
    destination: str | None = None
    """None: `<push destination>/tflite`."""
    format: str = field(default="tflite", init=False)


@dataclass(frozen=True, kw_only=True)
class TFJSTarget:
    """A TF.js graph model (`<version>/model.json` + shards), published only within tolerance."""

    signature_name: str | None = None
    quantization: str = "none"
    tolerance: Tolerance = field(default_factory=Tolerance)
    destination: str | None = None
    """None: `<push destination>/tfjs`."""
    format: str = field(default="tfjs", init=False)


Target = SavedModelTarget | TFLiteTarget | TFJSTarget


def target_from_config(config: str | Mapping[str, Any] | Target) -> Target:
    """A target from its name ("tflite") or a dict ({"format": "tflite", "quantization": ...})."""
    if isinstance(config, SavedModelTarget | TFLiteTarget | TFJSTarget):
        return config
    if isinstance(config, str):
        config = {"format": config}
    if not isinstance(config, Mapping) or config.get("format") not in TARGET_FORMATS:
        raise ValueError(
            f"a push target is one of {TARGET_FORMATS} or a dict with 'format' among them, "
            f"got {config!r}"
        )
    options = dict(config)
    fmt = options.pop("format")
    tolerance = options.pop("tolerance", None)
    if isinstance(tolerance, Mapping):
        tolerance = Tolerance(**tolerance)
    try:
        if fmt == "saved_model":
            return SavedModelTarget(**options)
        if fmt == "tflite":
            destination = options.pop("destination", None)
            return TFLiteTarget(
                options=TFLiteOptions(tolerance=tolerance, **options), destination=destination
            )
        return TFJSTarget(tolerance=tolerance or Tolerance(), **options)
    except TypeError as exc:
        raise ValueError(f"push target {config!r}: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class TargetResult:
    """What happened to one target: where it went, or why not, and its parity figures."""

    format: str
    pushed: bool
    location: str = ""
    version: str = ""
    reused: bool = False
    reason: str = ""
    signature_name: str = ""
    select_tf_ops: bool = False
    quantization: str = "none"
    parity: Parity | None = None
    conversion_seconds: float = 0.0
    verification_seconds: float = 0.0
    push_seconds: float = 0.0

    def properties(self) -> dict[str, int | float | str]:
        """MLMD custom properties, each prefixed by the format (`tflite_max_abs_diff`, ...)."""
        p = self.format
        out: dict[str, int | float | str] = {
            f"{p}_format": self.format,
            f"{p}_pushed": int(self.pushed),
            f"{p}_location": self.location,
            f"{p}_version": self.version,
            f"{p}_push_seconds": round(self.push_seconds, 3),
        }
        if self.reason:
            out[f"{p}_reason"] = self.reason
        if self.format != "saved_model":
            out[f"{p}_signature"] = self.signature_name
            out[f"{p}_select_tf_ops"] = int(self.select_tf_ops)
            out[f"{p}_quantization"] = self.quantization
            out[f"{p}_conversion_seconds"] = round(self.conversion_seconds, 3)
            out[f"{p}_verification_seconds"] = round(self.verification_seconds, 3)
        if self.parity is not None:
            out[f"{p}_parity_examples"] = self.parity.examples
            out[f"{p}_max_abs_diff"] = self.parity.max_abs_diff
            out[f"{p}_max_rel_diff"] = self.parity.max_rel_diff
            out[f"{p}_atol"] = self.parity.tolerance.atol
            out[f"{p}_rtol"] = self.parity.tolerance.rtol
        return out


@dataclass(frozen=True)
class PushReport:
    """Every target's result; `pushed` only when all were published."""

    results: tuple[TargetResult, ...]

    @property
    def pushed(self) -> bool:
        """True when every target was published (or was there already)."""
        return all(r.pushed for r in self.results)

    @property
    def reason(self) -> str:
        """Why nothing was pushed: each failing target's reason, or ""."""
        return "; ".join(f"{r.format}: {r.reason}" for r in self.results if r.reason)

    def result(self, fmt: str) -> TargetResult:
        """The result of the target of format `fmt`."""
        for r in self.results:
            if r.format == fmt:
                return r
        raise KeyError(f"no {fmt!r} target; targets are {[r.format for r in self.results]}")


def push_targets(
    model_dir: str,
    destination: Destination | str,
    targets: Iterable[str | Mapping[str, Any] | Target] = ("saved_model",),
    *,
    examples: pa.RecordBatch | None = None,
    retention: RetentionPolicy | None = None,
) -> PushReport:
    """Convert and verify every target, then publish them all (see module doc), or none."""
    if isinstance(destination, str):
        destination = Destination(url=destination)
    resolved = [target_from_config(t) for t in targets]
    formats = [t.format for t in resolved]
    if len(set(formats)) != len(formats) or not resolved:
        raise ValueError(f"push targets must be distinct and not empty, got {formats}")
    converted_targets = [t for t in resolved if isinstance(t, TFLiteTarget | TFJSTarget)]
    if converted_targets and (examples is None or examples.num_rows == 0):
        raise PushError(
            f"{model_dir}: targets {[t.format for t in converted_targets]} need examples to "
            "check parity with the SavedModel; none were given"
        )
    with tempfile.TemporaryDirectory(prefix="headwater-push-") as work:
        staged: dict[str, tuple[TargetResult, str]] = {}
        for twin in converted_targets:
            assert examples is not None
            staged[twin.format] = _convert_and_verify(model_dir, twin, examples, work)
        failures = [r for r, _ in staged.values() if r.reason]
        if failures:
            return PushReport(
                tuple(
                    staged[t.format][0]
                    if t.format in staged
                    else TargetResult(format=t.format, pushed=False, reason="")
                    for t in resolved
                )
            )
        results: dict[str, TargetResult] = {}
        for twin in converted_targets:  # first: the SavedModel's twins are there before it
            pending, source = staged[twin.format]
            required = (TFLITE_FILE,) if twin.format == "tflite" else ("model.json",)
            base = _sub(destination, twin.destination, twin.format)
            results[twin.format] = _publish(pending, source, base, required, retention)
        for plain in resolved:
            if isinstance(plain, SavedModelTarget):
                pending = TargetResult(format="saved_model", pushed=False)
                base = _sub(destination, plain.destination)
                results["saved_model"] = _publish(pending, model_dir, base, None, retention)
    return PushReport(tuple(results[t.format] for t in resolved))


def _publish(
    pending: TargetResult,
    source: str,
    base: Destination,
    required: tuple[str, ...] | None,
    retention: RetentionPolicy | None,
) -> TargetResult:
    """Push `source` to `base` (then apply retention there); the result says where it went."""
    started = time.perf_counter()
    if required is None:
        pushed = push_to(source, base)
    else:
        pushed = push_to(source, base, required_files=required)
    if retention is not None:
        apply_retention(base, retention)
    return replace(
        pending,
        pushed=True,
        location=pushed.destination,
        version=pushed.version,
        reused=pushed.reused,
        push_seconds=time.perf_counter() - started,
    )


def _sub(destination: Destination, explicit: str | None, name: str | None = None) -> Destination:
    """The base of one target: explicit, else the destination or `<destination>/<name>`."""
    if explicit is not None:
        url = explicit
    elif name is None:
        url = destination.url
    else:
        url = f"{destination.url.rstrip('/')}/{name}"
    return Destination(url=url, storage_options=destination.storage_options)


def _convert_and_verify(
    model_dir: str, target: TFLiteTarget | TFJSTarget, examples: pa.RecordBatch, work: str
) -> tuple[TargetResult, str]:
    """The target's result before publishing (reason set on failure) and its local directory."""
    out = f"{work}/{target.format}"
    started = time.perf_counter()
    try:
        if isinstance(target, TFLiteTarget):
            from headwater.pusher.tflite import convert_to_tflite, verify_tflite

            converted = convert_to_tflite(model_dir, out, target.options)
            tolerance = target.options.parity_tolerance
            parity, seconds = verify_tflite(converted, model_dir, examples, tolerance)
        else:
            from headwater.pusher.tfjs import convert_to_tfjs, verify_tfjs

            converted = convert_to_tfjs(
                model_dir,
                out,
                signature_name=target.signature_name,
                quantization=target.quantization,
            )
            parity, seconds = verify_tfjs(converted, model_dir, examples, target.tolerance)
    except HeadwaterError as exc:  # ConversionError, ToolingError, the seam's input errors
        logger.warning("%s target not pushed: %s", target.format, exc)
        return (
            TargetResult(
                format=target.format,
                pushed=False,
                reason=str(exc),
                conversion_seconds=time.perf_counter() - started,
            ),
            out,
        )
    result = TargetResult(
        format=target.format,
        pushed=False,
        signature_name=converted.signature_name,
        select_tf_ops=converted.select_tf_ops,
        quantization=converted.quantization,
        parity=parity,
        conversion_seconds=converted.seconds,
        verification_seconds=seconds,
        reason="" if parity.passed else f"parity check failed: {parity.describe()}",
    )
    return result, out

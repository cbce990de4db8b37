"""TFMA's own evaluation files, written beside Headwater's JSON so `tfma.load_eval_result`,
`tfma.load_validation_result` and TFX's tools read a Headwater evaluation.

TFMA reads, under the output directory:
    eval_config.json                      an `EvalRun` in protobuf JSON (evalConfig, version,
                                          modelLocations ...)
    metrics-00000-of-00001.tfrecord       one `MetricsForSlice` record per slice
    plots-00000-of-00001.tfrecord         `PlotsForSlice` records (none written: Headwater's
                                          plots stay in headwater_plots.json)
    validations-00000-of-00001.tfrecord   one `ValidationResult` record

The messages are built from a private descriptor pool holding only the fields written here,
with TFMA's package, message names and field numbers, so TensorFlow Model Analysis need not be
installed to write them and a TFMA installed in the same process is not disturbed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

from headwater.io import filesystems, write_atomic
from headwater.io.example_wire import frame_records

__all__ = [
    "METRICS_TFRECORD",
    "PLOTS_TFRECORD",
    "TFMA_VERSION",
    "VALIDATIONS_TFRECORD",
    "has_tfma_files",
    "read_tfma_files",
    "tfma_eval_config",
    "write_tfma_files",
]

TFMA_VERSION = "0.47.1"
"""The TFMA version recorded in eval_config.json (the format these files follow)."""
METRICS_TFRECORD = "metrics-00000-of-00001.tfrecord"
PLOTS_TFRECORD = "plots-00000-of-00001.tfrecord"
VALIDATIONS_TFRECORD = "validations-00000-of-00001.tfrecord"

_F = descriptor_pb2.FieldDescriptorProto
# message -> [(field name, number, type, label, message type name)]
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "SingleSliceKey": [
        ("column", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("bytes_value", 2, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, ""),
        ("float_value", 3, _F.TYPE_FLOAT, _F.LABEL_OPTIONAL, ""),
        ("int64_value", 4, _F.TYPE_INT64, _F.LABEL_OPTIONAL, ""),
    ],
    "SliceKey": [
        ("single_slice_keys", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "SingleSliceKey"),
    ],
    "MetricKey": [
        ("name", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("output_name", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("model_name", 4, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("is_diff", 5, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, ""),
    ],
    "BoundedValue": [
        ("lower_bound", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.DoubleValue"),
        ("upper_bound", 2, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.DoubleValue"),
        ("value", 3, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.DoubleValue"),
    ],
    "MetricValue": [
        ("double_value", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.DoubleValue"),
    ],
    "ConfidenceInterval": [
        ("lower_bound", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "MetricValue"),
        ("upper_bound", 2, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "MetricValue"),
    ],
    "MetricKeyAndValue": [
        ("key", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "MetricKey"),
        ("value", 2, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "MetricValue"),
        ("confidence_interval", 3, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "ConfidenceInterval"),
    ],
    "MetricsForSlice": [
        ("slice_key", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "SliceKey"),
        ("metric_keys_and_values", 51, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "MetricKeyAndValue"),
    ],
    "ValidationFailure": [
        ("metric_key", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "MetricKey"),
        ("metric_value", 3, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "MetricValue"),
        ("message", 4, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
    ],
    "MetricsValidationForSlice": [
        ("slice_key", 2, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "SliceKey"),
        ("failures", 3, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "ValidationFailure"),
    ],
    "ValidationResult": [
        ("validation_ok", 1, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, ""),
        (
            "metric_validations_per_slice",
            2,
            _F.TYPE_MESSAGE,
            _F.LABEL_REPEATED,
            "MetricsValidationForSlice",
        ),
    ],
}
_PACKAGE = "tensorflow_model_analysis"


@cache
def _classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="headwater/model_analysis/tfma_subset.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    for name, fields in _MESSAGES.items():
        msg = file.message_type.add(name=name)
        if name == "SingleSliceKey":
            msg.oneof_decl.add(name="kind")
        for field, number, kind, label, type_name in fields:
            f = msg.field.add(name=field, number=number, type=kind, label=label)
            if name == "SingleSliceKey" and field != "column":
                f.oneof_index = 0
            if type_name:
                f.type_name = type_name if type_name.startswith(".") else f".{_PACKAGE}.{type_name}"
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


def _slice_key(key: Any) -> Any:
    """A Headwater slice key ((column, value), ...) as TFMA's SliceKey."""
    out = _classes()["SliceKey"]()
    for column, value in key:
        single = out.single_slice_keys.add(column=str(column))
        if isinstance(value, bool | int):
            single.int64_value = int(value)
        elif isinstance(value, float):
            single.float_value = value
        else:
            single.bytes_value = str(value).encode("utf-8")
    return out


def _metric_value(value: float | None) -> Any:
    out = _classes()["MetricValue"]()
    if value is not None:
        out.double_value.value = value  # NaN and infinities as TFMA writes them
    return out


def _metrics_for_slice(key: Any, models: list[Any]) -> bytes:
    """One slice's MetricsForSlice: every model's metrics, keyed by metric and model name."""
    classes = _classes()
    msg = classes["MetricsForSlice"](slice_key=_slice_key(key))
    for s in models:
        values = dict(s.metrics)
        values.setdefault("example_count", float(s.example_count))
        for name in sorted(values):
            item = msg.metric_keys_and_values.add()
            item.key.name = name
            item.key.model_name = s.model_name
            item.value.CopyFrom(_metric_value(float(values[name])))
            if name in s.confidence_intervals:
                lo, hi = s.confidence_intervals[name]
                item.confidence_interval.lower_bound.CopyFrom(_metric_value(float(lo)))
                item.confidence_interval.upper_bound.CopyFrom(_metric_value(float(hi)))
    return msg.SerializeToString(deterministic=True)


def _validation_result(validation: Any) -> bytes:
    classes = _classes()
    msg = classes["ValidationResult"](validation_ok=bool(validation.validation_ok))
    per_slice: dict[Any, Any] = {}
    for o in validation.outcomes:
        if o.status.value != "FAILED":
            continue
        key = tuple(o.slice_key)
        if key not in per_slice:
            per_slice[key] = msg.metric_validations_per_slice.add(slice_key=_slice_key(key))
        failure = per_slice[key].failures.add(message=o.reason)
        failure.metric_key.name = o.metric_name
        failure.metric_key.model_name = o.model_name
        failure.metric_key.is_diff = o.kind == "change"
        if o.value is not None:
            failure.metric_value.CopyFrom(_metric_value(float(o.value)))
    return msg.SerializeToString(deterministic=True)


def _prune(value: Any) -> Any:
    """Drop None, empty containers and empty strings (proto3 JSON defaults)."""
    if isinstance(value, Mapping):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list | tuple):
        return [_prune(v) for v in value]
    return value


def _threshold(t: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not t:
        return None
    out: dict[str, Any] = {}
    value = t.get("value_threshold")
    if value:
        out["valueThreshold"] = _prune(
            {"lowerBound": value.get("lower_bound"), "upperBound": value.get("upper_bound")}
        )
    change = t.get("change_threshold")
    if change:
        out["changeThreshold"] = _prune(
            {
                "direction": change.get("direction"),
                "absolute": change.get("absolute"),
                "relative": change.get("relative"),
            }
        )
    return out or None


def tfma_eval_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """TFMA's EvalConfig (protobuf JSON) of a Headwater `EvalConfig.to_dict()`: the fields TFMA
    has (model, slicing and metrics specs, thresholds, confidence-interval and slice-size
    options); Headwater-only settings stay in its own JSON."""
    models = [
        _prune(
            {
                "name": m.get("name"),
                "labelKey": m.get("label_key"),
                "predictionKey": m.get("prediction_key"),
                "exampleWeightKey": m.get("example_weight_key"),
                "signatureName": m.get("signature_name"),
                "isBaseline": m.get("is_baseline") or None,
            }
        )
        for m in config.get("model_specs", [])
    ]
    slicing = [
        _prune({"featureKeys": s.get("feature_keys"), "featureValues": s.get("feature_values")})
        for s in config.get("slicing_specs", [])
    ]
    metrics_specs = []
    for spec in config.get("metrics_specs", []):
        metrics = []
        for m in spec.get("metrics", []):
            cfg = m.get("config")
            metrics.append(
                _prune(
                    {
                        "className": m.get("class_name"),
                        "module": m.get("module"),
                        "config": json.dumps(cfg) if cfg else None,
                        "threshold": _threshold(m.get("threshold")),
                    }
                )
            )
        metrics_specs.append(
            _prune({"metrics": metrics, "modelNames": list(spec.get("model_names") or [])})
        )
    options = config.get("options") or {}
    return _prune(
        {
            "modelSpecs": models,
            "slicingSpecs": slicing or None,
            "metricsSpecs": metrics_specs,
            "options": _prune(
                {
                    "computeConfidenceIntervals": options.get("compute_confidence_intervals"),
                    "minSliceSize": options.get("min_slice_size"),
                }
            ),
        }
    )


def write_tfma_files(result: Any, out: str) -> None:
    """Write TFMA's eval_config.json and metrics / plots / validations TFRecords under `out`."""
    config = result.eval_config.to_dict()
    run = {
        "evalConfig": tfma_eval_config(config),
        "version": TFMA_VERSION,
        "dataLocation": "",
        "fileFormat": "tfrecords",
        "modelLocations": {m.get("name", ""): "" for m in config.get("model_specs", [])},
    }
    write_atomic(
        filesystems.join(out, "eval_config.json"),
        json.dumps(run, indent=1, allow_nan=False).encode("utf-8"),
    )
    by_slice: dict[Any, list[Any]] = {}
    for s in result.slices:
        if s.metrics:
            by_slice.setdefault(tuple(s.slice_key), []).append(s)
    metrics = [_metrics_for_slice(key, models) for key, models in by_slice.items()]
    write_atomic(filesystems.join(out, METRICS_TFRECORD), frame_records(metrics))
    write_atomic(filesystems.join(out, PLOTS_TFRECORD), frame_records([]))
    write_atomic(
        filesystems.join(out, VALIDATIONS_TFRECORD),
        frame_records([_validation_result(result.validation)]),
    )


def _records(path: str) -> list[bytes]:
    """The records of an uncompressed TFRecord file (length and data CRCs checked)."""
    from headwater.io.example_wire import masked_crc32c

    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos < len(data):
        header = data[pos : pos + 12]
        if len(header) < 12:
            raise ValueError(f"{path}: truncated TFRecord header at byte {pos}")
        length = int.from_bytes(header[:8], "little")
        if masked_crc32c(header[:8]) != int.from_bytes(header[8:12], "little"):
            raise ValueError(f"{path}: corrupt TFRecord length at byte {pos}")
        body = data[pos + 12 : pos + 12 + length]
        crc = data[pos + 12 + length : pos + 16 + length]
        if len(body) < length or masked_crc32c(body) != int.from_bytes(crc, "little"):
            raise ValueError(f"{path}: corrupt TFRecord record at byte {pos}")
        out.append(body)
        pos += 16 + length
    return out


def _files(out: str, prefix: str) -> list[str]:
    """TFMA's `<prefix>*.tfrecord` files under `out` (a local directory)."""
    import glob

    return sorted(glob.glob(os.path.join(glob.escape(out), f"{prefix}*.tfrecord")))


def has_tfma_files(out: str) -> bool:
    """Whether `out` holds an evaluation written by TFMA (metrics TFRecords and its config)."""
    return not filesystems.is_url(out) and bool(_files(out, "metrics"))


def _key_from_proto(key: Any) -> tuple[tuple[str, Any], ...]:
    items = []
    for single in key.single_slice_keys:
        kind = single.WhichOneof("kind")
        if kind == "bytes_value":
            value: Any = single.bytes_value.decode("utf-8")
        elif kind == "float_value":
            value = float(single.float_value)
        else:
            value = int(single.int64_value)
        items.append((single.column, value))
    return tuple(items)


def read_tfma_files(out: str) -> Any:
    """An `EvalResult` from TFMA's own files (an evaluation written by TFMA or TFX's Evaluator):
    scalar metrics per slice and model, and the validation outcome. Plots are not read."""
    from headwater.model_analysis.config import EvalConfig
    from headwater.model_analysis.results import EvalResult, SliceMetrics
    from headwater.model_analysis.validation import (
        ThresholdOutcome,
        ThresholdStatus,
        ValidationResult,
    )

    with open(os.path.join(out, "eval_config.json"), "rb") as f:
        run = json.loads(f.read())
    config = EvalConfig.from_dict(run.get("evalConfig", {}))
    classes = _classes()
    slices = []
    for path in _files(out, "metrics"):
        for record in _records(path):
            msg = classes["MetricsForSlice"].FromString(record)
            key = _key_from_proto(msg.slice_key)
            by_model: dict[str, dict[str, float]] = {}
            for item in msg.metric_keys_and_values:
                if (
                    item.key.output_name
                    or item.key.is_diff
                    or not item.value.HasField("double_value")
                ):
                    continue
                by_model.setdefault(item.key.model_name, {})[item.key.name] = (
                    item.value.double_value.value
                )
            shared = by_model.pop("", {}) if len(by_model) > 1 else {}
            for model, values in by_model.items():
                values = {**shared, **values}
                count = values.get("example_count", 0.0)
                slices.append(
                    SliceMetrics(
                        slice_key=key,
                        model_name=model,
                        example_count=int(count),
                        weighted_example_count=float(values.get("weighted_example_count", count)),
                        metrics=values,
                    )
                )
    outcomes = []
    validation_ok = True
    for path in _files(out, "validations"):
        for record in _records(path):
            msg = classes["ValidationResult"].FromString(record)
            validation_ok = validation_ok and msg.validation_ok
            for per_slice in msg.metric_validations_per_slice:
                key = _key_from_proto(per_slice.slice_key)
                for f in per_slice.failures:
                    value = (
                        f.metric_value.double_value.value
                        if f.metric_value.HasField("double_value")
                        else None
                    )
                    outcomes.append(
                        ThresholdOutcome(
                            metric_name=f.metric_key.name,
                            slice_key=key,
                            model_name=f.metric_key.model_name,
                            kind="change" if f.metric_key.is_diff else "value",
                            value=value,
                            baseline_value=None,
                            bound={},
                            status=ThresholdStatus.FAILED,
                            reason=f.message,
                        )
                    )
    validation = ValidationResult(
        validation_ok=validation_ok,
        outcomes=tuple(outcomes),
        reason="; ".join(o.reason for o in outcomes),
    )
    return EvalResult(eval_config=config, slices=tuple(slices), validation=validation)

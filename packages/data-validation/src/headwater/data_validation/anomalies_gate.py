"""Stop a pipeline on anomalies: raise when any reaches a severity, saying which and why.

Example:
    raise_for_anomalies(validate_statistics(stats, schema), context="split 'train'")
"""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import anomalies_pb2

from headwater.io import HeadwaterError

__all__ = ["AnomaliesFoundError", "raise_for_anomalies"]

Severity = anomalies_pb2.AnomalyInfo.Severity
_SHOWN = 10


class AnomaliesFoundError(HeadwaterError, ValueError):
    """Data with anomalies at or above the severity the caller refuses; `.anomalies` has all."""

    def __init__(self, message: str, anomalies: anomalies_pb2.Anomalies) -> None:
        super().__init__(message)
        self.anomalies = anomalies


def raise_for_anomalies(
    anomalies: anomalies_pb2.Anomalies,
    severity: int = Severity.ERROR,
    context: str = "",
) -> None:
    """Raise AnomaliesFoundError if an anomaly has at least `severity` (ERROR by default)."""
    found = [
        (name, info)
        for name, info in sorted(anomalies.anomaly_info.items())
        if info.severity >= severity
    ]
    dataset = anomalies.dataset_anomaly_info
    if anomalies.HasField("dataset_anomaly_info") and dataset.severity >= severity:
        found.insert(0, ("(dataset)", dataset))
    if not found:
        return
    lines = [
        f"  {name}: {info.short_description} — {info.description}" for name, info in found[:_SHOWN]
    ]
    if len(found) > _SHOWN:
        lines.append(f"  ... and {len(found) - _SHOWN} more")
    where = f" in {context}" if context else ""
    raise AnomaliesFoundError(
        f"{len(found)} feature(s) with anomalies of severity {Severity.Name(severity)} or "
        f"above{where}:\n" + "\n".join(lines),
        anomalies,
    )

"""Assemble one AnomalyInfo from findings: TFDV's texts, the severity, the fix and a text diff."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from headwater.data_validation._findings import Findings, Reason, SchemaChange

Severity = anomalies_pb2.AnomalyInfo.Severity


def anomaly_info(
    name: str,
    f: Findings,
    original: schema_pb2.Feature | None,
    severity_overrides: Mapping[int, int],
) -> anomalies_pb2.AnomalyInfo:
    """The AnomalyInfo of one feature (or the dataset): reasons, severity, fix, diff."""
    info = anomalies_pb2.AnomalyInfo()
    if name:
        info.path.step.append(name)
    severity = Severity.UNKNOWN
    for reason in f.reasons:
        info.reason.add(
            type=reason.type,
            short_description=reason.short,
            description=reason.description,
        )
        reason_severity = severity_overrides.get(reason.type, Severity.ERROR)
        severity = max(severity, reason_severity)
    info.severity = severity
    # TFDV's rule: reasons with a short description only do not make "Multiple errors".
    described = [r for r in f.reasons if r.described] or f.reasons[:1]
    if len(described) == 1:
        info.short_description = described[0].short
    else:
        info.short_description = "Multiple errors"
    info.description = _join(f.reasons, f.changes)
    if original is not None:
        _add_diff(info, original, f.feature)
    return info


def _join(reasons: list[Reason], changes: list[SchemaChange]) -> str:
    text = " ".join(r.description for r in reasons)
    if changes:
        fixes = "; ".join(f"{c.field}: {c.before} -> {c.after}" for c in changes)
        text += f" Suggested fix: {fixes}."
    else:
        text += " Suggested fix: none in the schema; correct the data."
    return text


def _add_diff(
    info: anomalies_pb2.AnomalyInfo, before: schema_pb2.Feature, after: schema_pb2.Feature
) -> None:
    """TFDV-style diff_regions: the feature's text before and after the suggested fix."""
    left = text_format.MessageToString(before).splitlines()
    right = text_format.MessageToString(after).splitlines()
    if left == right:
        return
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        region = info.diff_regions.add()
        if tag == "equal":
            region.unchanged.left_start = i1 + 1
            region.unchanged.right_start = j1 + 1
            region.unchanged.contents.extend(left[i1:i2])
        elif tag == "delete":
            region.removed.start = i1 + 1
            region.removed.contents.extend(left[i1:i2])
        elif tag == "insert":
            region.added.start = j1 + 1
            region.added.contents.extend(right[j1:j2])
        else:
            region.changed.left_start = i1 + 1
            region.changed.left_contents.extend(left[i1:i2])
            region.changed.right_start = j1 + 1
            region.changed.right_contents.extend(right[j1:j2])

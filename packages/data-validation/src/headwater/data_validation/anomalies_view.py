"""A self-contained HTML view of anomalies: what is wrong, how bad, how to fix it, drift.

One row per anomalous feature (severity, anomaly types, description, suggested schema fix),
a table of every drift / skew measurement with its value drawn against its threshold and
both sample sizes, and, for row-level validation, the anomalous examples. Sorting by any
column and a filter by feature name; no network. Works from the `Anomalies` proto alone
(what TFX's ExampleValidator writes), richer with a `ValidationReport`.

Example:
    visualize_anomalies(check_statistics(stats, schema), path="anomalies.html")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tensorflow_metadata.proto.v0 import anomalies_pb2

from headwater.data_validation._html_page import esc, iframe, page
from headwater.data_validation.drift import DriftResult
from headwater.data_validation.example_validation import (
    AnomalousExample,
    ExampleValidationResult,
)
from headwater.data_validation.validation import SchemaChange, ValidationReport

__all__ = ["AnomaliesView", "anomalies_html", "visualize_anomalies"]

T = anomalies_pb2.AnomalyInfo
_MEASURE_NAME = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "l_infinity",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "jensen_shannon_divergence",
    anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: (
        "normalized_abs_difference"
    ),
}


@dataclass(frozen=True)
class AnomaliesView:
    """Rendered anomalies; `.html` is the page, and Jupyter shows it inline."""

    html: str

    def _repr_html_(self) -> str:
        return iframe(self.html)


def _fix_text(info: anomalies_pb2.AnomalyInfo, changes: Sequence[SchemaChange] | None) -> str:
    if changes is not None:
        if not changes:
            return '<span class="muted">none in the schema; correct the data</span>'
        return "<br>".join(
            f'<code class="fix">{esc(c.field)}: {esc(c.before)} → {esc(c.after)}</code>'
            for c in changes
        )
    _, sep, fix = info.description.partition("Suggested fix: ")
    return f'<span class="fix">{esc(fix)}</span>' if sep else '<span class="muted">–</span>'


def _diff_html(info: anomalies_pb2.AnomalyInfo) -> str:
    """The feature's schema text before → after the fix (from diff_regions), collapsed."""
    if not info.diff_regions:
        return ""
    lines = []
    for region in info.diff_regions:
        which = region.WhichOneof("details")
        if which == "unchanged":
            lines += [f"  {esc(t)}" for t in region.unchanged.contents]
        elif which == "removed":
            lines += [f'<span class="bad">- {esc(t)}</span>' for t in region.removed.contents]
        elif which == "added":
            lines += [f'<span class="ok">+ {esc(t)}</span>' for t in region.added.contents]
        elif which == "changed":
            lines += [f'<span class="bad">- {esc(t)}</span>' for t in region.changed.left_contents]
            lines += [f'<span class="ok">+ {esc(t)}</span>' for t in region.changed.right_contents]
    body = "\n".join(lines)
    return (
        '<details class="diff"><summary>schema diff</summary>'
        f'<pre class="mono">{body}</pre></details>'
    )


def _description(info: anomalies_pb2.AnomalyInfo) -> str:
    text, _, _ = info.description.partition(" Suggested fix: ")
    return esc(text)


def _anomaly_rows(
    anomalies: anomalies_pb2.Anomalies, changes: Mapping[str, Sequence[SchemaChange]] | None
) -> list[str]:
    entries = sorted(anomalies.anomaly_info.items())
    if anomalies.HasField("dataset_anomaly_info"):
        entries.insert(0, ("(dataset)", anomalies.dataset_anomaly_info))
    rows = []
    for name, info in entries:
        key = "" if name == "(dataset)" else name
        severity = T.Severity.Name(info.severity)
        types = "".join(
            f'<span class="tag mono">{esc(T.Type.Name(r.type))}</span>' for r in info.reason
        )
        fix = _fix_text(info, None if changes is None else changes.get(key, ()))
        fix += _diff_html(info)
        rows.append(
            f'<tr data-feature="{esc(name)}"><td><b>{esc(name)}</b></td>'
            f'<td data-sort="{info.severity}"><span class="sev-{severity}">{severity}</span></td>'
            f"<td>{esc(info.short_description)}<br>{types}</td>"
            f"<td>{_description(info)}</td><td>{fix}</td></tr>"
        )
    return rows


def _bar(value: float, threshold: float) -> str:
    top = max(value, threshold, 1e-12) * 1.15
    width_v = 160 * min(value / top, 1.0)
    x_t = 160 * threshold / top
    colour = "#c62828" if value > threshold else "#2e7d32"
    return (
        '<svg width="170" height="14" role="img">'
        f'<rect x="0" y="3" width="{width_v:.1f}" height="8" fill="{colour}"></rect>'
        f'<line x1="{x_t:.1f}" x2="{x_t:.1f}" y1="0" y2="14" stroke="#222" stroke-width="2">'
        "</line></svg>"
    )


def _drift_rows(anomalies: anomalies_pb2.Anomalies, drift: Iterable[DriftResult]) -> list[str]:
    results = list(drift)
    if not results:  # rebuild what the proto holds (no sample sizes there)
        for info in anomalies.drift_skew_info:
            name = ".".join(info.path.step)
            for kind, measurements in (
                ("drift", info.drift_measurements),
                ("skew", info.skew_measurements),
            ):
                for m in measurements:
                    metric = _MEASURE_NAME.get(m.type, "custom")
                    results.append(
                        DriftResult(
                            name, kind, metric, m.value, m.threshold, float("nan"), float("nan")
                        )
                    )
    rows = []
    for r in sorted(results, key=lambda r: (r.feature, r.kind, r.metric)):
        status = '<span class="bad">above</span>' if r.anomalous else '<span class="ok">ok</span>'
        sizes = (
            f"{r.current_count:g} / {r.baseline_count:g}"
            if r.current_count == r.current_count
            else '<span class="muted">n/a</span>'
        )
        rows.append(
            f'<tr data-feature="{esc(r.feature)}"><td><b>{esc(r.feature)}</b></td>'
            f'<td>{esc(r.kind)}</td><td class="mono">{esc(r.metric)}</td>'
            f'<td data-sort="{r.value!r}">{r.value:.6g}</td>'
            f'<td data-sort="{r.threshold!r}">{r.threshold:.6g}</td>'
            f"<td>{_bar(r.value, r.threshold)}</td><td>{status}</td><td>{sizes}</td></tr>"
        )
    return rows


def _example_rows(examples: Sequence[AnomalousExample]) -> list[str]:
    return [
        f'<tr data-feature="{esc(e.feature)}"><td>{esc(os.path.basename(e.path))}</td>'
        f'<td data-sort="{e.row}">{e.row}</td><td><b>{esc(e.feature)}</b></td>'
        f'<td class="mono">{esc(e.anomaly_name)}</td><td class="mono">{esc(e.value)}</td></tr>'
        for e in examples
    ]


def _table(headers: Sequence[str], rows: Sequence[str], css_id: str) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (
        f'<table class="hw-table" id="{css_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def anomalies_html(
    anomalies: anomalies_pb2.Anomalies,
    *,
    drift: Iterable[DriftResult] = (),
    changes: Mapping[str, Sequence[SchemaChange]] | None = None,
    examples: Sequence[AnomalousExample] = (),
    title: str = "Anomalies",
) -> str:
    """The page for `anomalies` (with drift results, structured fixes and examples if given)."""
    rows = _anomaly_rows(anomalies, changes)
    errors = sum(1 for i in anomalies.anomaly_info.values() if i.severity == T.ERROR)
    subtitle = (
        f"{len(rows)} anomalous feature(s), {errors} at ERROR severity"
        if rows
        else "No anomalies found."
    )
    body = ""
    if rows:
        body += _table(
            ["Feature", "Severity", "Anomaly", "Description", "Suggested fix"], rows, "anomalies"
        )
    else:
        body += '<p class="ok" id="no-anomalies">No anomalies found.</p>'
    drift_rows = _drift_rows(anomalies, drift)
    if drift_rows:
        body += "<h2>Drift and skew</h2>" + _table(
            [
                "Feature",
                "Kind",
                "Metric",
                "Value",
                "Threshold",
                "Value vs threshold",
                "Status",
                "Sizes (current / baseline)",
            ],
            drift_rows,
            "drift",
        )
    if examples:
        body += "<h2>Anomalous examples</h2>" + _table(
            ["File", "Row", "Feature", "Anomaly", "Value"], _example_rows(examples), "examples"
        )
    return page(title, subtitle, body)


def visualize_anomalies(
    anomalies: anomalies_pb2.Anomalies | ValidationReport | ExampleValidationResult,
    path: str | os.PathLike[str] | None = None,
) -> AnomaliesView:
    """Render an Anomalies proto, ValidationReport or ExampleValidationResult; write `path`."""
    if isinstance(anomalies, ValidationReport):
        document = anomalies_html(
            anomalies.anomalies, drift=anomalies.drift, changes=anomalies.changes
        )
    elif isinstance(anomalies, ExampleValidationResult):
        document = anomalies_html(anomalies.anomalies, examples=anomalies.examples)
    else:
        document = anomalies_html(anomalies)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(document, encoding="utf-8")
    return AnomaliesView(document)

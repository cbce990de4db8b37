"""ExampleValidator: every split's statistics against a schema (TFX's SchemaDiff.pb per split)."""

from __future__ import annotations

import json
import os

from headwater.orchestration.artifacts import ExampleAnomalies, ExampleStatistics, Schema
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component

VIEW_FILE = "SchemaDiff.html"
"""The HTML view written beside each split's SchemaDiff.pb."""


@component
def ExampleValidator(
    statistics: InputArtifact[ExampleStatistics],
    schema: InputArtifact[Schema],
    anomalies: OutputArtifact[ExampleAnomalies],
    previous_statistics: InputArtifact[ExampleStatistics] | None = None,
    exclude_splits: Parameter[list[str] | None] = None,
    environment: Parameter[str | None] = None,
    fail_on_error: Parameter[bool] = False,
) -> None:
    """Validate each split (but `exclude_splits`) against `schema`; drift vs `previous_statistics`.

    Writes `Split-<name>/SchemaDiff.pb` (a binary Anomalies proto, as TFX) and an HTML view
    beside it, copies the statistics' span and sets the `blessed` custom property
    (JSON {split: 1 if no anomaly else 0}) as TFX does. With `fail_on_error`, anomalies of
    ERROR severity fail the run, naming each feature and its fix.
    """
    import headwater.data_validation as dv

    excluded = set(exclude_splits or ())
    splits = [name for name in statistics.split_name_list if name not in excluded]
    schema_proto = schema.read()
    previous = set(previous_statistics.split_name_list) if previous_statistics else set()
    blessed: dict[str, int] = {}
    reports = {}
    for name in splits:
        report = dv.check_statistics(
            statistics.read_split(name),
            schema_proto,
            environment,
            previous_statistics.read_split(name)
            if previous_statistics and name in previous
            else None,
        )
        path = anomalies.write_split(name, report.anomalies)
        dv.visualize_anomalies(report, path=os.path.join(os.path.dirname(path), VIEW_FILE))
        found = bool(report.anomalies.anomaly_info) or report.anomalies.HasField(
            "dataset_anomaly_info"
        )
        blessed[name] = 0 if found else 1
        reports[name] = report
    if statistics.span is not None:
        anomalies.span = statistics.span
    anomalies.custom_properties["blessed"] = json.dumps(blessed)
    if fail_on_error:
        for name, report in reports.items():
            dv.raise_for_anomalies(report.anomalies, context=f"split {name!r}")

"""TFDV's display, HTML, slice and anomalies-file functions, under TFDV's names.

`display_schema(schema)` / `display_anomalies(anomalies)` return the rendered view, which a
notebook shows inline (as TFDV's calls do); `get_statistics_html` returns the page's HTML;
`get_slice_stats` picks one slice; anomalies are read and written as text protos.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from headwater.data_validation.anomalies_view import AnomaliesView, visualize_anomalies
from headwater.data_validation.schema_view import SchemaView, visualize_schema
from headwater.data_validation.statistics_view import visualize_statistics
from headwater.data_validation.stats_errors import StatisticsError
from headwater.io import write_atomic


def display_schema(schema: schema_pb2.Schema) -> SchemaView:
    """The schema's view (a notebook shows it inline)."""
    return visualize_schema(schema)


def display_anomalies(anomalies: anomalies_pb2.Anomalies) -> AnomaliesView:
    """The anomalies' view (a notebook shows it inline)."""
    return visualize_anomalies(anomalies)


def get_statistics_html(
    lhs_statistics: statistics_pb2.DatasetFeatureStatisticsList,
    rhs_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    lhs_name: str = "lhs_statistics",
    rhs_name: str = "rhs_statistics",
) -> str:
    """The HTML page of `lhs_statistics` (compared with `rhs_statistics` when given)."""
    return visualize_statistics(
        lhs_statistics, rhs_statistics, left_name=lhs_name, right_name=rhs_name
    ).html


def get_slice_stats(
    stats: statistics_pb2.DatasetFeatureStatisticsList, slice_key: str
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The statistics of the slice named `slice_key`; StatisticsError naming the slices if none."""
    found = statistics_pb2.DatasetFeatureStatisticsList()
    for dataset in stats.datasets:
        if dataset.name == slice_key:
            found.datasets.add().CopyFrom(dataset)
    if not found.datasets:
        names = [d.name for d in stats.datasets]
        raise StatisticsError(f"no slice {slice_key!r} in the statistics (slices: {names})")
    return found


def load_anomalies_text(input_path: str | os.PathLike[str]) -> anomalies_pb2.Anomalies:
    """Anomalies from a text proto file; StatisticsError naming the file if it is not one."""
    path = Path(input_path)
    try:
        return text_format.Parse(path.read_text(encoding="utf-8"), anomalies_pb2.Anomalies())
    except (OSError, UnicodeDecodeError, text_format.ParseError) as exc:
        raise StatisticsError(f"{path}: not an Anomalies text proto: {exc}") from exc


def write_anomalies_text(
    anomalies: anomalies_pb2.Anomalies, output_path: str | os.PathLike[str]
) -> None:
    """Write anomalies as a text proto, atomically (a temporary file renamed into place)."""
    if not isinstance(anomalies, anomalies_pb2.Anomalies):
        raise TypeError(f"anomalies must be an Anomalies proto, got {type(anomalies).__name__}")
    write_atomic(output_path, text_format.MessageToString(anomalies).encode("utf-8"))

"""TFDV's keyword names and functions work here: data_location=, lhs_statistics=, display_*."""

from __future__ import annotations

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

import headwater.data_validation as tfdv


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tfdv") / "data.csv"
    path.write_text("a,b\n1,x\n2,y\n3,x\n")
    return str(path)


def test_statistics_take_tfdv_keywords(csv_path: str) -> None:
    options = tfdv.StatsOptions(num_top_values=1)
    ours = tfdv.generate_statistics_from_csv(csv_path, options)
    theirs = tfdv.generate_statistics_from_csv(data_location=csv_path, stats_options=options)
    assert theirs == ours
    assert theirs.datasets[0].num_examples == 3
    with pytest.raises(TypeError, match=r"give pattern or data_location \(TFDV's name"):
        tfdv.generate_statistics_from_csv(csv_path, data_location=csv_path)
    with pytest.raises(TypeError, match=r"missing argument pattern \(or data_location"):
        tfdv.generate_statistics_from_csv()


def test_visualize_and_html_take_tfdv_keywords(csv_path: str) -> None:
    stats = tfdv.generate_statistics_from_csv(csv_path)
    view = tfdv.visualize_statistics(
        lhs_statistics=stats, rhs_statistics=stats, lhs_name="train", rhs_name="eval"
    )
    assert "train: 3 examples" in view.html
    assert "eval: 3 examples" in view.html
    html = tfdv.get_statistics_html(stats, stats, lhs_name="train", rhs_name="eval")
    assert html == view.html


def test_slice_stats_display_and_anomalies_text(csv_path: str, tmp_path) -> None:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.add(name="All Examples", num_examples=3)
    stats.datasets.add(name="b_x", num_examples=2)
    sliced = tfdv.get_slice_stats(stats, "b_x")
    assert [(d.name, d.num_examples) for d in sliced.datasets] == [("b_x", 2)]
    with pytest.raises(tfdv.StatisticsError, match=r"no slice 'c' .*\['All Examples', 'b_x'\]"):
        tfdv.get_slice_stats(stats, "c")

    schema = tfdv.infer_schema(tfdv.generate_statistics_from_csv(csv_path))
    assert "<html" in tfdv.display_schema(schema).html.lower()
    anomalies = anomalies_pb2.Anomalies()
    anomalies.anomaly_info["b"].short_description = "Unexpected string values"
    assert "Unexpected string values" in tfdv.display_anomalies(anomalies).html
    path = tmp_path / "out" / "anomalies.pbtxt"
    tfdv.write_anomalies_text(anomalies, path)
    assert tfdv.load_anomalies_text(path) == anomalies
    (tmp_path / "bad.pbtxt").write_text("not a proto {")
    with pytest.raises(tfdv.StatisticsError, match=r"bad\.pbtxt: not an Anomalies text proto"):
        tfdv.load_anomalies_text(tmp_path / "bad.pbtxt")

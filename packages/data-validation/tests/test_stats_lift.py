"""Lift of feature values for label values: TFDV's numbers on a small case, pandas on a big one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import headwater.data_validation as dv


def _lifts(dataset, feature: str) -> dict:
    [cross] = [c for c in dataset.cross_features if c.path_x.step[0] == feature]
    return {
        series.y_int if series.HasField("y_int") else series.y_string: [
            (v.x_string or v.x_int, round(v.lift, 6), v.x_count, v.x_and_y_count)
            for v in series.lift_values
        ]
        for series in cross.categorical_cross_stats.lift.lift_series
    }


def test_lift_equals_tfdv_on_a_small_case() -> None:
    # The same rows through TFDV 1.16's GenerateStatistics(label_feature="y") give these.
    batch = pa.record_batch(
        {
            "pay": ["cash", "card", "cash", "card", "cash", "mobile"],
            "y": [1, 0, 1, 1, 0, 0],
            "tags": pa.array(
                [["a"], ["a", "b"], ["b"], [], None, ["a", "a"]], pa.list_(pa.string())
            ),
        }
    )
    dataset = dv.generate_statistics(batch, dv.StatsOptions(label_feature="y")).datasets[0]
    assert _lifts(dataset, "pay") == {
        0: [("mobile", 2.0, 1, 1), ("card", 1.0, 2, 1), ("cash", 0.666667, 3, 1)],
        1: [("cash", 1.333333, 3, 2), ("card", 1.0, 2, 1), ("mobile", 0.0, 1, 0)],
    }
    assert _lifts(dataset, "tags") == {
        0: [("a", 1.333333, 3, 2), ("b", 1.0, 2, 1)],
        1: [("b", 1.0, 2, 1), ("a", 0.666667, 3, 1)],
    }
    pay = {f.path.step[0]: f for f in dataset.features}["pay"]
    assert [c.name for c in pay.custom_stats] == ["Lift (Y=0)", "Lift (Y=1)"]
    assert [b.label for b in pay.custom_stats[0].rank_histogram.buckets] == [
        "mobile",
        "card",
        "cash",
    ]


def test_lift_matches_pandas_across_batches_and_slices() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame(
        {
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
            "label": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        }
    )
    frame.loc[frame.index % 11 == 0, "label"] = None
    options = dv.StatsOptions(
        label_feature="label",
        slice_functions=[dv.get_feature_value_slicer({"city": ["Oslo"]})],
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    stats = dv.generate_statistics(table.to_batches(max_chunksize=400), options)
    labelled = frame.dropna(subset=["label"])
    rate = labelled["label"].value_counts(normalize=True)
    conditional = labelled.groupby("city")["label"].value_counts(normalize=True)
    got = _lifts(stats.datasets[0], "city")
    for y in ("yes", "no"):
        for city, lift, x_count, _ in got[y]:
            assert lift == pytest.approx(conditional[(city, y)] / rate[y], abs=1e-6)
            assert x_count == int((labelled["city"] == city).sum())
    oslo = {d.name: d for d in stats.datasets}["city_Oslo"]
    assert [v[0] for v in _lifts(oslo, "city")["yes"]] == ["Oslo"]


def test_float_label_is_a_clear_error() -> None:
    with pytest.raises(dv.StatisticsError, match="'score' holds floats"):
        dv.generate_statistics(
            pa.record_batch({"score": [0.5, 1.5], "s": ["a", "b"]}),
            dv.StatsOptions(label_feature="score"),
        )

"""Artifacts both ways against the real TFX 1.16 libraries (TFDV 1.16.1, TFT 1.16.0).

The libraries live in their own environment, built on first use by `headwater.io.isolated_env`
from the hash-locked `tests/tfx_anchor/requirements.txt` under `~/.cache/headwater/` (never in
the workspace); `tests/tfx_anchor/tfx_side.py` runs there as a subprocess:
- TFX reads Headwater's: TFDV loads our statistics, schema and anomalies (and its own validation
  of our statistics finds the same anomalous features); TFT's `TFTransformOutput` applies our
  transform graph (`transform_raw_features`, `transform_features_layer`) with the same values
  as Headwater's own transform of the same rows; TFMA's `load_eval_result` and
  `load_validation_result` read our evaluation with our metric values per slice.
- Headwater reads TFX's: our readers load TFDV's statistics, schema and anomalies, our
  `TransformOutput` applies TFT's transform graph with the same values TFT got, and our
  `load_eval_result` reads TFMA's evaluation files with TFMA's metric values per slice.
Floats agree to 1e-6 (absolute + relative); integers and strings exactly. Skips, naming the
reason, when the environment cannot be built (no package registry).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

ANCHOR = Path(__file__).parent / "tfx_anchor"
_spec = importlib.util.spec_from_file_location(
    "tfx_anchor_preprocessing", ANCHOR / "preprocessing.py"
)
assert _spec is not None
assert _spec.loader is not None
preprocessing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(preprocessing)  # by path: no clash with another "preprocessing" module

pytestmark = pytest.mark.e2e

SERVING_ROWS = [
    {"x": 1.5, "c": "zz", "label": 0},
    {"x": 2.0, "c": "zz", "label": 1},
    {"x": 3.0, "c": "a", "label": 1},
]
"""Serving data with a string `c` never seen in training: an anomaly on both sides."""


@pytest.fixture(scope="module")
def tfx_python() -> str:
    from headwater.io.isolated_env import IsolatedEnvError, isolated_python

    try:
        return isolated_python(
            "tfx-1.16", ANCHOR / "requirements.txt", description="TFX 1.16 libraries"
        )
    except IsolatedEnvError as exc:
        pytest.skip(f"the TFX 1.16 environment cannot be built (package registry?): {exc}")


def _run_tfx(python: str, mode: str, directory: Path) -> dict:
    out = directory / f"tfx_{mode}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["HEADWATER_EVAL_ROWS"] = json.dumps(_eval_rows())
    done = subprocess.run(
        [python, str(ANCHOR / "tfx_side.py"), mode, str(directory), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


def _write_csvs(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.csv", preprocessing.RAW_ROWS), ("serving.csv", SERVING_ROWS)):
        with open(directory / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "c", "label"])
            writer.writerows([r["x"], r["c"], r["label"]] for r in rows)


def _batch(rows: list[dict]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "x": pa.array([r["x"] for r in rows], pa.float32()),
            "c": pa.array([r["c"].encode() for r in rows], pa.binary()),
            "t": pa.array([[v.encode() for v in r["t"]] for r in rows], pa.list_(pa.binary())),
            "label": pa.array([r["label"] for r in rows], pa.int64()),
        }
    )


def _rows(value, n: int) -> list:
    import tensorflow as tf

    if isinstance(value, tf.SparseTensor):
        rows: list[list] = [[] for _ in range(n)]
        for (r, _), v in zip(
            value.indices.numpy().tolist(), value.values.numpy().tolist(), strict=True
        ):
            rows[r].append(v)
        return rows
    return value.numpy().tolist()


def _assert_same(ours: dict, theirs: dict) -> None:
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        a, b = ours[name], theirs[name]
        assert len(a) == len(b), name
        for x, y in zip(a, b, strict=True):
            xs, ys = (x, y) if isinstance(x, list) else ([x], [y])
            assert len(xs) == len(ys), (name, x, y)
            for u, v in zip(xs, ys, strict=True):
                if isinstance(u, float) or isinstance(v, float):
                    assert math.isclose(u, v, rel_tol=1e-6, abs_tol=1e-6), (name, x, y)
                else:
                    assert u == v, (name, x, y)


def _headwater_apply(transform_dir: Path) -> dict:
    import headwater.transform as tft

    out = tft.TransformOutput(str(transform_dir))
    batch = next(iter(tft.transform_dataset([_batch(preprocessing.APPLY_ROWS)], out)))
    return {
        name: [list(v) if isinstance(v, list) else v for v in batch.column(name).to_pylist()]
        for name in batch.schema.names
    }


EVAL_LABELS = [0, 1, 0, 1, 1, 0]
EVAL_PREDICTIONS = [0.2, 0.9, 0.4, 0.3, 0.8, 0.7]


def _eval_rows() -> dict[str, list]:
    return {
        "label": EVAL_LABELS,
        "pred": EVAL_PREDICTIONS,
        "c": [r["c"] for r in preprocessing.RAW_ROWS],
    }


def _headwater_evaluation(directory: Path):
    import headwater.model_analysis as ma

    table = pa.table(_eval_rows())
    accuracy = ma.MetricConfig(
        class_name="BinaryAccuracy",
        threshold=ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(lower_bound=0.9)),
    )
    config = ma.EvalConfig(
        model_specs=(ma.ModelSpec(label_key="label", prediction_key="pred"),),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("c",))),
        metrics_specs=(ma.MetricsSpec(metrics=(ma.MetricConfig(class_name="AUC"), accuracy)),),
    )
    result = ma.run_model_analysis(config, table, output_path=directory)
    assert ma.load_eval_result(directory).eval_config == config  # our reader still reads it
    return result


def test_tfx_libraries_read_headwater_artifacts(tfx_python: str, tmp_path: Path) -> None:
    import tensorflow as tf

    import headwater.data_validation as dv
    import headwater.transform as tft

    _write_csvs(tmp_path)
    stats = dv.generate_statistics_from_csv(str(tmp_path / "train.csv"))
    schema = dv.infer_schema(stats)
    serving = dv.generate_statistics_from_csv(str(tmp_path / "serving.csv"))
    anomalies = dv.validate_statistics(serving, schema)
    dv.write_stats_binary(stats, tmp_path / "FeatureStats.pb")
    dv.write_stats_binary(serving, tmp_path / "serving_FeatureStats.pb")
    dv.write_schema_text(schema, tmp_path / "schema.pbtxt")
    dv.write_anomalies_text(anomalies, tmp_path / "anomalies.pbtxt")
    tft.analyze_dataset(
        [_batch(preprocessing.RAW_ROWS)],
        preprocessing.feature_spec(tf),
        preprocessing.make_preprocessing_fn(tft),
        str(tmp_path / "transform"),
    )
    ours = _headwater_apply(tmp_path / "transform")
    evaluation = _headwater_evaluation(tmp_path / "evaluation")

    found = _run_tfx(tfx_python, "read", tmp_path)

    assert found["num_examples"] == len(preprocessing.RAW_ROWS)
    assert found["features"] == found["schema_features"] == ["c", "label", "x"]
    assert found["anomalies"] == sorted(anomalies.anomaly_info) == ["c"]
    assert found["tfdv_anomalies_of_our_serving_stats"] == ["c"]
    applied = found["transform"]
    assert applied["vocabulary_c"] == [
        v.decode()
        for v in tft.TransformOutput(str(tmp_path / "transform")).vocabulary_by_name("c_vocab")
    ]
    assert applied["transformed_feature_spec"] == sorted(ours)
    _assert_same(ours, applied["transform_raw_features"])
    without_label = {k: v for k, v in ours.items() if k != "label"}
    _assert_same(without_label, applied["transform_features_layer_without_label"])

    read = found["evaluation"]
    assert read["label_key"] == "label"
    assert read["slicing_specs"] == [[], ["c"]]
    assert read["validation_ok"] is False
    assert read["failures"] == ["binary_accuracy"]
    by_key = {json.dumps(s["slice_key"]): s["metrics"] for s in read["slices"]}
    assert len(by_key) == len(evaluation.slices) == 4  # overall, c=a, c=b, c=c
    for s in evaluation.slices:
        theirs = by_key[json.dumps([[k, v] for k, v in s.slice_key])]
        assert theirs.pop("example_count") == s.example_count
        assert sorted(theirs) == sorted(s.metrics)
        for name, value in s.metrics.items():
            got = float(theirs[name])  # protobuf JSON writes NaN as "NaN"
            if math.isnan(value):  # AUC of a slice with one class
                assert math.isnan(got), name
            else:
                assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12), name


def test_headwater_reads_tfx_library_artifacts(tfx_python: str, tmp_path: Path) -> None:
    import headwater.data_validation as dv

    _write_csvs(tmp_path)
    theirs = _run_tfx(tfx_python, "write", tmp_path)

    stats = dv.load_stats_binary(tmp_path / "FeatureStats.pb")
    assert dv.load_stats_text(tmp_path / "stats.pbtxt") == stats
    schema = dv.load_schema_text(tmp_path / "schema.pbtxt")
    anomalies = dv.load_anomalies_text(tmp_path / "anomalies.pbtxt")
    assert stats.datasets[0].num_examples == theirs["num_examples"] == len(preprocessing.RAW_ROWS)
    assert sorted(f.path.step[0] for f in stats.datasets[0].features) == theirs["features"]
    assert sorted(f.name for f in schema.feature) == theirs["schema_features"]
    assert sorted(anomalies.anomaly_info) == theirs["anomalies"] == ["c"]
    # Our validation of TFDV's schema against our serving statistics flags the same feature.
    serving = dv.generate_statistics_from_csv(str(tmp_path / "serving.csv"))
    assert sorted(dv.validate_statistics(serving, schema).anomaly_info) == ["c"]

    ours = _headwater_apply(tmp_path / "transform")
    _assert_same(ours, theirs["transform"]["transform_raw_features"])

    import headwater.model_analysis as ma

    evaluation = ma.load_eval_result(tmp_path / "evaluation")  # TFMA's files only
    written = theirs["evaluation"]
    assert evaluation.eval_config.candidate.label_key == "label"
    assert [list(s.feature_keys) for s in evaluation.eval_config.slicing_specs] == [[], ["c"]]
    assert evaluation.validation.validation_ok is written["validation_ok"] is False
    assert {o.metric_name for o in evaluation.validation.failures} == {"binary_accuracy"}
    assert len(evaluation.slices) == len(written["slices"]) == 4
    for s in written["slices"]:
        key = tuple((k, v) for k, v in s["slice_key"])
        ours_metrics = evaluation.get(key).metrics
        assert sorted(ours_metrics) == sorted(s["metrics"])
        for name, value in s["metrics"].items():
            want = float(value)
            if math.isnan(want):
                assert math.isnan(ours_metrics[name]), name
            else:
                assert math.isclose(ours_metrics[name], want, rel_tol=1e-9, abs_tol=1e-12), name

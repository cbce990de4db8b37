"""TensorFlow is the extra `headwater-model-analysis[tensorflow]`, needed only to load a model.

Each check runs in a fresh interpreter, since this test process may have imported TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn import metrics as skm

_CONFIG = """
import headwater.model_analysis as ma

config = ma.EvalConfig(
    model_specs=(ma.ModelSpec(label_key="label", prediction_key="pred"),),
    metrics_specs=(
        ma.MetricsSpec(
            metrics=tuple(ma.MetricConfig(class_name=n) for n in ("ExampleCount", "AUC"))
        ),
    ),
)
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CONFIG) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_evaluating_a_prediction_column_does_not_import_tensorflow(tmp_path):
    rng = np.random.default_rng(3)
    label = rng.integers(0, 2, 500)
    pred = np.clip(0.4 * label + 0.6 * rng.random(500), 0, 1)
    pq.write_table(pa.table({"label": label, "pred": pred}), tmp_path / "eval.parquet")
    proc = _run(
        f"""
        import json, sys
        result = ma.run_model_analysis(config, {str(tmp_path / "eval.parquet")!r})
        metrics = result.get().metrics
        print(json.dumps({{
            "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"),
            "example_count": metrics["example_count"],
            "auc": metrics["auc"],
        }}))
        """
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tensorflow"] == []
    assert out["example_count"] == 500
    assert abs(out["auc"] - skm.roc_auc_score(label, pred)) < 1e-3


def test_a_model_without_tensorflow_names_the_extra(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"")
    proc = _run(
        f"""
        import importlib.abc, sys

        class NoTensorFlow(importlib.abc.MetaPathFinder):
            # As if TensorFlow were not installed (this environment has it).
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "tensorflow":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, NoTensorFlow())
        import pyarrow as pa
        from headwater.io import MissingExtraError
        table = pa.table({{"label": [0, 1], "pred": [0.2, 0.9]}})
        try:
            ma.run_model_analysis(config, table, model_paths={{"": {str(model)!r}}})
        except MissingExtraError as exc:
            print("MissingExtraError:", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'headwater-model-analysis[tensorflow]'" in proc.stdout, proc.stdout
    assert str(model) in proc.stdout

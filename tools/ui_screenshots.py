"""Screenshots of `headwater ui`'s main pages, for docs/ui.md (regenerate after UI changes).

    uv run --frozen python tools/ui_screenshots.py [--out docs/images] [--metadata FILE]

Without --metadata it runs a small pipeline (CsvExampleGen, StatisticsGen, SchemaGen,
ExampleValidator on the penguin data) twice (the second cached), then once on the heavier
half of the penguins (so that the comparison shows drift), and a synthetic evaluation of a
candidate against a baseline on taxi-like slices, into a temporary root. Needs Debian's
chromium.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "packages" / "model-analysis" / "tests"))

from evaluation_views import candidate_vs_baseline, screenshot  # noqa: E402


def _penguin_run(root: str, data: str) -> None:
    from headwater.orchestration import (
        CsvExampleGen,
        ExampleValidator,
        LocalDagRunner,
        Pipeline,
        SchemaGen,
        StatisticsGen,
    )

    gen = CsvExampleGen(input_base=data)
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    check = ExampleValidator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]
    )
    LocalDagRunner(quiet=True).run(Pipeline("penguin_data", root, [gen, stats, schema, check]))


def _evaluate(evaluation_uri: str) -> None:
    """A candidate and a baseline (prediction columns of synthetic taxi-like data) evaluated
    on hour and payment slices with bootstrap intervals and thresholds on AUC."""
    import numpy as np
    import pyarrow as pa

    from headwater import model_analysis as ma

    rng = np.random.default_rng(3)
    n = 4000
    y = rng.integers(0, 2, n)
    hours = rng.integers(0, 24, n)
    noise = 0.62 + 0.25 * (hours >= 20)  # the candidate is worse late at night
    table = pa.table(
        {
            "tips": y,
            "candidate": np.clip((1 - noise) * y + noise * rng.random(n), 0, 1),
            "baseline": np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1),
            "pickup_hour": hours,
            "payment_type": rng.choice(["Cash", "Credit Card", "Mobile"], n),
        }
    )
    late = ma.PerSliceMetricThreshold(
        slicing_specs=(ma.SlicingSpec(feature_keys=("pickup_hour",)),),
        threshold=ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(lower_bound=0.8)),
    )
    config = candidate_vs_baseline(
        label="tips",
        candidate=("wide_deep", "candidate"),
        baseline=("last_blessed", "baseline"),
        slices=("pickup_hour", "payment_type"),
        metrics=("ExampleCount", "AUC", "BinaryAccuracy", "CalibrationPlot"),
        auc_lower_bound=0.85,
        auc_per_slice=(late,),
    )
    ma.run_model_analysis(config, table, output_path=evaluation_uri)


def make_store(root: str) -> str:
    """The penguin pipeline's runs and an evaluation; returns the SQLite store's path."""
    from headwater.orchestration import (
        LocalDagRunner,
        ModelEvaluation,
        OutputArtifact,
        Pipeline,
        component,
    )

    data = str(REPO / "examples" / "penguin" / "data")
    for _ in range(2):
        _penguin_run(root, data)
    heavy = os.path.join(root, "heavy_penguins")
    os.makedirs(heavy)
    with open(os.path.join(data, "penguins_processed.csv")) as f:
        header, *rows = f.read().splitlines()
    with open(os.path.join(heavy, "penguins.csv"), "w") as f:
        f.write("\n".join([header, *[r for r in rows if float(r.split(",")[-1]) > 4000]]) + "\n")
    _penguin_run(root, heavy)

    @component
    def SyntheticEvaluator(evaluation: OutputArtifact[ModelEvaluation]) -> None:
        """A synthetic evaluation (see _evaluate)."""
        _evaluate(evaluation.uri)

    LocalDagRunner(quiet=True).run(Pipeline("taxi_eval", root, [SyntheticEvaluator()]))
    return os.path.join(root, "metadata.sqlite")


def shoot(url: str, png: Path, size: str = "1280,860") -> None:
    """A PNG of `url` in headless Chromium."""
    screenshot(url, png, size=size)
    print(f"wrote {png}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return str(response.read().decode())


def main(argv: list[str] | None = None) -> int:
    """Write ui-pipelines, ui-run, ui-artifact, ui-lineage, ui-compare and ui-evaluation PNGs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"))
    parser.add_argument("--metadata", help="an existing SQLite MLMD file")
    args = parser.parse_args(argv)
    from headwater.orchestration import MetadataStore, sqlite_metadata_connection_config
    from headwater.orchestration.ui import running

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hw-ui-shots-") as root:
        path = args.metadata or make_store(root)
        store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
        with running([store]) as base:
            shoot(base + "/", out / "ui-pipelines.png", "1280,620")
            runs = re.findall(r"class='run-link' href='([^']+)'", _get(base + "/p/penguin_data"))
            shoot(base + runs[-1], out / "ui-run.png", "1280,640")
            node = re.findall(r"class='node-link' href='([^']+)'", _get(base + runs[-1]))[1]
            artifact = re.findall(r"class='artifact-link' href='([^']+)'", _get(base + node))[-1]
            shoot(base + artifact, out / "ui-artifact.png", "1280,1100")
            shoot(base + artifact + "/lineage", out / "ui-lineage.png", "1960,520")
            a, b = (r.rsplit("/", 1)[1] for r in (runs[-1], runs[0]))
            shoot(f"{base}/p/penguin_data/compare?a={a}&b={b}", out / "ui-compare.png", "1280,1300")
            taxi = re.findall(r"class='run-link' href='([^']+)'", _get(base + "/p/taxi_eval"))[0]
            node = re.findall(r"class='node-link' href='([^']+)'", _get(base + taxi))[0]
            evaluation = re.findall(r"class='artifact-link' href='([^']+)'", _get(base + node))[0]
            shoot(f"{base}{evaluation}/render", out / "ui-evaluation.png", "1280,1500")
    return 0


if __name__ == "__main__":
    sys.exit(main())

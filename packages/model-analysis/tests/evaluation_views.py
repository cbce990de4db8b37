"""Evaluation views in a real headless Chromium, and the taxi-like evaluations they show.

Shared by packages/model-analysis/tests/test_report.py (the report's scripts),
tests/test_ui_e2e.py (the evaluation inside `headwater ui`) and tools/ui_screenshots.py (the
docs' screenshots); the last two put this folder on `sys.path`. Needs headwater-model-analysis
only, and Debian's chromium to render (run by `headwater.io.chromium`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

import headwater.model_analysis as ma
from headwater.io.chromium import CHROMIUM as CHROMIUM  # re-exported: the tests skip without it
from headwater.io.chromium import console_errors, run_chromium

HOURS = [0, 2, 7, 10, 15, 23]
"""The pickup hours of `taxi_like_table`."""


@dataclass(frozen=True)
class Rendered:
    """What Chromium made of a page: the DOM after its scripts ran, and what it logged."""

    dom: str
    errors: list[str]
    """Console errors and uncaught exceptions."""
    log: str


def render(
    url: str, *, budget_ms: int | None = None, timeout: float = 120, check: bool = True
) -> Rendered:
    """The DOM of `url` after its scripts ran (for `budget_ms` of virtual time, if given)."""
    budget = [f"--virtual-time-budget={budget_ms}"] if budget_ms is not None else []
    proc = run_chromium(*budget, "--dump-dom", url, timeout=timeout, check=check)
    return Rendered(proc.stdout, console_errors(proc.stderr), proc.stderr)


def screenshot(url: str, png: str | Path, *, size: str, budget_ms: int = 3000) -> None:
    """A PNG of `url` at window `size` ("width,height")."""
    run_chromium(
        f"--virtual-time-budget={budget_ms}", f"--window-size={size}", f"--screenshot={png}", url
    )


def page_with_script(path: Path, page: str, script: str) -> str:
    """Write `page` to `path` with `script` run at the end of its body; its file:// URL."""
    path.write_text(page.replace("</body>", f"<script>{script}</script></body>"))
    return path.as_uri()


def taxi_like_table(
    *, seed: int, n: int, payments: Sequence[str], candidate: str, baseline: str
) -> pa.Table:
    """Label `tips`, a better `candidate` and a weaker `baseline` prediction, and the slicing
    features `pickup_hour` (from HOURS) and `payment_type` (from `payments`)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pa.table(
        {
            "tips": y,
            candidate: np.clip(0.45 * y + 0.55 * rng.random(n), 0, 1),
            baseline: np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1),
            "pickup_hour": rng.choice(HOURS, n),
            "payment_type": rng.choice(list(payments), n),
        }
    )


def candidate_vs_baseline(
    *,
    label: str,
    candidate: tuple[str, str],
    baseline: tuple[str, str],
    slices: Sequence[str],
    metrics: Sequence[str],
    auc_lower_bound: float,
    auc_per_slice: Sequence[ma.PerSliceMetricThreshold] = (),
    confidence_intervals: bool = True,
) -> ma.EvalConfig:
    """A candidate model against a baseline (each a model name and its prediction column),
    overall and sliced by each feature of `slices`, computing `metrics` (class names, in
    order); AUC must reach `auc_lower_bound` and not fall below the baseline's."""
    auc = ma.MetricThreshold(
        value_threshold=ma.GenericValueThreshold(lower_bound=auc_lower_bound),
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=0.0
        ),
    )
    return ma.EvalConfig(
        model_specs=(
            ma.ModelSpec(name=candidate[0], label_key=label, prediction_key=candidate[1]),
            ma.ModelSpec(
                name=baseline[0], label_key=label, prediction_key=baseline[1], is_baseline=True
            ),
        ),
        slicing_specs=(ma.SlicingSpec(), *(ma.SlicingSpec(feature_keys=(f,)) for f in slices)),
        metrics_specs=(
            ma.MetricsSpec(
                metrics=tuple(
                    ma.MetricConfig(
                        class_name="AUC", threshold=auc, per_slice_thresholds=tuple(auc_per_slice)
                    )
                    if name == "AUC"
                    else ma.MetricConfig(class_name=name)
                    for name in metrics
                )
            ),
        ),
        options=ma.Options(compute_confidence_intervals=confidence_intervals),
    )

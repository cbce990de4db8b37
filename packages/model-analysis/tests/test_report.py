"""The HTML report: self-contained, and its table sorts and filters in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import headwater.model_analysis as ma

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def result() -> ma.EvalResult:
    rng = np.random.default_rng(4)
    n = 3000
    y = rng.integers(0, 2, n)
    table = pa.table(
        {
            "label": y,
            "pred": np.clip(0.4 * y + 0.6 * rng.random(n), 0, 1),
            "base": np.clip(0.2 * y + 0.8 * rng.random(n), 0, 1),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
        }
    )
    threshold = ma.MetricThreshold(
        value_threshold=ma.GenericValueThreshold(lower_bound=0.99),
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=0.0
        ),
    )
    config = ma.EvalConfig(
        model_specs=(
            ma.ModelSpec(name="candidate", label_key="label", prediction_key="pred"),
            ma.ModelSpec(
                name="baseline", label_key="label", prediction_key="base", is_baseline=True
            ),
        ),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("city",))),
        metrics_specs=(
            ma.MetricsSpec(
                metrics=(
                    ma.MetricConfig(class_name="ExampleCount"),
                    ma.MetricConfig(class_name="AUC", threshold=threshold),
                    ma.MetricConfig(class_name="CalibrationPlot"),
                )
            ),
        ),
    )
    return ma.run_model_analysis(config, table)


def test_report_is_self_contained_and_shows_everything(result):
    page = result._repr_html_()
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing fetched
    assert 'id="blessing">NOT BLESSED' in page
    assert page.count("<tr") == 1 + 2 + 1 + 4  # validation head+rows, metrics head+rows
    assert "auc (baseline)" in page
    assert "auc &Delta;" in page
    assert page.count("<svg") == 3 * 4  # calibration, ROC, PR per slice
    assert page.count('class="curve"') == 3 * 4 * 2  # candidate and baseline curves


def _dom(tmp_path: Path, page: str, script: str) -> str:
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", f"<script>{script}</script></body>"))
    profile = tmp_path / "profile"
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")
def test_table_sorts_and_filters_in_headless_chromium(result, tmp_path):
    script = """
    var t=document.getElementById('metrics'), th=t.tHead.rows[0].cells;
    var auc=[].findIndex.call(th,function(c){return c.textContent==='auc';});
    th[auc].click();
    function col(){return [].map.call(t.tBodies[0].rows,
      function(r){return r.cells[auc].getAttribute('data-v');});}
    var asc=col();
    th[auc].click();
    var desc=col();
    var f=document.getElementById('filter'); f.value='lima';
    f.dispatchEvent(new Event('input'));
    var shown=[].filter.call(t.tBodies[0].rows,function(r){return r.style.display!=='none';})
      .map(function(r){return r.cells[0].textContent;});
    var plots=document.querySelectorAll('.plots.on').length;
    document.body.setAttribute('data-test', JSON.stringify({asc:asc,desc:desc,shown:shown,
      plots:plots}));
    """
    dom = _dom(tmp_path, result.to_html(), script)
    import html
    import json

    data = json.loads(html.unescape(re.search(r'data-test="([^"]*)"', dom).group(1)))
    asc = [float(v) for v in data["asc"]]
    assert asc == sorted(asc)
    assert len(asc) == 4
    assert [float(v) for v in data["desc"]] == sorted(asc, reverse=True)
    assert data["shown"] == ["city=Lima"]
    assert data["plots"] == 1  # the selected slice's plots only

"""The HTML report: self-contained, and its table sorts and filters in headless Chromium."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from evaluation_views import (
    CHROMIUM,
    HOURS,
    candidate_vs_baseline,
    page_with_script,
    render,
    taxi_like_table,
)

import headwater.model_analysis as ma


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
    config = candidate_vs_baseline(
        label="label",
        candidate=("candidate", "pred"),
        baseline=("baseline", "base"),
        slices=("city",),
        metrics=("ExampleCount", "AUC", "CalibrationPlot"),
        auc_lower_bound=0.99,
        confidence_intervals=False,
    )
    return ma.run_model_analysis(config, table)


def test_report_is_self_contained_and_shows_everything(result):
    page = result._repr_html_()
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing fetched
    assert 'id="blessing">NOT BLESSED' in page
    assert page.count("<tr") == 1 + 2 + 1 + 4  # validation head+rows, metrics head+rows
    assert "auc (baseline)" in page
    assert "auc &Delta;" in page
    assert page.count("<svg") == 3 * 4 + 1  # calibration, ROC, PR per slice; the auc chart
    assert page.count('class="curve"') == 3 * 4 * 2  # candidate and baseline curves


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
    data, _ = _browse(tmp_path, result.to_html(), "", script)
    asc = [float(v) for v in data["asc"]]
    assert asc == sorted(asc)
    assert len(asc) == 4
    assert [float(v) for v in data["desc"]] == sorted(asc, reverse=True)
    assert sorted(data["shown"]) == ["Overall", "city=Lima"]  # Overall stays as the reference
    assert data["plots"] == 1  # the selected slice's plots only


# ---- the slicing browser on an evaluation with a baseline and confidence intervals ----------

PAYMENTS = ["Cash", "Credit Card", "Dispute"]


@pytest.fixture(scope="module")
def taxi_like() -> ma.EvalResult:
    """Candidate and baseline on hour and payment slices, bootstrap intervals, one failure."""
    table = taxi_like_table(seed=7, n=3000, payments=PAYMENTS, candidate="pred", baseline="base")
    config = candidate_vs_baseline(
        label="tips",
        candidate=("wide_deep", "pred"),
        baseline=("last_blessed", "base"),
        slices=("pickup_hour", "payment_type"),
        metrics=("ExampleCount", "AUC", "BinaryAccuracy"),
        auc_lower_bound=0.999,  # fails on Overall
    )
    return ma.run_model_analysis(config, table)


def _browse(tmp_path: Path, page: str, fragment: str, script: str) -> tuple[dict, list[str]]:
    """Load `page` in headless Chromium, run `script` (which stores JSON in body[data-test]);
    return that JSON and the console errors."""
    url = page_with_script(tmp_path / "report.html", page, script)
    rendered = render(url + (f"#{fragment}" if fragment else ""), timeout=60)
    found = re.search(r'data-test="([^"]*)"', rendered.dom)
    assert found, rendered.log[-2000:]
    return json.loads(html.unescape(found.group(1))), rendered.errors


_READ = """
function visible(sel){return [].filter.call(document.querySelectorAll(sel),
  function(e){return e.style.display!=='none';});}
function state(){
  var chart=document.querySelector('.chart.on');
  return {
    rows:visible('#metrics tbody tr').map(function(r){return r.getAttribute('data-slice');}),
    metric:chart.getAttribute('data-metric'),
    bars:[].filter.call(chart.querySelectorAll('g.bar-row'),function(g){
      return g.style.display!=='none';}).map(function(g){
      return [g.getAttribute('data-slice'),g.getAttribute('transform')];})};
}
"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")
def test_slicing_browser_in_headless_chromium(taxi_like, tmp_path):
    r = taxi_like
    script = (
        _READ
        + """
    var out={initial:state()};
    var rows=document.querySelectorAll('#metrics tbody tr');
    var heads=[].map.call(document.querySelectorAll('#metrics thead th'),
      function(h){return h.textContent;});
    out.heads=heads;
    out.cells={};
    [].forEach.call(rows,function(r){var o={};
      [].forEach.call(r.cells,function(c,i){o[heads[i]]=[c.getAttribute('data-v'),
        c.className,c.textContent];});
      out.cells[r.getAttribute('data-slice')]=o;});
    var chart=document.querySelector('.chart.on svg');
    out.scale=[+chart.getAttribute('data-lo'),+chart.getAttribute('data-hi'),
      +chart.getAttribute('data-w')];
    out.rects=[].map.call(chart.querySelectorAll('rect'),function(b){
      return [b.closest('g').getAttribute('data-slice'),b.getAttribute('class'),
        +b.getAttribute('data-value'),+b.getAttribute('width')];});
    out.whiskers=[].map.call(chart.querySelectorAll('path.whisker'),function(p){
      return p.getAttribute('data-ci');});
    out.order=[].map.call(document.querySelectorAll('h2'),function(h){return h.textContent;});
    out.thresholds=[].map.call(document.querySelectorAll('#thresholds tbody tr'),
      function(r){return r.cells[0].textContent+' '+r.cells[4].textContent;});
    out.candidate=document.getElementById('candidate-name').textContent;
    out.baseline=document.getElementById('baseline-name').textContent;
    var feature=document.getElementById('feature');
    feature.value='pickup_hour';feature.dispatchEvent(new Event('change'));
    out.byHour=state();
    var f=document.getElementById('filter');f.value='=1';f.dispatchEvent(new Event('input'));
    out.byText=state();
    var m=document.getElementById('metric');m.value='binary_accuracy';
    m.dispatchEvent(new Event('change'));
    out.otherMetric=state();
    document.body.setAttribute('data-test',JSON.stringify(out));
    """
    )
    data, errors = _browse(tmp_path, r.to_html(), "", script)
    assert errors == []

    # Slices by value: Overall, hours in numeric order, then payments; nothing duplicated.
    hours = [f"pickup_hour={h}" for h in HOURS]
    payments = [f"payment_type={p}" for p in PAYMENTS]
    assert data["initial"]["rows"] == ["Overall", *hours, *payments]
    assert data["heads"][:2] == ["slice", "examples"]
    assert not any("example_count" in h for h in data["heads"])
    assert data["candidate"] == "wide_deep"
    assert data["baseline"] == "last_blessed"

    # The thresholds come first, the failure first among them.
    assert data["order"][:2] == ["Thresholds that decided the blessing", "Metrics by slice"]
    assert data["thresholds"] == ["FAILED value", "PASSED change"]

    # Candidate, baseline, difference and intervals per slice, coloured by the outcome.
    for name in ["Overall", *hours, *payments]:
        key = () if name == "Overall" else ((name.split("=")[0], name.split("=")[1]),)
        cand, base = r.get(key), r.get(key, "last_blessed")
        cells = data["cells"][name]
        assert float(cells["examples"][0]) == cand.example_count
        assert float(cells["auc"][0]) == cand.metrics["auc"]
        assert float(cells["auc (baseline)"][0]) == base.metrics["auc"]
        assert float(cells["auc Δ"][0]) == pytest.approx(
            cand.metrics["auc"] - base.metrics["auc"], abs=1e-12
        )
        lo, hi = cand.confidence_intervals["auc"]
        assert cells["auc"][2].endswith(f"[{lo:.4g}, {hi:.4g}]")
        assert lo <= cand.metrics["auc"] <= hi
        assert cells["auc Δ"][2].startswith("+")  # the candidate is better everywhere here
    assert "cell-FAILED" in data["cells"]["Overall"]["auc"][1]
    assert "cell-PASSED" in data["cells"]["Overall"]["auc Δ"][1]
    assert data["cells"]["pickup_hour=2"]["auc"][1] == ""  # no threshold there

    # The chart: one candidate and one baseline bar per slice, lengths to scale, intervals.
    assert data["initial"]["metric"] == "auc"
    lo_, hi_, width = data["scale"]
    assert lo_ == 0.0
    bars = {(s, c.split()[0]): (v, w) for s, c, v, w in data["rects"]}
    assert len(bars) == 2 * 10
    for (name, css), (value, drawn) in bars.items():
        model = "wide_deep" if css == "bar-cand" else "last_blessed"
        key = () if name == "Overall" else ((name.split("=")[0], name.split("=")[1]),)
        assert value == r.get(key, model).metrics["auc"]
        assert drawn == pytest.approx(value / hi_ * width, abs=0.01)
    assert "bar-FAILED" in next(c for s, c, _, _ in data["rects"] if s == "Overall")
    assert len(data["whiskers"]) == 20

    # Filtering by slice feature, then by text; the chart follows the table.
    assert data["byHour"]["rows"] == ["Overall", *hours]
    assert [b[0] for b in data["byHour"]["bars"]] == ["Overall", *hours]
    tops = [float(re.search(r",([\d.]+)\)", t).group(1)) for _, t in data["byHour"]["bars"]]
    assert tops == sorted(tops)
    assert len(set(tops)) == len(tops)
    assert data["byText"]["rows"] == ["Overall", "pickup_hour=10", "pickup_hour=15"]
    assert [b[0] for b in data["byText"]["bars"]] == data["byText"]["rows"]
    assert data["otherMetric"]["metric"] == "binary_accuracy"
    assert data["otherMetric"]["rows"] == data["byText"]["rows"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")
def test_slicing_browser_reads_its_state_from_the_url(taxi_like, tmp_path):
    script = _READ + "document.body.setAttribute('data-test',JSON.stringify(state()));"
    data, errors = _browse(
        tmp_path, taxi_like.to_html(), "feature=payment_type&metric=binary_accuracy", script
    )
    assert errors == []
    assert data["rows"] == ["Overall", *[f"payment_type={p}" for p in PAYMENTS]]
    assert data["metric"] == "binary_accuracy"
    assert [b[0] for b in data["bars"]] == data["rows"]


def test_slices_are_ordered_by_value():
    keys = [
        (("hour", 10),),
        (("city", "b"),),
        (("hour", 2),),
        (),
        (("city", "a10"),),
        (("city", "a9"),),
        (("hour", "1.5"),),
        (("hour", 2), ("city", "a")),
    ]
    assert [ma.slice_key_str(k) for k in ma.slice_order(keys, [("hour",), ("city",)])] == [
        "Overall",
        "hour=1.5",
        "hour=2",
        "hour=10",
        "city=a9",
        "city=a10",
        "city=b",
        "hour=2,city=a",
    ]


def test_many_threshold_checks_list_the_failures_and_fold_the_rest():
    config = ma.EvalConfig(model_specs=(ma.ModelSpec(label_key="y"),))
    hours = list(range(14))
    slices = tuple(
        ma.SliceMetrics(
            slice_key=(("hour", h),),
            model_name="",
            example_count=10,
            weighted_example_count=10.0,
            metrics={"auc": 0.5 if h == 11 else 0.9},
        )
        for h in hours
    )
    outcomes = tuple(
        ma.ThresholdOutcome(
            metric_name="auc",
            slice_key=(("hour", h),),
            model_name="",
            kind="value",
            value=0.5 if h == 11 else 0.9,
            baseline_value=None,
            bound={"lower_bound": 0.8, "upper_bound": None},
            status=ma.ThresholdStatus.FAILED if h == 11 else ma.ThresholdStatus.PASSED,
            reason="",
        )
        for h in reversed(hours)
    )
    validation = ma.ValidationResult(validation_ok=False, outcomes=outcomes, reason="1 failed")
    page = ma.EvalResult(eval_config=config, slices=slices, validation=validation).to_html()
    shown = page.split('id="thresholds">')[1].split("</table>")[0]
    folded = page.split('id="thresholds-rest">')[1].split("</table>")[0]
    assert re.findall(r'<td class="s">(hour=\d+)</td>', shown) == ["hour=11"]
    assert "≥ 0.8" in shown
    assert re.findall(r'<td class="s">(hour=\d+)</td>', folded) == [
        f"hour={h}" for h in hours if h != 11
    ]
    assert "the other 13 checks (13 passed)" in page
    assert 'candidate <b id="candidate-name">candidate (unnamed model spec)</b>' in page

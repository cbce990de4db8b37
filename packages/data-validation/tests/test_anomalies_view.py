"""The anomalies and schema views render in a real headless Chromium without console errors.

Chromium takes seconds to start here, so each page is rendered once (module fixtures).
"""

from __future__ import annotations

import re
from pathlib import Path

import browser
import pytest
from schema_fixtures import make_stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

import headwater.data_validation as dv

pytestmark = pytest.mark.skipif(not browser.available(), reason="chromium is not installed")

PREVIOUS = {"fare": [5.0, 7.5, 9.0, 12.0, 3.0, 8.0], "pay": ["Cash", "Card"] * 3, "n": [1] * 6}
CURRENT = {
    "fare": [15.0, 17.5, 19.0, 22.0, 13.0, -2.0],
    "pay": ["Cash", "Bitcoin", "Card", "Cash", "<script>x</script>", "Cash"],
    "extra": [1, 2, 3, 4, 5, 6],
}


@pytest.fixture(scope="module")
def report() -> dv.ValidationReport:
    previous = make_stats(PREVIOUS)
    schema = dv.infer_schema(previous)
    dv.set_domain(schema, "fare", schema_pb2.FloatDomain(min=0.0))
    dv.set_drift_comparator(schema, "pay", "l_infinity", 0.1)
    dv.set_drift_comparator(schema, "fare", "jensen_shannon_divergence", 0.2)
    dv.set_drift_comparator(schema, "fare", "psi", 50.0)
    return dv.check_statistics(make_stats(CURRENT), schema, previous_statistics=previous)


@pytest.fixture(scope="module")
def anomalies_page(tmp_path_factory: pytest.TempPathFactory, report: dv.ValidationReport) -> Path:
    path = tmp_path_factory.mktemp("view") / "anomalies.html"
    dv.visualize_anomalies(report, path=path)
    return path


@pytest.fixture(scope="module")
def rendered(anomalies_page: Path) -> browser.Rendered:
    return browser.render(anomalies_page, fragment="filter=pay")


def _rows(dom: str, table: str) -> list[str]:
    match = re.search(rf'<table class="hw-table" id="{table}">.*?</table>', dom, re.S)
    assert match, table
    return re.findall(r'<tr data-feature="([^"]*)"', match.group(0))


def test_page_is_self_contained(anomalies_page: Path) -> None:
    text = anomalies_page.read_text()
    assert "http://" not in text
    assert "https://" not in text
    assert "<script>x</script>" not in text  # data is escaped, never run


def test_anomalies_page_renders_rows_fixes_and_drift(rendered: browser.Rendered) -> None:
    assert rendered.console_errors == []
    assert 'data-ready="1"' in rendered.dom
    assert _rows(rendered.dom, "anomalies") == ["extra", "fare", "n", "pay"]
    assert sorted(_rows(rendered.dom, "drift")) == ["fare", "fare", "pay"]
    assert "float_domain.min: 0 → -2" in rendered.dom
    assert '<details class="diff">' in rendered.dom  # the feature's schema before → after
    assert "+   min: -2.0" in rendered.dom
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in rendered.dom
    assert "&lt;script&gt;x&lt;/script&gt;" in rendered.dom


def test_filter_from_the_url_hides_other_features(rendered: browser.Rendered) -> None:
    hidden = re.findall(r'<tr data-feature="([^"]*)"[^>]*data-hidden="1"', rendered.dom)
    shown = re.findall(r'<tr data-feature="([^"]*)"[^>]*data-hidden="0"', rendered.dom)
    assert set(shown) == {"pay"}
    assert {"extra", "fare", "n"} <= set(hidden)


def test_screenshot_shows_the_page(anomalies_page: Path) -> None:
    png = browser.screenshot(anomalies_page, anomalies_page.with_suffix(".png"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000


def test_proto_only_and_empty_anomalies(report: dv.ValidationReport) -> None:
    html = dv.visualize_anomalies(report.anomalies).html
    assert _rows(html, "anomalies") == ["extra", "fare", "n", "pay"]
    assert sorted(_rows(html, "drift")) == ["fare", "fare", "pay"]
    assert 'id="no-anomalies"' in dv.visualize_anomalies(anomalies_pb2.Anomalies()).html
    assert report._repr_html_().startswith("<iframe")


def test_schema_page_renders(tmp_path: Path, report: dv.ValidationReport) -> None:
    schema = report.anomalies.baseline
    dv.set_environments(schema, ["TRAINING", "SERVING"])
    dv.exclude_from_environment(schema, "n", "SERVING")
    path = tmp_path / "schema.html"
    view = dv.visualize_schema(schema, path=path)
    rendered = browser.render(path)
    assert rendered.console_errors == []
    assert _rows(rendered.dom, "features") == ["fare", "pay", "n"]
    assert _rows(rendered.dom, "domains") == ["pay"]
    assert "not SERVING" in rendered.dom
    assert "drift l_infinity ≤ 0.1" in rendered.dom
    assert view._repr_html_().startswith("<iframe")

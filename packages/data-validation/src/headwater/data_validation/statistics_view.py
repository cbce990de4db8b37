"""A self-contained HTML view of statistics: one list, or two side by side with differences.

`visualize_statistics` renders one row per feature (type, count, missing %, mean / std /
min / median / max or unique / top values, an inline SVG histogram or value bar chart) with
sorting by any column and a filter by name; given a second list, every cell shows both
values and cells that differ noticeably are highlighted. No network, no CDN: styles, script
and charts are inline, so the file opens anywhere, and the returned object renders in Jupyter.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from tensorflow_metadata.proto.v0 import statistics_pb2

from headwater.data_validation._stats_view import common_stats_of
from headwater.data_validation._tfdv_aliases import either, required

__all__ = ["StatisticsView", "visualize_statistics"]

FNS = statistics_pb2.FeatureNameStatistics
_NUMERIC = (FNS.INT, FNS.FLOAT)
_COLOURS = ("#3b6fb6", "#e07b24")


@dataclass(frozen=True)
class StatisticsView:
    """Rendered statistics; `.html` is the page, and Jupyter shows it inline."""

    html: str

    def _repr_html_(self) -> str:
        """An isolated iframe, so the page's style and script don't touch the notebook."""
        return (
            '<iframe style="width:100%;height:640px;border:0" sandbox="allow-scripts" '
            f'srcdoc="{html.escape(self.html, quote=True)}"></iframe>'
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the page to `path` and returns it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.html, encoding="utf-8")
        return target


def _dataset(
    stats: statistics_pb2.DatasetFeatureStatisticsList, name: str | None
) -> statistics_pb2.DatasetFeatureStatistics:
    if not stats.datasets:
        return statistics_pb2.DatasetFeatureStatistics()
    if name is None:
        return stats.datasets[0]
    for dataset in stats.datasets:
        if dataset.name == name:
            return dataset
    names = [d.name for d in stats.datasets]
    raise ValueError(f"no dataset (slice) named {name!r}; the statistics hold {names}")


def _feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


@dataclass(frozen=True)
class _Summary:
    """What one row shows for one feature of one dataset."""

    type: str
    count: int
    missing_pct: float
    numbers: dict[str, float]
    unique: int | None
    top: list[tuple[str, float]]
    histogram: list[tuple[float, float, float]]


def _summary(feature: statistics_pb2.FeatureNameStatistics, num_examples: int) -> _Summary:
    common = common_stats_of(feature)
    total = common.num_non_missing + common.num_missing
    missing = 100.0 * common.num_missing / total if total else 0.0
    numbers: dict[str, float] = {}
    histogram: list[tuple[float, float, float]] = []
    unique = None
    top: list[tuple[str, float]] = []
    if feature.HasField("num_stats") and feature.type in _NUMERIC:
        num = feature.num_stats
        if common.num_non_missing:
            numbers = {
                "mean": num.mean,
                "std_dev": num.std_dev,
                "min": num.min,
                "median": num.median,
                "max": num.max,
            }
        for hist in num.histograms:
            if hist.type == statistics_pb2.Histogram.STANDARD:
                histogram = [
                    (b.low_value, b.high_value, b.sample_count)
                    for b in hist.buckets
                    if math.isfinite(b.low_value) and math.isfinite(b.high_value)
                ]
    elif feature.HasField("string_stats"):
        unique = feature.string_stats.unique
        top = [(v.value, v.frequency) for v in feature.string_stats.top_values[:5]]
    elif feature.HasField("bytes_stats"):
        unique = feature.bytes_stats.unique
    return _Summary(
        type=FNS.Type.Name(feature.type),
        count=common.num_non_missing,
        missing_pct=missing,
        numbers=numbers,
        unique=unique,
        top=top,
        histogram=histogram,
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e3 <= abs(value) < 1e15:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _value_label(value: str) -> str:
    return value[:40] if value else "(empty)"


def _differs(key: str, left: _Summary, right: _Summary) -> bool:
    """Whether a cell's two values differ enough to point out."""
    if key == "type":
        return left.type != right.type
    if key == "missing":
        return abs(left.missing_pct - right.missing_pct) > 5.0
    if key == "unique":
        left_unique, right_unique = left.unique or 0, right.unique or 0
        return abs(left_unique - right_unique) > 0.1 * max(left_unique, right_unique, 1)
    if key == "top":
        return bool(left.top and right.top and left.top[0][0] != right.top[0][0])
    if key in left.numbers and key in right.numbers:
        a, b = left.numbers[key], right.numbers[key]
        if not (math.isfinite(a) and math.isfinite(b)):
            return a != b
        # Differences are judged against the spread: a tenth of a standard deviation for the
        # mean and spread, a quarter for order statistics (which jump between data points).
        scale = max(left.numbers.get("std_dev", 0.0), right.numbers.get("std_dev", 0.0))
        scale = scale or max(abs(a), abs(b), 1e-12)
        tolerance = 0.1 if key in ("mean", "std_dev") else 0.25
        return abs(a - b) > tolerance * scale
    return False


def _histogram_svg(summaries: list[_Summary | None]) -> str:
    width, height = 160, 40
    bars: list[str] = []
    present = [s for s in summaries if s is not None]
    if any(s.histogram for s in present):
        lows = [b[0] for s in present for b in s.histogram]
        highs = [b[1] for s in present for b in s.histogram]
        low, high = min(lows), max(highs)
        span = (high - low) or 1.0
        for side, summary in enumerate(summaries):
            if summary is None or not summary.histogram:
                continue
            peak = max(b[2] for b in summary.histogram) or 1.0
            for b_low, b_high, count in summary.histogram:
                x = (b_low - low) / span * width
                w = max((b_high - b_low) / span * width - 1, 1.0)
                h = count / peak * (height - 2)
                bars.append(
                    f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                    f'fill="{_COLOURS[side]}" fill-opacity="0.6"/>'
                )
    elif any(s.top for s in present):
        labels = []
        for s in present:
            for value, _ in s.top:
                if value not in labels:
                    labels.append(value)
        labels = labels[:5]
        row = height / max(len(labels), 1)
        for side, summary in enumerate(summaries):
            if summary is None or not summary.top:
                continue
            counts = dict(summary.top)
            scale = max(counts.values()) or 1.0
            for i, label in enumerate(labels):
                w = counts.get(label, 0.0) / scale * width
                y = i * row + side * row / 2
                bars.append(
                    f'<rect x="0" y="{y:.1f}" width="{w:.1f}" height="{row / 2 - 0.5:.1f}" '
                    f'fill="{_COLOURS[side]}" fill-opacity="0.7"><title>'
                    f"{html.escape(_value_label(label))}: "
                    f"{_fmt(counts.get(label, 0.0))}</title></rect>"
                )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg>'
    )


_COLUMNS = (
    ("name", "Feature"),
    ("type", "Type"),
    ("count", "Count"),
    ("missing", "Missing %"),
    ("mean", "Mean"),
    ("std_dev", "Std dev"),
    ("min", "Min"),
    ("median", "Median"),
    ("max", "Max"),
    ("unique", "Unique"),
    ("top", "Top values"),
    ("chart", "Distribution"),
)


def _cell_value(key: str, summary: _Summary) -> tuple[str, float | str]:
    """Display text and sort key of one cell."""
    if key == "type":
        return summary.type, summary.type
    if key == "count":
        return _fmt(summary.count), summary.count
    if key == "missing":
        return f"{summary.missing_pct:.1f}%", summary.missing_pct
    if key == "unique":
        return _fmt(summary.unique), summary.unique if summary.unique is not None else -1
    if key == "top":
        text = ", ".join(
            f"{_value_label(value)} ({_fmt(count)})" for value, count in summary.top[:3]
        )
        return text, summary.top[0][0] if summary.top else ""
    if key in summary.numbers:
        value = summary.numbers[key]
        return _fmt(value), value if math.isfinite(value) else 0.0
    return "", -math.inf if key != "name" else ""


def _row(name: str, sides: list[_Summary | None]) -> str:
    both = len(sides) == 2 and all(s is not None for s in sides)
    row_class = ""
    if len(sides) == 2 and not both:
        row_class = "only-left" if sides[0] is not None else "only-right"
    cells = [f'<td class="name" data-sort="{html.escape(name.lower())}">{html.escape(name)}</td>']
    for key, _ in _COLUMNS[1:]:
        if key == "chart":
            cells.append(f'<td class="chart">{_histogram_svg(sides)}</td>')
            continue
        texts = []
        sort_key: float | str = ""
        for side, summary in enumerate(sides):
            if summary is None:
                texts.append('<div class="v missing-side">—</div>')
                continue
            text, value = _cell_value(key, summary)
            if side == 0 or sort_key == "":
                sort_key = value
            colour = f' style="border-left:3px solid {_COLOURS[side]}"' if len(sides) == 2 else ""
            texts.append(f'<div class="v"{colour}>{html.escape(text)}</div>')
        differs = both and _differs(key, sides[0], sides[1])  # type: ignore[arg-type]
        classes = " ".join(c for c in (key, "diff" if differs else "") if c)
        cell_class = f' class="{classes}"'
        sort_attr = html.escape(json.dumps(sort_key), quote=True)
        cells.append(f'<td{cell_class} data-sort="{sort_attr}">{"".join(texts)}</td>')
    return f'<tr class="{row_class}">{"".join(cells)}</tr>'


_STYLE = """
body{font:13px/1.35 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#222}
h1{font-size:17px;margin:0 0 6px} .meta{color:#555;margin-bottom:8px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
input#filter{padding:4px 8px;width:260px;margin:6px 0 10px}
table{border-collapse:collapse;width:100%} th,td{padding:4px 6px;border-bottom:1px solid #e4e4e4;
vertical-align:top;text-align:right} th{cursor:pointer;background:#f4f5f7;position:sticky;top:0;
user-select:none;white-space:nowrap} th.sorted-asc::after{content:" \\25B2"}
th.sorted-desc::after{content:" \\25BC"} td.name,th.name{text-align:left;font-weight:600}
td.chart,td.top,th.top{text-align:left} td.diff{background:#fff1c2} tr.only-left td.name,
tr.only-right td.name{background:#fde2e1} .v{white-space:nowrap;padding-left:3px}
.missing-side{color:#aaa} tr.hidden{display:none}
"""

_SCRIPT = """
(function () {
  var table = document.getElementById("stats");
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    try { return JSON.parse(raw); } catch (e) { return raw; }
  }
  function sortBy(index) {
    var header = headers[index];
    var ascending = !header.classList.contains("sorted-asc");
    for (var i = 0; i < headers.length; i++) {
      headers[i].classList.remove("sorted-asc", "sorted-desc");
    }
    header.classList.add(ascending ? "sorted-asc" : "sorted-desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      var order = (typeof x === "number" && typeof y === "number") ? x - y
        : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  for (var i = 0; i < headers.length; i++) {
    if (headers[i].getAttribute("data-sortable") === "1") {
      headers[i].addEventListener("click", sortBy.bind(null, i));
    }
  }
  var filter = document.getElementById("filter");
  function applyFilter() {
    var needle = filter.value.toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var match = row.cells[0].textContent.toLowerCase().indexOf(needle) !== -1;
      row.classList.toggle("hidden", !match);
      if (match) { shown++; }
    });
    document.getElementById("shown").textContent = String(shown);
  }
  filter.addEventListener("input", applyFilter);
  // A link can carry the view: #filter=fare&sort=missing&order=desc
  var params = new URLSearchParams(window.location.hash.slice(1));
  if (params.get("filter")) { filter.value = params.get("filter"); applyFilter(); }
  var wanted = params.get("sort");
  for (var j = 0; wanted && j < headers.length; j++) {
    if (headers[j].classList.contains(wanted)) {
      sortBy(j);
      if (params.get("order") === "desc") { sortBy(j); }
    }
  }
})();
"""


def visualize_statistics(
    stats: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    right: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    left_name: str | None = None,
    right_name: str | None = None,
    dataset: str | None = None,
    lhs_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    rhs_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    lhs_name: str | None = None,
    rhs_name: str | None = None,
) -> StatisticsView:
    """Renders `stats` (and `right`, compared) as one HTML page; writes it to `path` if given.

    `dataset` picks a slice by name (default: the first dataset of each list). TFDV's names
    work too: `lhs_statistics`, `rhs_statistics`, `lhs_name`, `rhs_name`.

    Example:
        visualize_statistics(train_stats, eval_stats, path="stats.html",
                             left_name="train", right_name="eval")
    """
    stats = required("stats", stats, "lhs_statistics", lhs_statistics)
    right = either("right", right, "rhs_statistics", rhs_statistics)
    left_name = either("left_name", left_name, "lhs_name", lhs_name) or "left"
    right_name = either("right_name", right_name, "rhs_name", rhs_name) or "right"
    lists = [stats] if right is None else [stats, right]
    datasets = [_dataset(s, dataset) for s in lists]
    by_name: list[dict[str, _Summary]] = [
        {_feature_name(f): _summary(f, d.num_examples) for f in d.features} for d in datasets
    ]
    names = sorted(set().union(*by_name))
    rows = "\n".join(_row(n, [side.get(n) for side in by_name]) for n in names)
    header = "".join(
        f'<th class="{key}" data-sortable="{0 if key == "chart" else 1}">{label}</th>'
        for key, label in _COLUMNS
    )
    labels = [left_name, right_name][: len(lists)]
    meta = " · ".join(
        f"{html.escape(label)}: {d.num_examples:,} examples"
        + (f" ({html.escape(d.name)})" if d.name else "")
        for label, d in zip(labels, datasets, strict=True)
    )
    legend = ""
    if right is not None:
        legend = (
            '<div class="legend">'
            + "".join(
                f'<span style="background:{_COLOURS[i]}"></span>{html.escape(label)}'
                for i, label in enumerate(labels)
            )
            + '<span style="background:#fff1c2"></span>differs'
            + '<span style="background:#fde2e1"></span>only on one side</div>'
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Statistics</title><style>{_STYLE}</style></head>
<body><h1>Feature statistics</h1><div class="meta">{meta}</div>{legend}
<input id="filter" type="search" placeholder="Filter features by name" aria-label="filter">
<span class="meta"><span id="shown">{len(names)}</span> of {len(names)} features</span>
<table id="stats"><thead><tr>{header}</tr></thead>
<tbody>
{rows}
</tbody></table>
<script>{_SCRIPT}</script></body></html>
"""
    view = StatisticsView(page)
    if path is not None:
        view.save(path)
    return view

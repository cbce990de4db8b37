"""A self-contained HTML report of an `EvalResult`: a slicing browser, no external files.

One page, the same in a notebook, as a standalone file and in `headwater ui`:

* the blessing decision, and at the top every threshold that decided it (bound, value,
  baseline, status), failures first;
* the models: the candidate (and the baseline) by name;
* a slicing browser in TFMA's manner: slices ordered by their values (Overall first, then each
  slicing spec's slices, numbers in numeric order, so `pickup_hour=2` comes before
  `pickup_hour=10`); a chart of one metric across the slices (inline SVG, candidate and
  baseline bars with their confidence intervals); a table with, per metric, the candidate
  value, the baseline value and their difference, each with its confidence interval when the
  evaluation computed them, cells coloured by the threshold outcome that checked them; a
  filter by slice feature and by slice text (also read from the URL fragment,
  `#feature=pickup_hour&metric=auc&filter=10`); headers sort the table;
* per-slice plots as inline SVG: calibration (observed vs predicted), ROC and
  precision-recall curves, drawn from the CalibrationPlot buckets.

Nothing is fetched: styles, script and drawings are inline, so the file works offline.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from headwater.model_analysis.slicing import SliceKey, SliceValue, slice_key_str

__all__ = ["render_html", "slice_order"]

_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3}#metrics th{cursor:pointer;user-select:none}td.s,th.s{text-align:left}
.badge{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;font-weight:600}
.ok{background:#2e7d32}.bad{background:#c62828}
.PASSED{color:#2e7d32}.FAILED{color:#c62828;font-weight:600}.SKIPPED{color:#777}
td.cell-PASSED{background:#e8f5e9}td.cell-FAILED{background:#ffebee}
td.cell-SKIPPED{background:#f5f5f5}
.pos{color:#2e7d32}.neg{color:#c62828}.note{color:#777}
.ci{display:block;color:#666;font-size:11px;white-space:nowrap}
.controls{display:flex;gap:1.2em;align-items:center;flex-wrap:wrap;margin:.5em 0}
.models b{font-family:ui-monospace,monospace}
.chart{display:none}.chart.on{display:block}
.plots{display:none}.plots.on{display:flex;gap:16px;flex-wrap:wrap}
svg{background:#fff;border:1px solid #ddd}
.bar-cand{fill:#1565c0}.bar-base{fill:#ef6c00}.bar-FAILED{stroke:#c62828;stroke-width:2}
.whisker{stroke:#222;stroke-width:1}
"""

_JS = """
(function(){
  var table=document.getElementById('metrics');
  var feature=document.getElementById('feature'),metric=document.getElementById('metric');
  var filter=document.getElementById('filter');
  function cell(r,i){var c=r.cells[i];var v=c.getAttribute('data-v');
    return v===null?c.textContent:parseFloat(v);}
  table.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var asc=th.getAttribute('data-order')!=='asc';
      table.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-order');});
      th.setAttribute('data-order',asc?'asc':'desc');
      var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=cell(a,i),y=cell(b,i);
        if(typeof x==='number'&&isNaN(x))return 1;if(typeof y==='number'&&isNaN(y))return -1;
        return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  function shown(el){
    var g=el.getAttribute('data-group'),f=feature.value,q=filter.value.toLowerCase();
    if(g==='')return true;
    if(f!==''&&g!==f)return false;
    return el.getAttribute('data-slice').toLowerCase().indexOf(q)>=0;}
  function apply(){
    Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
      r.style.display=shown(r)?'':'none';});
    document.querySelectorAll('.chart').forEach(function(c){
      var on=c.getAttribute('data-metric')===metric.value;c.classList.toggle('on',on);
      var svg=c.querySelector('svg'),top=+svg.getAttribute('data-top'),
        step=+svg.getAttribute('data-step'),n=0;
      svg.querySelectorAll('g.bar-row').forEach(function(g){
        var s=shown(g);g.style.display=s?'':'none';
        if(s){g.setAttribute('transform','translate(0,'+(top+n*step)+')');n++;}});
      svg.setAttribute('height',top+n*step+8);
    });
  }
  var hash={};location.hash.replace(/^#/,'').split('&').forEach(function(p){
    var kv=p.split('=');if(kv.length===2)hash[kv[0]]=decodeURIComponent(kv[1]);});
  function pickOption(sel,v){if(v===undefined)return;
    for(var i=0;i<sel.options.length;i++)if(sel.options[i].value===v){sel.value=v;}}
  pickOption(feature,hash.feature);pickOption(metric,hash.metric);
  if(hash.filter!==undefined)filter.value=hash.filter;
  [feature,metric].forEach(function(s){s.addEventListener('change',apply);});
  filter.addEventListener('input',apply);
  apply();
  var pick=document.getElementById('slice');
  function show(){document.querySelectorAll('.plots').forEach(function(p){
    p.classList.toggle('on',p.getAttribute('data-slice')===pick.value);});}
  if(pick){pick.addEventListener('change',show);show();}
})();
"""

W, H, PAD = 260, 220, 34


def _svg(
    title: str, xlabel: str, ylabel: str, series: Sequence[tuple[str, str, Any]], diagonal: bool
) -> str:
    """A square plot in [0,1]x[0,1]; series are (label, colour, (xs, ys))."""

    def px(x: float) -> float:
        return PAD + x * (W - PAD - 8)

    def py(y: float) -> float:
        return H - PAD - y * (H - PAD - 20)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>',
        f'<rect x="{px(0)}" y="{py(1)}" width="{px(1) - px(0)}" height="{py(0) - py(1)}" '
        'fill="none" stroke="#999"/>',
    ]
    for t in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{px(t)}" y="{H - PAD + 13}" font-size="10" text-anchor="middle">{t:g}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{py(t) + 3}" font-size="10" text-anchor="end">{t:g}</text>'
        )
    parts.append(
        f'<text x="{W / 2}" y="{H - 4}" font-size="11" text-anchor="middle">'
        f"{html.escape(xlabel)}</text>"
    )
    parts.append(
        f'<text x="10" y="{H / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 10 {H / 2})">{html.escape(ylabel)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for i, (label, colour, (xs, ys)) in enumerate(series):
        pts = " ".join(
            f"{px(float(x)):.1f},{py(float(y)):.1f}" for x, y in zip(xs, ys, strict=True)
        )
        if pts:
            parts.append(
                f'<polyline class="curve" points="{pts}" fill="none" '
                f'stroke="{colour}" stroke-width="1.6"/>'
            )
        parts.append(
            f'<text x="{px(0) + 6}" y="{py(1) + 14 + 12 * i}" font-size="10" '
            f'fill="{colour}">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _curves(plot: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Calibration, ROC and PR points from CalibrationPlot buckets."""
    lower = np.array([-np.inf if v is None else v for v in plot["lower_threshold"]], float)
    n = np.array(plot["weighted_examples"], float)
    pos = np.array(plot["total_weighted_label"], float)
    pred = np.array(plot["total_weighted_prediction"], float)
    order = np.argsort(lower)
    n, pos, pred = n[order], pos[order], pred[order]
    neg = n - pos
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # Calibration: regroup into 20 equal-count-ish buckets by cumulative weight.
    groups = np.minimum((np.cumsum(n) / max(n.sum(), 1e-12) * 20).astype(int), 19)
    gn = np.bincount(groups, weights=n, minlength=20)
    keep = gn > 0
    out["calibration"] = (
        np.bincount(groups, weights=pred, minlength=20)[keep] / gn[keep],
        np.bincount(groups, weights=pos, minlength=20)[keep] / gn[keep],
    )
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos > 0 and total_neg > 0:
        tp = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])  # threshold at each bucket
        fp = np.concatenate([np.cumsum(neg[::-1])[::-1], [0.0]])
        out["roc"] = (fp[::-1] / total_neg, tp[::-1] / total_pos)
        pp = tp + fp
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(pp > 0, tp / np.where(pp > 0, pp, 1), 1.0)
        out["pr"] = (tp[::-1] / total_pos, precision[::-1])
    return out


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DIGITS = re.compile(r"(\d+)")
_STATUS_RANK = {"FAILED": 0, "PASSED": 1, "SKIPPED": 2}


def _value_order(value: SliceValue) -> tuple[int, float, tuple[Any, ...]]:
    """Numbers (and numeric strings) first in numeric order, then text in natural order."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return (0, number if not math.isnan(number) else math.inf, ())
    text = str(value)
    if _NUMBER.fullmatch(text.strip()):
        return (0, float(text), ())
    parts = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _DIGITS.split(text) if p
    )
    return (1, 0.0, parts)


def slice_order(
    keys: Sequence[SliceKey], feature_order: Sequence[tuple[str, ...]] = ()
) -> list[SliceKey]:
    """`keys` as a slicing browser lists them: Overall, then each family of slices (in
    `feature_order`, e.g. the slicing specs' order, then by first appearance), each family by
    its values: numbers in numeric order (`hour=2` before `hour=10`), text naturally.
    """
    families: dict[tuple[str, ...], int] = {(): -1}
    for cols in feature_order:
        families.setdefault(tuple(cols), len(families))
    for key in keys:
        families.setdefault(tuple(k for k, _ in key), len(families))
    return sorted(
        dict.fromkeys(keys),
        key=lambda key: (
            families[tuple(k for k, _ in key)],
            tuple(_value_order(v) for _, v in key),
        ),
    )


def _family(key: SliceKey) -> str:
    return " × ".join(k for k, _ in key)


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _num_cell(
    v: float | None, css: str = "", extra: str = "", title: str = "", signed: bool = False
) -> str:
    data = repr(float(v)) if v is not None and _finite(v) else "NaN"
    klass = f' class="{css}"' if css else ""
    tip = f' title="{html.escape(title)}"' if title else ""
    sign = "+" if signed and v is not None and v > 0 else ""
    return f'<td data-v="{data}"{klass}{tip}>{sign}{_fmt(v)}{extra}</td>'


def _ci_text(ci: tuple[float, float] | None) -> str:
    if ci is None or not (_finite(ci[0]) and _finite(ci[1])) or ci[0] == ci[1]:
        return ""
    return f'<span class="ci">[{_fmt(ci[0])}, {_fmt(ci[1])}]</span>'


def _bound_text(kind: str, bound: Mapping[str, Any]) -> str:
    """A threshold's bound in words: `≥ 0.9`, `in [0.1, 0.2]`, `Δ ≥ +0 (higher is better)`."""
    if kind == "value":
        lo, hi = bound.get("lower_bound"), bound.get("upper_bound")
        if lo is not None and hi is not None:
            return f"in [{lo:g}, {hi:g}]"
        if lo is not None:
            return f"≥ {lo:g}"
        return f"≤ {hi:g}" if hi is not None else "any value"
    higher = bound.get("direction") != "LOWER_IS_BETTER"
    op = "≥" if higher else "≤"
    parts = []
    if bound.get("absolute") is not None:
        parts.append(f"Δ {op} {bound['absolute']:+g}")
    if bound.get("relative") is not None:
        parts.append(f"Δ/baseline {op} {bound['relative']:+g}")
    direction = "higher is better" if higher else "lower is better"
    return f"{' and '.join(parts) or 'change'} ({direction})"


def _worst(statuses: Sequence[str]) -> str:
    return min(statuses, key=lambda s: _STATUS_RANK.get(s, 3)) if statuses else ""


def _model_label(name: str | None, role: str) -> str:
    return name if name else f"{role} (unnamed model spec)"


def _chart(
    metric: str,
    keys: Sequence[SliceKey],
    value: Any,
    has_base: bool,
    outcome: Mapping[tuple[str, str], str],
) -> str:
    """A horizontal bar chart of `metric` across slices; `value(key, role)` gives (v, ci)."""
    label_w, bar_w, top, step = 190, 380, 30, 30 if has_base else 20
    width = label_w + bar_w + 90
    points: list[float] = [0.0]
    for key in keys:
        for role in ("candidate", "baseline") if has_base else ("candidate",):
            v, ci = value(metric, key, role)
            points += [x for x in (v, *(ci or ())) if _finite(x)]
    lo, hi = min(points), max(points)
    hi = hi if hi > lo else lo + 1.0

    def px(x: float) -> float:
        return label_w + (x - lo) / (hi - lo) * bar_w

    zero = px(0.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="metric-chart" width="{width}" '
        f'height="{top + step * len(keys) + 8}" data-top="{top}" data-step="{step}" '
        f'data-lo="{lo!r}" data-hi="{hi!r}" data-x0="{label_w}" data-w="{bar_w}" role="img" '
        f'aria-label="{html.escape(metric)} by slice">',
        f'<text x="{label_w}" y="14" font-size="12">{html.escape(metric)}: '
        '<tspan fill="#1565c0">■ candidate</tspan>'
        + (' <tspan fill="#ef6c00">■ baseline</tspan>' if has_base else "")
        + " (whiskers: confidence interval)</text>",
        f'<text x="{label_w}" y="26" font-size="10" text-anchor="middle">{lo:.3g}</text>'
        f'<text x="{label_w + bar_w}" y="26" font-size="10" text-anchor="middle">{hi:.3g}</text>',
    ]
    for i, key in enumerate(keys):
        name = slice_key_str(key)
        status = outcome.get((name, metric), "")
        row = [
            f'<g class="bar-row" data-slice="{html.escape(name)}" '
            f'data-group="{html.escape(_family(key))}" transform="translate(0,{top + i * step})">'
            f'<text x="{label_w - 6}" y="{step / 2 + 4 if has_base else 14}" font-size="11" '
            f'text-anchor="end">{html.escape(name)}</text>'
        ]
        for j, role in enumerate(("candidate", "baseline") if has_base else ("candidate",)):
            v, ci = value(metric, key, role)
            y = 3 + j * 12
            if not _finite(v):
                row.append(
                    f'<text class="no-value" x="{zero + 4}" y="{y + 9}" font-size="10">'
                    "no value</text>"
                )
                continue
            x0, x1 = sorted((zero, px(v)))
            css = "bar-cand" if role == "candidate" else "bar-base"
            if role == "candidate" and status:
                css += f" bar-{status}"
            row.append(
                f'<rect class="{css}" data-value="{v!r}" x="{x0:.2f}" y="{y}" '
                f'width="{x1 - x0:.2f}" height="10"><title>{html.escape(name)} {role} '
                f"{html.escape(metric)} = {_fmt(v)}</title></rect>"
            )
            if ci is not None and _finite(ci[0]) and _finite(ci[1]):
                a, b = px(ci[0]), px(ci[1])
                row.append(
                    f'<path class="whisker" data-ci="{ci[0]!r},{ci[1]!r}" '
                    f'd="M{a:.2f} {y + 5}H{b:.2f}M{a:.2f} {y + 1}V{y + 9}'
                    f'M{b:.2f} {y + 1}V{y + 9}"/>'
                )
            row.append(
                f'<text x="{max(px(v), zero, px(ci[1]) if ci and _finite(ci[1]) else 0) + 4:.1f}" '
                f'y="{y + 9}" font-size="10">{_fmt(v)}</text>'
            )
        row.append("</g>")
        parts.append("".join(row))
    parts.append("</svg>")
    return "".join(parts)


MAX_THRESHOLD_ROWS = 12
"""More threshold checks than this: the failures are listed, the others folded away."""


def _threshold_table(outcomes: Sequence[Any], table_id: str) -> str:
    rows = [
        f'<tr class="outcome-{o.status.value}">'
        f'<td class="s {o.status.value}">{o.status.value}</td>'
        f'<td class="s">{html.escape(o.metric_name)}</td>'
        f'<td class="s">{html.escape(o.slice_name)}</td>'
        f'<td class="s">{html.escape(_model_label(o.model_name, "candidate"))}</td>'
        f'<td class="s">{o.kind}</td>'
        f'<td class="s">{html.escape(_bound_text(o.kind, o.bound))}</td>'
        f"{_num_cell(o.value)}{_num_cell(o.baseline_value)}"
        f'<td class="s">{html.escape(o.reason)}</td></tr>'
        for o in outcomes
    ]
    return (
        f'<table id="{table_id}"><thead><tr><th class="s">status</th><th class="s">metric</th>'
        '<th class="s">slice</th><th class="s">model</th><th class="s">kind</th>'
        '<th class="s">bound</th><th>value</th><th>baseline</th>'
        "<th class='s'>reason</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _embed(text: str) -> str:
    """Text safe inside a <script> element."""
    return text.replace("</", "<\\/")


def render_html(result: Any, title: str = "Model evaluation") -> str:
    """The whole report as one HTML string (see the module's docstring for what it shows)."""
    config = result.eval_config
    cand = config.candidate.name
    base = config.baseline.name if config.baseline is not None else None
    by_key: dict[tuple[SliceKey, str], Any] = {
        (s.slice_key, s.model_name): s for s in result.slices
    }
    specs = [tuple(s.columns) for s in config.slicing_specs]
    keys = slice_order([s.slice_key for s in result.slices if s.model_name == cand], specs)
    cand_slices = [by_key[(k, cand)] for k in keys]
    count_names = {"example_count"}
    names = list(dict.fromkeys(n for s in cand_slices for n in s.metrics if n not in count_names))
    v = result.validation
    outcome_statuses: dict[tuple[str, str, str], list[str]] = {}
    for o in v.outcomes:
        outcome_statuses.setdefault((o.slice_name, o.metric_name, o.kind), []).append(
            o.status.value
        )

    def status(name: str, metric: str, kind: str | None = None) -> str:
        kinds = (kind,) if kind else ("value", "change")
        return _worst([s for k in kinds for s in outcome_statuses.get((name, metric, k), [])])

    def reasons(name: str, metric: str) -> str:
        return "; ".join(
            f"{o.kind} threshold {o.status.value}: {o.reason}"
            for o in v.outcomes
            if o.slice_name == name and o.metric_name == metric
        )

    out = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    badge = ("ok", "BLESSED") if v.blessed else ("bad", "NOT BLESSED")
    out.append(
        f'<p><span class="badge {badge[0]}" id="blessing">{badge[1]}</span> '
        f"{html.escape(v.reason)}</p>"
    )
    spec = config.candidate
    models = (
        f'candidate <b id="candidate-name">{html.escape(_model_label(cand, "candidate"))}</b>'
        f" (signature {html.escape(spec.signature_name or '-')}, label "
        f"{html.escape(spec.label_key or '-')}"
        + (f", prediction {html.escape(spec.prediction_key)}" if spec.prediction_key else "")
        + ")"
    )
    if base is not None:
        models += (
            f', baseline <b id="baseline-name">{html.escape(_model_label(base, "baseline"))}</b>'
        )
    overall = by_key.get(((), cand))
    examples = f", {overall.example_count} examples overall" if overall is not None else ""
    out.append(f'<p class="models">{models}; {len(keys)} slices{examples}.</p>')

    out.append("<h2>Thresholds that decided the blessing</h2>")
    if v.outcomes:
        position = {slice_key_str(k): i for i, k in enumerate(keys)}
        ordered = sorted(
            v.outcomes,
            key=lambda o: (
                _STATUS_RANK.get(o.status.value, 3),
                position.get(o.slice_name, len(position)),
                o.metric_name,
            ),
        )
        shown = (
            ordered
            if len(ordered) <= MAX_THRESHOLD_ROWS
            else [o for o in ordered if o.status.value == "FAILED"]
        )
        rest = ordered[len(shown) :]
        out.append(
            _threshold_table(shown, "thresholds")
            if shown
            else "<p class='note'>No check failed.</p>"
        )
        if rest:
            counts = ", ".join(
                f"{sum(o.status.value == st for o in rest)} {st.lower()}"
                for st in _STATUS_RANK
                if any(o.status.value == st for o in rest)
            )
            out.append(
                f"<details><summary>the other {len(rest)} checks ({counts})</summary>"
                + _threshold_table(rest, "thresholds-rest")
                + "</details>"
            )
    else:
        out.append("<p class='note'>No thresholds configured.</p>")
    if v.missing_slices:
        out.append(
            "<p class='note'>Thresholds on slices with no data: "
            f"{html.escape(', '.join(v.missing_slices))}.</p>"
        )

    families = list(dict.fromkeys(_family(k) for k in keys if k))
    out.append("<h2>Metrics by slice</h2><div class='controls'>")
    out.append(
        "<label>slice feature <select id='feature'><option value=''>all slices</option>"
        + "".join(f"<option value='{html.escape(f)}'>{html.escape(f)}</option>" for f in families)
        + "</select></label>"
    )
    out.append(
        "<label>chart <select id='metric'>"
        + "".join(f"<option value='{html.escape(n)}'>{html.escape(n)}</option>" for n in names)
        + "</select></label>"
    )
    out.append(
        '<label>slice text <input id="filter" placeholder="e.g. =10" size="18"></label></div>'
    )

    def value(
        metric: str, key: SliceKey, role: str
    ) -> tuple[float | None, tuple[float, float] | None]:
        model = cand if role == "candidate" else base
        s = by_key.get((key, model)) if model is not None else None
        if s is None:
            return None, None
        return s.metrics.get(metric), s.confidence_intervals.get(metric)

    chart_status = {(slice_key_str(k), n): status(slice_key_str(k), n) for k in keys for n in names}
    for metric_name in names:
        out.append(
            f'<div class="chart" data-metric="{html.escape(metric_name)}">'
            + _chart(metric_name, keys, value, base is not None, chart_status)
            + "</div>"
        )

    head = ['<th class="s">slice</th>', "<th>examples</th>"]
    for n in names:
        head.append(f"<th>{html.escape(n)}</th>")
        if base is not None:
            head.append(f"<th>{html.escape(n)} (baseline)</th><th>{html.escape(n)} &Delta;</th>")
    out.append('<table id="metrics"><thead><tr>' + "".join(head) + "</tr></thead><tbody>")
    for order, key in enumerate(keys):
        s = by_key[(key, cand)]
        name = slice_key_str(key)
        b = by_key.get((key, base)) if base is not None else None
        row = [
            f'<td class="s" data-v="{order}">{html.escape(name)}</td>',
            _num_cell(float(s.example_count)),
        ]
        for n in names:
            cv = s.metrics.get(n)
            value_status = status(name, n, "value") if base is not None else status(name, n)
            row.append(
                _num_cell(
                    cv,
                    f"cell-{value_status}" if value_status else "",
                    _ci_text(s.confidence_intervals.get(n)),
                    reasons(name, n) if value_status else "",
                )
            )
            if base is not None:
                bv = b.metrics.get(n) if b is not None else None
                bci = b.confidence_intervals.get(n) if b is not None else None
                diff = cv - bv if _finite(cv) and _finite(bv) else None
                change = status(name, n, "change")
                css = f"cell-{change}" if change else ""
                if diff:
                    css += " pos" if diff > 0 else " neg"
                row.append(_num_cell(bv, "", _ci_text(bci)))
                row.append(
                    _num_cell(diff, css.strip(), "", reasons(name, n) if change else "", True)
                )
        note = f' title="{html.escape(s.note)}"' if s.note else ""
        out.append(
            f'<tr data-slice="{html.escape(name)}" data-group="{html.escape(_family(key))}"'
            f"{note}>" + "".join(row) + "</tr>"
        )
    out.append("</tbody></table>")
    if any(_ci_text(ci) for s in cand_slices for ci in s.confidence_intervals.values()):
        out.append(
            "<p class='note'>Bracketed: the confidence interval of each value "
            f"({config.options.confidence_intervals.confidence_level:g} level, bootstrap).</p>"
        )

    plot_keys = [
        k
        for k in keys
        if any(
            "calibration_plot" in getattr(by_key.get((k, m)), "plots", {})
            for m in (cand, base)
            if m is not None
        )
    ]
    if plot_keys:
        out.append('<h2>Plots</h2><p><select id="slice">')
        out.extend(
            f'<option value="{html.escape(slice_key_str(k))}">'
            f"{html.escape(slice_key_str(k))}</option>"
            for k in plot_keys
        )
        out.append("</select></p>")
        for key in plot_keys:
            series: dict[str, list[tuple[str, str, Any]]] = {"calibration": [], "roc": [], "pr": []}
            for model, colour in ((cand, "#1565c0"), (base, "#ef6c00")):
                ps = by_key.get((key, model)) if model is not None else None
                plot = ps.plots.get("calibration_plot") if ps is not None else None
                if plot is None:
                    continue
                label = "candidate" if model == cand else "baseline"
                for curve, xy in _curves(plot).items():
                    series[curve].append((label, colour, xy))
            name = html.escape(slice_key_str(key))
            out.append(f'<div class="plots" data-slice="{name}">')
            out.append(
                _svg(
                    f"Calibration — {slice_key_str(key)}",
                    "mean prediction",
                    "observed rate",
                    series["calibration"],
                    True,
                )
            )
            out.append(
                _svg("ROC", "false positive rate", "true positive rate", series["roc"], True)
            )
            out.append(_svg("Precision-recall", "recall", "precision", series["pr"], False))
            out.append("</div>")
    out.append(f"<script>{_embed(_JS)}</script></body></html>")
    return "".join(out)

"""A self-contained HTML report of an `EvalResult`: no external files, scripts or fonts.

Sections: the blessing decision and every threshold outcome; the metrics table, one row
per slice (sortable by clicking a header, filterable by slice text), with baseline values
and candidate - baseline differences when a baseline was evaluated; per-slice plots as
inline SVG: calibration (observed vs predicted), ROC and precision-recall curves. The
curves are drawn from the CalibrationPlot buckets (weighted positives and negatives per
prediction bucket), so they appear when CalibrationPlot is among the metrics.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from headwater.model_analysis.slicing import SliceKey, slice_key_str

__all__ = ["render_html"]

_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none}td.s,th.s{text-align:left}
.badge{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;font-weight:600}
.ok{background:#2e7d32}.bad{background:#c62828}
.PASSED{color:#2e7d32}.FAILED{color:#c62828;font-weight:600}.SKIPPED{color:#777}
.pos{color:#2e7d32}.neg{color:#c62828}.note{color:#777}
.plots{display:none}.plots.on{display:flex;gap:16px;flex-wrap:wrap}
svg{background:#fff;border:1px solid #ddd}
"""

_JS = """
(function(){
  var table=document.getElementById('metrics');
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
  var filter=document.getElementById('filter');
  filter.addEventListener('input',function(){
    var q=filter.value.toLowerCase();
    Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
      r.style.display=r.cells[0].textContent.toLowerCase().indexOf(q)>=0?'':'none';});
  });
  var pick=document.getElementById('slice');
  function show(){document.querySelectorAll('.plots').forEach(function(p){
    p.classList.toggle('on',p.getAttribute('data-slice')===pick.value);});}
  if(pick){pick.addEventListener('change',show);show();}
})();
"""

W, H, PAD = 260, 220, 34


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def _num_cell(v: float | None, css: str = "") -> str:
    data = "NaN" if v is None or math.isnan(v) else repr(float(v))
    klass = f' class="{css}"' if css else ""
    return f'<td data-v="{data}"{klass}>{_fmt(v)}</td>'


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


def render_html(result: Any, title: str = "Model evaluation") -> str:
    """The whole report as one HTML string."""
    config = result.eval_config
    cand = config.candidate.name
    base = config.baseline.name if config.baseline is not None else None
    by_key: dict[tuple[SliceKey, str], Any] = {
        (s.slice_key, s.model_name): s for s in result.slices
    }
    keys = list(dict.fromkeys(s.slice_key for s in result.slices))
    names = list(dict.fromkeys(n for s in result.slices if s.model_name == cand for n in s.metrics))
    v = result.validation
    out = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    badge = ("ok", "BLESSED") if v.blessed else ("bad", "NOT BLESSED")
    out.append(
        f'<p><span class="badge {badge[0]}" id="blessing">{badge[1]}</span> '
        f"{html.escape(v.reason)}</p>"
    )
    models = f"candidate <b>{html.escape(cand or '(model)')}</b>"
    if base is not None:
        models += f", baseline <b>{html.escape(base)}</b>"
    out.append(f"<p>{models}; {len(keys)} slices.</p>")

    out.append("<h2>Validation</h2>")
    if v.outcomes:
        out.append(
            '<table id="validation"><thead><tr><th class="s">metric</th>'
            '<th class="s">slice</th><th class="s">model</th><th class="s">kind</th>'
            "<th>value</th><th>baseline</th><th class='s'>status</th>"
            "<th class='s'>reason</th></tr></thead><tbody>"
        )
        for o in v.outcomes:
            out.append(
                f'<tr><td class="s">{html.escape(o.metric_name)}</td>'
                f'<td class="s">{html.escape(o.slice_name)}</td>'
                f'<td class="s">{html.escape(o.model_name)}</td>'
                f'<td class="s">{o.kind}</td>{_num_cell(o.value)}'
                f"{_num_cell(o.baseline_value)}"
                f'<td class="s {o.status.value}">{o.status.value}</td>'
                f'<td class="s">{html.escape(o.reason)}</td></tr>'
            )
        out.append("</tbody></table>")
    else:
        out.append("<p class='note'>No thresholds configured.</p>")

    out.append(
        '<h2>Metrics by slice</h2><p><input id="filter" placeholder="filter slices" size="30"></p>'
    )
    head = ['<th class="s">slice</th>', "<th>examples</th>"]
    for n in names:
        head.append(f"<th>{html.escape(n)}</th>")
        if base is not None:
            head.append(f"<th>{html.escape(n)} (baseline)</th><th>{html.escape(n)} &Delta;</th>")
    out.append('<table id="metrics"><thead><tr>' + "".join(head) + "</tr></thead><tbody>")
    for key in keys:
        s = by_key.get((key, cand))
        if s is None:
            continue
        row = [
            f'<td class="s">{html.escape(slice_key_str(key))}</td>',
            _num_cell(float(s.example_count)),
        ]
        b = by_key.get((key, base)) if base is not None else None
        for n in names:
            value = s.metrics.get(n)
            row.append(_num_cell(value))
            if base is not None:
                bv = b.metrics.get(n) if b is not None else None
                diff = value - bv if value is not None and bv is not None else None
                css = "" if diff is None or diff == 0 else ("pos" if diff > 0 else "neg")
                row.append(_num_cell(bv))
                row.append(_num_cell(diff, css))
        note = f' title="{html.escape(s.note)}"' if s.note else ""
        out.append(f"<tr{note}>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")

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
                s = by_key.get((key, model)) if model is not None else None
                plot = s.plots.get("calibration_plot") if s is not None else None
                if plot is None:
                    continue
                label = "candidate" if model == cand else "baseline"
                for name, xy in _curves(plot).items():
                    series[name].append((label, colour, xy))
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
    out.append(f"<script>{_JS}</script></body></html>")
    return "".join(out)

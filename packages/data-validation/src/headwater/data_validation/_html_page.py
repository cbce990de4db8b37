"""The page shell shared by the anomalies and schema views: inline style and script, no network.

Every table with class `hw-table` sorts by a click on its header; the filter box hides rows
whose feature name does not contain its text (also set from the URL: `#filter=fare`).
The script marks `<body data-ready="1">` once it ran, so a headless browser can tell.
"""

from __future__ import annotations

import html

__all__ = ["esc", "iframe", "page"]

_STYLE = """
body{font:13px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#1d232b}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 6px}
.sub{color:#5b6570;margin-bottom:10px}
input.hw-filter{padding:4px 8px;width:260px;border:1px solid #b8c0c8;border-radius:4px}
table.hw-table{border-collapse:collapse;width:100%;margin-top:8px}
.hw-table th,.hw-table td{border-bottom:1px solid #e3e7eb;padding:5px 8px;text-align:left;
vertical-align:top}
.hw-table th{background:#f3f5f7;cursor:pointer;user-select:none;white-space:nowrap}
.hw-table th:after{content:" \\2195";color:#9aa4ae}
.sev-ERROR{color:#fff;background:#c62828;border-radius:3px;padding:1px 6px}
.sev-WARNING{color:#222;background:#f9c74f;border-radius:3px;padding:1px 6px}
.sev-UNKNOWN{background:#d0d4d8;border-radius:3px;padding:1px 6px}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.fix{color:#1b5e20}.muted{color:#7a848e}.ok{color:#2e7d32;font-weight:600}
.bad{color:#c62828;font-weight:600}.tag{display:inline-block;background:#eef1f4;
border-radius:3px;padding:0 5px;margin:1px 2px 1px 0}
"""

_SCRIPT = """
(function(){
  function cellValue(row, i){
    var c = row.children[i]; if(!c) return '';
    var v = c.getAttribute('data-sort'); return v === null ? c.textContent.trim() : v;
  }
  document.querySelectorAll('table.hw-table').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th, i){
      th.addEventListener('click', function(){
        var body = table.tBodies[0]; var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute('data-dir') !== 'asc';
        rows.sort(function(a, b){
          var x = cellValue(a, i), y = cellValue(b, i);
          var nx = parseFloat(x), ny = parseFloat(y);
          var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? r : -r;
        });
        rows.forEach(function(r){ body.appendChild(r); });
        th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      });
    });
  });
  function applyFilter(text){
    text = (text || '').toLowerCase();
    document.querySelectorAll('tr[data-feature]').forEach(function(row){
      var hit = row.getAttribute('data-feature').toLowerCase().indexOf(text) >= 0;
      row.style.display = hit ? '' : 'none';
      row.setAttribute('data-hidden', hit ? '0' : '1');
    });
  }
  var box = document.querySelector('input.hw-filter');
  if(box){ box.addEventListener('input', function(){ applyFilter(box.value); }); }
  var m = /filter=([^&]*)/.exec(window.location.hash || '');
  if(m){ var t = decodeURIComponent(m[1]); if(box){ box.value = t; } applyFilter(t); }
  document.body.setAttribute('data-ready', '1');
})();
"""


def esc(value: object) -> str:
    """Text escaped for HTML."""
    return html.escape(str(value), quote=True)


def page(title: str, subtitle: str, body: str) -> str:
    """A complete, self-contained HTML page."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{esc(title)}</h1><div class="sub">{esc(subtitle)}</div>'
        '<input class="hw-filter" type="search" placeholder="Filter features by name">'
        f"{body}<script>{_SCRIPT}</script></body></html>"
    )


def iframe(document: str, height: int = 560) -> str:
    """The page inside an isolated iframe, for Jupyter's `_repr_html_`."""
    return (
        f'<iframe style="width:100%;height:{height}px;border:0" sandbox="allow-scripts" '
        f'srcdoc="{html.escape(document, quote=True)}"></iframe>'
    )

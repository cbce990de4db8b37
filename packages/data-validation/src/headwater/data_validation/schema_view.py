"""A self-contained HTML view of a schema: one row per feature, then the string domains.

Each row shows the type, whether the feature is required (presence), its valency (shape or
value count), its domain in words (the string values, a numeric range, a boolean), its
environments, lifecycle and drift / skew comparators. Sorting and a name filter; no network.

Example:
    visualize_schema(load_schema_text("schema.pbtxt"), path="schema.html")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.data_validation._html_page import esc, iframe, page
from headwater.data_validation.drift import comparators_of
from headwater.data_validation.schema import is_deprecated

__all__ = ["SchemaView", "schema_html", "visualize_schema"]

_SHOWN_VALUES = 12


@dataclass(frozen=True)
class SchemaView:
    """A rendered schema; `.html` is the page, and Jupyter shows it inline."""

    html: str

    def _repr_html_(self) -> str:
        return iframe(self.html)


def _values(values: list[str]) -> str:
    shown = ", ".join(esc(v) for v in values[:_SHOWN_VALUES])
    more = f" … (+{len(values) - _SHOWN_VALUES})" if len(values) > _SHOWN_VALUES else ""
    return f'{len(values)} values: <span class="mono">{shown}{more}</span>'


def _range(dom: schema_pb2.IntDomain | schema_pb2.FloatDomain) -> str:
    lo = f"{dom.min:g}" if dom.HasField("min") else "−∞"
    hi = f"{dom.max:g}" if dom.HasField("max") else "+∞"
    return f"[{lo}, {hi}]"


def _domain(schema: schema_pb2.Schema, f: schema_pb2.Feature) -> str:
    kind = f.WhichOneof("domain_info")
    if kind == "domain":
        named = next((d for d in schema.string_domain if d.name == f.domain), None)
        if named is None:
            return f'<span class="bad">missing string domain {esc(f.domain)}</span>'
        return f"string domain <b>{esc(f.domain)}</b>, {_values(list(named.value))}"
    if kind == "string_domain":
        return "string domain, " + _values(list(f.string_domain.value))
    if kind == "int_domain":
        extra = ", categorical" if f.int_domain.is_categorical else ""
        return f"int {_range(f.int_domain)}{extra}"
    if kind == "float_domain":
        dom = f.float_domain
        flags = [n for n, on in (("no NaN", dom.disallow_nan), ("no inf", dom.disallow_inf)) if on]
        return f"float {_range(dom)}" + (f", {', '.join(flags)}" if flags else "")
    if kind == "bool_domain":
        bd = f.bool_domain
        if bd.HasField("true_value") or bd.HasField("false_value"):
            return f'bool ("{esc(bd.true_value)}" / "{esc(bd.false_value)}")'
        return "bool (0 / 1)"
    return '<span class="muted">–</span>' if kind is None else esc(kind)


def _presence(f: schema_pb2.Feature) -> tuple[str, str]:
    p = f.presence
    if p.min_fraction >= 1.0:
        return "required", "2"
    if p.min_fraction > 0:
        return f"in ≥ {p.min_fraction:.0%} of examples", "1"
    if p.min_count > 0:
        return f"optional (≥ {p.min_count} example{'s' if p.min_count > 1 else ''})", "0.5"
    return "optional", "0"


def _valency(f: schema_pb2.Feature) -> str:
    which = f.WhichOneof("shape_type")
    if which == "shape":
        dims = "×".join(str(d.size) for d in f.shape.dim) or "scalar"
        return f"shape [{dims}]"
    if which == "value_count":
        vc = f.value_count
        if vc.HasField("max") and vc.min == vc.max:
            return "1 value" if vc.min == 1 else f"{vc.min} values"
        return f"{vc.min}…{vc.max if vc.HasField('max') else '∞'} values"
    if which == "value_counts":
        return f"nested, {len(f.value_counts.value_count)} levels"
    return '<span class="muted">any</span>'


def _environments(schema: schema_pb2.Schema, f: schema_pb2.Feature) -> str:
    envs = [e for e in schema.default_environment if e not in f.not_in_environment]
    envs += [e for e in f.in_environment if e not in envs]
    out = "".join(f'<span class="tag">{esc(e)}</span>' for e in envs)
    out += "".join(f'<span class="tag muted">not {esc(e)}</span>' for e in f.not_in_environment)
    return out or '<span class="muted">all</span>'


def _comparators(f: schema_pb2.Feature) -> str:
    parts = [
        f'<span class="tag mono">{kind} {esc(c.metric)} ≤ {c.threshold:g}</span>'
        for kind in ("drift", "skew")
        for c in comparators_of(f, kind)
    ]
    return "".join(parts) or '<span class="muted">–</span>'


def schema_html(schema: schema_pb2.Schema, title: str = "Schema") -> str:
    """The page for `schema`."""
    rows = []
    for f in schema.feature:
        presence, rank = _presence(f)
        stage = (
            '<span class="bad">deprecated</span>'
            if is_deprecated(f)
            else esc(schema_pb2.LifecycleStage.Name(f.lifecycle_stage).lower())
            if f.HasField("lifecycle_stage")
            else ""
        )
        rows.append(
            f'<tr data-feature="{esc(f.name)}"><td><b>{esc(f.name)}</b> {stage}</td>'
            f"<td>{esc(schema_pb2.FeatureType.Name(f.type))}</td>"
            f'<td data-sort="{rank}">{presence}</td><td>{_valency(f)}</td>'
            f"<td>{_domain(schema, f)}</td><td>{_environments(schema, f)}</td>"
            f"<td>{_comparators(f)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Feature", "Type", "Presence", "Valency", "Domain", "Environments", "Comparators")
    )
    body = (
        f'<table class="hw-table" id="features"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if schema.string_domain:
        domain_rows = "".join(
            f'<tr data-feature="{esc(d.name)}"><td><b>{esc(d.name)}</b></td>'
            f"<td>{_values(list(d.value))}</td></tr>"
            for d in schema.string_domain
        )
        body += (
            '<h2>String domains</h2><table class="hw-table" id="domains"><thead><tr>'
            f"<th>Name</th><th>Values</th></tr></thead><tbody>{domain_rows}</tbody></table>"
        )
    dc = schema.dataset_constraints
    if schema.HasField("dataset_constraints"):
        lo = dc.min_examples_count if dc.HasField("min_examples_count") else "–"
        hi = dc.max_examples_count if dc.HasField("max_examples_count") else "–"
        body += f"<h2>Dataset</h2><p>examples: min {lo}, max {hi}</p>"
    envs = ", ".join(schema.default_environment) or "none declared"
    subtitle = f"{len(schema.feature)} features; environments: {envs}"
    return page(title, subtitle, body)


def visualize_schema(
    schema: schema_pb2.Schema, path: str | os.PathLike[str] | None = None
) -> SchemaView:
    """Render `schema`, and write the page to `path` if given."""
    document = schema_html(schema)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(document, encoding="utf-8")
    return SchemaView(document)

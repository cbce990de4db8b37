"""The UI's HTML pages, rendered on the server from what ui.data read (no template engine).

Every value from the store is escaped; links are built from quoted ids.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.query import ExecutionInfo
from headwater.orchestration.ui.data import (
    ArtifactLinks,
    LineageGraph,
    NodeRun,
    RunDetail,
    RunSummary,
)
from headwater.orchestration.ui.graph import GraphNode, svg

ARTIFACT_HEADER = ["key", "artifact", "uri"]
STATES = ("COMPLETE", "CACHED", "FAILED", "CANCELED", "RUNNING")
HIDDEN_PROPERTIES = ("pid", "host", "temporary_uris")


def e(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value), quote=True)


def q(value: Any) -> str:
    """A value quoted for a URL path segment."""
    return quote(str(value), safe="")


def run_url(pipeline: str, run_id: str) -> str:
    """Link to a run's page."""
    return f"/p/{q(pipeline)}/runs/{q(run_id)}"


def node_url(pipeline: str, run_id: str, node_id: str) -> str:
    """Link to a node's page within a run."""
    return f"{run_url(pipeline, run_id)}/nodes/{q(node_id)}"


def artifact_url(pipeline: str, artifact_id: int | None) -> str:
    """Link to an artifact's page."""
    return f"/p/{q(pipeline)}/artifacts/{artifact_id}"


def page(title: str, body: str, crumbs: Sequence[tuple[str, str]] = ()) -> str:
    """A whole page: head with the local stylesheet and script, breadcrumbs, then `body`."""
    nav = " › ".join(
        ['<a href="/">Pipelines</a>']
        + [f'<a href="{e(href)}">{e(text)}</a>' for text, href in crumbs]
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)} · Headwater</title>"
        "<link rel='stylesheet' href='/static/style.css'>"
        "<script src='/static/app.js' defer></script></head><body>"
        f"<header><a class='brand' href='/'>Headwater</a><nav>{nav}</nav></header>"
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )


def badge(state: str) -> str:
    """A coloured state label."""
    return f"<span class='badge state-{e(state.lower())}'>{e(state)}</span>"


def when(ms: int) -> str:
    """A store timestamp (ms since the epoch) as UTC text."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + " UTC"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    """A table; cells are HTML already (escape values before)."""
    rows = list(rows)
    if not rows:
        return "<p class='empty'>(none)</p>"
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{e(css)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _runs_rows(pipeline: str, runs: Sequence[RunSummary]) -> list[list[str]]:
    return [
        [
            f"<a class='run-link' href='{e(run_url(pipeline, r.run_id))}'>{e(r.run_id)}</a>",
            badge(r.state),
            e(when(r.create_time_ms)),
            e(f"{r.duration_s:.1f} s"),
            e(r.counts.get("COMPLETE", 0)),
            e(r.counts.get("CACHED", 0)),
            e(r.counts.get("FAILED", 0) + r.counts.get("CANCELED", 0)),
        ]
        for r in runs
    ]


RUN_HEADER = ["run", "state", "started", "took", "ran", "cached", "failed"]


def index(pipelines: Mapping[str, tuple[list[RunSummary], int]]) -> str:
    """Every pipeline with its latest runs."""
    if not pipelines:
        return page("Pipelines", "<p class='empty'>No pipeline is recorded in this store.</p>")
    parts = []
    for name, (runs, total) in pipelines.items():
        parts.append(
            f"<section class='pipeline' data-pipeline='{e(name)}'>"
            f"<h2><a href='/p/{e(q(name))}'>{e(name)}</a> <small>{total} runs</small></h2>"
            f"{table(RUN_HEADER, _runs_rows(name, runs), 'runs')}</section>"
        )
    return page("Pipelines", "".join(parts))


def pipeline_page(
    name: str, runs: Sequence[RunSummary], total: int, offset: int, limit: int
) -> str:
    """One pipeline's runs, a page at a time, and a form to compare two of them."""
    pager = []
    if offset > 0:
        pager.append(f"<a href='?offset={max(0, offset - limit)}'>newer</a>")
    if offset + limit < total:
        pager.append(f"<a href='?offset={offset + limit}'>older</a>")
    options = "".join(f"<option>{e(r.run_id)}</option>" for r in runs)
    compare = (
        f"<form class='compare' action='/p/{e(q(name))}/compare' method='get'>Compare "
        f"<select name='a'>{options}</select> with <select name='b'>{options}</select> "
        "<button>compare</button></form>"
        if len(runs) > 1
        else ""
    )
    shown = f"<p>Runs {offset + 1}–{offset + len(runs)} of {total}, newest first.</p>"
    body = shown + table(RUN_HEADER, _runs_rows(name, runs), "runs") + " ".join(pager) + compare
    return page(name, body, [(name, f"/p/{q(name)}")])


def run_graph(detail: RunDetail) -> str:
    """The run's DAG: one box per node, coloured by state, linking to the node's page."""
    nodes = [
        GraphNode(
            id=n.execution.node_id,
            title=n.execution.node_id,
            subtitle=f"{n.execution.state.lower()} · {n.duration_s:.1f} s",
            css_class=f"state-{n.execution.state.lower()}",
            href=node_url(detail.pipeline, detail.summary.run_id, n.execution.node_id),
        )
        for n in detail.nodes
    ]
    return svg(nodes, detail.edges, label=f"graph of run {detail.summary.run_id}")


def run_page(detail: RunDetail) -> str:
    """A run: its state, its DAG drawn, and a table of its nodes."""
    s = detail.summary
    legend = " ".join(badge(state) for state in STATES)
    rows = [
        [
            _link("node-link", node_url(detail.pipeline, s.run_id, n.execution.node_id))
            + f"{e(n.execution.node_id)}</a>",
            e(n.execution.type_name),
            badge(n.execution.state),
            e(f"{n.duration_s:.1f} s"),
            e(_first_line(str(n.execution.properties.get("error", "")))),
        ]
        for n in detail.nodes
    ]
    body = (
        f"<div class='run' data-pipeline='{e(detail.pipeline)}' data-run='{e(s.run_id)}' "
        f"data-state='{e(s.state)}' data-counts='{e(json.dumps(s.counts, sort_keys=True))}'>"
        f"<p>{badge(s.state)} started {e(when(s.create_time_ms))}, took {s.duration_s:.1f} s. "
        f"<span class='live'></span></p>"
        f"<div class='legend'>{legend}</div>"
        f"<div class='graph-box'>{run_graph(detail)}</div>"
        f"<h2>Nodes</h2>{table(['node', 'type', 'state', 'took', 'error'], rows, 'nodes')}</div>"
    )
    crumbs = [
        (detail.pipeline, f"/p/{q(detail.pipeline)}"),
        (s.run_id, run_url(detail.pipeline, s.run_id)),
    ]
    return page(f"Run {s.run_id}", body, crumbs)


def _link(css: str, href: str) -> str:
    return f"<a class='{css}' href='{e(href)}'>"


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _artifact_rows(pipeline: str, items: Sequence[tuple[str, Artifact]]) -> list[list[str]]:
    return [
        [
            e(key),
            f"<a class='artifact-link' href='{e(artifact_url(pipeline, a.id))}'>{e(a.TYPE_NAME)} "
            f"#{e(a.id)}</a>",
            f"<code>{e(a.uri)}</code>",
        ]
        for key, a in items
    ]


def _properties(props: Mapping[str, Any], hidden: Sequence[str] = ()) -> str:
    rows = [
        [e(k), f"<code>{e(_show(v))}</code>"] for k, v in sorted(props.items()) if k not in hidden
    ]
    return table(["name", "value"], rows, "properties")


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def node_page(detail: RunDetail, node: NodeRun) -> str:
    """A node in a run: state, duration, parameters, inputs, outputs, and a failure's error."""
    x, pipeline = node.execution, detail.pipeline
    error = x.properties.get("error")
    props = {k: v for k, v in x.properties.items() if k != "error"}
    body = (
        f"<p>{badge(x.state)} {e(x.type_name)}, execution {x.id}, took {node.duration_s:.1f} s "
        f"(started {e(when(x.create_time_ms))}).</p>"
        + (f"<h2>Error</h2><pre class='error'>{e(error)}</pre>" if error else "")
        + f"<h2>Parameters</h2>{_properties(props, HIDDEN_PROPERTIES)}"
        + f"<h2>Inputs</h2>{table(ARTIFACT_HEADER, _artifact_rows(pipeline, node.inputs))}"
        + f"<h2>Outputs</h2>{table(ARTIFACT_HEADER, _artifact_rows(pipeline, node.outputs))}"
    )
    run_id = detail.summary.run_id
    crumbs = [
        (detail.pipeline, f"/p/{q(detail.pipeline)}"),
        (run_id, run_url(detail.pipeline, run_id)),
        (x.node_id, node_url(detail.pipeline, run_id, x.node_id)),
    ]
    return page(f"{x.node_id} in run {run_id}", body, crumbs)


def _execution_link(pipeline: str, info: ExecutionInfo) -> str:
    return (
        f"<a class='execution-link' href='{e(node_url(pipeline, info.run_id, info.node_id))}'>"
        f"{e(info.node_id)}</a> in run {e(info.run_id)} {badge(info.state)}"
    )


def artifact_page(
    pipeline: str,
    links: ArtifactLinks,
    views: Sequence[str],
    rendered: str | None,
    signatures: Mapping[str, Any] | str | None = None,
) -> str:
    """An artifact: type, URI, properties, producer and consumers, its views inline, and for a
    Model its signatures (SignatureSpecs by name, or why they could not be read)."""
    found = links.lineage
    a = found.artifact
    base = artifact_url(pipeline, a.id)
    people = [
        ["produced by", _execution_link(pipeline, found.producer) if found.producer else "-"],
        *[["reused (cached) by", _execution_link(pipeline, i)] for i in found.reused_by],
        *[["read by", _execution_link(pipeline, i)] for i in found.consumers],
    ]
    more = [
        (links.reused_total - len(found.reused_by), "cached reuses"),
        (links.consumers_total - len(found.consumers), "readers"),
    ]
    people += [["", f"<span class='more'>and {n} older {what}</span>"] for n, what in more if n > 0]
    frames = [
        f"<h3>{e(v)}</h3><iframe class='view' sandbox='allow-scripts' title='{e(v)}' "
        f"src='{e(base)}/views/{'/'.join(q(p) for p in v.split('/'))}'></iframe>"
        for v in views
    ]
    if rendered:
        frames.append(
            f"<iframe class='view' sandbox='allow-scripts' title='{e(a.TYPE_NAME)} view' "
            f"src='{e(base)}/render'></iframe>"
        )
    body = (
        f"<table class='facts'><tr><th>type</th><td>{e(a.TYPE_NAME)}</td></tr>"
        f"<tr><th>uri</th><td><code>{e(a.uri)}</code></td></tr>"
        f"<tr><th>state</th><td>{e(a.state)}</td></tr></table>"
        f"<p><a class='lineage-link' href='{e(base)}/lineage'>Lineage</a></p>"
        f"<h2>Properties</h2>{_properties({**a.properties, **a.custom_properties})}"
        f"<h2>Producer and consumers</h2>{table(['', 'execution'], people, 'lineage')}"
        + (_signatures(signatures) if signatures is not None else "")
        + f"<h2>Views</h2>{''.join(frames) or '<p class=empty>(no view)</p>'}"
    )
    crumbs = [(pipeline, f"/p/{q(pipeline)}"), (f"{a.TYPE_NAME} #{a.id}", base)]
    return page(f"{a.TYPE_NAME} #{a.id}", body, crumbs)


def _shape(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "unknown rank"
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _signatures(signatures: Mapping[str, Any] | str) -> str:
    """A SavedModel's signatures: per signature, its method and every input and output."""
    if isinstance(signatures, str):
        return f"<h2>Signatures</h2><p class='error'>{e(signatures)}</p>"
    parts = ["<h2>Signatures</h2>"]
    for name, spec in signatures.items():
        rows = [
            [e(role), f"<code>{e(t.name)}</code>", e(t.dtype), e(t.tf_dtype), e(_shape(t.shape))]
            for role, tensors in (("input", spec.inputs), ("output", spec.outputs))
            for t in tensors.values()
        ]
        parts.append(
            f"<h3 class='signature'>{e(name)} <small>{e(spec.method_name)}</small></h3>"
            + table(["", "name", "dtype", "TensorFlow dtype", "shape"], rows, "signature")
        )
    if len(parts) == 1:
        parts.append("<p class='empty'>(no signature)</p>")
    return "".join(parts)


def lineage_page(pipeline: str, graph: LineageGraph, hops: int) -> str:
    """An artifact's lineage drawn: producers to the left, readers to the right, all clickable."""
    nodes = []
    for key in sorted(graph.hops, key=lambda k: (graph.hops[k], k)):
        kind, ident = key[0], int(key[1:])
        if kind == "a":
            a = graph.artifacts[ident]
            nodes.append(
                GraphNode(
                    key,
                    f"{a.TYPE_NAME} #{a.id}",
                    "this artifact" if ident == graph.center else a.state.lower(),
                    "artifact center" if ident == graph.center else "artifact",
                    artifact_url(pipeline, ident),
                )
            )
        else:
            x = graph.executions[ident]
            nodes.append(
                GraphNode(
                    key,
                    x.node_id,
                    f"run {x.run_id}",
                    f"execution state-{x.state.lower()}",
                    node_url(pipeline, x.run_id, x.node_id),
                )
            )
    center = graph.artifacts[graph.center]
    more = urlencode({"hops": hops + 1})
    body = (
        f"<p>{hops} executions up and down from {e(center.TYPE_NAME)} #{center.id}. "
        f"<a href='?{e(more)}'>more hops</a>"
        + (
            f" <span class='more'>{graph.left_out} older readers not drawn.</span>"
            if graph.left_out
            else ""
        )
        + "</p>"
        f"<div class='graph-box'>{svg(nodes, graph.edges, label='lineage')}</div>"
    )
    crumbs = [
        (pipeline, f"/p/{q(pipeline)}"),
        (f"{center.TYPE_NAME} #{center.id}", artifact_url(pipeline, center.id)),
        ("lineage", f"{artifact_url(pipeline, center.id)}/lineage"),
    ]
    return page(f"Lineage of {center.TYPE_NAME} #{center.id}", body, crumbs)


def compare_page(
    pipeline: str,
    a: RunDetail,
    b: RunDetail,
    splits: Sequence[tuple[Artifact, Artifact, str]] = (),
    metrics: Sequence[Sequence[tuple[str, str, float | None, float | None]]] = (),
    drift: Sequence[Sequence[Any] | str] = (),
) -> str:
    """Two runs side by side: node states and changes, statistics per split with each
    feature's drift distances (`drift[i]` for `splits[i]`: FeatureDistances, or why none),
    metric deltas per slice."""
    left = {n.execution.node_id: n for n in a.nodes}
    right = {n.execution.node_id: n for n in b.nodes}
    rows = []
    for node_id in list(dict.fromkeys([*left, *right])):
        na, nb = left.get(node_id), right.get(node_id)
        rows.append(
            [
                e(node_id),
                badge(na.execution.state) if na else "-",
                badge(nb.execution.state) if nb else "-",
                _changed(na, nb, lambda n: sorted((k, x.id) for k, x in n.inputs)),
                _changed(na, nb, lambda n: _params(n.execution.properties)),
                _changed(na, nb, lambda n: sorted((k, x.id) for k, x in n.outputs)),
            ]
        )
    heads = [f"run {a.summary.run_id}", f"run {b.summary.run_id}"]
    frames = [
        f"<h3>{e(split)}: ExampleStatistics #{x.id} vs #{y.id}</h3>"
        + (_drift_table(split, drift[i]) if i < len(drift) else "")
        + f"<iframe class='view' sandbox='allow-scripts' title='statistics {e(split)}' "
        f"src='/p/{e(q(pipeline))}/compare/statistics/{x.id}/{y.id}/{e(q(split))}'></iframe>"
        for i, (x, y, split) in enumerate(splits)
    ]
    metric_tables = [
        table(
            ["slice", "metric", *heads, "difference"],
            [
                [
                    e(sl),
                    e(m),
                    _num(va),
                    _num(vb),
                    _num(None if va is None or vb is None else vb - va),
                ]
                for sl, m, va, vb in rows_
            ],
            "metrics",
        )
        for rows_ in metrics
    ]
    body = (
        f"<p>{badge(a.summary.state)} <a href='{e(run_url(pipeline, a.summary.run_id))}'>"
        f"{e(a.summary.run_id)}</a> ({a.summary.duration_s:.1f} s) vs {badge(b.summary.state)} "
        f"<a href='{e(run_url(pipeline, b.summary.run_id))}'>{e(b.summary.run_id)}</a> "
        f"({b.summary.duration_s:.1f} s)</p>"
        + table(["node", *heads, "inputs", "parameters", "outputs"], rows, "compare")
        + (f"<h2>Evaluation metrics</h2>{''.join(metric_tables)}" if metric_tables else "")
        + (f"<h2>Statistics</h2>{''.join(frames)}" if frames else "")
    )
    return page("Compare runs", body, [(pipeline, f"/p/{q(pipeline)}")])


DRIFT_METRICS = (("l_infinity", "L-infinity"), ("jensen_shannon_divergence", "JS divergence"))


def _drift_table(split: str, distances: Sequence[Any] | str) -> str:
    """Each feature's distances from the first run to the second, the largest first."""
    if isinstance(distances, str):
        return f"<p class='empty'>{e(distances)}</p>"

    def largest(d: Any) -> float:
        return max(d.values.values(), default=-1.0)

    rows = [
        [
            e(d.feature),
            e(d.type),
            *[_num(d.values.get(metric)) for metric, _ in DRIFT_METRICS],
            e(d.missing or "; ".join(d.details.values())),
        ]
        for d in sorted(distances, key=lambda d: (-largest(d), d.feature))
    ]
    header = ["feature", "type", *[label for _, label in DRIFT_METRICS], "note"]
    return (
        f"<p>Drift of {e(split)} from the first run to the second, per feature "
        "(headwater.data_validation's drift distances, largest first):</p>"
        + table(header, rows, f"drift drift-{split}")
    )


def _num(value: float | None) -> str:
    return "-" if value is None else e(f"{value:.4g}")


def _params(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    skip = {*HIDDEN_PROPERTIES, "error", "cache_key"}
    return sorted((k, _show(v)) for k, v in props.items() if k not in skip)


def _changed(a: NodeRun | None, b: NodeRun | None, key: Any) -> str:
    if a is None or b is None:
        return "<span class='changed'>only in one run</span>"
    return "same" if key(a) == key(b) else "<span class='changed'>changed</span>"


def error_page(status: int, message: str) -> str:
    """A page saying what was not found or refused."""
    return page(f"{status}", f"<p class='error'>{e(message)}</p>")

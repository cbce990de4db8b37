"""The aiohttp application behind `headwater ui`: read-only pages over ML Metadata stores.

Only GET routes exist; stores are opened read-only; the only files read are the views inside
an artifact's own directory (see ui.files); pages load nothing from outside this server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from headwater.orchestration.errors import MetadataError
from headwater.orchestration.metadata import MetadataStore
from headwater.orchestration.ui import data, pages
from headwater.orchestration.ui.files import (
    UnsafePathError,
    artifact_dir,
    resolve_file,
    resolve_view,
    view_files,
)

STATIC = Path(__file__).with_name("static")
LATEST_RUNS = 10
RUNS_PER_PAGE = 50
MAX_HOPS = 6
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# Views are self-contained pages with inline scripts; served sandboxed, they reach nothing.
VIEW_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:"
)
STORES: web.AppKey[UiStores] = web.AppKey("stores")
HOSTS: web.AppKey[frozenset[str] | None] = web.AppKey("hosts")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
log = logging.getLogger(__name__)


@dataclass
class UiStores:
    """The stores the UI reads, and which store holds which pipeline."""

    stores: Sequence[MetadataStore]
    _by_pipeline: dict[str, MetadataStore] = field(default_factory=dict)

    def pipelines(self) -> dict[str, MetadataStore]:
        """Pipeline name -> its store (the first store that records it), sorted by name."""
        found: dict[str, MetadataStore] = {}
        for store in self.stores:
            for name in data.pipeline_names(store):
                found.setdefault(name, store)
        self._by_pipeline = found
        return dict(sorted(found.items()))

    def store(self, pipeline: str) -> MetadataStore:
        """The store recording `pipeline` (MetadataError when none does)."""
        if pipeline not in self._by_pipeline:
            self.pipelines()
        if pipeline not in self._by_pipeline:
            raise MetadataError(f"no pipeline {pipeline!r} in the store")
        return self._by_pipeline[pipeline]


def create_app(stores: Sequence[MetadataStore], host: str = "127.0.0.1") -> web.Application:
    """The web application over `stores` (opened with read_only=True by the caller).

    Bound to a loopback `host`, it answers only requests addressed to a loopback name, so that
    a web page elsewhere cannot read it through DNS rebinding.
    """
    app = web.Application(middlewares=[_errors_and_headers])
    app[STORES] = UiStores(list(stores))
    bare = host.strip("[]")
    app[HOSTS] = LOOPBACK_NAMES if bare in LOOPBACK_NAMES else None
    app.router.add_get("/", _index)
    app.router.add_get("/p/{pipeline}", _pipeline)
    app.router.add_get("/p/{pipeline}/compare", _compare)
    app.router.add_get(
        "/p/{pipeline}/compare/statistics/{a:\\d+}/{b:\\d+}/{split:[A-Za-z0-9_.-]+}",
        _compare_statistics,
    )
    app.router.add_get("/p/{pipeline}/runs/{run}", _run)
    app.router.add_get("/p/{pipeline}/runs/{run}/nodes/{node}", _node)
    app.router.add_get("/p/{pipeline}/artifacts/{artifact:\\d+}", _artifact)
    app.router.add_get("/p/{pipeline}/artifacts/{artifact:\\d+}/lineage", _lineage)
    app.router.add_get("/p/{pipeline}/artifacts/{artifact:\\d+}/render", _render)
    app.router.add_get("/p/{pipeline}/artifacts/{artifact:\\d+}/views/{path:.+}", _view)
    app.router.add_get("/api/p/{pipeline}/runs/{run}", _run_json)
    app.router.add_get("/static/{name}", _static)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_and_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_host(request)
        response = await handler(request)
    except MetadataError as exc:
        response = _html(pages.error_page(404, str(exc)), status=404)
    except UnsafePathError as exc:
        log.warning("refused %s: %s", request.path, exc)
        response = _html(pages.error_page(403, str(exc)), status=403)
    except web.HTTPException as exc:
        response = _html(pages.error_page(exc.status, exc.reason), status=exc.status)
    response.headers.setdefault("Content-Security-Policy", APP_CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_host(request: web.Request) -> None:
    allowed = request.app[HOSTS]
    if allowed is None:
        return
    try:
        name = urlsplit(f"//{request.host}").hostname
    except ValueError:
        name = None
    if name not in allowed:
        raise UnsafePathError(
            f"request for host {request.host!r}: this server answers only {sorted(allowed)}"
        )


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _store(request: web.Request) -> tuple[str, MetadataStore]:
    name = request.match_info["pipeline"]
    return name, request.app[STORES].store(name)


async def _index(request: web.Request) -> web.Response:
    summaries = {
        name: data.run_summaries(store, name, limit=LATEST_RUNS)
        for name, store in request.app[STORES].pipelines().items()
    }
    return _html(pages.index(summaries))


async def _pipeline(request: web.Request) -> web.Response:
    name, store = _store(request)
    offset = _int(request.query.get("offset", "0"), "offset")
    runs, total = data.run_summaries(store, name, limit=RUNS_PER_PAGE, offset=offset)
    return _html(pages.pipeline_page(name, runs, total, offset, RUNS_PER_PAGE))


def _int(text: str, what: str) -> int:
    if not text.isdigit():
        raise web.HTTPBadRequest(reason=f"{what} must be a non-negative integer, got {text!r}")
    return int(text)


def _detail(request: web.Request, run_id: str | None = None) -> data.RunDetail:
    name, store = _store(request)
    run_id = run_id or request.match_info["run"]
    detail = data.run_detail(store, name, run_id)
    return detail


async def _run(request: web.Request) -> web.Response:
    return _html(pages.run_page(_detail(request)))


async def _run_json(request: web.Request) -> web.Response:
    detail = _detail(request)
    body = {
        "run_id": detail.summary.run_id,
        "state": detail.summary.state,
        "counts": detail.summary.counts,
        "nodes": {n.execution.node_id: n.execution.state for n in detail.nodes},
    }
    return web.json_response(body, dumps=lambda v: json.dumps(v, sort_keys=True))


async def _node(request: web.Request) -> web.Response:
    detail = _detail(request)
    node_id = request.match_info["node"]
    found = [n for n in detail.nodes if n.execution.node_id == node_id]
    if not found:
        raise MetadataError(f"no node {node_id!r} in run {detail.summary.run_id!r}")
    return _html(pages.node_page(detail, found[-1]))


async def _compare(request: web.Request) -> web.Response:
    a, b = request.query.get("a", ""), request.query.get("b", "")
    if not a or not b:
        raise web.HTTPBadRequest(reason="compare needs two runs: ?a=RUN&b=RUN")
    left, right = _detail(request, a), _detail(request, b)
    stats = _paired(left, right, "ExampleStatistics")
    splits = [
        (x, y, split) for x, y in stats for split in x.split_name_list if split in y.split_name_list
    ]
    drift = [_drift(x, y, split) for x, y, split in splits]
    metrics = [_metric_rows(x, y) for x, y in _paired(left, right, "ModelEvaluation")]
    name = request.match_info["pipeline"]
    return _html(pages.compare_page(name, left, right, splits, metrics, drift))


def _drift(a: Any, b: Any, split: str) -> list[Any] | str:
    """Each feature's drift distances of `split` from run a's statistics to run b's, or why
    they cannot be measured."""
    from headwater import data_validation as dv

    try:
        loaded = [
            dv.load_stats_binary(resolve_file(x.uri, f"Split-{split}/FeatureStats.pb", (".pb",)))
            for x in (a, b)
        ]
        return list(dv.feature_distances(loaded[1], loaded[0]))
    except (OSError, ValueError) as exc:  # UnsafePathError is a PermissionError (an OSError)
        return f"no drift distances: {exc}"


def _paired(a: data.RunDetail, b: data.RunDetail, type_name: str) -> list[tuple[Any, Any]]:
    """Outputs of `type_name` written under the same node and key in both runs."""

    def outputs(detail: data.RunDetail) -> dict[tuple[str, str], Any]:
        return {
            (n.execution.node_id, key): artifact
            for n in detail.nodes
            for key, artifact in n.outputs
            if type_name == artifact.TYPE_NAME
        }

    left, right = outputs(a), outputs(b)
    return [(left[k], right[k]) for k in left if k in right]


def _metric_rows(a: Any, b: Any) -> list[tuple[str, str, float | None, float | None]]:
    """(slice, metric, value in a, value in b) for the candidate model of two evaluations."""
    from headwater import model_analysis as ma

    values: dict[tuple[str, str], list[float | None]] = {}
    keys: dict[str, Any] = {}
    specs: list[tuple[str, ...]] = []
    for index, artifact in enumerate((a, b)):
        if artifact_dir(artifact.uri) is None:
            continue
        try:
            result = ma.load_eval_result(artifact.uri)
        except (OSError, ValueError, KeyError):
            continue
        candidate = result.eval_config.candidate.name
        specs += [tuple(spec.columns) for spec in result.eval_config.slicing_specs]
        for s in result.slices:
            if s.model_name != candidate:
                continue
            keys.setdefault(ma.slice_key_str(s.slice_key), s.slice_key)
            for metric, value in s.metrics.items():
                pair = values.setdefault((ma.slice_key_str(s.slice_key), metric), [None, None])
                pair[index] = float(value)
    order = {
        ma.slice_key_str(k): i for i, k in enumerate(ma.slice_order(list(keys.values()), specs))
    }
    rows = sorted(values.items(), key=lambda kv: order[kv[0][0]])  # stable: metric order kept
    return [(k[0], k[1], v[0], v[1]) for k, v in rows]


async def _compare_statistics(request: web.Request) -> web.Response:
    from headwater import data_validation as dv

    _, store = _store(request)
    split = request.match_info["split"]
    loaded = []
    for key in ("a", "b"):
        artifact = data.artifact(store, int(request.match_info[key]))
        if artifact.TYPE_NAME != "ExampleStatistics":
            raise UnsafePathError(
                f"artifact {artifact.id} is a {artifact.TYPE_NAME}, not statistics"
            )
        path = resolve_file(artifact.uri, f"Split-{split}/FeatureStats.pb", (".pb",))
        loaded.append((artifact, dv.load_stats_binary(path)))
    (a, left), (b, right) = loaded
    view = dv.visualize_statistics(
        left, right, left_name=f"#{a.id} {split}", right_name=f"#{b.id} {split}"
    )
    return _view_response(str(view.html))


def _artifact_id(request: web.Request) -> int:
    return int(request.match_info["artifact"])


async def _artifact(request: web.Request) -> web.Response:
    name, store = _store(request)
    links = data.artifact_links(store, _artifact_id(request))
    found = links.lineage
    uri = found.artifact.uri
    renders = found.artifact.TYPE_NAME in _RENDERERS and artifact_dir(uri) is not None
    signatures = _signatures(uri) if found.artifact.TYPE_NAME == "Model" else None
    return _html(
        pages.artifact_page(name, links, view_files(uri), "yes" if renders else None, signatures)
    )


SAVED_MODEL_FILES = ("Format-Serving/saved_model.pb", "saved_model.pb")


def _signatures(uri: str) -> Mapping[str, Any] | str | None:
    """A Model's SavedModel signatures, read from saved_model.pb without TensorFlow (TFX's
    Format-Serving directory, else the artifact's own); a message when they cannot be read;
    None when the model is not a SavedModel inside the artifact's directory."""
    import headwater.io as hio

    for relative in SAVED_MODEL_FILES:
        try:
            path = resolve_file(uri, relative, (".pb",))
        except UnsafePathError:
            continue
        try:
            return hio.read_signatures(path.parent)
        except hio.ModelLoadError as exc:
            return str(exc)
    return None


async def _lineage(request: web.Request) -> web.Response:
    name, store = _store(request)
    hops = min(MAX_HOPS, max(1, _int(request.query.get("hops", "2"), "hops")))
    graph = data.lineage_graph(store, _artifact_id(request), hops)
    return _html(pages.lineage_page(name, graph, hops))


async def _view(request: web.Request) -> web.StreamResponse:
    _, store = _store(request)
    artifact = data.artifact(store, _artifact_id(request))
    path = resolve_view(artifact.uri, request.match_info["path"])
    return _view_response(path.read_text(encoding="utf-8", errors="replace"))


def _view_response(text: str) -> web.Response:
    response = _html(text)
    response.headers["Content-Security-Policy"] = VIEW_CSP
    return response


def _render_schema(uri: str) -> str:
    from headwater import data_validation as dv

    path = resolve_file(uri, "schema.pbtxt", (".pbtxt",))
    return str(dv.visualize_schema(dv.load_schema_text(path)).html)


def _render_evaluation(uri: str) -> str:
    from headwater import model_analysis as ma

    return str(ma.render_html(ma.load_eval_result(uri)))


_RENDERERS: dict[str, Callable[[str], str]] = {
    "Schema": _render_schema,
    "ModelEvaluation": _render_evaluation,
}


async def _render(request: web.Request) -> web.Response:
    _, store = _store(request)
    artifact = data.artifact(store, _artifact_id(request))
    renderer = _RENDERERS.get(artifact.TYPE_NAME)
    if renderer is None or artifact_dir(artifact.uri) is None:
        raise UnsafePathError(f"artifact {artifact.id} ({artifact.TYPE_NAME}) has no rendered view")
    try:
        text = renderer(artifact.uri)
    except (OSError, ValueError) as exc:
        text = pages.error_page(500, f"cannot render {artifact.TYPE_NAME} #{artifact.id}: {exc}")
    return _view_response(text)


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ("app.js", "style.css"):
        raise web.HTTPNotFound(reason=f"no static file {name!r}")
    kind = "application/javascript" if name.endswith(".js") else "text/css"
    return web.Response(text=(STATIC / name).read_text(encoding="utf-8"), content_type=kind)

"""`headwater ui` over a real store: pages, the run graph, lineage, compare, and refusals of
files outside an artifact's own directory (a crafted URI cannot make it serve /etc/passwd)."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.io.processes import free_port
from headwater.orchestration import (
    ComponentFailedError,
    Examples,
    ExampleStatistics,
    InputArtifact,
    LocalDagRunner,
    MetadataStore,
    Model,
    ModelEvaluation,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
    sqlite_metadata_connection_config,
)
from headwater.orchestration.metadata import PIPELINE_CONTEXT, RUN_CONTEXT
from headwater.orchestration.ui import running

VIEW = "<!DOCTYPE html><html><body><h1>made view</h1></body></html>"


@component
def Make(examples: OutputArtifact[Examples], rows: Parameter[int]) -> None:
    """Writes `rows` into a file and an HTML view beside it."""
    os.makedirs(os.path.join(examples.uri, "Split-train"))
    with open(os.path.join(examples.uri, "Split-train", "rows.txt"), "w") as f:
        f.write(str(rows))
    with open(os.path.join(examples.uri, "Split-train", "View.html"), "w") as f:
        f.write(VIEW)


@component
def Fit(
    examples: InputArtifact[Examples], model: OutputArtifact[Model], fail: Parameter[str]
) -> None:
    """Copies the row count into the model; raises when `fail` names an existing file."""
    if os.path.exists(fail):
        raise RuntimeError("Fit was told to fail")
    with (
        open(os.path.join(examples.uri, "Split-train", "rows.txt")) as f,
        open(os.path.join(model.uri, "rows.txt"), "w") as out,
    ):
        out.write(f.read())


def _pipeline(root: str, fail: str, rows: int = 3) -> Pipeline:
    make = Make(rows=rows)
    fit = Fit(examples=make.outputs["examples"], fail=fail)
    return Pipeline("tiny", root, [make, fit])


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """Runs: complete, cached, then a failed Fit; plus crafted artifacts pointing at /etc."""
    root = str(tmp_path_factory.mktemp("tiny"))
    fail = os.path.join(root, "fail-now")
    LocalDagRunner().run(_pipeline(root, fail))
    LocalDagRunner().run(_pipeline(root, fail))
    open(fail, "w").close()
    with pytest.raises(ComponentFailedError):
        LocalDagRunner().run(_pipeline(root, fail, rows=4))
    path = os.path.join(root, "metadata.sqlite")
    writer = MetadataStore(sqlite_metadata_connection_config(path))
    ctx = writer.get_context(PIPELINE_CONTEXT, "tiny")
    crafted = {}
    for name, uri in [("dir", "/etc"), ("file", "/etc/passwd"), ("relative", "../../etc")]:
        proto = writer.to_proto(Examples(uri))
        [crafted[name]] = writer.store.put_artifacts([proto])
        writer.store.put_attributions_and_associations(
            [mlmd.Attribution(artifact_id=crafted[name], context_id=ctx.id)], []
        )
    return path, crafted


@pytest.fixture(scope="module")
def ui(store_path):
    path, _ = store_path
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    with running([store]) as base:
        yield base


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def links(body: str, css: str) -> list[str]:
    return re.findall(rf"class='{css}' href='([^']+)'", body)


def test_index_lists_the_pipeline_with_its_runs(ui):
    status, body, headers = get(ui + "/")
    assert status == 200
    assert "tiny" in body
    assert "3 runs" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    states = re.findall(r"class='badge state-\w+'>(\w+)<", body.split("<tbody>")[1])
    assert states == ["FAILED", "CACHED", "COMPLETE"]


def test_run_page_draws_the_dag_and_links_nodes(ui):
    _, body, _ = get(ui + "/p/tiny")
    first = links(body, "run-link")[-1]
    status, run, _ = get(ui + first)
    assert status == 200
    assert run.count('<g class="node state-complete"') == 2
    assert 'data-from="Make" data-to="Fit"' in run
    nodes = links(run, "node-link")
    assert [n.rsplit("/", 1)[1] for n in nodes] == ["Make", "Fit"]


def test_failed_node_shows_its_error_and_parameters(ui):
    _, body, _ = get(ui + "/p/tiny")
    failed = links(body, "run-link")[0]
    _, run, _ = get(ui + failed)
    assert "state-failed" in run
    status, node, _ = get(ui + failed + "/nodes/Fit")
    assert status == 200
    assert "RuntimeError: Fit was told to fail" in node
    assert "<td>fail</td>" in node


def test_artifact_page_shows_view_producer_consumers_and_lineage(ui):
    _, body, _ = get(ui + "/p/tiny")
    first = links(body, "run-link")[-1]
    _, node, _ = get(ui + first + "/nodes/Make")
    [examples] = links(node, "artifact-link")
    status, page, _ = get(ui + examples)
    assert status == 200
    assert "<td>Examples</td>" in page
    assert "produced by" in page
    assert "read by" in page
    assert "src='" + examples + "/views/Split-train/View.html'" in page
    view_status, view, headers = get(ui + examples + "/views/Split-train/View.html")
    assert view_status == 200
    assert view == VIEW
    assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts")
    _, graph, _ = get(ui + examples + "/lineage")
    assert 'data-id="e' in graph
    assert "Fit" in graph
    assert "Make" in graph


def test_compare_marks_changed_parameters(ui):
    _, body, _ = get(ui + "/p/tiny")
    runs = [r.rsplit("/", 1)[1] for r in links(body, "run-link")]
    status, page, _ = get(ui + f"/p/tiny/compare?a={runs[-1]}&b={runs[0]}")
    assert status == 200
    make_row = page.split("<td>Make</td>")[1].split("</tr>")[0]
    assert "changed" in make_row


def test_run_json_for_live_polling(ui):
    _, body, _ = get(ui + "/p/tiny")
    first = links(body, "run-link")[-1]
    status, text, _ = get(ui + "/api" + first)
    assert status == 200
    assert json.loads(text)["nodes"] == {"Fit": "COMPLETE", "Make": "COMPLETE"}


@pytest.mark.parametrize(
    ("which", "path"),
    [
        ("dir", "passwd"),
        ("dir", "passwd.html"),
        ("file", "x.html"),
        ("relative", "passwd"),
    ],
)
def test_crafted_uris_are_refused(ui, store_path, which, path):
    _, crafted = store_path
    status, body, _ = get(ui + f"/p/tiny/artifacts/{crafted[which]}/views/{path}")
    assert status == 403
    assert "root:" not in body


def test_climbing_out_of_an_artifact_is_refused(ui, store_path):
    _, body, _ = get(ui + "/p/tiny")
    first = links(body, "run-link")[-1]
    _, node, _ = get(ui + first + "/nodes/Make")
    [examples] = links(node, "artifact-link")
    for path in [
        "..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "Split-train%2F..%2F..%2Fx.html",
    ]:
        status, text, _ = get(ui + examples + "/views/" + path)
        assert status in (403, 404), path
        assert "root:" not in text


def test_symlink_out_of_an_artifact_is_refused(ui, store_path):
    path, _ = store_path
    reader = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    examples = next(
        a for a in reader.store.get_artifacts() if a.uri.startswith("/") and "Make" in a.uri
    )
    link = os.path.join(examples.uri, "Split-train", "evil.html")
    os.symlink("/etc/passwd", link)
    try:
        status, text, _ = get(ui + f"/p/tiny/artifacts/{examples.id}/views/Split-train/evil.html")
        assert status == 403
        assert "root:" not in text
        _, page, _ = get(ui + f"/p/tiny/artifacts/{examples.id}")
        assert "evil.html" not in page
    finally:
        os.remove(link)


def test_the_store_is_not_written(store_path, ui):
    path, _ = store_path
    before = os.stat(path).st_mtime_ns
    for url in ["/", "/p/tiny", "/p/nope"]:
        get(ui + url)
    assert os.stat(path).st_mtime_ns == before
    status, _, _ = get(ui + "/p/nope")
    assert status == 404


@pytest.mark.parametrize("option", ["--metadata", "--store"])
def test_headwater_ui_command_serves_on_localhost(store_path, option):
    import subprocess
    import sys
    import time

    path, _ = store_path
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headwater.orchestration.cli",
            "ui",
            option,
            path,
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = ""
        for _ in range(300):  # up to ~60 s for the command to start
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert "tiny" in body
        assert "3 runs" in body
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out


@component
def Evaluate(evaluation: OutputArtifact[ModelEvaluation], accuracy: Parameter[float]) -> None:
    """Writes a small evaluation result the way the Evaluator does."""
    from headwater import model_analysis as ma

    config = ma.EvalConfig(model_specs=(ma.ModelSpec(name="candidate", label_key="y"),))
    overall = ma.SliceMetrics(
        slice_key=(),
        model_name="candidate",
        example_count=10,
        weighted_example_count=10.0,
        metrics={"accuracy": accuracy},
    )
    result = ma.EvalResult(
        eval_config=config, slices=(overall,), validation=ma.ValidationResult(validation_ok=True)
    )
    ma.write_eval_result(result, evaluation.uri)


def test_evaluation_artifact_is_rendered_by_model_analysis(tmp_path):
    root = str(tmp_path / "root")
    for accuracy in (0.75, 0.5):
        LocalDagRunner().run(Pipeline("evals", root, [Evaluate(accuracy=accuracy)]))
    path = os.path.join(root, "metadata.sqlite")
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    evaluation = store.store.get_artifacts()[0]
    runs = [c.name for c in store.store.get_contexts_by_type(RUN_CONTEXT)]
    with running([store]) as base:
        _, page, _ = get(base + f"/p/evals/artifacts/{evaluation.id}")
        assert f"src='/p/evals/artifacts/{evaluation.id}/render'" in page
        status, view, headers = get(base + f"/p/evals/artifacts/{evaluation.id}/render")
        _, compare, _ = get(base + f"/p/evals/compare?a={runs[0]}&b={runs[1]}")
    row = compare.split("<table class='metrics'>")[1].split("</tr>")[1]
    assert re.findall(r"<td>([^<]*)</td>", row) == ["Overall", "accuracy", "0.75", "0.5", "-0.25"]
    assert status == 200
    assert "accuracy" in view
    assert "0.75" in view
    assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts")


def test_statistics_comparison_of_crafted_artifacts_is_refused(ui, store_path):
    _, crafted = store_path
    a, b = crafted["dir"], crafted["file"]
    for split in ["train", "..", "..%2F..%2Fetc"]:
        status, text, _ = get(ui + f"/p/tiny/compare/statistics/{a}/{b}/{split}")
        assert status in (403, 404), split
        assert "root:" not in text


def test_requests_for_another_host_name_are_refused(ui):
    """A page elsewhere cannot read the UI through DNS rebinding: the Host must be loopback."""
    port = ui.rsplit(":", 1)[1]
    for host, expected in [
        ("evil.example", 403),
        (f"evil.example:{port}", 403),
        (f"localhost:{port}", 200),
        (f"127.0.0.1:{port}", 200),
    ]:
        request = urllib.request.Request(ui + "/", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == expected, host


def test_an_artifact_reused_by_many_runs_lists_the_newest(tmp_path):
    """An artifact cached by 60 runs and read 70 times: 20 of each listed, 12 readers drawn."""
    from headwater.orchestration.metadata import NODE_CONTEXT

    path = str(tmp_path / "metadata.sqlite")
    writer = MetadataStore(sqlite_metadata_connection_config(path))
    made = Examples(str(tmp_path / "examples"))
    os.makedirs(made.uri)
    pipeline_ctx, run_ctx = writer.start_run("busy", "run-0")
    maker = [pipeline_ctx, run_ctx, writer.ensure_context(NODE_CONTEXT, "busy.Make")]
    writer.put_execution(type_name="Make", state="COMPLETE", contexts=maker, outputs={"x": [made]})
    for r in range(1, 61):
        pipeline_ctx, run_ctx = writer.start_run("busy", f"run-{r}")
        contexts = [pipeline_ctx, run_ctx, maker[2]]
        writer.put_execution(
            type_name="Make", state="CACHED", contexts=contexts, outputs={"x": [made]}
        )
    reader_ctx = writer.ensure_context(NODE_CONTEXT, "busy.Read")
    for _ in range(70):
        writer.put_execution(
            type_name="Read",
            state="COMPLETE",
            contexts=[pipeline_ctx, run_ctx, reader_ctx],
            inputs={"x": [made]},
        )
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    with running([store]) as base:
        _, page, _ = get(base + f"/p/busy/artifacts/{made.id}")
        _, graph, _ = get(base + f"/p/busy/artifacts/{made.id}/lineage")
    assert page.count("<td>reused (cached) by</td>") == 20
    assert page.count("<td>read by</td>") == 20
    assert "and 40 older cached reuses" in page
    assert "and 50 older readers" in page
    assert page.count("<td>produced by</td>") == 1
    assert "in run run-0" in page.split("<td>produced by</td>")[1].split("</tr>")[0]
    assert graph.count('class="node execution') == 1 + 12
    assert "58 older readers not drawn" in graph


@component
def Count(statistics: OutputArtifact[ExampleStatistics], colours: Parameter[str]) -> None:
    """Statistics of a split whose `colour` column holds the comma-separated `colours`."""
    import pyarrow as pa

    from headwater import data_validation as dv

    values = colours.split(",")
    table = pa.table({"colour": values, "size": [float(len(v)) for v in values]})
    statistics.write_split("train", dv.generate_statistics(table))


def test_compare_shows_drift_distances_per_feature(tmp_path):
    root = str(tmp_path / "root")
    first, second = "red,red,red,blue", "red,blue,blue,blue,green"
    for colours in (first, second):
        LocalDagRunner().run(Pipeline("drift", root, [Count(colours=colours)]))
    path = os.path.join(root, "metadata.sqlite")
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    runs = [c.name for c in store.store.get_contexts_by_type(RUN_CONTEXT)]
    with running([store]) as base:
        status, compare, _ = get(base + f"/p/drift/compare?a={runs[0]}&b={runs[1]}")
    assert status == 200
    drift = compare.split("<table class='drift drift-train'>")[1].split("</table>")[0]
    rows = [re.findall(r"<td>([^<]*)</td>", r) for r in drift.split("</tr>")[1:-1]]
    found = {r[0]: r for r in rows}
    assert [found["colour"][1], found["size"][1]] == ["STRING", "FLOAT"]
    largest = [max(float(x) for x in r[2:4] if x != "-") for r in rows]
    assert largest == sorted(largest, reverse=True)  # the largest move first
    # L-infinity: the largest move of a value's share, from run 1 to run 2 (red: 3/4 -> 1/5).
    a, b = first.split(","), second.split(",")
    shares = {v: (a.count(v) / len(a), b.count(v) / len(b)) for v in {*a, *b}}
    colour, size = found["colour"], found["size"]
    assert float(colour[2]) == pytest.approx(max(abs(x - y) for x, y in shares.values()), 1e-3)
    assert colour[4].endswith(max(shares, key=lambda v: abs(shares[v][0] - shares[v][1])))
    assert size[2] == "-"  # no L-infinity for a number; JS divergence of the histograms
    assert 0.0 < float(size[3]) <= 1.0


def _saved_model_bytes() -> bytes:
    """A saved_model.pb with one "serve" MetaGraph and two signatures, built with TensorFlow's
    own MetaGraphDef proto (TensorBoard's copy, which needs no TensorFlow)."""
    meta_graph_pb2 = pytest.importorskip("tensorboard.compat.proto.meta_graph_pb2")
    graph = meta_graph_pb2.MetaGraphDef()
    graph.meta_info_def.tags.append("serve")
    predict = graph.signature_def["serving_default"]
    predict.method_name = "tensorflow/serving/predict"
    predict.inputs["examples"].name = "serving_default_examples:0"
    predict.inputs["examples"].dtype = 7  # DT_STRING
    predict.inputs["examples"].tensor_shape.dim.add(size=-1)
    predict.outputs["species"].dtype = 1  # DT_FLOAT
    predict.outputs["species"].tensor_shape.dim.add(size=-1)
    predict.outputs["species"].tensor_shape.dim.add(size=3)
    raw = graph.signature_def["serving_raw"]
    raw.method_name = "tensorflow/serving/predict"
    raw.inputs["body_mass_g"].dtype = 9  # DT_INT64
    raw.inputs["body_mass_g"].tensor_shape.unknown_rank = True
    payload = graph.SerializeToString()
    size, length = len(payload), b""
    while True:  # SavedModel.meta_graphs is field 2, length-delimited
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return b"\x12" + length + payload


@component
def Export(model: OutputArtifact[Model], how: Parameter[str]) -> None:
    """A model directory: a SavedModel in Format-Serving, a corrupt one, or none."""
    os.makedirs(os.path.join(model.uri, "Format-Serving"))
    path = os.path.join(model.uri, "Format-Serving", "saved_model.pb")
    if how == "saved_model":
        with open(path, "wb") as f:
            f.write(_saved_model_bytes())
    elif how == "corrupt":
        with open(path, "wb") as f:
            f.write(b"\x12\xff\xff")
    elif how == "outside":
        os.symlink("/etc/passwd", path)


def test_model_page_shows_its_signatures(tmp_path):
    _saved_model_bytes()  # skips when TensorBoard's protos are absent
    root = str(tmp_path / "root")
    for how in ("saved_model", "corrupt", "none", "outside"):
        LocalDagRunner().run(Pipeline("models", root, [Export(how=how)]))
    path = os.path.join(root, "metadata.sqlite")
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    ids = [a.id for a in store.store.get_artifacts()]
    with running([store]) as base:
        pages = [get(base + f"/p/models/artifacts/{i}")[1] for i in ids]
    good, corrupt, none, outside = pages
    tables = re.findall(r"<h3 class='signature'>(.*?)</table>", good)
    assert [re.match(r"[^ ]+", t).group(0) for t in tables] == ["serving_default", "serving_raw"]
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in tables[0].split("</tr>")[1:-1]]
    assert rows == [
        ["input", "<code>examples</code>", "string", "DT_STRING", "[None]"],
        ["output", "<code>species</code>", "float32", "DT_FLOAT", "[None, 3]"],
    ]
    assert "<td>int64</td><td>DT_INT64</td><td>unknown rank</td>" in tables[1]
    assert "tensorflow/serving/predict" in tables[0]
    assert "corrupt saved_model.pb" in corrupt
    assert "Signatures" not in none
    assert "Signatures" not in outside  # a link out of the artifact is not followed
    assert "root:" not in outside

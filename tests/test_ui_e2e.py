"""End to end in a real headless Chromium: `headwater ui` over the store of a real pipeline run
(CsvExampleGen, StatisticsGen, SchemaGen, ExampleValidator), navigated pipeline -> run -> node ->
artifact -> view -> lineage -> compare, with no console error on any page."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pytest

from headwater.orchestration import (
    CsvExampleGen,
    ExampleValidator,
    LocalDagRunner,
    MetadataStore,
    ModelEvaluation,
    OutputArtifact,
    Pipeline,
    SchemaGen,
    StatisticsGen,
    component,
    sqlite_metadata_connection_config,
)
from headwater.orchestration.ui import running

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
PENGUIN_DATA = REPO / "examples" / "penguin" / "data"
sys.path.insert(0, str(REPO / "packages" / "model-analysis" / "tests"))

from evaluation_views import (  # noqa: E402
    CHROMIUM,
    HOURS,
    candidate_vs_baseline,
    render,
    screenshot,
    taxi_like_table,
)

FEATURES = ["body_mass_g", "culmen_depth_mm", "culmen_length_mm", "flipper_length_mm", "species"]

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (.ci/run installs it)"
)


def open_page(url: str, budget_ms: int = 3000) -> str:
    """The DOM of `url` after its scripts ran; fails on any console error or uncaught exception."""
    rendered = render(url, budget_ms=budget_ms, check=False)
    assert not rendered.errors, f"console errors on {url}: {rendered.errors}"
    assert rendered.dom.strip(), f"Chromium rendered nothing for {url}: {rendered.log[-2000:]}"
    return rendered.dom


def keep_screenshot(url: str, name: str) -> None:
    """A PNG of `url` in $HEADWATER_UI_SCREENSHOTS, when set (CI keeps them with the run)."""
    folder = os.environ.get("HEADWATER_UI_SCREENSHOTS")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    screenshot(url, os.path.join(folder, name), size="1280,1000")


def hrefs(dom: str, css: str) -> list[str]:
    """The links with class `css` in a DOM, in page order."""
    return [h.replace("&amp;", "&") for h in re.findall(rf'<a class="{css}" href="([^"]+)"', dom)]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A store with two runs of a four-node pipeline (the second cached), served read-only."""
    root = str(tmp_path_factory.mktemp("ui-root"))
    for _ in range(2):
        example_gen = CsvExampleGen(input_base=str(PENGUIN_DATA))
        statistics = StatisticsGen(examples=example_gen.outputs["examples"])
        schema = SchemaGen(statistics=statistics.outputs["statistics"])
        validator = ExampleValidator(
            statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
        )
        nodes = [example_gen, statistics, schema, validator]
        LocalDagRunner(quiet=True).run(Pipeline("penguin_data", root, nodes))
    path = os.path.join(root, "metadata.sqlite")
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    with running([store]) as base:
        yield base


@needs_chromium
def test_navigate_pipeline_run_node_artifact_lineage_compare(ui):
    index = open_page(ui + "/")
    assert "penguin_data" in index
    assert "2 runs" in index
    runs = hrefs(index, "run-link")
    assert len(runs) == 2
    first, second = runs[1], runs[0]  # newest first

    run = open_page(ui + first)
    keep_screenshot(ui + "/", "pipelines.png")
    keep_screenshot(ui + first, "run.png")
    assert run.count('class="node state-complete"') == 4
    for edge in [
        ("CsvExampleGen", "StatisticsGen"),
        ("StatisticsGen", "SchemaGen"),
        ("StatisticsGen", "ExampleValidator"),
        ("SchemaGen", "ExampleValidator"),
    ]:
        assert f'data-from="{edge[0]}" data-to="{edge[1]}"' in run
    nodes = hrefs(run, "node-link")
    assert [n.rsplit("/", 1)[1] for n in nodes] == [
        "CsvExampleGen",
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
    ]
    assert open_page(ui + second).count('class="node state-cached"') == 4

    node = open_page(ui + nodes[1])
    assert "StatisticsGen, execution" in node
    [_examples, statistics] = hrefs(node, "artifact-link")
    assert "Examples #" in node
    assert "ExampleStatistics #" in node

    artifact = open_page(ui + statistics)
    keep_screenshot(ui + statistics, "artifact.png")
    keep_screenshot(ui + statistics + "/lineage", "lineage.png")
    assert "produced by" in artifact
    readers = re.findall(r'class="execution-link" href="[^"]+/nodes/(\w+)"', artifact)
    assert readers[0] == "StatisticsGen"
    assert {"SchemaGen", "ExampleValidator"} <= set(readers)
    views = re.findall(r'<iframe class="view"[^>]* src="([^"]+)"', artifact)
    assert [v.rsplit("/", 2)[1:] for v in views] == [
        ["Split-eval", "FeatureStats.html"],
        ["Split-train", "FeatureStats.html"],
    ]
    view = open_page(ui + views[1])
    for feature in FEATURES:
        assert feature in view

    lineage = open_page(ui + statistics + "/lineage")
    for name in ["CsvExampleGen", "SchemaGen", "ExampleValidator", "Schema #", "Examples #"]:
        assert name in lineage
    schema_links = re.findall(
        r'<a href="(/p/penguin_data/artifacts/\d+)"><g class="node artifact"'
        r"[^>]*><title>Schema ",
        lineage,
    )
    assert schema_links
    schema = open_page(ui + schema_links[0])
    [rendered] = re.findall(r'<iframe class="view"[^>]* src="([^"]+/render)"', schema)
    schema_view = open_page(ui + rendered)
    for feature in FEATURES:
        assert feature in schema_view

    compare = open_page(
        ui + f"/p/penguin_data/compare?a={first.rsplit('/', 1)[1]}&b={second.rsplit('/', 1)[1]}"
    )
    assert compare.count("state-complete") >= 4
    assert compare.count("state-cached") >= 4
    side_by_side = re.findall(
        r'<iframe class="view"[^>]* src="([^"]+/compare/statistics/[^"]+)"', compare
    )
    assert [v.rsplit("/", 1)[1] for v in side_by_side] == ["train", "eval"]
    # The second run reused the first one's statistics (cached): no feature moved.
    drift = compare.split('<table class="drift drift-train">')[1].split("</table>")[0]
    rows = [re.findall(r"<td>([^<]*)</td>", r) for r in drift.split("</tr>")[1:-1]]
    assert sorted(r[0] for r in rows) == FEATURES
    assert {r[3] for r in rows} == {"0"}  # JS divergence
    both = open_page(ui + side_by_side[0])
    for feature in FEATURES:
        assert feature in both


@needs_chromium
def test_a_running_run_polls_until_it_finishes(tmp_path):
    """A RUNNING run's page polls the server; once the run is finished it shows COMPLETE."""
    import json
    import urllib.request

    from headwater.orchestration.metadata import NODE_CONTEXT

    path = str(tmp_path / "metadata.sqlite")
    writer = MetadataStore(sqlite_metadata_connection_config(path))
    pipeline_ctx, run_ctx = writer.start_run("live", "run-1")  # recorded with this process's pid
    contexts = [pipeline_ctx, run_ctx, writer.ensure_context(NODE_CONTEXT, "live.Make")]
    execution = writer.put_execution(
        type_name="Make",
        state="RUNNING",
        contexts=contexts,
        properties={"pid": os.getpid(), "host": socket.gethostname()},
    )
    reader = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    with running([reader]) as base:
        page = open_page(base + "/p/live/runs/run-1", budget_ms=7000)
        assert 'data-state="RUNNING"' in page
        assert re.search(r"running; checked \d+ times", page)
        writer.put_execution(
            type_name="Make", state="COMPLETE", contexts=contexts, execution_id=execution
        )
        writer.finish_run(run_ctx, "COMPLETE")
        with urllib.request.urlopen(base + "/api/p/live/runs/run-1", timeout=60) as response:
            assert json.loads(response.read())["state"] == "COMPLETE"
        done = open_page(base + "/p/live/runs/run-1", budget_ms=3000)
        assert 'data-state="COMPLETE"' in done
        assert 'class="node state-complete"' in done


@component
def EvaluateTaxiLike(evaluation: OutputArtifact[ModelEvaluation]) -> None:
    """A real evaluation of a candidate against a baseline (prediction columns of synthetic
    taxi-like data): hour and payment slices, bootstrap intervals, a value and a change
    threshold on AUC."""
    from headwater import model_analysis as ma

    table = taxi_like_table(
        seed=3, n=2000, payments=["Cash", "Credit Card"], candidate="candidate", baseline="baseline"
    )
    config = candidate_vs_baseline(
        label="tips",
        candidate=("candidate", "candidate"),
        baseline=("baseline", "baseline"),
        slices=("payment_type", "pickup_hour"),
        metrics=("ExampleCount", "AUC", "CalibrationPlot"),
        auc_lower_bound=0.9,
    )
    ma.run_model_analysis(config, table, output_path=evaluation.uri)


@needs_chromium
def test_evaluation_view_in_the_ui_filters_by_slice_feature(tmp_path):
    """The evaluation rendered inside the UI (sandboxed, inline script only) runs without a
    console error and its slicing browser applies the feature filter from the URL."""
    root = str(tmp_path / "root")
    LocalDagRunner(quiet=True).run(Pipeline("taxi_eval", root, [EvaluateTaxiLike()]))
    store = MetadataStore(
        sqlite_metadata_connection_config(os.path.join(root, "metadata.sqlite")), read_only=True
    )
    [evaluation] = store.store.get_artifacts()
    with running([store]) as base:
        page = open_page(f"{base}/p/taxi_eval/artifacts/{evaluation.id}")
        assert f'src="/p/taxi_eval/artifacts/{evaluation.id}/render"' in page
        view = open_page(f"{base}/p/taxi_eval/artifacts/{evaluation.id}/render#feature=pickup_hour")
        keep_screenshot(f"{base}/p/taxi_eval/artifacts/{evaluation.id}/render", "evaluation.png")
    rows = re.findall(
        r'<tr data-slice="([^"]+)" data-group="[^"]*"( style="display: none;")?', view
    )
    assert [name for name, hidden in rows if not hidden] == [
        "Overall",
        *[f"pickup_hour={h}" for h in HOURS],
    ]
    assert [name for name, hidden in rows if hidden] == [
        "payment_type=Cash",
        "payment_type=Credit Card",
    ]
    assert 'id="blessing">BLESSED' in view
    assert view.count('class="bar-cand') == 1 + 2 + len(HOURS)

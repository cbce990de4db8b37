"""BeamDagRunner on real components (their own Beam pipelines run inside the node steps):
ExampleGen, statistics, schema and validation of the penguin data record what a local run
records, with the same files, and a second Beam run is answered from the cache."""

from __future__ import annotations

import os

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import (
    BeamDagRunner,
    CsvExampleGen,
    ExampleValidator,
    LocalDagRunner,
    MetadataStore,
    Pipeline,
    SchemaGen,
    StatisticsGen,
    pipeline_runs,
)

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUIN_DATA = os.path.join(REPO, "examples", "penguin", "data")


def _pipeline(root):
    gen = CsvExampleGen(input_base=PENGUIN_DATA)
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    check = ExampleValidator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]
    )
    return Pipeline("small", str(root), [gen, stats, schema, check])


def _records(root):
    """Per run: its state and (node, state, output key, files under the output) per execution."""
    store = MetadataStore(_pipeline(root).connection_config())
    out = []
    for run in pipeline_runs(store, "small"):
        rows = []
        for e in run.executions:
            events = [v for v in store.events_of_executions([e.id]) if v.type == mlmd.Event.OUTPUT]
            for event, artifact in zip(
                events, store.get_artifacts([v.artifact_id for v in events]), strict=True
            ):
                files = sorted(
                    os.path.relpath(os.path.join(d, f), artifact.uri)
                    for d, _, names in os.walk(artifact.uri)
                    for f in names
                )
                rows.append((e.node_id, e.state, event.path.steps[0].key, files))
        out.append((run.state, rows))
    return out


def test_beam_run_of_real_components_equals_a_local_run_then_caches(tmp_path):
    first = BeamDagRunner(quiet=True).run(_pipeline(tmp_path / "beam"))
    LocalDagRunner(quiet=True).run(_pipeline(tmp_path / "local"))
    beam, local = _records(tmp_path / "beam"), _records(tmp_path / "local")
    assert beam == local
    [(state, rows)] = beam
    assert state == "COMPLETE"
    assert [r[:3] for r in rows] == [
        ("CsvExampleGen", "COMPLETE", "examples"),
        ("StatisticsGen", "COMPLETE", "statistics"),
        ("SchemaGen", "COMPLETE", "schema"),
        ("ExampleValidator", "COMPLETE", "anomalies"),
    ]
    assert "schema.pbtxt" in rows[2][3]
    with open(os.path.join(first.output("SchemaGen", "schema").uri, "schema.pbtxt")) as f:
        assert 'name: "species"' in f.read()

    second = BeamDagRunner(quiet=True).run(_pipeline(tmp_path / "beam"))
    assert [n.status for n in second.nodes] == ["CACHED"] * 4

    def ids(result):
        return [
            [(k, [(a.id, a.uri) for a in v]) for k, v in n.outputs.items()] for n in result.nodes
        ]

    assert ids(second) == ids(first)
    assert _records(tmp_path / "beam")[1][0] == "CACHED"

"""What the ML Metadata server tests share: the pipeline check each store runs."""

from __future__ import annotations

import os

from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import CsvExampleGen, LocalDagRunner, MetadataStore, Pipeline

PENGUIN = os.path.join(os.path.dirname(__file__), "..", "examples", "penguin", "data")


def check_pipeline_records_and_caches(config: mlmd.ConnectionConfig, root: str, name: str) -> None:
    """Run a one-component pipeline twice on `config`: recorded there (not in SQLite), cached."""

    def pipeline() -> Pipeline:
        gen = CsvExampleGen(input_base=PENGUIN)
        return Pipeline(name, root, [gen], metadata_connection_config=config)

    first = LocalDagRunner(quiet=True).run(pipeline())
    second = LocalDagRunner(quiet=True).run(pipeline())
    assert [n.status for n in first.nodes] == ["COMPLETE"]
    assert [n.status for n in second.nodes] == ["CACHED"]
    assert not os.path.exists(os.path.join(root, "metadata.sqlite"))
    store = MetadataStore(config).store
    assert [c.name for c in store.get_contexts_by_type("pipeline")] == [name]
    states = [e.last_known_state for e in sorted(store.get_executions(), key=lambda e: e.id)]
    assert states == [mlmd.Execution.COMPLETE, mlmd.Execution.CACHED]
    [examples] = store.get_artifacts()
    assert examples.state == mlmd.Artifact.LIVE
    assert examples.properties["split_names"].string_value == '["train", "eval"]'
    assert os.path.isdir(os.path.join(examples.uri, "Split-train"))

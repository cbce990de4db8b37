"""End to end: the Transform component on penguin data, analyzing train, transforming all."""

from __future__ import annotations

import os

import numpy as np
import pytest

from headwater.orchestration import (
    CsvExampleGen,
    LocalDagRunner,
    Pipeline,
    SchemaGen,
    StatisticsGen,
)
from headwater.orchestration.components.transform import Transform

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUIN = os.path.join(REPO, "examples", "penguin")
FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("transform_e2e"))
    example_gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"))
    stats = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
    )
    again = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
        analyzer_cache=transform.outputs["updated_analyzer_cache"],
        materialize=False,
        disable_statistics=True,
    ).with_id("TransformAgain")
    # The same Transform forced onto Beam (a runner named): the small penguin input otherwise
    # runs the in-memory twin. Both must write the same files.
    on_beam = (
        Transform(
            examples=example_gen.outputs["examples"],
            schema=schema.outputs["schema"],
            module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
        )
        .with_id("TransformOnBeam")
        .with_beam_pipeline_args(["--runner=FnApiRunner"])
    )
    pipeline = Pipeline(
        "transform_e2e", root, [example_gen, stats, schema, transform, again, on_beam]
    )
    return LocalDagRunner(quiet=True).run(pipeline)


def _column(batches, name):
    import pyarrow as pa

    col = pa.Table.from_batches(list(batches)).column(name).combine_chunks()
    if pa.types.is_list(col.type):
        col = col.flatten()
    return col.to_numpy().astype(np.float64)


def test_transform_graph_has_tft_layout_and_names(run):
    import headwater.transform as tft

    graph = run.output("Transform", "transform_graph")
    output = tft.TransformOutput(graph.uri)
    for sub in (
        "transform_fn/saved_model.pb",
        "transformed_metadata/schema.pbtxt",
        "metadata/schema.pbtxt",
    ):
        assert os.path.exists(os.path.join(graph.uri, sub)), sub
    assert sorted(output.transformed_feature_spec()) == sorted(
        [f"{f}_xf" for f in FEATURES] + ["species_xf"]
    )


def test_every_split_is_z_scored_with_train_statistics(run):
    from headwater.io import read_tfrecord

    examples = run.output("CsvExampleGen", "examples")
    transformed = run.output("Transform", "transformed_examples")
    train = list(examples.split("train").read_batches())
    train_cols = {f: _column(train, f) for f in FEATURES}
    for split in ("train", "eval"):
        raw = list(examples.split(split).read_batches())
        out = list(read_tfrecord(os.path.join(transformed.uri, f"Split-{split}")))
        assert sum(b.num_rows for b in out) == sum(b.num_rows for b in raw) > 0
        for f in FEATURES:
            x, ref = _column(raw, f), train_cols[f]
            want = (x - np.nanmean(ref)) / np.nanstd(ref)
            np.testing.assert_allclose(_column(out, f + "_xf"), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(_column(out, "species_xf"), _column(raw, "species"))


def test_pre_and_post_transform_statistics_are_written(run):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    import headwater.data_validation as dv

    examples = run.output("CsvExampleGen", "examples")
    rows = {s: sum(b.num_rows for b in examples.split(s).read_batches()) for s in ("train", "eval")}
    pre = dv.load_stats_binary(
        os.path.join(run.output("Transform", "pre_transform_stats").uri, "FeatureStats.pb")
    )
    post = dv.load_stats_binary(
        os.path.join(run.output("Transform", "post_transform_stats").uri, "FeatureStats.pb")
    )
    assert pre.datasets[0].num_examples == rows["train"]  # the analyzed split
    assert post.datasets[0].num_examples == rows["train"] + rows["eval"]  # every split
    post_names = {f.path.step[0] for f in post.datasets[0].features}
    assert post_names == {f"{f}_xf" for f in FEATURES} | {"species_xf"}
    pre_schema = run.output("Transform", "pre_transform_schema").read()
    assert {f.name for f in pre_schema.feature} >= set(FEATURES) | {"species"}
    post_schema = run.output("Transform", "post_transform_schema").read()
    assert {f.name for f in post_schema.feature} == post_names
    anomalies = anomalies_pb2.Anomalies()
    path = os.path.join(run.output("Transform", "post_transform_anomalies").uri, "SchemaDiff.pb")
    with open(path, "rb") as f:
        anomalies.ParseFromString(f.read())
    assert not anomalies.anomaly_info  # transformed data conforms to its own schema
    (culmen,) = [f for f in post.datasets[0].features if f.path.step[0] == "culmen_length_mm_xf"]
    train = _column(list(examples.split("train").read_batches()), "culmen_length_mm")
    both = np.concatenate(
        [_column(list(examples.split(s).read_batches()), "culmen_length_mm") for s in rows]
    )
    z = (both - np.nanmean(train)) / np.nanstd(train)
    assert culmen.num_stats.mean == pytest.approx(float(np.nanmean(z)), abs=1e-4)


def test_analyzer_cache_is_reused_by_a_later_run(run):
    first = run.output("Transform", "updated_analyzer_cache").uri
    second = run.output("TransformAgain", "updated_analyzer_cache").uri
    files = sorted(
        os.path.relpath(os.path.join(d, f), first) for d, _, fs in os.walk(first) for f in fs
    )
    assert files  # one accumulator file for the analyzed train split
    for rel in files:  # carried over and not rewritten: the cached accumulators were used
        assert (
            os.stat(os.path.join(second, rel)).st_mtime_ns
            == os.stat(os.path.join(first, rel)).st_mtime_ns
        )
    a = tft_output(run, "Transform")
    b = tft_output(run, "TransformAgain")
    assert a.transformed_feature_spec() == b.transformed_feature_spec()
    np.testing.assert_array_equal(_z(a), _z(b))


def test_the_in_memory_and_beam_paths_write_the_same_files(run):
    outputs = (
        "transform_graph",
        "transformed_examples",
        "pre_transform_schema",
        "pre_transform_stats",
        "post_transform_schema",
        "post_transform_stats",
        "post_transform_anomalies",
        "updated_analyzer_cache",
    )
    assert run.node("Transform").status == run.node("TransformOnBeam").status == "COMPLETE"
    for name in outputs:
        plain = _files(run.output("Transform", name).uri)
        beam = _files(run.output("TransformOnBeam", name).uri)
        assert plain, name
        if name == "post_transform_stats":
            # Beam merges the splits' partial statistics in whatever order its bundles finish
            # (two Beam runs differ in the last bits of a float sum, too): equal to 12 digits.
            assert plain.keys() == beam.keys()
            plain = {k: _stats_text(v) for k, v in plain.items()}
            beam = {k: _stats_text(v) for k, v in beam.items()}
        if name == "transform_graph":
            # A TF2 SavedModel names its traced functions with a per-process counter, so the
            # graph files differ in those names; the same signatures, assets and metadata, and
            # the byte-identical transformed examples below, show it is the same function.
            from headwater.io import read_signatures

            graph = ("transform_fn/saved_model.pb", "transform_fn/fingerprint.pb")
            assert all(k in plain and k in beam for k in graph)
            for key in graph:
                del plain[key], beam[key]
            assert read_signatures(
                os.path.join(run.output("Transform", name).uri, "transform_fn")
            ) == read_signatures(
                os.path.join(run.output("TransformOnBeam", name).uri, "transform_fn")
            )
        assert plain == beam, name


def _stats_text(data):
    import re

    from tensorflow_metadata.proto.v0 import statistics_pb2

    text = str(statistics_pb2.DatasetFeatureStatisticsList.FromString(data))
    return re.sub(r"-?\d+\.\d+(e[-+]?\d+)?", lambda m: f"{float(m.group()):.12g}", text)


def _files(root):
    """Every file under `root`, relative path -> bytes."""
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def test_disabled_statistics_leave_the_outputs_empty(run):
    for name in ("pre_transform_stats", "post_transform_stats", "post_transform_anomalies"):
        assert not os.listdir(run.output("TransformAgain", name).uri)


def tft_output(run, component):
    import headwater.transform as tft

    return tft.TransformOutput(run.output(component, "transform_graph").uri)


def _z(output):
    """culmen_length_mm_xf of one serving-like row (culmen length 40 mm)."""
    import tensorflow as tf

    spec = output.raw_feature_spec()["culmen_length_mm"]
    value = tf.constant([[40.0]], spec.dtype)
    if isinstance(spec, tf.io.VarLenFeature):
        value = tf.sparse.from_dense(value)
    elif not spec.shape:
        value = tf.reshape(value, [1])
    out = output.transform_raw_features({"culmen_length_mm": value})["culmen_length_mm_xf"]
    return tf.sparse.to_dense(out).numpy() if isinstance(out, tf.SparseTensor) else out.numpy()

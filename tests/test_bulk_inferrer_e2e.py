"""End to end: BulkInferrer in a pipeline (CsvExampleGen -> Importer'd model and blessing ->
BulkInferrer): PredictionLogs and Parquet columns with TFX's names and layouts, equal to the
model's weights; skipped with a record when not blessed; a NaN model fails with nothing LIVE."""

from __future__ import annotations

import os
import threading

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from headwater.orchestration import (
    BulkInferrer,
    ComponentFailedError,
    CsvExampleGen,
    Importer,
    InferenceResult,
    LocalDagRunner,
    MetadataStore,
    Model,
    ModelBlessing,
    Pipeline,
)

pytestmark = pytest.mark.e2e

W1, W2, B = 0.8, -1.2, 0.3
ROWS = 240


def _save_model(path: str) -> None:
    """serving_default: serialized tf.Example -> probability; sqrt: NaN for negative x1."""
    import tensorflow as tf

    spec = {
        "x1": tf.io.FixedLenFeature([], tf.float32),
        "x2": tf.io.FixedLenFeature([], tf.float32),
    }

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            f = tf.io.parse_example(examples, spec)
            return {"probability": tf.sigmoid(W1 * f["x1"] + W2 * f["x2"] + B)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def sqrt(self, examples):
            return {"root": tf.sqrt(tf.io.parse_example(examples, spec)["x1"])}

    module = Model()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve, "sqrt": module.sqrt}
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("bulk")
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "id": np.arange(ROWS, dtype=np.int64),
            "x1": rng.normal(size=ROWS).round(3),
            "x2": rng.normal(size=ROWS).round(3),
        }
    )
    (root / "data").mkdir()
    pacsv.write_csv(table, root / "data" / "rows.csv")
    _save_model(str(root / "model" / "Format-Serving"))
    for name, blessed in (("blessed", "BLESSED"), ("not_blessed", "NOT_BLESSED")):
        (root / name).mkdir()
        (root / name / blessed).write_text("")
    return root


def _pipeline(root, name: str, blessed: bool, beam_args=(), **params) -> Pipeline:
    gen = CsvExampleGen(input_base=str(root / "data"))
    model = Importer(str(root / "model"), Model).with_id("import_model")
    blessing = Importer(
        str(root / ("blessed" if blessed else "not_blessed")),
        ModelBlessing,
        custom_properties={"blessed": int(blessed)},
    ).with_id("import_blessing")
    inferrer = BulkInferrer(
        examples=gen.outputs["examples"],
        model=model.outputs["result"],
        model_blessing=blessing.outputs["result"],
        **params,
    )
    return Pipeline(
        name, str(root / name), [gen, model, blessing, inferrer], beam_pipeline_args=beam_args
    )


def test_blessed_model_writes_prediction_logs_and_columns(workspace):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    import headwater.io as hio

    result = LocalDagRunner(quiet=True).run(
        _pipeline(
            workspace,
            "inferred",
            True,
            data_spec={"example_splits": ["eval"]},
            output_columns=["id"],
        )
    )
    node = result.node("BulkInferrer")
    [inference] = node.outputs["inference_result"]
    [output_examples] = node.outputs["output_examples"]
    assert inference.custom_properties["inferred"] == 1
    assert inference.custom_properties["inferred_splits"] == "eval"
    assert os.listdir(inference.uri) == ["prediction_logs-00000-of-00001.gz"]
    path = os.path.join(inference.uri, "prediction_logs-00000-of-00001.gz")
    logs = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(path, compression_type="GZIP")
    ]
    assert inference.custom_properties["num_examples"] == len(logs)
    assert 0 < len(logs) < ROWS
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        (example,) = request.inputs["examples"].string_val
        row = hio.decode_examples([example]).to_pylist()[0]
        expected = 1 / (1 + np.exp(-(W1 * row["x1"] + W2 * row["x2"] + B)))
        (probability,) = log.predict_log.response.outputs["probability"].float_val
        assert probability == pytest.approx(expected, rel=1e-5)
    assert output_examples.split_name_list == ["eval"]
    assert output_examples.custom_properties["payload_format"] == "FORMAT_PARQUET"
    split_dir = os.path.join(output_examples.uri, "Split-eval")
    assert os.listdir(split_dir) == ["data_parquet-00000-of-00001.parquet"]
    columns = pq.read_table(os.path.join(split_dir, "data_parquet-00000-of-00001.parquet"))
    assert columns.column_names == ["id", "probability"]
    assert columns.num_rows == len(logs)
    data = pacsv.read_csv(workspace / "data" / "rows.csv")
    ids, x1s, x2s = (data[c].to_pylist() for c in ("id", "x1", "x2"))
    by_id = {i: (x1, x2) for i, x1, x2 in zip(ids, x1s, x2s, strict=True)}
    ids, probabilities = columns["id"].to_pylist(), columns["probability"].to_pylist()
    for i, probability in zip(ids, probabilities, strict=True):
        x1, x2 = by_id[i]
        assert probability == pytest.approx(1 / (1 + np.exp(-(W1 * x1 + W2 * x2 + B))), rel=1e-5)


def test_not_blessed_model_is_skipped_with_a_record(workspace):
    result = LocalDagRunner(quiet=True).run(_pipeline(workspace, "skipped", False))
    [inference] = result.node("BulkInferrer").outputs["inference_result"]
    assert inference.custom_properties["inferred"] == 0
    assert os.listdir(inference.uri) == ["NOT_INFERRED"]
    with open(os.path.join(inference.uri, "NOT_INFERRED")) as f:
        assert "was not blessed" in f.read()


def test_nan_outputs_fail_the_component_and_leave_nothing_live(workspace):
    pipeline = _pipeline(workspace, "nan", True, model_spec={"model_signature_name": ["sqrt"]})
    with pytest.raises(
        ComponentFailedError, match=r"signature 'sqrt' output 'root' is NaN in \d+ of"
    ):
        LocalDagRunner(quiet=True).run(pipeline)
    store = MetadataStore(pipeline.connection_config()).store
    assert store.get_artifacts_by_type(InferenceResult.TYPE_NAME) == []
    assert os.listdir(workspace / "nan" / "BulkInferrer" / "inference_result") == []


def test_missing_signature_fails_naming_it_and_stops_the_reading(workspace):
    # In process the first split's reading starts before the model loads; a load that fails
    # names the signature, leaves no reader thread behind and publishes nothing.
    before = {t.ident for t in threading.enumerate()}
    pipeline = _pipeline(workspace, "nosig", True, model_spec={"model_signature_name": ["nope"]})
    with pytest.raises(ComponentFailedError, match=r"no signature 'nope'; signatures are"):
        LocalDagRunner(quiet=True).run(pipeline)
    left = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.name.startswith("headwater-io")
    ]
    assert left == []
    store = MetadataStore(pipeline.connection_config()).store
    assert store.get_artifacts_by_type(InferenceResult.TYPE_NAME) == []


def test_beam_run_writes_the_same_logs_and_columns(workspace):
    import tensorflow as tf

    runs = {}
    for name, args in (("plain", ()), ("beam", ("--runner=FnApiRunner",))):
        result = LocalDagRunner(quiet=True).run(
            _pipeline(workspace, f"both_{name}", True, beam_args=args, output_columns=["id"])
        )
        node = result.node("BulkInferrer")
        [inference] = node.outputs["inference_result"]
        [output_examples] = node.outputs["output_examples"]
        paths = [os.path.join(inference.uri, name) for name in sorted(os.listdir(inference.uri))]
        records = sorted(r.numpy() for r in tf.data.TFRecordDataset(paths, compression_type="GZIP"))
        tables = {
            split: pq.read_table(
                os.path.join(
                    output_examples.uri, f"Split-{split}", "data_parquet-00000-of-00001.parquet"
                )
            ).sort_by("id")
            for split in ("train", "eval")
        }
        runs[name] = (records, tables, sorted(output_examples.split_name_list), len(paths))
    assert len(runs["plain"][0]) == ROWS
    assert runs["beam"][0] == runs["plain"][0]
    assert runs["beam"][2] == runs["plain"][2] == ["eval", "train"]
    assert (runs["plain"][3], runs["beam"][3]) == (2, 1)  # a shard per split in process
    for split in ("train", "eval"):
        assert runs["beam"][1][split].equals(runs["plain"][1][split])

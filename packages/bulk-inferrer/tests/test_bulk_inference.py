"""Bulk inference on small real SavedModels: PredictionLogs equal to the protos TFX builds,
columns equal to numpy, the Beam driver equal to the plain one, and clear errors with nothing
half-written for a missing signature or feature, NaN outputs and a corrupt input file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bulk_inferrer_models import logit, save_heads_model, save_predict_model, sigmoid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater.bulk_inferrer as bi
import headwater.io as hio

N = 300


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    save_predict_model(root / "predict")
    save_heads_model(root / "heads")
    return {"predict": str(root / "predict"), "heads": str(root / "heads")}


def examples(seed: int = 0, n: int = N) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    return pa.record_batch(
        {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "x1": pa.array(rng.normal(size=n).astype(np.float32)),
            "x2": pa.array(rng.normal(size=n).astype(np.float32)),
            "city": pa.array(rng.choice(["Oslo", "Lima"], n)),
        }
    )


def batches(seed: int = 0) -> list[pa.RecordBatch]:
    whole = examples(seed)
    return [whole.slice(0, 128), whole.slice(128, 100), whole.slice(228)]


def run(models, model: str, signatures: tuple[str, ...], data=None) -> list[bi.InferenceBatch]:
    handler = hio.SavedModelHandler(models[model])
    spec = bi.ModelSpec(signature_names=signatures, batch_size=64)
    return list(bi.run_bulk_inference(handler, data or batches(), spec))


def parse(records: list[bytes]) -> list:
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(r) for r in records]


def read_logs(path: str) -> list:
    import tensorflow as tf

    records = tf.data.TFRecordDataset(path, compression_type="GZIP")
    return parse([r.numpy() for r in records])


def test_predict_logs_are_the_protos_tfx_writes(models):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    results = run(models, "predict", ("serving_default",))
    assert [r.num_rows for r in results] == [64, 64, 64, 36, 64, 8]  # chunks of batch_size
    assert results[0].kind == "predict"
    for result in results:
        outputs = result.outputs["serving_default"]
        x1, x2 = (result.examples.column(c).to_numpy() for c in ("x1", "x2"))
        np.testing.assert_allclose(outputs["probability"], sigmoid(logit(x1, x2)), rtol=1e-5)
        np.testing.assert_allclose(outputs["logits"][:, 1], logit(x1, x2), rtol=1e-5, atol=1e-6)
        assert outputs["label"].tolist() == [b"yes" if z > 0 else b"no" for z in logit(x1, x2)]
        records = result.feeds["examples"]
        for i, log in enumerate(parse(bi.prediction_log_records(result))):
            expected = prediction_log_pb2.PredictionLog()
            predict = expected.predict_log
            tensor = predict.request.inputs["examples"]
            tensor.dtype = tf.string.as_datatype_enum
            tensor.tensor_shape.dim.add().size = 1
            tensor.string_val.append(records[i])
            predict.request.model_spec.signature_name = "serving_default"
            predict.response.model_spec.signature_name = "serving_default"
            for name, array in outputs.items():
                predict.response.outputs[name].CopyFrom(tf.make_tensor_proto(array[i : i + 1]))
            assert log == expected
    first = hio.decode_examples([results[0].feeds["examples"][0]])
    assert first.to_pylist() == examples().slice(0, 1).to_pylist()


def test_raw_feature_predict_logs_hold_the_fed_tensors(models):
    import tensorflow as tf

    (result,) = run(models, "predict", ("raw",), [examples(1, 5)])
    x1, x2 = (result.examples.column(c).to_numpy() for c in ("x1", "x2"))
    logs = parse(bi.prediction_log_records(result))
    for i, log in enumerate(logs):
        request = log.predict_log.request
        assert sorted(request.inputs) == ["x1", "x2"]
        assert tf.make_ndarray(request.inputs["x1"]).tolist() == [x1[i]]
        assert tf.make_ndarray(request.inputs["x2"]).tolist() == [x2[i]]
        probability = tf.make_ndarray(log.predict_log.response.outputs["probability"])
        np.testing.assert_allclose(probability, sigmoid(logit(x1[i : i + 1], x2[i : i + 1])))


def test_classify_regress_and_multi_inference_logs(models):
    from tensorflow_serving.apis import prediction_log_pb2

    data = [examples(2, 40)]
    x1, x2 = (data[0].column(c).to_numpy() for c in ("x1", "x2"))
    z = logit(x1, x2)
    p = sigmoid(z)
    (classify,) = run(models, "heads", ("classify",), data)
    (regress,) = run(models, "heads", ("regress",), data)
    (multi,) = run(models, "heads", ("classify", "regress"), data)
    assert (classify.kind, regress.kind, multi.kind) == ("classify", "regress", "multi_inference")
    scores = classify.outputs["classify"]["scores"]
    np.testing.assert_allclose(scores, np.stack([1 - p, p], axis=1), rtol=1e-5, atol=1e-6)
    values = regress.outputs["regress"]["outputs"][:, 0]
    np.testing.assert_allclose(values, z, rtol=1e-5, atol=1e-6)
    kinds = zip(
        parse(bi.prediction_log_records(classify)),
        parse(bi.prediction_log_records(regress)),
        parse(bi.prediction_log_records(multi)),
        strict=True,
    )
    for i, (c_log, r_log, m_log) in enumerate(kinds):
        record = classify.feeds["inputs"][i]
        c_expected = prediction_log_pb2.PredictionLog()
        c_expected.classify_log.request.input.example_list.examples.add().ParseFromString(record)
        classifications = c_expected.classify_log.response.result.classifications.add()
        for label, score in zip(["no", "yes"], scores[i], strict=True):
            cls = classifications.classes.add()
            cls.label, cls.score = label, score
        assert c_log == c_expected

        r_expected = prediction_log_pb2.PredictionLog()
        r_expected.regress_log.request.input.example_list.examples.add().ParseFromString(record)
        r_expected.regress_log.response.result.regressions.add().value = values[i]
        assert r_log == r_expected

        m_expected = prediction_log_pb2.PredictionLog()
        log = m_expected.multi_inference_log
        log.request.input.example_list.examples.add().ParseFromString(record)
        head = log.response.results.add()
        head.model_spec.signature_name = "classify"
        head.classification_result.classifications.add().CopyFrom(classifications)
        head = log.response.results.add()
        head.model_spec.signature_name = "regress"
        head.regression_result.regressions.add().value = values[i]
        assert m_log == m_expected


def test_outputs_written_as_tfx_files_and_parquet_columns(models, tmp_path):
    results = run(models, "predict", ("serving_default",))
    written = bi.write_inference_outputs(
        iter(results),
        prediction_logs=str(tmp_path / "logs" / "prediction_logs-00000-of-00001.gz"),
        columns=str(tmp_path / "columns" / "part.parquet"),
        keep_columns=("id", "city"),
    )
    assert written.num_rows == N
    assert written.prediction_logs == [str(tmp_path / "logs/prediction_logs-00000-of-00001.gz")]
    assert os.listdir(tmp_path / "logs") == ["prediction_logs-00000-of-00001.gz"]
    logs = read_logs(written.prediction_logs[0])
    expected = [log for r in results for log in parse(bi.prediction_log_records(r))]
    assert logs == expected
    table = pq.read_table(written.columns[0])
    assert table.column_names == ["id", "city", "label", "logits", "probability"]
    data = examples()
    assert table["id"].to_pylist() == list(range(N))
    assert table["city"].to_pylist() == data["city"].to_pylist()
    z = logit(data["x1"].to_numpy(), data["x2"].to_numpy())
    np.testing.assert_allclose(table["probability"].to_numpy(), sigmoid(z), rtol=1e-5)
    assert table["label"].to_pylist() == ["yes" if v > 0 else "no" for v in z]
    logits = np.array(table["logits"].to_pylist())
    np.testing.assert_allclose(logits, np.stack([-z, z], axis=1), rtol=1e-5, atol=1e-6)


def test_columns_as_csv_join_list_values_with_spaces(models, tmp_path):
    import pyarrow.csv as pacsv

    results = run(models, "predict", ("serving_default",), [examples(9, 20)])
    path = str(tmp_path / "predictions.csv")
    bi.write_inference_columns(iter(results), path, ["id"])
    table = pacsv.read_csv(path)
    assert table.column_names == ["id", "label", "logits", "probability"]
    assert table["id"].to_pylist() == list(range(20))
    logits = results[0].outputs["serving_default"]["logits"]
    parsed = [[float(v) for v in text.split(" ")] for text in table["logits"].to_pylist()]
    np.testing.assert_allclose(parsed, logits, rtol=1e-6)


def test_multi_head_columns_are_named_signature_slash_output(models):
    (multi,) = run(models, "heads", ("classify", "regress"), [examples(3, 10)])
    columns = bi.inference_columns(multi, ["id"])
    assert columns.schema.names == ["id", "classify/classes", "classify/scores", "regress/outputs"]
    assert columns["classify/classes"].to_pylist() == [["no", "yes"]] * 10


def test_beam_driver_writes_what_the_plain_driver_writes(models, tmp_path):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    handler = hio.SavedModelHandler(models["heads"])
    spec = bi.ModelSpec(signature_names=("classify", "regress"), batch_size=64)
    plain = bi.write_inference_outputs(
        bi.run_bulk_inference(handler, batches(), spec),
        prediction_logs=str(tmp_path / "plain" / "prediction_logs.gz"),
        columns=str(tmp_path / "plain" / "columns.parquet"),
        keep_columns=("id",),
    )
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        results = (
            pipeline | beam.Create(batches(), reshuffle=False) | bi.RunBulkInference(handler, spec)
        )
        _ = results | bi.WritePredictionLogs(str(tmp_path / "beam" / "prediction_logs"))
        _ = results | bi.WriteInferenceColumns(str(tmp_path / "beam" / "columns"), ["id"])
    twins = tmp_path / "twins"
    bi.write_prediction_logs(bi.run_bulk_inference(handler, batches(), spec), str(twins / "l.gz"))
    bi.write_inference_columns(
        bi.run_bulk_inference(handler, batches(), spec), str(twins / "c.parquet"), ["id"]
    )
    assert read_logs(str(twins / "l.gz")) == read_logs(plain.prediction_logs[0])
    assert pq.read_table(str(twins / "c.parquet")).equals(pq.read_table(plain.columns[0]))
    beam_logs = read_logs(str(tmp_path / "beam" / "prediction_logs-00000-of-00001.gz"))
    plain_logs = read_logs(plain.prediction_logs[0])
    key = lambda log: log.SerializeToString(deterministic=True)  # noqa: E731
    assert sorted(beam_logs, key=key) == sorted(plain_logs, key=key)
    assert len(beam_logs) == N
    beam_table = pq.read_table(str(tmp_path / "beam" / "columns-00000-of-00001.parquet"))
    plain_table = pq.read_table(plain.columns[0])
    assert beam_table.sort_by("id").equals(plain_table.sort_by("id"))


def test_missing_signature_and_unsupported_mix_are_clear(models):
    handler = hio.SavedModelHandler(models["predict"])
    with pytest.raises(hio.ModelLoadError, match=r"no signature 'predict'; signatures are \["):
        bi.Inferrer(handler.load_model(), bi.ModelSpec(signature_names=("predict",)))
    with pytest.raises(bi.InferenceSpecError, match="multi-inference run, which takes only"):
        bi.Inferrer(handler.load_model(), bi.ModelSpec(signature_names=("serving_default", "sqrt")))


def test_missing_feature_names_model_signature_and_columns(models):
    data = [examples(4, 8).drop_columns(["x2"])]
    with pytest.raises(
        hio.ModelInputError,
        match=r"signature 'raw' input 'x2' is not a column of the examples; "
        r"columns are \['id', 'x1', 'city'\]",
    ):
        run(models, "predict", ("raw",), data)


def test_nan_outputs_fail_and_publish_nothing(models, tmp_path):
    data = examples(5, 50)
    x1 = data.column("x1").to_numpy()
    handler = hio.SavedModelHandler(models["predict"])
    spec = bi.ModelSpec(signature_names=("sqrt",))
    out = tmp_path / "out"
    with pytest.raises(
        bi.InferenceOutputError,
        match=rf"signature 'sqrt' output 'root' is NaN in {int((x1 < 0).sum())} of 50 rows "
        rf"of a batch \(first: row {int(np.argmax(x1 < 0))}\)",
    ):
        bi.write_inference_outputs(
            bi.run_bulk_inference(handler, [data], spec),
            prediction_logs=str(out / "prediction_logs.gz"),
            columns=str(out / "columns.parquet"),
        )
    assert os.listdir(out) == []


def test_corrupt_input_file_fails_and_publishes_nothing(models, tmp_path):
    (path,) = hio.write_tfrecord([examples(6, 200)], str(tmp_path / "data"), compression=None)
    raw = bytearray(Path(path).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(raw))
    handler = hio.SavedModelHandler(models["predict"])
    out = tmp_path / "out"
    with pytest.raises(hio.InputError, match=os.path.basename(path)):
        bi.write_inference_outputs(
            bi.run_bulk_inference(handler, hio.read_tfrecord(path)),
            prediction_logs=str(out / "prediction_logs.gz"),
        )
    assert os.listdir(out) == []
    # Records read ahead on a worker thread: the error still comes, and nothing is published.
    with pytest.raises(hio.InputError, match=os.path.basename(path)):
        bi.write_inference_outputs(
            bi.run_bulk_inference(
                handler, bi.read_serialized_examples(path, columns=[], batch_size=16)
            ),
            prediction_logs=str(out / "prediction_logs.gz"),
        )
    assert os.listdir(out) == []


def test_specs_accept_tfx_field_names():
    spec = bi.ModelSpec.from_value({"model_signature_name": ["classify"], "tag": "serve"})
    assert spec == bi.ModelSpec(signature_names=("classify",), tags=("serve",))
    assert bi.ModelSpec(signature_names=()).signature_names == ("serving_default",)
    assert bi.DataSpec.from_value({"example_splits": ["eval"]}).example_splits == ("eval",)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        bi.ModelSpec(batch_size=0)


@pytest.mark.parametrize(
    "dtype",
    [
        "float32",
        "float64",
        "float16",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
    ],
)
def test_output_tensors_of_every_dtype_match_make_tensor_proto(dtype):
    import tensorflow as tf

    rng = np.random.default_rng(7)
    values = {
        "one": rng.integers(-100, 100, 4),
        "three": rng.integers(-100, 100, (4, 3)),
        "grid": rng.integers(-100, 100, (4, 2, 2)),
        "none": np.zeros((4, 0)),
    }
    arrays = {}
    for name, array in values.items():
        if dtype.startswith("uint"):
            array = np.abs(array)
        arrays[name] = (array > 0) if dtype == "bool" else array.astype(dtype)
    signature = hio.SignatureSpec(name="s", method_name=hio.PREDICT_METHOD)
    examples_in = np.array([b"a", b"b", b"c", b"d"], dtype=object)
    numbers_only = {k: v for k, v in arrays.items() if k != "none"}  # fixed-length rows
    for chosen in (arrays, numbers_only, {"one": arrays["one"]}):
        result = bi.InferenceBatch(
            examples=pa.record_batch({"i": [0, 1, 2, 3]}),
            feeds={"examples": examples_in},
            outputs={"s": chosen},
            signatures=(signature,),
            kind="predict",
        )
        for i, log in enumerate(parse(bi.prediction_log_records(result))):
            assert log.predict_log.response.model_spec.signature_name == "s"
            assert log.predict_log.request.inputs["examples"].string_val == [examples_in[i]]
            assert sorted(log.predict_log.response.outputs) == sorted(chosen)
            for name, array in chosen.items():
                expected = tf.make_tensor_proto(array[i : i + 1])
                assert log.predict_log.response.outputs[name] == expected, (name, i)


class _NumpyModel:
    """A model of another framework (plain numpy) behind the seam: y = 2 * x1 - x2."""

    path = "numpy://linear"
    signatures = {  # noqa: RUF012 - the LoadedModel protocol's attribute
        "serving_default": hio.SignatureSpec(
            name="serving_default",
            method_name=hio.PREDICT_METHOD,
            inputs={
                "x1": hio.TensorSpec("x1", "float32", (None,)),
                "x2": hio.TensorSpec("x2", "float32", (None,)),
            },
            outputs={"y": hio.TensorSpec("y", "float32", (None,))},
        )
    }

    def run(self, signature_name, inputs):
        return {"y": 2 * inputs["x1"] - inputs["x2"]}


class _NumpyHandler(hio.ModelHandler):
    def load_model(self):
        return _NumpyModel()


def test_a_users_own_model_handler_runs_in_both_drivers(tmp_path):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    data = examples(8, 50)
    expected = 2 * data["x1"].to_numpy() - data["x2"].to_numpy()
    (result,) = bi.run_bulk_inference(_NumpyHandler(), [data])
    np.testing.assert_allclose(result.outputs["serving_default"]["y"], expected)
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        _ = (
            pipeline
            | beam.Create([data], reshuffle=False)
            | bi.RunBulkInference(_NumpyHandler())
            | bi.WriteInferenceColumns(str(tmp_path / "columns"), ["id"])
        )
    table = pq.read_table(str(tmp_path / "columns-00000-of-00001.parquet"))
    assert table["id"].to_pylist() == list(range(50))
    np.testing.assert_allclose(table["y"].to_numpy(), expected)


_OUTPUT_DTYPES = ("float32", "float64", "int32", "int64", "float16", "uint8")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(
        st.sampled_from([0, 1, 100, 127, 128, 300, 16250, 16383, 16384, 70000]),
        min_size=1,
        max_size=6,
    ),
    widths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    dtype=st.sampled_from(_OUTPUT_DTYPES),
    signature_name=st.text("ab_/", min_size=1, max_size=130),
    seed=st.integers(0, 2**16),
)
def test_framed_predict_logs_are_the_records_framed(lengths, widths, dtype, signature_name, seed):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from headwater.io.example_wire import frame_records, unframe

    rng = np.random.default_rng(seed)
    n = len(lengths)
    examples_in = np.empty(n, dtype=object)
    examples_in[:] = [rng.bytes(length) for length in lengths]
    outputs = {
        f"out{i}": (rng.normal(size=(n, w)) * 100).astype(dtype)
        if w > 1
        else (rng.normal(size=n) * 100).astype(dtype)
        for i, w in enumerate(widths)
    }
    signature = hio.SignatureSpec(name=signature_name, method_name=hio.PREDICT_METHOD)
    result = bi.InferenceBatch(
        examples=pa.record_batch({"i": np.arange(n)}),
        feeds={"examples": examples_in},
        outputs={signature_name: outputs},
        signatures=(signature,),
        kind="predict",
    )
    framed = bi.prediction_log_framed(result)
    assert framed == frame_records(bi.prediction_log_records(result))
    starts, ends, consumed, error = unframe(framed)
    assert error is None
    assert consumed == len(framed)
    assert len(starts) == n
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        log = prediction_log_pb2.PredictionLog.FromString(framed[a:b])
        predict = log.predict_log
        assert predict.request.model_spec.signature_name == signature_name
        assert predict.response.model_spec.signature_name == signature_name
        assert predict.request.inputs["examples"].string_val == [examples_in[i]]
        for name, array in outputs.items():
            assert predict.response.outputs[name] == tf.make_tensor_proto(array[i : i + 1])


def test_serialized_batches_feed_the_records_as_read(models, tmp_path):
    import tensorflow as tf

    (path,) = hio.write_tfrecord(batches(), str(tmp_path / "ex" / "examples"))
    in_file = [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]
    handler = hio.SavedModelHandler(models["predict"])
    spec = bi.ModelSpec(batch_size=64)
    arrow = list(bi.run_bulk_inference(handler, [examples()], spec))
    for columns in ([], ["id", "city"], None):
        read = list(bi.read_serialized_examples(path, columns=columns, batch_size=100))
        assert [b.num_rows for b in read] == [100, 100, 100]
        names = ["id", "x1", "x2", "city"] if columns is None else columns
        assert [b.examples.schema.names for b in read] == [names] * 3
        results = list(bi.run_bulk_inference(handler, read, spec))
        assert [r.num_rows for r in results] == [64, 36] * 3
        fed = [x for r in results for x in r.feeds["examples"].tolist()]
        assert fed == in_file
        for name in ("probability", "logits", "label"):
            got = np.concatenate([r.outputs["serving_default"][name] for r in results])
            want = np.concatenate([r.outputs["serving_default"][name] for r in arrow])
            if name == "label":  # batches cut elsewhere: floats equal up to round-off
                assert got.tolist() == want.tolist()
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    written = bi.write_inference_outputs(
        bi.run_bulk_inference(handler, bi.read_serialized_examples(path, columns=["id"]), spec),
        prediction_logs=str(tmp_path / "logs.gz"),
        columns=str(tmp_path / "columns.parquet"),
        keep_columns=["id"],
    )
    logs = read_logs(written.prediction_logs[0])
    assert [log.predict_log.request.inputs["examples"].string_val[0] for log in logs] == in_file
    assert pq.read_table(written.columns[0])["id"].to_pylist() == list(range(N))
    with pytest.raises(hio.InputError, match=r"features \['nope'\] are not in the examples"):
        next(bi.read_serialized_examples(path, columns=["nope"]))


def test_beam_reads_records_as_read_and_assembles_shards_from_parts(models, tmp_path):
    import apache_beam as beam
    import tensorflow as tf
    from apache_beam.options.pipeline_options import PipelineOptions

    paths = [
        hio.write_tfrecord([examples(seed)], str(tmp_path / "ex" / f"part{seed}"))[0]
        for seed in (1, 2)
    ]
    in_files = [
        r.numpy() for p in paths for r in tf.data.TFRecordDataset(p, compression_type="GZIP")
    ]
    handler = hio.SavedModelHandler(models["predict"])
    spec = bi.ModelSpec(batch_size=64)
    plain = bi.write_prediction_logs(
        bi.run_bulk_inference(
            handler, bi.read_serialized_examples(paths, columns=[], batch_size=100), spec
        ),
        str(tmp_path / "plain.gz"),
    )
    out = tmp_path / "beam"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        _ = (
            pipeline
            | bi.ReadSerializedExamples(str(tmp_path / "ex" / "*"), columns=[], batch_size=100)
            | bi.RunBulkInference(handler, spec)
            | bi.WritePredictionLogs(str(out / "prediction_logs"), num_shards=3)
        )
    shards = sorted(os.listdir(out))  # the parts' hidden directory is gone
    assert shards == [f"prediction_logs-0000{i}-of-00003.gz" for i in range(3)]
    beam_logs = [log for name in shards for log in read_logs(str(out / name))]
    plain_logs = read_logs(plain.prediction_logs[0])
    fed = [log.predict_log.request.inputs["examples"].string_val[0] for log in plain_logs]
    assert fed == in_files
    key = lambda log: log.SerializeToString(deterministic=True)  # noqa: E731
    assert sorted(beam_logs, key=key) == sorted(plain_logs, key=key)

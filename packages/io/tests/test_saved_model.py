"""The TensorFlow SavedModel handler of the model-running seam, on small real SavedModels: a
raw-feature predict signature, TF1-style classify/regress signatures over serialized tf.Examples,
a string signature; specs as TF Serving reports them, outputs against numpy, clear errors."""

from __future__ import annotations

import importlib.util
import shutil
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import headwater.io as hio
from headwater.io import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    ModelInputError,
    ModelLoadError,
    SignatureSpec,
    TensorSpec,
)

# Every test here saves a real SavedModel: TensorFlow is headwater-io's `tensorflow` extra.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="needs TensorFlow: pip install 'headwater-io[tensorflow]'",
)

W = np.array([0.5, -1.25, 2.0], np.float32)
B = np.float32(0.25)
CW = (1.5, -0.75)
CB = 0.1


def save_predict_model(path: Path) -> None:
    """tf.saved_model.save of two signatures: raw numeric features and a string input."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(W)
            self.b = tf.Variable(B)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 3], tf.float32, name="x"),
                tf.TensorSpec([None], tf.int64, name="n"),
            ]
        )
        def predict(self, x, n):
            return {"score": tf.linalg.matvec(x, self.w) + self.b, "doubled": n * 2}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
                tf.TensorSpec([None], tf.int32, name="extra"),
            ]
        )
        def strings(self, text, extra):
            return {"upper": tf.strings.upper(text), "length": tf.strings.length(text) + extra}

    model = Model()
    tf.saved_model.save(
        model,
        str(path),
        signatures={"serving_default": model.predict, "strings": model.strings},
    )


def save_classify_model(path: Path) -> None:
    """A TF1-style export (as Estimators write): classify and regress on serialized tf.Examples."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        examples = v1.placeholder(tf.string, [None], name="tf_example")
        features = tf.io.parse_example(
            examples,
            {
                "x1": tf.io.FixedLenFeature([], tf.float32),
                "x2": tf.io.FixedLenFeature([], tf.float32),
            },
        )
        w = v1.get_variable("w", initializer=tf.constant(CW, tf.float32))
        b = v1.get_variable("b", initializer=tf.constant(CB, tf.float32))
        logit = features["x1"] * w[0] + features["x2"] * w[1] + b
        p = tf.sigmoid(logit)
        scores = tf.stack([1.0 - p, p], axis=1)
        classes = tf.tile(tf.constant([[b"neg", b"pos"]]), [tf.shape(examples)[0], 1])
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(path))
        signatures = v1.saved_model.signature_def_utils
        builder.add_meta_graph_and_variables(
            session,
            ["serve"],
            signature_def_map={
                "classify": signatures.classification_signature_def(examples, classes, scores),
                "regress": signatures.regression_signature_def(
                    examples, tf.reshape(logit, [-1, 1])
                ),
            },
        )
        builder.save()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saved_models")
    save_predict_model(root / "predict")
    save_classify_model(root / "classify")
    return {"predict": root / "predict", "classify": root / "classify"}


@pytest.fixture(scope="module")
def predict_model(models) -> hio.SavedModel:
    return hio.SavedModelHandler(models["predict"]).load_model()


@pytest.fixture(scope="module")
def classify_model(models) -> hio.SavedModel:
    return hio.SavedModelHandler(str(models["classify"])).load_model()


def _examples(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    records = np.empty(len(x1), dtype=object)
    records[:] = hio.encode_examples(pa.record_batch({"x1": x1, "x2": x2}))
    return records


def test_specs_describe_signatures_as_tf_serving_does(predict_model, classify_model):
    assert set(predict_model.signatures) == {"serving_default", "strings"}
    assert predict_model.signatures["serving_default"] == SignatureSpec(
        name="serving_default",
        method_name=PREDICT_METHOD,
        inputs={
            "n": TensorSpec("n", "int64", (None,), "DT_INT64"),
            "x": TensorSpec("x", "float32", (None, 3), "DT_FLOAT"),
        },
        outputs={
            "doubled": TensorSpec("doubled", "int64", (None,), "DT_INT64"),
            "score": TensorSpec("score", "float32", (None,), "DT_FLOAT"),
        },
    )
    assert predict_model.signatures["strings"] == SignatureSpec(
        name="strings",
        method_name=PREDICT_METHOD,
        inputs={
            "extra": TensorSpec("extra", "int32", (None,), "DT_INT32"),
            "text": TensorSpec("text", "string", (None,), "DT_STRING"),
        },
        outputs={
            "length": TensorSpec("length", "int32", (None,), "DT_INT32"),
            "upper": TensorSpec("upper", "string", (None,), "DT_STRING"),
        },
    )
    assert classify_model.signatures == {
        "classify": SignatureSpec(
            name="classify",
            method_name=CLASSIFY_METHOD,
            inputs={"inputs": TensorSpec("inputs", "string", (None,), "DT_STRING")},
            outputs={
                "classes": TensorSpec("classes", "string", (None, 2), "DT_STRING"),
                "scores": TensorSpec("scores", "float32", (None, 2), "DT_FLOAT"),
            },
        ),
        "regress": SignatureSpec(
            name="regress",
            method_name=REGRESS_METHOD,
            inputs={"inputs": TensorSpec("inputs", "string", (None,), "DT_STRING")},
            outputs={"outputs": TensorSpec("outputs", "float32", (None, 1), "DT_FLOAT")},
        ),
    }
    assert classify_model.signatures["classify"].takes_serialized_examples
    assert not predict_model.signatures["strings"].takes_serialized_examples
    assert isinstance(predict_model, hio.LoadedModel)
    assert predict_model.path == str(classify_model.path).replace("classify", "predict")


def test_raw_feature_outputs_equal_numpy(predict_model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    n = rng.integers(-1000, 1000, 50)
    out = predict_model.run("serving_default", {"x": x, "n": n})
    assert sorted(out) == ["doubled", "score"]
    np.testing.assert_allclose(out["score"], x.astype(np.float64) @ W + B, rtol=1e-5, atol=1e-6)
    assert out["score"].dtype == np.float32
    np.testing.assert_array_equal(out["doubled"], n * 2)
    empty = predict_model.run(
        "serving_default", {"x": np.zeros((0, 3), np.float32), "n": np.zeros(0, np.int64)}
    )
    assert empty["score"].shape == (0,)


def test_string_tensors_are_object_arrays_of_bytes(predict_model):
    text = np.array([b"ab", b"", "héllo".encode()], dtype=object)
    out = predict_model.run("strings", {"text": text, "extra": np.array([1, 2, 3], np.int32)})
    assert out["upper"].dtype == object
    assert out["upper"].tolist() == [b"AB", b"", "HéLLO".encode()]
    assert out["length"].tolist() == [3, 2, 9]
    fixed = predict_model.run(
        "strings", {"text": np.array([b"x", b"yz"]), "extra": np.zeros(2, np.int32)}
    )
    assert fixed["upper"].tolist() == [b"X", b"YZ"]


def test_classify_and_regress_over_serialized_examples(classify_model):
    rng = np.random.default_rng(1)
    x1 = rng.normal(size=40).astype(np.float32)
    x2 = rng.normal(size=40).astype(np.float32)
    logit = CW[0] * x1.astype(np.float64) + CW[1] * x2 + CB
    p = 1 / (1 + np.exp(-logit))
    out = classify_model.run("classify", {"inputs": _examples(x1, x2)})
    np.testing.assert_allclose(out["scores"], np.stack([1 - p, p], axis=1), rtol=1e-5, atol=1e-6)
    assert out["classes"].tolist() == [[b"neg", b"pos"]] * 40
    regress = classify_model.run("regress", {"inputs": _examples(x1, x2)})
    np.testing.assert_allclose(regress["outputs"][:, 0], logit, rtol=1e-5, atol=1e-5)


def test_feeds_from_arrow_batches(predict_model, classify_model):
    batch = pa.record_batch(
        {
            "x": pa.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]], pa.list_(pa.float64())),
            "n": pa.array([3, 4], pa.int32()),
            "other": ["a", "b"],
        }
    )
    spec = predict_model.signatures["serving_default"]
    feeds = hio.signature_feeds(spec, batch, model="m")
    assert feeds["x"].dtype == np.float32
    assert feeds["x"].shape == (2, 3)
    assert feeds["n"].dtype == np.int64
    out = predict_model.run("serving_default", feeds)
    np.testing.assert_allclose(out["score"], [1 * 0.5 - 2 * 1.25 + 6 + 0.25, 1.25 + 8 + 0.25])
    strings = hio.signature_feeds(
        predict_model.signatures["strings"],
        pa.record_batch({"text": ["ok", "no"], "extra": pa.array([0, 1], pa.int64())}),
    )
    assert strings["text"].tolist() == [b"ok", b"no"]
    assert predict_model.run("strings", strings)["upper"].tolist() == [b"OK", b"NO"]
    serialized = hio.signature_feeds(
        classify_model.signatures["regress"],
        pa.record_batch({"x1": pa.array([1.0], pa.float32()), "x2": pa.array([2.0], pa.float32())}),
    )
    regress = classify_model.run("regress", serialized)["outputs"]
    np.testing.assert_allclose(regress[:, 0], [CW[0] + 2 * CW[1] + CB], rtol=1e-6)


def test_feeds_name_missing_features_and_nulls(predict_model):
    spec = predict_model.signatures["serving_default"]
    with pytest.raises(
        ModelInputError,
        match=r"m: signature 'serving_default' input 'n' is not a column of the examples; "
        r"columns are \['x'\]",
    ):
        hio.signature_feeds(spec, pa.record_batch({"x": pa.array([[1.0, 2.0, 3.0]])}), model="m")
    with pytest.raises(ModelInputError, match=r"input 'n': column 'n' has 1 missing values in 2"):
        hio.signature_feeds(
            spec, pa.record_batch({"x": pa.array([[1.0, 2, 3]] * 2), "n": [1, None]}), model="m"
        )
    with pytest.raises(ModelInputError, match=r"column 'x' has lists of 2 to 3 values"):
        hio.signature_feeds(
            spec, pa.record_batch({"x": pa.array([[1.0, 2, 3], [1.0, 2]]), "n": [1, 2]})
        )
    with pytest.raises(ModelInputError, match=r"input 'text' expects strings, column 'text'"):
        hio.signature_feeds(
            predict_model.signatures["strings"], pa.record_batch({"text": [1], "extra": [1]})
        )


def test_wrong_name_dtype_and_shape_are_clear_errors(predict_model, classify_model):
    x, n = np.zeros((2, 3), np.float32), np.zeros(2, np.int64)
    where = rf"model {predict_model.path}: signature 'serving_default'"
    with pytest.raises(
        ModelInputError, match=where + r" takes inputs \['n', 'x'\]; missing \['n'\]"
    ):
        predict_model.run("serving_default", {"x": x})
    with pytest.raises(ModelInputError, match=r"unknown \['y'\]"):
        predict_model.run("serving_default", {"x": x, "n": n, "y": n})
    with pytest.raises(
        ModelInputError,
        match=where + r" input 'x' expects dtype float32 \(spec float32 \[None, 3\]\), "
        r"found dtype float64",
    ):
        predict_model.run("serving_default", {"x": x.astype(np.float64), "n": n})
    with pytest.raises(ModelInputError, match=r"input 'n' expects rank 1 .* found shape \(2, 1\)"):
        predict_model.run("serving_default", {"x": x, "n": n.reshape(2, 1)})
    with pytest.raises(ModelInputError, match=r"input 'x' expects size 3 on axis 1 .* \(2, 4\)"):
        predict_model.run("serving_default", {"x": np.zeros((2, 4), np.float32), "n": n})
    with pytest.raises(ModelInputError, match=r"input 'text' expects dtype string"):
        predict_model.run("strings", {"text": np.zeros(2), "extra": np.zeros(2, np.int32)})
    with pytest.raises(ModelInputError, match=r"no signature 'predict'; signatures are"):
        predict_model.run("predict", {"x": x, "n": n})
    garbage = np.array([b"\xff not a tf.Example"], dtype=object)
    with pytest.raises(ModelInputError, match=r"signature 'classify' failed on its inputs: "):
        classify_model.run("classify", {"inputs": garbage})


def test_load_failures_name_path_and_reason(models, tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(ModelLoadError, match=rf"SavedModel {missing}: no such directory"):
        hio.SavedModelHandler(missing).load_model()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(models["predict"], corrupt)
    data = (corrupt / "saved_model.pb").read_bytes()
    (corrupt / "saved_model.pb").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match=rf"SavedModel {corrupt}: corrupt saved_model.pb"):
        hio.SavedModelHandler(corrupt).load_model()
    no_variables = tmp_path / "no_variables"
    shutil.copytree(models["predict"], no_variables)
    shutil.rmtree(no_variables / "variables")
    with pytest.raises(ModelLoadError, match=rf"SavedModel {no_variables}: cannot load: "):
        hio.SavedModelHandler(no_variables).load_model()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match=r"no saved_model\.pb or saved_model\.pbtxt"):
        hio.SavedModelHandler(empty).load_model()
    with pytest.raises(ModelLoadError, match=r"no MetaGraph tagged \['train'\]; tag sets are"):
        hio.SavedModelHandler(models["predict"], tags=("train",)).load_model()
    with pytest.raises(ModelLoadError, match=r"no signature 'predict'; signatures are \["):
        hio.SavedModelHandler(models["predict"], signature_names=("predict",)).load_model()
    only = hio.SavedModelHandler(models["predict"], signature_names=("strings",)).load_model()
    assert list(only.signatures) == ["strings"]


def test_concurrent_runs_from_threads_each_get_their_own_answer(predict_model):
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(20):
                rows = int(rng.integers(1, 64))
                x = rng.normal(size=(rows, 3)).astype(np.float32)
                n = rng.integers(0, 100, rows)
                out = predict_model.run("serving_default", {"x": x, "n": n})
                np.testing.assert_allclose(out["score"], x @ W + B, rtol=1e-5, atol=1e-5)
                np.testing.assert_array_equal(out["doubled"], 2 * n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_handler_is_cheap_and_picklable(models):
    import pickle

    handler = hio.SavedModelHandler(models["predict"], batch_size=256)
    again = pickle.loads(pickle.dumps(handler))
    assert again == handler
    assert again.path == str(models["predict"])
    assert again.batch_elements_kwargs() == {"max_batch_size": 256}
    assert again.preferred_batch_size() == 256
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        hio.SavedModelHandler(models["predict"], batch_size=0)


def test_tensorflow_errors_say_their_cause_and_whose_fault(classify_model, tmp_path):
    """An input the graph rejects is a ModelInputError with TF's cause, not "Graph execution
    error:"; a failure of the model itself (here a file it reads is gone) is a ModelRunError."""
    import tensorflow as tf

    wrong_type = hio.encode_examples(pa.record_batch({"x1": np.array([1], np.int64)}))
    records = np.array(wrong_type, dtype=object)
    with pytest.raises(ModelInputError) as caught:
        classify_model.run("classify", {"inputs": records})
    message = str(caught.value)
    assert "Graph execution error" not in message
    assert "x1" in message, message

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="n")])
        def read(self, n):
            return {"text": tf.io.read_file(str(tmp_path / "gone.txt")), "n": n}

    reader = Reader()
    tf.saved_model.save(reader, str(tmp_path / "reader"), signatures={"read": reader.read})
    model = hio.SavedModelHandler(tmp_path / "reader").load_model()
    with pytest.raises(hio.ModelRunError, match=r"signature 'read' failed: .*gone\.txt"):
        model.run("read", {"n": np.zeros(1, np.int64)})


def test_signatures_read_without_tensorflow_equal_the_loaded_ones(models, tmp_path):
    """read_signatures parses saved_model.pb alone: the same specs as the loaded model, and a
    fresh process that calls it never imports TensorFlow."""
    import subprocess
    import sys

    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    for name in ("predict", "classify"):
        loaded = hio.SavedModelHandler(models[name]).load_model().signatures
        assert hio.read_signatures(models[name]) == loaded
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((models[name] / "saved_model.pb").read_bytes())
        text = tmp_path / f"{name}_text"
        text.mkdir()
        (text / "saved_model.pbtxt").write_text(text_format.MessageToString(saved))
        assert hio.read_signatures(text) == loaded
    script = (
        "import sys, headwater.io as hio; "
        f"s = hio.read_signatures({str(models['predict'])!r}); "
        "print(sorted(s), 'tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split("]")[1].strip() == "False"
    assert "'serving_default', 'strings'" in out.stdout
    with pytest.raises(ModelLoadError, match=r"no MetaGraph tagged \['train'\]; tag sets are"):
        hio.read_signatures(models["predict"], tags=("train",))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"\x12\xff\xff")
    with pytest.raises(ModelLoadError, match=rf"SavedModel {corrupt}: corrupt saved_model.pb"):
        hio.read_signatures(corrupt)
    with pytest.raises(ModelLoadError, match=r"no saved_model\.pb or saved_model\.pbtxt"):
        hio.read_signatures(tmp_path)

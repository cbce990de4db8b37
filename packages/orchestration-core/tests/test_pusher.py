"""Pusher: a blessed model lands in TF Serving's layout and loads there; others are not pushed."""

from __future__ import annotations

import os

import pytest

from headwater.orchestration import (
    ComponentFailedError,
    LocalDagRunner,
    Model,
    ModelBlessing,
    OutputArtifact,
    Parameter,
    Pipeline,
    Pusher,
    component,
)


@component
def TinyModel(model: OutputArtifact[Model]) -> None:
    """A real SavedModel under Format-Serving/: doubles its input."""
    import tensorflow as tf

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return 2.0 * x

    tf.saved_model.save(Double(), os.path.join(model.uri, "Format-Serving"))


@component
def Judge(blessing: OutputArtifact[ModelBlessing], blessed: Parameter[bool] = True) -> None:
    """A ModelBlessing as the Evaluator writes it."""
    name = "BLESSED" if blessed else "NOT_BLESSED"
    open(os.path.join(blessing.uri, name), "w").close()
    blessing.custom_properties["blessed"] = int(blessed)


def _run(root, serving, *, blessed=True, destination=None):
    """The model is cached across runs (the same artifact); the blessing and push run again."""
    model = TinyModel()
    judge = Judge(blessed=blessed).with_cache(False)
    pusher = Pusher(
        model=model.outputs["model"],
        model_blessing=judge.outputs["blessing"],
        push_destination=destination if destination is not None else str(serving),
    ).with_cache(False)
    pipeline = Pipeline("push", str(root), [model, judge, pusher])
    return LocalDagRunner(quiet=True).run(pipeline).output("Pusher", "pushed_model")


def test_a_blessed_model_is_pushed_and_loads_from_the_serving_directory(tmp_path):
    import tensorflow as tf

    serving = tmp_path / "serving" / "tiny"
    pushed = _run(tmp_path / "root", serving)
    assert pushed.custom_properties["pushed"] == 1
    version = pushed.custom_properties["pushed_version"]
    assert pushed.custom_properties["pushed_destination"] == str(serving / version)
    assert os.listdir(serving) == [version]
    loaded = tf.saved_model.load(str(serving / version))
    assert loaded(tf.constant([1.5, -2.0])).numpy().tolist() == [3.0, -4.0]
    assert os.path.exists(os.path.join(pushed.uri, "saved_model.pb"))  # archived copy


def test_the_same_model_pushed_again_keeps_its_version(tmp_path):
    serving = tmp_path / "serving"
    first = _run(tmp_path / "root", serving).custom_properties
    second = _run(tmp_path / "root", serving).custom_properties
    assert second["pushed"] == 1
    assert second["pushed_version"] == first["pushed_version"]  # same model: not copied again
    assert os.listdir(serving) == [first["pushed_version"]]


def test_a_model_that_is_not_blessed_is_not_pushed(tmp_path):
    serving = tmp_path / "serving"
    pushed = _run(tmp_path / "root", serving, blessed=False)
    assert pushed.custom_properties["pushed"] == 0
    assert "pushed_destination" not in pushed.custom_properties
    assert not serving.exists()
    with open(os.path.join(pushed.uri, "NOT_PUSHED")) as f:
        assert "not blessed by model validation" in f.read()


def test_tfx_push_destination_dict_is_accepted(tmp_path):
    serving = tmp_path / "serving"
    destination = {"filesystem": {"base_directory": str(serving)}}
    pushed = _run(tmp_path / "root", serving, destination=destination)
    assert pushed.custom_properties["pushed"] == 1
    assert len(os.listdir(serving)) == 1


def test_a_bad_push_destination_names_what_was_expected(tmp_path):
    with pytest.raises(ComponentFailedError, match="push_destination must be a directory path"):
        _run(tmp_path / "root", tmp_path / "s", destination={"bigquery": {}})

"""The tfx_v1 namespace: TFX's names and arguments build Headwater nodes; missing names say so."""

from __future__ import annotations

import importlib

import pytest

import headwater.orchestration as hw
from headwater.orchestration import tfx_v1 as tfx
from headwater.orchestration.tfx_v1._catalog import CATALOG, NOT_YET
from headwater.orchestration.tfx_v1._missing import NotImplementedInHeadwaterError

MODULES = {
    "": "headwater.orchestration.tfx_v1",
    "components": "headwater.orchestration.tfx_v1.components",
    "dsl": "headwater.orchestration.tfx_v1.dsl",
    "dsl.components": "headwater.orchestration.tfx_v1.dsl.components",
    "dsl.experimental": "headwater.orchestration.tfx_v1.dsl.experimental",
    "orchestration": "headwater.orchestration.tfx_v1.orchestration",
    "orchestration.metadata": "headwater.orchestration.tfx_v1.orchestration.metadata",
    "proto": "headwater.orchestration.tfx_v1.proto",
    "types": "headwater.orchestration.tfx_v1.types",
    "types.standard_artifacts": "headwater.orchestration.tfx_v1.types.standard_artifacts",
}


@pytest.fixture
def gen() -> hw.Node:
    return tfx.components.CsvExampleGen(input_base="/data")


def test_every_implemented_name_resolves_and_all_lists_exactly_them() -> None:
    for key, module_name in MODULES.items():
        module = importlib.import_module(module_name)
        implemented = sorted(n for n, e in CATALOG[key].items() if e.status != NOT_YET)
        exported = sorted(n for n in module.__all__ if n != "NotImplementedInHeadwaterError")
        assert sorted(set(exported) - {"PayloadFormat", "Versioning"}) == implemented, key
        for name in implemented:
            assert getattr(module, name) is not None


def test_missing_names_raise_an_error_naming_them() -> None:
    with pytest.raises(NotImplementedInHeadwaterError) as err:
        tfx.dsl.placeholders  # noqa: B018
    assert str(err.value) == (
        "tfx.v1.dsl.placeholders is not implemented in Headwater (see docs/migrating_from_tfx.md)"
    )
    with pytest.raises(NotImplementedError, match=r"tfx\.v1\.components\.ExampleDiff is not"):
        from headwater.orchestration.tfx_v1.components import ExampleDiff  # noqa: F401
    with pytest.raises(NotImplementedInHeadwaterError, match="SpanRangeStrategy"):
        tfx.dsl.experimental.SpanRangeStrategy  # noqa: B018
    with pytest.raises(AttributeError, match=r"'tfx\.v1\.proto' .* 'Nope'"):
        tfx.proto.Nope  # noqa: B018


def test_proto_messages_take_tfx_fields_and_reject_others() -> None:
    args = tfx.proto.TrainArgs(num_steps=100)
    assert (args.num_steps, args.splits, args.HasField("num_steps")) == (100, [], True)
    with pytest.raises(ValueError, match='Protocol message TrainArgs has no "steps" field'):
        tfx.proto.TrainArgs(steps=1)
    with pytest.raises(TypeError, match=r"TrainArgs\.splits is a repeated field"):
        tfx.proto.TrainArgs(splits="train")
    dest = tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(base_directory="/serving")
    )
    assert dest.to_dict() == {"filesystem": {"base_directory": "/serving"}}


def test_example_gen_converts_input_output_and_range_configs() -> None:
    node = tfx.components.CsvExampleGen(
        input_base="/data",
        input_config=tfx.proto.Input(
            splits=[
                tfx.proto.Input.Split(name="train", pattern="train/*"),
                tfx.proto.Input.Split(name="eval", pattern="eval/*"),
            ]
        ),
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[tfx.proto.SplitConfig.Split(name="a", hash_buckets=3)],
                partition_feature_name="id",
            )
        ),
        range_config=tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=2, end_span_number=4)
        ),
    )
    assert node.parameters["input_config"] == hw.InputConfig(
        splits={"train": "train/*", "eval": "eval/*"}
    )
    assert node.parameters["output_config"] == hw.OutputConfig(
        splits={"a": 3}, partition_feature="id"
    )
    assert node.parameters["range_config"] == hw.RangeConfig(start_span=2, end_span=4)
    with pytest.raises(NotImplementedInHeadwaterError, match="RollingRange"):
        tfx.components.CsvExampleGen(
            input_base="/data",
            range_config=tfx.proto.RangeConfig(rolling_range=object()),
        )


def test_trainer_and_tuner_take_tfx_args(gen: hw.Node) -> None:
    examples = gen.outputs["examples"]
    trainer = tfx.components.Trainer(
        module_file="m.py",
        examples=examples,
        train_args=tfx.proto.TrainArgs(num_steps=100),
        eval_args=tfx.proto.EvalArgs(num_steps=5),
    )
    assert trainer.parameters["train_args"] == hw.TrainArgs(splits=("train",), num_steps=100)
    assert trainer.parameters["eval_args"] == hw.EvalArgs(splits=("eval",), num_steps=5)
    assert trainer.inputs["examples"] is examples
    tuner = tfx.components.Tuner(
        examples=examples,
        module_file="m.py",
        tune_args=tfx.proto.TuneArgs(num_parallel_trials=2),
    )
    assert tuner.parameters["tune_args"] == hw.TuneArgs(num_parallel_trials=2)
    with pytest.raises(NotImplementedInHeadwaterError, match=r"Trainer\(trainer_fn=\.\.\.\)"):
        tfx.components.Trainer(examples=examples, trainer_fn="m.trainer_fn")


def test_cond_on_blessing_wires_it_into_the_pusher(gen: hw.Node) -> None:
    trainer = tfx.components.Trainer(module_file="m.py", examples=gen.outputs["examples"])
    evaluator = tfx.components.Evaluator(
        examples=gen.outputs["examples"], model=trainer.outputs["model"]
    )
    blessing = evaluator.outputs["blessing"]
    with tfx.dsl.Cond(blessing.future()[0].custom_property("blessed") == 1):
        pusher = tfx.components.Pusher(
            model=trainer.outputs["model"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory="/serving")
            ),
        )
    assert pusher.inputs["model_blessing"] is blessing
    assert pusher.parameters["push_destination"] == {"filesystem": {"base_directory": "/serving"}}
    predicate = blessing.future()[0].custom_property("blessed") == 1
    with (
        pytest.raises(NotImplementedInHeadwaterError, match="Cond around StatisticsGen"),
        tfx.dsl.Cond(predicate),
    ):
        tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    with pytest.raises(NotImplementedInHeadwaterError, match=r"tfx\.v1\.dsl\.Cond"):
        tfx.dsl.Cond(blessing.future()[0].custom_property("score") == 1)


def test_dsl_pipeline_resolver_channel_take_tfx_arguments(tmp_path, gen: hw.Node) -> None:
    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    assert resolver.strategy is hw.LatestBlessedModelStrategy
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(tmp_path / "m" / "metadata.db")
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="p",
        pipeline_root=str(tmp_path / "root"),
        components=[gen, resolver],
        metadata_connection_config=config,
        beam_pipeline_args=["--direct_num_workers=0"],
    )
    assert pipeline.enable_cache is False  # TFX's default
    assert config.sqlite.filename_uri == str(tmp_path / "m" / "metadata.db")
    assert [n.id for n in pipeline.components] == ["CsvExampleGen", "latest_blessed_model_resolver"]
    with pytest.raises(NotImplementedInHeadwaterError, match="producer_component_id"):
        tfx.dsl.Channel(type=hw.Examples, producer_component_id="CsvExampleGen")
    with pytest.raises(NotImplementedInHeadwaterError, match=r"Resolver\(config=\.\.\.\)"):
        tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
            config={"range_config": 1},
            examples=tfx.dsl.Channel(type=hw.Examples),
        )


def test_value_artifacts_keep_their_value_in_a_file(tmp_path) -> None:
    sa = tfx.types.standard_artifacts
    for cls, value in (
        (sa.String, "é"),
        (sa.Integer, -3),
        (sa.Float, 0.1),
        (sa.Boolean, True),
        (sa.Bytes, b"\x00"),
        (sa.JsonValue, {"a": [1]}),
    ):
        artifact = cls(str(tmp_path / cls.TYPE_NAME))
        artifact.value = value
        assert cls(artifact.uri).value == value


def test_component_decorator_takes_tfx_annotations() -> None:
    @tfx.dsl.components.component
    def MakeString(
        text: tfx.dsl.components.Parameter[str],
        out: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.String],
    ) -> None:
        out.value = text

    node = MakeString(text="x")
    assert node.outputs["out"].type is tfx.types.standard_artifacts.String

    @tfx.dsl.components.component()
    def Empty(out: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Integer]):
        out.value = 1

    assert Empty().outputs["out"].type is tfx.types.standard_artifacts.Integer
    with pytest.raises(NotImplementedInHeadwaterError, match=r"component\(use_beam=True\)"):
        tfx.dsl.components.component(use_beam=True)


def test_tfma_config_with_tfma_arguments_becomes_headwaters(gen: hw.Node) -> None:
    import headwater.model_analysis as ma
    from headwater.orchestration.tfx_v1 import proto_utils, tfma

    config = tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key="species_xf",
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.6}),
                            change_threshold=tfma.GenericChangeThreshold(
                                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                absolute={"value": -1e-10},
                            ),
                        ),
                    )
                ]
            )
        ],
        options=tfma.Options(include_default_metrics={"value": False}),
    )
    converted, preprocessing = tfma.to_headwater(config)
    assert converted.options.include_default_metrics is False
    assert preprocessing == ["transform_features"]
    assert converted.model_specs == (ma.ModelSpec(label_key="species_xf"),)
    threshold = converted.metrics_specs[0].metrics[0].threshold
    assert threshold == ma.MetricThreshold(
        value_threshold=ma.GenericValueThreshold(lower_bound=0.6),
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10
        ),
    )
    trainer = tfx.components.Trainer(module_file="m.py", examples=gen.outputs["examples"])
    evaluator = tfx.components.Evaluator(
        examples=gen.outputs["examples"], model=trainer.outputs["model"], eval_config=config
    )
    pre = evaluator.inputs["examples"].producer
    assert pre is not None
    assert pre.id == "EvaluatorPreprocessing"
    assert pre.parameters["signature_names"] == ["transform_features"]
    assert pre.inputs["model"] is trainer.outputs["model"]
    assert evaluator.parameters["eval_config"] == converted
    with pytest.raises(ValueError, match='Protocol message ModelSpec has no "model_type" field'):
        tfma.ModelSpec(model_type="tf_keras")
    text = proto_utils.proto_to_json(
        tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=1, end_span_number=1)
        )
    )
    assert text == (
        '{\n  "static_range": {\n    "end_span_number": 1,\n    "start_span_number": 1\n  }\n}'
    )

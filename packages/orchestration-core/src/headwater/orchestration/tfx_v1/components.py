"""`tfx.components`: TFX's standard components with TFX's arguments, and what module files use.

Each component takes TFX's keyword arguments (messages from `tfx_v1.proto`, or Headwater's own
config) and returns the Headwater node. Arguments Headwater lacks raise
NotImplementedInHeadwaterError naming them.
"""

from __future__ import annotations

from typing import Any

import headwater.orchestration as hw
from headwater.orchestration.dsl import Channel, Node
from headwater.orchestration.tfx_v1 import _convert, tfma
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr, not_implemented
from headwater.orchestration.tfx_v1._preprocess import EvaluatorPreprocessing
from headwater.orchestration.tfx_v1.dsl._conditions import blessings_in_force, check_not_in_cond
from headwater.orchestration.training import DataAccessor, FnArgs, TunerFnResult


def _unsupported(component: str, **arguments: Any) -> None:
    """Raise for the first TFX argument that is set but Headwater does not implement."""
    for name, value in arguments.items():
        if value is not None and value is not False:
            raise not_implemented(f"tfx.v1.components.{component}({name}=...)")


def _plain(component: str) -> None:
    check_not_in_cond(component)


def CsvExampleGen(
    input_base: str | None = None,
    input_config: Any = None,
    output_config: Any = None,
    range_config: Any = None,
) -> Node:
    """Examples from the CSV files under `input_base` (TFX's CsvExampleGen)."""
    _plain("CsvExampleGen")
    if input_base is None:
        raise ValueError("CsvExampleGen needs input_base, the folder of the CSV files")
    return hw.CsvExampleGen(
        input_base=input_base,
        input_config=_convert.input_config(input_config),
        output_config=_convert.output_config(output_config),
        range_config=_convert.range_config(range_config),
    )


def ImportExampleGen(
    input_base: str | None = None,
    input_config: Any = None,
    output_config: Any = None,
    range_config: Any = None,
    payload_format: int = 6,
) -> Node:
    """Examples from TFRecord files of tf.Example (or Parquet) under `input_base`."""
    from headwater.orchestration.tfx_v1.proto import PayloadFormat

    _plain("ImportExampleGen")
    if input_base is None:
        raise ValueError("ImportExampleGen needs input_base, the folder of the example files")
    formats = {PayloadFormat.FORMAT_TF_EXAMPLE: hw.FORMAT_TF_EXAMPLE}
    formats[PayloadFormat.FORMAT_PARQUET] = hw.FORMAT_PARQUET
    if payload_format not in formats:
        raise not_implemented(f"ImportExampleGen(payload_format={payload_format!r})")
    return hw.ImportExampleGen(
        input_base=input_base,
        input_config=_convert.input_config(input_config),
        output_config=_convert.output_config(output_config),
        range_config=_convert.range_config(range_config),
        payload_format=formats[PayloadFormat(payload_format)],
    )


def StatisticsGen(
    examples: Channel,
    schema: Channel | None = None,
    stats_options: Any = None,
    exclude_splits: list[str] | None = None,
) -> Node:
    """Statistics of every split of `examples`."""
    _plain("StatisticsGen")
    _unsupported("StatisticsGen", stats_options=stats_options)
    return hw.StatisticsGen(examples=examples, schema=schema, exclude_splits=exclude_splits)


def SchemaGen(
    statistics: Channel,
    infer_feature_shape: bool = True,
    exclude_splits: list[str] | None = None,
) -> Node:
    """A schema inferred from `statistics`."""
    _plain("SchemaGen")
    return hw.SchemaGen(
        statistics=statistics,
        infer_feature_shape=bool(infer_feature_shape),
        exclude_splits=exclude_splits,
    )


def ImportSchemaGen(schema_file: str) -> Node:
    """A Schema artifact from a user's `schema.pbtxt`."""
    _plain("ImportSchemaGen")
    return hw.ImportSchemaGen(schema_file=schema_file)


def ExampleValidator(
    statistics: Channel,
    schema: Channel,
    exclude_splits: list[str] | None = None,
    custom_validation_config: Any = None,
) -> Node:
    """Anomalies of `statistics` against `schema`."""
    _plain("ExampleValidator")
    _unsupported("ExampleValidator", custom_validation_config=custom_validation_config)
    return hw.ExampleValidator(statistics=statistics, schema=schema, exclude_splits=exclude_splits)


def Transform(
    examples: Channel,
    schema: Channel,
    module_file: str | None = None,
    preprocessing_fn: str | None = None,
    splits_config: Any = None,
    analyzer_cache: Channel | None = None,
    materialize: bool = True,
    disable_analyzer_cache: bool = False,
    force_tf_compat_v1: bool = False,
    custom_config: dict[str, Any] | None = None,
    disable_statistics: bool = False,
    stats_options_updater_fn: str | None = None,
) -> Node:
    """Analyze `examples` with the module's `preprocessing_fn`; transform every split."""
    _plain("Transform")
    _unsupported(
        "Transform",
        force_tf_compat_v1=force_tf_compat_v1,
        stats_options_updater_fn=stats_options_updater_fn,
    )
    return hw.Transform(
        examples=examples,
        schema=schema,
        module_file=module_file,
        preprocessing_fn=preprocessing_fn,
        splits_config=_convert.splits_config(splits_config),
        analyzer_cache=analyzer_cache,
        materialize=materialize,
        disable_analyzer_cache=disable_analyzer_cache,
        custom_config=custom_config,
        disable_statistics=disable_statistics,
    )


def Trainer(
    examples: Channel | None = None,
    transformed_examples: Channel | None = None,
    transform_graph: Channel | None = None,
    schema: Channel | None = None,
    base_model: Channel | None = None,
    hyperparameters: Channel | None = None,
    module_file: str | None = None,
    run_fn: str | None = None,
    trainer_fn: str | None = None,
    train_args: Any = None,
    eval_args: Any = None,
    custom_config: dict[str, Any] | None = None,
    custom_executor_spec: Any = None,
) -> Node:
    """Train with the module's `run_fn(fn_args)` on `examples` (or `transformed_examples`)."""
    _plain("Trainer")
    _unsupported("Trainer", trainer_fn=trainer_fn, custom_executor_spec=custom_executor_spec)
    if (examples is None) == (transformed_examples is None):
        raise ValueError("Trainer needs exactly one of examples and transformed_examples")
    return hw.Trainer(
        examples=examples if examples is not None else transformed_examples,
        transform_graph=transform_graph,
        schema=schema,
        base_model=base_model,
        hyperparameters=hyperparameters,
        module_file=module_file,
        run_fn=run_fn,
        train_args=_convert.train_args(train_args),
        eval_args=_convert.eval_args(eval_args),
        custom_config=custom_config,
    )


def Tuner(
    examples: Channel,
    schema: Channel | None = None,
    transform_graph: Channel | None = None,
    base_model: Channel | None = None,
    module_file: str | None = None,
    tuner_fn: str | None = None,
    train_args: Any = None,
    eval_args: Any = None,
    tune_args: Any = None,
    custom_config: dict[str, Any] | None = None,
) -> Node:
    """Search hyperparameters with the module's `tuner_fn(fn_args)`."""
    _plain("Tuner")
    return hw.Tuner(
        examples=examples,
        schema=schema,
        transform_graph=transform_graph,
        base_model=base_model,
        module_file=module_file,
        tuner_fn=tuner_fn,
        train_args=_convert.train_args(train_args),
        eval_args=_convert.eval_args(eval_args),
        tune_args=_convert.tune_args(tune_args),
        custom_config=custom_config,
    )


def Evaluator(
    examples: Channel,
    model: Channel | None = None,
    baseline_model: Channel | None = None,
    feature_slicing_spec: Any = None,
    fairness_indicator_thresholds: Any = None,
    example_splits: list[str] | None = None,
    eval_config: Any = None,
    schema: Channel | None = None,
    module_file: str | None = None,
    module_path: str | None = None,
) -> Node:
    """Evaluate `model` (against `baseline_model`) per `eval_config`; bless or not.

    `eval_config` is a `headwater.model_analysis` config or a `tfx_v1.tfma.EvalConfig`; with
    the latter, the candidate's `preprocessing_function_names` run over the examples first.
    """
    _plain("Evaluator")
    _unsupported(
        "Evaluator",
        feature_slicing_spec=feature_slicing_spec,
        fairness_indicator_thresholds=fairness_indicator_thresholds,
        module_file=module_file,
        module_path=module_path,
    )
    if model is None:
        raise not_implemented("tfx.v1.components.Evaluator without a model")
    if isinstance(eval_config, tfma.EvalConfig):
        eval_config, preprocessing = tfma.to_headwater(eval_config)
        if preprocessing:  # TFMA runs these signatures first; their outputs join the features
            examples = EvaluatorPreprocessing(
                examples=examples,
                model=model,
                signature_names=preprocessing,
                example_splits=example_splits,
            ).outputs["preprocessed_examples"]
    return hw.Evaluator(
        examples=examples,
        model=model,
        baseline_model=baseline_model,
        schema=schema,
        eval_config=eval_config,
        example_splits=example_splits,
    )


def InfraValidator(
    model: Channel,
    serving_spec: Any,
    examples: Channel | None = None,
    request_spec: Any = None,
    validation_spec: Any = None,
) -> Node:
    """Canary `model` on a real model server before it is pushed."""
    _plain("InfraValidator")
    return hw.InfraValidator(
        model=model,
        examples=examples,
        serving_spec=_convert.as_dict(serving_spec),
        validation_spec=_convert.as_dict(validation_spec),
        request_spec=_convert.as_dict(request_spec),
    )


def Pusher(
    model: Channel | None = None,
    model_blessing: Channel | None = None,
    infra_blessing: Channel | None = None,
    push_destination: Any = None,
    custom_config: dict[str, Any] | None = None,
    custom_executor_spec: Any = None,
) -> Node:
    """Push `model` to `push_destination` if every blessing (or enclosing Cond) says blessed."""
    _unsupported("Pusher", custom_config=custom_config, custom_executor_spec=custom_executor_spec)
    if model is None:
        raise not_implemented("tfx.v1.components.Pusher without a model")
    if push_destination is None:
        raise ValueError("Pusher needs push_destination")
    cond = blessings_in_force()
    return hw.Pusher(
        model=model,
        model_blessing=model_blessing or cond.get("model_blessing"),
        infra_blessing=infra_blessing or cond.get("infra_blessing"),
        push_destination=_convert.push_destination(push_destination),
    )


def BulkInferrer(
    examples: Channel,
    model: Channel | None = None,
    model_blessing: Channel | None = None,
    data_spec: Any = None,
    output_example_spec: Any = None,
    model_spec: Any = None,
) -> Node:
    """Run `model` over `examples` into PredictionLogs."""
    _unsupported("BulkInferrer", output_example_spec=output_example_spec)
    if model is None:
        raise not_implemented("tfx.v1.components.BulkInferrer without a model")
    cond = blessings_in_force()
    if "infra_blessing" in cond:
        check_not_in_cond("BulkInferrer (it takes a model_blessing only)")
    return hw.BulkInferrer(
        examples=examples,
        model=model,
        model_blessing=model_blessing or cond.get("model_blessing"),
        data_spec=_convert.as_dict(data_spec),
        model_spec=_convert.as_dict(model_spec),
    )


__getattr__ = module_getattr("components")
__dir__ = module_dir("components", globals())
__all__ = [
    "BulkInferrer",
    "CsvExampleGen",
    "DataAccessor",
    "Evaluator",
    "ExampleValidator",
    "FnArgs",
    "ImportExampleGen",
    "ImportSchemaGen",
    "InfraValidator",
    "Pusher",
    "SchemaGen",
    "StatisticsGen",
    "Trainer",
    "Transform",
    "Tuner",
    "TunerFnResult",
]

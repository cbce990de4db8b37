"""Trainer: runs a user's `run_fn(fn_args)` on the examples and keeps the SavedModel it saves."""

from __future__ import annotations

from typing import Any

from headwater.orchestration.artifacts import (
    Examples,
    HyperParameters,
    Model,
    ModelRun,
    Schema,
    TransformGraph,
)
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.training.args import EvalArgs, TrainArgs
from headwater.orchestration.training.executor import fn_args_for, train


@component
def Trainer(
    examples: InputArtifact[Examples],
    model: OutputArtifact[Model],
    model_run: OutputArtifact[ModelRun],
    transform_graph: InputArtifact[TransformGraph] | None = None,
    schema: InputArtifact[Schema] | None = None,
    hyperparameters: InputArtifact[HyperParameters] | None = None,
    base_model: InputArtifact[Model] | None = None,
    module_file: Parameter[str | None] = None,
    run_fn: Parameter[str | None] = None,
    train_args: Parameter[TrainArgs] = TrainArgs(),  # noqa: B008 (frozen dataclass)
    eval_args: Parameter[EvalArgs] = EvalArgs(),  # noqa: B008 (frozen dataclass)
    custom_config: Parameter[dict[str, Any] | None] = None,
) -> None:
    """Train a model with `run_fn` from `module_file` (or the dotted path `run_fn`).

    The model lands in `<model>/Format-Serving/`, TensorBoard logs in `model_run`.
    """
    fn_args = fn_args_for(
        examples_uri=examples.uri,
        split_names=examples.split_name_list,
        train_args=train_args,
        eval_args=eval_args,
        schema_file=schema.file if schema is not None else None,
        transform_graph_uri=transform_graph.uri if transform_graph is not None else None,
        hyperparameters_uri=hyperparameters.uri if hyperparameters is not None else None,
        base_model_uri=base_model.uri if base_model is not None else None,
        custom_config=custom_config,
    )
    train(
        fn_args,
        model_uri=model.uri,
        model_run_uri=model_run.uri,
        module_file=module_file,
        run_fn=run_fn,
    )

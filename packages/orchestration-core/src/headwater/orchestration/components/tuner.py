"""Tuner: runs a user's `tuner_fn(fn_args)` search and keeps the best hyperparameters."""

from __future__ import annotations

from typing import Any

from headwater.orchestration.artifacts import (
    Examples,
    HyperParameters,
    Model,
    Schema,
    TransformGraph,
    TunerResults,
)
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.training.args import EvalArgs, TrainArgs
from headwater.orchestration.training.executor import fn_args_for, tune
from headwater.orchestration.training.tuning import TuneArgs


@component
def Tuner(
    examples: InputArtifact[Examples],
    best_hyperparameters: OutputArtifact[HyperParameters],
    tuner_results: OutputArtifact[TunerResults],
    schema: InputArtifact[Schema] | None = None,
    transform_graph: InputArtifact[TransformGraph] | None = None,
    base_model: InputArtifact[Model] | None = None,
    module_file: Parameter[str | None] = None,
    tuner_fn: Parameter[str | None] = None,
    train_args: Parameter[TrainArgs] = TrainArgs(),  # noqa: B008 (frozen dataclass)
    eval_args: Parameter[EvalArgs] = EvalArgs(),  # noqa: B008 (frozen dataclass)
    tune_args: Parameter[TuneArgs] = TuneArgs(),  # noqa: B008 (frozen dataclass)
    custom_config: Parameter[dict[str, Any] | None] = None,
) -> None:
    """Search hyperparameters with `tuner_fn` from `module_file` (or the dotted path `tuner_fn`).

    Writes `best_hyperparameters.txt` (keras-tuner's `get_config()` JSON) and one record
    per trial in `tuner_results.json`; `tune_args` sets parallel workers and a time budget.
    """
    fn_args = fn_args_for(
        examples_uri=examples.uri,
        split_names=examples.split_name_list,
        train_args=train_args,
        eval_args=eval_args,
        schema_file=schema.file if schema is not None else None,
        transform_graph_uri=transform_graph.uri if transform_graph is not None else None,
        base_model_uri=base_model.uri if base_model is not None else None,
        custom_config=custom_config,
    )
    tune(
        fn_args,
        best_hyperparameters_uri=best_hyperparameters.uri,
        tuner_results_uri=tuner_results.uri,
        module_file=module_file,
        tuner_fn=tuner_fn,
        tune_args=tune_args,
    )

"""Evaluator: sliced metrics of a model (against a baseline), thresholds, and a blessing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from headwater.model_analysis import EvalConfig
from headwater.orchestration.artifacts import (
    Examples,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Schema,
)
from headwater.orchestration.context import beam_pipeline, prefer_beam
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.example_files import FORMAT_PARQUET


def _evaluate_with_beam(
    examples: Examples,
    split_names: list[str],
    config: EvalConfig,
    model_paths: Mapping[str, str],
    output_path: str,
) -> None:
    """One Beam pipeline: read the splits, predict, compute sliced metrics, write the files."""
    import apache_beam as beam

    import headwater.io as hio
    import headwater.model_analysis as ma

    parquet = examples.payload_format == FORMAT_PARQUET
    with beam_pipeline() as pipeline:
        reads = []
        for name in split_names:
            split = examples.split(name)
            if not split.files:
                continue
            read = hio.ReadParquet(split.uri) if parquet else hio.ReadTFRecord(split.uri)
            reads.append(pipeline | f"Read[{name}]" >> read)
        batches = reads | "Flatten" >> beam.Flatten(pipeline=pipeline)
        _ = batches | "Evaluate" >> ma.ExtractEvaluateAndWriteResults(
            config, output_path, model_paths=model_paths
        )


def _serving_dir(model: Model) -> str:
    serving = os.path.join(model.uri, "Format-Serving")
    return serving if os.path.isdir(serving) else model.uri


@component
def Evaluator(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    evaluation: OutputArtifact[ModelEvaluation],
    blessing: OutputArtifact[ModelBlessing],
    baseline_model: InputArtifact[Model] | None = None,
    schema: InputArtifact[Schema] | None = None,
    eval_config: Parameter[EvalConfig | Mapping[str, Any] | str | None] = None,
    example_splits: Parameter[list[str] | None] = None,
) -> None:
    """Evaluate `model` (and `baseline_model`) on the eval split per `eval_config`.

    `eval_config` is an `EvalConfig`, a dict, JSON/YAML text or a file path. Runs as one Beam
    pipeline (the pipeline's `beam_pipeline_args`), models loaded once per worker, or in memory
    when the input is too small to repay Beam's start-up (`prefer_beam`). Writes the result
    files into `evaluation`, and `BLESSED` or `NOT_BLESSED` into `blessing` with TFX's custom
    properties (`blessed` 1/0, `current_model(_id)`, `baseline_model(_id)`). The rule: blessed
    iff every threshold passes; with no thresholds the model is blessed and the file says why.
    `schema` is accepted for TFX parity; tf.Example types are read from the data.
    """
    import headwater.model_analysis as ma

    config = ma.resolve_model_specs(
        ma.as_eval_config(eval_config), has_baseline=baseline_model is not None
    )
    model_paths = {config.candidate.name: _serving_dir(model)}
    if baseline_model is not None and config.baseline is not None:
        model_paths[config.baseline.name] = _serving_dir(baseline_model)

    split_names = example_splits or ["eval"]
    files = [f for name in split_names for f in examples.split(name).files]
    if prefer_beam(files):
        _evaluate_with_beam(examples, split_names, config, model_paths, evaluation.uri)
    else:  # small input on the DirectRunner: the same combiner without Beam's start-up
        batches = (b for name in split_names for b in examples.split(name).read_batches())
        ma.run_model_analysis(config, batches, model_paths=model_paths, output_path=evaluation.uri)
    result = ma.load_eval_result(evaluation.uri)
    ma.write_blessing(blessing.uri, result.validation)
    properties: Mapping[str, int | str] = {
        "blessed": int(result.validation.blessed),
        "current_model": model.uri,
        "current_model_id": model.id or 0,
        **(
            {"baseline_model": baseline_model.uri, "baseline_model_id": baseline_model.id or 0}
            if baseline_model is not None
            else {}
        ),
    }
    blessing.custom_properties.update(properties)

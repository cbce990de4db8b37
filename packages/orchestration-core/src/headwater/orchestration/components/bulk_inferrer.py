"""BulkInferrer: run a (blessed) model over examples into PredictionLogs and prediction columns."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from headwater.bulk_inferrer import DataSpec, ModelSpec
from headwater.orchestration.artifacts import (
    Examples,
    InferenceResult,
    Model,
    ModelBlessing,
    Split,
)
from headwater.orchestration.context import beam_pipeline, prefer_beam
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.example_files import FORMAT_PARQUET

if TYPE_CHECKING:
    from headwater.bulk_inferrer import Inferrer

SERVING_MODEL_DIR = "Format-Serving"
OUTPUT_EXAMPLES_PREFIX = "data_parquet"


def _serving_dir(model: Model) -> str:
    serving = os.path.join(model.uri, SERVING_MODEL_DIR)
    return serving if os.path.isdir(serving) else model.uri


def _splits(examples: Examples, data_spec: DataSpec) -> list[Split]:
    """The splits named by `data_spec` (all when empty), ValueError naming the ones there are."""
    splits = examples.splits()
    if not data_spec.example_splits:
        return splits
    by_name = {s.name: s for s in splits}
    missing = [name for name in data_spec.example_splits if name not in by_name]
    if missing:
        raise ValueError(
            f"BulkInferrer: examples {examples.uri} have no split {missing[0]!r}; "
            f"splits are {sorted(by_name)}"
        )
    return [by_name[name] for name in data_spec.example_splits]


def _is_tfrecord(split: Split) -> bool:
    return not any(f.endswith(".parquet") for f in split.files)


def _example_batches(split: Split, decode: list[str] | None, batch_size: int) -> Iterator[Any]:
    """The split's batches: records as read beside the `decode` columns when the signature takes
    serialized tf.Examples in TFRecord files (fed as read, never decoded and re-encoded), else
    Arrow RecordBatches of every column."""
    import headwater.bulk_inferrer as bi

    if decode is not None and _is_tfrecord(split):
        # Batches of one model call, read up to two ahead while the model runs (two absorb a
        # slow batch, e.g. the one that starts a new read chunk).
        return bi.read_serialized_examples(
            split.files, columns=decode, batch_size=batch_size, ahead=2
        )
    return split.read_batches()


def _infer_in_process(
    load: Callable[[], Inferrer],
    decode: list[str] | None,
    spec: ModelSpec,
    splits: list[Split],
    inference_result: InferenceResult,
    output_examples: Examples,
    output_columns: list[str] | None,
) -> int:
    """A pass per split: its PredictionLogs shard, its columns in Split-<name>/; the rows.

    The first split's reading starts (on its own thread) before `load` loads the model, so the
    two overlap; `decode` is what the model's signatures need decoded, read without TensorFlow.
    """
    import headwater.bulk_inferrer as bi

    first = _example_batches(splits[0], decode, spec.batch_size) if splits else iter(())
    try:
        inferrer = load()
    except BaseException:
        getattr(first, "close", lambda: None)()
        raise
    rows = 0
    for index, split in enumerate(splits):
        columns = None
        if output_columns is not None:
            columns = os.path.join(
                output_examples.split_uri(split.name),
                f"{OUTPUT_EXAMPLES_PREFIX}-00000-of-00001.parquet",
            )
            output_examples.custom_properties["payload_format"] = FORMAT_PARQUET
        batches = first if index == 0 else _example_batches(split, decode, spec.batch_size)
        written = bi.write_inference_outputs(
            (result for b in batches for result in inferrer.infer_chunks(b)),
            prediction_logs=bi.shard_name(
                os.path.join(inference_result.uri, bi.PREDICTION_LOGS_PREFIX),
                index,
                len(splits),
                ".gz",
            ),
            columns=columns,
            keep_columns=output_columns or (),
        )
        rows += written.num_rows
    return rows


def _infer_with_beam(
    examples: Examples,
    model_path: str,
    spec: ModelSpec,
    splits: list[Split],
    inference_result: InferenceResult,
    output_examples: Examples,
    output_columns: list[str] | None,
) -> None:
    """One Beam pipeline: read each split, RunInference, write logs (and columns per split)."""
    import apache_beam as beam

    import headwater.bulk_inferrer as bi
    import headwater.io as hio

    handler = hio.SavedModelHandler(
        model_path, tags=spec.tags, signature_names=spec.signature_names
    )
    parquet = examples.payload_format == FORMAT_PARQUET
    # Read without TensorFlow: which columns the examples' records must be decoded into.
    described = hio.read_signatures(model_path, spec.tags)
    decode = bi.columns_to_decode(
        [described[name] for name in spec.signature_names if name in described],
        output_columns or (),
    )
    with beam_pipeline() as pipeline:
        results = []
        for split in splits:
            if not split.files:
                continue
            read: Any
            if parquet:
                read = hio.ReadParquet(split.uri)
            elif decode is not None:
                read = bi.ReadSerializedExamples(split.uri, columns=decode)
            else:
                read = hio.ReadTFRecord(split.uri)
            batches = pipeline | f"Read[{split.name}]" >> read
            result = batches | f"Infer[{split.name}]" >> bi.RunBulkInference(handler, spec)
            results.append(result)
            if output_columns is not None:
                prefix = os.path.join(output_examples.split_uri(split.name), OUTPUT_EXAMPLES_PREFIX)
                _ = result | f"Columns[{split.name}]" >> bi.WriteInferenceColumns(
                    prefix, output_columns
                )
        logs_prefix = os.path.join(inference_result.uri, "prediction_logs")
        _ = (
            results | "Flatten" >> beam.Flatten(pipeline=pipeline)
        ) | "PredictionLogs" >> bi.WritePredictionLogs(logs_prefix)
    if output_columns is not None:
        output_examples.custom_properties["payload_format"] = FORMAT_PARQUET


@component
def BulkInferrer(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    inference_result: OutputArtifact[InferenceResult],
    output_examples: OutputArtifact[Examples],
    model_blessing: InputArtifact[ModelBlessing] | None = None,
    data_spec: Parameter[DataSpec | Mapping[str, Any] | None] = None,
    model_spec: Parameter[ModelSpec | Mapping[str, Any] | None] = None,
    output_columns: Parameter[list[str] | None] = None,
) -> None:
    """Run `model`'s serving signatures over `examples`, as TFX's BulkInferrer.

    Writes `inference_result/prediction_logs-SSSSS-of-NNNNN.gz` (PredictionLog TFRecords:
    PredictLog, ClassifyLog, RegressLog or MultiInferenceLog by signature kind; one shard per
    split in process) from every split of `data_spec` (TFX's DataSpec; all splits by default).
    With `output_columns` (input columns to keep, may be []), `output_examples` gets per split a
    Parquet file of those columns beside one column per model output. `model_spec` is TFX's
    ModelSpec (`model_signature_name`, `tag`) or a `headwater.bulk_inferrer.ModelSpec`. If
    `model_blessing` says not blessed (custom property `blessed` != 1), nothing runs: `inferred`
    is 0 and the file `NOT_INFERRED` says why. Runs in process, or as one Beam pipeline for
    large inputs (`prefer_beam`).
    """
    import headwater.bulk_inferrer as bi
    import headwater.io as hio

    spec = bi.ModelSpec.from_value(model_spec)
    data = bi.DataSpec.from_value(data_spec)
    if model_blessing is not None and model_blessing.custom_properties.get("blessed") != 1:
        inference_result.custom_properties["inferred"] = 0
        with open(os.path.join(inference_result.uri, "NOT_INFERRED"), "w") as f:
            f.write(
                f"Model {model.uri} was not blessed ({model_blessing.uri}); no inference was run.\n"
            )
        return
    splits = _splits(examples, data)
    model_path = _serving_dir(model)
    files = [f for split in splits for f in split.files]
    if prefer_beam(files):
        _infer_with_beam(
            examples, model_path, spec, splits, inference_result, output_examples, output_columns
        )
    else:  # small input: the same Inferrer without Beam's start-up
        handler = hio.SavedModelHandler(
            model_path, tags=spec.tags, signature_names=spec.signature_names
        )
        # Read without TensorFlow: which columns the examples' records must be decoded into.
        described = hio.read_signatures(model_path, spec.tags)
        decode = bi.columns_to_decode(
            [described[name] for name in spec.signature_names if name in described],
            output_columns or (),
        )
        count = _infer_in_process(
            lambda: bi.Inferrer(handler.load_model(), spec),
            decode,
            spec,
            splits,
            inference_result,
            output_examples,
            output_columns,
        )
        inference_result.custom_properties["num_examples"] = count
    inference_result.custom_properties["inferred"] = 1
    inference_result.custom_properties["inferred_splits"] = ",".join(s.name for s in splits)

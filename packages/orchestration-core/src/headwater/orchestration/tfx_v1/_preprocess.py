"""TFMA's `preprocessing_function_names` for the tfx_v1 Evaluator: run those model signatures
over the examples first and add their outputs as features (e.g. a label the transform graph
makes, `species_xf`), as TFMA does before it reads labels."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from headwater.orchestration.artifacts import Examples, Model
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.example_files import FORMAT_PARQUET


def _column(values: np.ndarray) -> pa.Array:
    """An Arrow column of one output: flat for one value per row, lists for several."""
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim == 1:
        return pa.array(values.tolist() if values.dtype == object else values)
    flat = values.reshape(len(values), -1)
    offsets = pa.array(np.arange(len(flat) + 1, dtype=np.int32) * flat.shape[1])
    items = flat.ravel()
    return pa.ListArray.from_arrays(
        offsets, pa.array(items.tolist() if items.dtype == object else items)
    )


@component
def EvaluatorPreprocessing(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    preprocessed_examples: OutputArtifact[Examples],
    signature_names: Parameter[list[str]],
    example_splits: Parameter[list[str] | None] = None,
) -> None:
    """`examples`' evaluation splits with the outputs of `model`'s `signature_names` added."""
    import headwater.io as hio

    serving = os.path.join(model.uri, "Format-Serving")
    path = serving if os.path.isdir(serving) else model.uri
    loaded = hio.SavedModelHandler(path, signature_names=tuple(signature_names)).load_model()

    def with_outputs(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for name in signature_names:
                signature = loaded.signatures[name]
                feeds = hio.signature_feeds(signature, batch, model=path)
                for key, values in sorted(loaded.run(name, feeds).items()):
                    if key not in batch.schema.names:
                        batch = batch.append_column(key, _column(np.asarray(values)))
            yield batch

    for split_name in example_splits or ["eval"]:
        split = examples.split(split_name)
        preprocessed_examples.write_split(
            split_name, with_outputs(split.read_batches()), payload_format=FORMAT_PARQUET
        )

"""SchemaGen: a schema inferred from the statistics of every split (TFX's `schema.pbtxt`)."""

from __future__ import annotations

from headwater.orchestration.artifacts import ExampleStatistics, Schema
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component


@component
def SchemaGen(
    statistics: InputArtifact[ExampleStatistics],
    schema: OutputArtifact[Schema],
    infer_feature_shape: Parameter[bool] = True,
    exclude_splits: Parameter[list[str] | None] = None,
) -> None:
    """Infer a schema from the first split's statistics and relax it to accept the others.

    Writes `schema.pbtxt` (text format) and nothing else, as TFX does, so TFX tools that read
    the only file of a Schema artifact read it too.
    """
    import headwater.data_validation as dv

    excluded = set(exclude_splits or ())
    splits = [name for name in statistics.split_name_list if name not in excluded]
    if not splits:
        raise ValueError(
            f"SchemaGen: no statistics split left to infer from (splits: "
            f"{statistics.split_name_list}, excluded: {sorted(excluded)})"
        )
    inferred = None
    for name in splits:
        stats = statistics.read_split(name)
        if inferred is None:
            inferred = dv.infer_schema(stats, infer_feature_shape=infer_feature_shape)
        else:
            inferred = dv.update_schema(inferred, stats, infer_feature_shape=infer_feature_shape)
    schema.write(inferred)

"""Full-pass feature engineering saved as one TensorFlow graph for training and serving.

A `preprocessing_fn(inputs) -> outputs` over dicts of tensors uses TensorFlow ops plus the
analyzers and mappers here, under TFT's names, so `import headwater.transform as tft` ports a
TFT function unchanged. Analysis runs in Beam (or in memory) over Arrow RecordBatches; the graph
with its results bound is saved in TFT's layout and applied alike in training and serving.

Example:
    import headwater.transform as tft

    def preprocessing_fn(inputs):
        return {"fare_xf": tft.scale_to_z_score(inputs["fare"]),
                "company_xf": tft.compute_and_apply_vocabulary(inputs["company"], top_k=50)}

    transformed, tft_output = tft.analyze_and_transform_dataset(batches, schema,
                                                                preprocessing_fn, "out/")
"""

from typing import TYPE_CHECKING, Any

from headwater.transform import coders
from headwater.transform.analyzers import (
    approximate_vocabulary,
    count_per_key,
    covariance,
    histogram,
    max,
    mean,
    median,
    min,
    pca,
    percentile,
    quantiles,
    size,
    sum,
    tukey_h_params,
    tukey_location,
    tukey_scale,
    var,
    vocabulary,
)
from headwater.transform.cache import analyze_datasets_with_cache
from headwater.transform.errors import (
    AnalyzerCacheError,
    AnalyzerError,
    FeatureSpecError,
    PreprocessingFnError,
)
from headwater.transform.features import DatasetMetadata, feature_spec, schema_from_spec
from headwater.transform.graph import MissingFeatureError
from headwater.transform.impl import (
    analyze_and_transform_dataset,
    analyze_dataset,
    transform_dataset,
)
from headwater.transform.mappers import (
    apply_buckets,
    apply_vocabulary,
    bucketize,
    compute_and_apply_vocabulary,
    hash_strings,
    scale_by_min_max,
    scale_by_min_max_per_key,
    scale_to_0_1,
    scale_to_0_1_per_key,
    scale_to_gaussian,
    scale_to_z_score,
    scale_to_z_score_per_key,
)
from headwater.transform.output import TFTransformOutput, TransformOutput
from headwater.transform.text import (
    bag_of_words,
    deduplicate_tensor_per_row,
    ngrams,
    sparse_tensor_to_dense_with_shape,
    tfidf,
    word_count,
)

if TYPE_CHECKING:
    from headwater.transform.beam import (
        AnalyzeAndTransformDataset,
        AnalyzeDataset,
        AnalyzeDatasetsWithCache,
        Context,
        TransformDataset,
        WriteTransformFn,
    )

_BEAM_NAMES = frozenset(
    {
        "AnalyzeAndTransformDataset",
        "AnalyzeDataset",
        "AnalyzeDatasetsWithCache",
        "Context",
        "TransformDataset",
        "WriteTransformFn",
    }
)
"""Names served from `headwater.transform.beam` on first use, so the plain path never imports
Beam (about 1 s of CPU at import)."""


def __getattr__(name: str) -> Any:
    if name in _BEAM_NAMES:
        from headwater.transform import beam

        value = getattr(beam, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AnalyzeAndTransformDataset",
    "AnalyzeDataset",
    "AnalyzeDatasetsWithCache",
    "AnalyzerCacheError",
    "AnalyzerError",
    "Context",
    "DatasetMetadata",
    "FeatureSpecError",
    "MissingFeatureError",
    "PreprocessingFnError",
    "TFTransformOutput",
    "TransformDataset",
    "TransformOutput",
    "WriteTransformFn",
    "analyze_and_transform_dataset",
    "analyze_dataset",
    "analyze_datasets_with_cache",
    "apply_buckets",
    "apply_vocabulary",
    "approximate_vocabulary",
    "bag_of_words",
    "bucketize",
    "coders",
    "compute_and_apply_vocabulary",
    "count_per_key",
    "covariance",
    "deduplicate_tensor_per_row",
    "feature_spec",
    "hash_strings",
    "histogram",
    "max",
    "mean",
    "median",
    "min",
    "ngrams",
    "pca",
    "percentile",
    "quantiles",
    "scale_by_min_max",
    "scale_by_min_max_per_key",
    "scale_to_0_1",
    "scale_to_0_1_per_key",
    "scale_to_gaussian",
    "scale_to_z_score",
    "scale_to_z_score_per_key",
    "schema_from_spec",
    "size",
    "sparse_tensor_to_dense_with_shape",
    "sum",
    "tfidf",
    "transform_dataset",
    "tukey_h_params",
    "tukey_location",
    "tukey_scale",
    "var",
    "vocabulary",
    "word_count",
]

"""Sliced model metrics, validation against a baseline and blessings.

Example:
    config = EvalConfig.from_yaml(open("eval_config.yaml").read())
    result = run_model_analysis(config, "eval/*.tfrecord.gz", model_paths={"": "model/"},
                                output_path="evaluation/")
    result.get().metrics["auc"], result.validation.blessed

Importing this package is light (numpy, pyarrow): TensorFlow is imported only when a model
is loaded, and Apache Beam only when `ExtractEvaluateAndWriteResults` or
`EvaluateSlicedMetrics` is first accessed.
"""

from typing import TYPE_CHECKING, Any

from headwater.model_analysis.analysis import iter_batches, run_model_analysis
from headwater.model_analysis.binarize import Binarized, MacroAveraged, MicroAveraged
from headwater.model_analysis.config import (
    AggregationOptions,
    BinarizationOptions,
    ConfidenceIntervalOptions,
    EvalConfig,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricConfig,
    MetricDirection,
    MetricsSpec,
    MetricThreshold,
    ModelSpec,
    Options,
    PerSliceMetricThreshold,
    SlicingSpec,
    as_eval_config,
    load_eval_config,
    resolve_model_specs,
)
from headwater.model_analysis.errors import EvalConfigError, EvalInputError, ModelLoadError
from headwater.model_analysis.evaluate import PreparedBatch, SlicedMetricsCombiner, prepare_batch
from headwater.model_analysis.metric import Metric, MetricInputs, MetricValue, registered_metrics
from headwater.model_analysis.metrics_binary import (
    AUC,
    AUCPrecisionRecall,
    BinaryAccuracy,
    BinaryCrossEntropy,
    Calibration,
    CalibrationPlot,
    ConfusionMatrixAtThresholds,
    ExampleCount,
    F1Score,
    FairnessIndicators,
    FalseNegativeRate,
    FalseNegatives,
    FalsePositiveRate,
    FalsePositives,
    MeanLabel,
    MeanPrediction,
    NegToNegFlipRate,
    NegToPosFlipRate,
    PosToNegFlipRate,
    PosToPosFlipRate,
    Precision,
    Recall,
    Specificity,
    SymmetricFlipRate,
    TrueNegatives,
    TruePositives,
    WeightedExampleCount,
)
from headwater.model_analysis.metrics_multiclass import (
    NDCG,
    CategoricalAccuracy,
    CategoricalCrossEntropy,
    MultiClassConfusionMatrix,
    MultiClassConfusionMatrixPlot,
    PrecisionAtK,
    RecallAtK,
    SparseCategoricalAccuracy,
)
from headwater.model_analysis.metrics_regression import (
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    RootMeanSquaredError,
    SquaredPearsonCorrelation,
)
from headwater.model_analysis.report import render_html, slice_order
from headwater.model_analysis.results import (
    EvalResult,
    SliceMetrics,
    load_eval_result,
    write_eval_result,
)
from headwater.model_analysis.slicing import SliceKey, slice_groups, slice_key_str
from headwater.model_analysis.validation import (
    ThresholdOutcome,
    ThresholdStatus,
    ValidationResult,
    write_blessing,
)

if TYPE_CHECKING:
    from headwater.model_analysis.beam_evaluate import (
        EvaluateSlicedMetrics,
        ExtractEvaluateAndWriteResults,
    )
    from headwater.model_analysis.inference import ModelPredictor

_LAZY = {
    "EvaluateSlicedMetrics": "headwater.model_analysis.beam_evaluate",
    "ExtractEvaluateAndWriteResults": "headwater.model_analysis.beam_evaluate",
    "ModelPredictor": "headwater.model_analysis.inference",
}


def __getattr__(name: str) -> Any:
    """Beam transforms and the TensorFlow predictor, imported on first use (they are heavy)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'headwater.model_analysis' has no attribute {name!r}")


__all__ = [
    "AUC",
    "NDCG",
    "AUCPrecisionRecall",
    "AggregationOptions",
    "BinarizationOptions",
    "Binarized",
    "BinaryAccuracy",
    "BinaryCrossEntropy",
    "Calibration",
    "CalibrationPlot",
    "CategoricalAccuracy",
    "CategoricalCrossEntropy",
    "ConfidenceIntervalOptions",
    "ConfusionMatrixAtThresholds",
    "EvalConfig",
    "EvalConfigError",
    "EvalInputError",
    "EvalResult",
    "EvaluateSlicedMetrics",
    "ExampleCount",
    "ExtractEvaluateAndWriteResults",
    "F1Score",
    "FairnessIndicators",
    "FalseNegativeRate",
    "FalseNegatives",
    "FalsePositiveRate",
    "FalsePositives",
    "GenericChangeThreshold",
    "GenericValueThreshold",
    "MacroAveraged",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanLabel",
    "MeanPrediction",
    "MeanSquaredError",
    "Metric",
    "MetricConfig",
    "MetricDirection",
    "MetricInputs",
    "MetricThreshold",
    "MetricValue",
    "MetricsSpec",
    "MicroAveraged",
    "ModelLoadError",
    "ModelPredictor",
    "ModelSpec",
    "MultiClassConfusionMatrix",
    "MultiClassConfusionMatrixPlot",
    "NegToNegFlipRate",
    "NegToPosFlipRate",
    "Options",
    "PerSliceMetricThreshold",
    "PosToNegFlipRate",
    "PosToPosFlipRate",
    "Precision",
    "PrecisionAtK",
    "PreparedBatch",
    "Recall",
    "RecallAtK",
    "RootMeanSquaredError",
    "SliceKey",
    "SliceMetrics",
    "SlicedMetricsCombiner",
    "SlicingSpec",
    "SparseCategoricalAccuracy",
    "Specificity",
    "SquaredPearsonCorrelation",
    "SymmetricFlipRate",
    "ThresholdOutcome",
    "ThresholdStatus",
    "TrueNegatives",
    "TruePositives",
    "ValidationResult",
    "WeightedExampleCount",
    "as_eval_config",
    "iter_batches",
    "load_eval_config",
    "load_eval_result",
    "prepare_batch",
    "registered_metrics",
    "render_html",
    "resolve_model_specs",
    "run_model_analysis",
    "slice_groups",
    "slice_key_str",
    "slice_order",
    "write_blessing",
    "write_eval_result",
]

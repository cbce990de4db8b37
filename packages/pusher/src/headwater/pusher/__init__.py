"""Push blessed models into serving layouts: local directories and object stores (fsspec URLs).

Example:
    result = push_model("pipeline/Trainer/model/6/Format-Serving", "serving/penguin")
    result.destination   # 'serving/penguin/1795830000', what TF Serving loads
    push_to("pipeline/Trainer/model/6/Format-Serving", "s3://models/penguin")
"""

from headwater.pusher.destinations import (
    COMPLETE_SUFFIX,
    Destination,
    complete_versions,
    is_local,
    latest_complete_version,
    list_versions,
    push_to,
    tree_digests,
)
from headwater.pusher.filesystem import PushError, PushResult, latest_version, push_model
from headwater.pusher.parity import (
    ConversionError,
    Parity,
    ParityError,
    Tolerance,
    compare_outputs,
    reference_outputs,
)
from headwater.pusher.retention import (
    RetentionPolicy,
    apply_retention,
    pinned_versions_from_model_config,
)
from headwater.pusher.targets import (
    TARGET_FORMATS,
    PushReport,
    SavedModelTarget,
    TargetResult,
    TFJSTarget,
    TFLiteTarget,
    push_targets,
    target_from_config,
)
from headwater.pusher.tfjs import (
    TFJS_FILE,
    TFJS_QUANTIZATIONS,
    ToolingError,
    cache_root,
    convert_to_tfjs,
    converter_python,
    node_verifier,
    run_tfjs,
    verify_tfjs,
)
from headwater.pusher.tflite import (
    QUANTIZATIONS,
    TFLITE_FILE,
    ConvertedModel,
    TFLiteOptions,
    choose_signature,
    convert_to_tflite,
    run_tflite,
    verify_tflite,
)

__all__ = [
    "COMPLETE_SUFFIX",
    "QUANTIZATIONS",
    "TARGET_FORMATS",
    "TFJS_FILE",
    "TFJS_QUANTIZATIONS",
    "TFLITE_FILE",
    "ConversionError",
    "ConvertedModel",
    "Destination",
    "Parity",
    "ParityError",
    "PushError",
    "PushReport",
    "PushResult",
    "RetentionPolicy",
    "SavedModelTarget",
    "TFJSTarget",
    "TFLiteOptions",
    "TFLiteTarget",
    "TargetResult",
    "Tolerance",
    "ToolingError",
    "apply_retention",
    "cache_root",
    "choose_signature",
    "compare_outputs",
    "complete_versions",
    "convert_to_tfjs",
    "convert_to_tflite",
    "converter_python",
    "is_local",
    "latest_complete_version",
    "latest_version",
    "list_versions",
    "node_verifier",
    "pinned_versions_from_model_config",
    "push_model",
    "push_targets",
    "push_to",
    "reference_outputs",
    "run_tfjs",
    "run_tflite",
    "target_from_config",
    "tree_digests",
    "verify_tfjs",
    "verify_tflite",
]

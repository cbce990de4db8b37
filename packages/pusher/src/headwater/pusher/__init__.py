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
from headwater.pusher.retention import (
    RetentionPolicy,
    apply_retention,
    pinned_versions_from_model_config,
)

__all__ = [
    "COMPLETE_SUFFIX",
    "Destination",
    "PushError",
    "PushResult",
    "RetentionPolicy",
    "apply_retention",
    "complete_versions",
    "is_local",
    "latest_complete_version",
    "latest_version",
    "list_versions",
    "pinned_versions_from_model_config",
    "push_model",
    "push_to",
    "tree_digests",
]

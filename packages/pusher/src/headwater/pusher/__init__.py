"""Push blessed models into serving layouts.

Example:
    result = push_model("pipeline/Trainer/model/6/Format-Serving", "serving/penguin")
    result.destination   # 'serving/penguin/1795830000', what TF Serving loads
"""

from headwater.pusher.filesystem import PushError, PushResult, latest_version, push_model

__all__ = ["PushError", "PushResult", "latest_version", "push_model"]

"""`tfx.proto`: TFX's configuration messages, built with TFX's keyword arguments.

Example:
    from headwater.orchestration.tfx_v1 import proto
    trainer = Trainer(..., train_args=proto.TrainArgs(num_steps=100))
"""

from __future__ import annotations

import enum

from headwater.orchestration.tfx_v1._message import REPEATED, Message, fields
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr


class Input(Message):
    """ExampleGen's input splits: `Input(splits=[Input.Split(name=..., pattern=...)])`."""

    class Split(Message):
        """One input split: its name and file pattern under `input_base`."""

        TFX_NAME = "Input.Split"
        FIELDS = fields(name="", pattern="")

    FIELDS = fields(splits=REPEATED)


class SplitConfig(Message):
    """Output splits by hash buckets: `SplitConfig(splits=[SplitConfig.Split(...)])`."""

    class Split(Message):
        """One output split: its name and number of hash buckets."""

        TFX_NAME = "SplitConfig.Split"
        FIELDS = fields(name="", hash_buckets=0)

    FIELDS = fields(splits=REPEATED, partition_feature_name="")


class Output(Message):
    """ExampleGen's output splits: `Output(split_config=SplitConfig(...))`."""

    FIELDS = fields(split_config=None)


class PayloadFormat(enum.IntEnum):
    """What ExampleGen writes (TFX's enum values)."""

    FORMAT_UNSPECIFIED = 0
    FORMAT_TF_EXAMPLE = 6
    FORMAT_TF_SEQUENCE_EXAMPLE = 7
    FORMAT_PROTO = 11
    FORMAT_PARQUET = 15


class StaticRange(Message):
    """Spans `[start_span_number, end_span_number]`."""

    FIELDS = fields(start_span_number=0, end_span_number=0)


class RangeConfig(Message):
    """A span range: `RangeConfig(static_range=StaticRange(...))`."""

    FIELDS = fields(static_range=None, rolling_range=None)


class TrainArgs(Message):
    """Trainer's training splits and steps."""

    FIELDS = fields(splits=REPEATED, num_steps=None)


class EvalArgs(Message):
    """Trainer's evaluation splits and steps."""

    FIELDS = fields(splits=REPEATED, num_steps=None)


class TuneArgs(Message):
    """Tuner's parallel trials."""

    FIELDS = fields(num_parallel_trials=1)


class SplitsConfig(Message):
    """Transform's splits to analyze and to transform."""

    FIELDS = fields(analyze=REPEATED, transform=REPEATED)


class Versioning(enum.IntEnum):
    """How the Pusher numbers versions (TFX's enum values)."""

    AUTO = 0
    UNIX_TIMESTAMP = 1


class PushDestination(Message):
    """Where the Pusher copies a model: `PushDestination(filesystem=Filesystem(...))`."""

    class Filesystem(Message):
        """A serving directory (`base_directory/<version>/`)."""

        TFX_NAME = "PushDestination.Filesystem"
        FIELDS = fields(base_directory="", versioning=Versioning.AUTO)

    FIELDS = fields(filesystem=None)


Filesystem = PushDestination.Filesystem


class DataSpec(Message):
    """BulkInferrer's splits (all when empty)."""

    FIELDS = fields(example_splits=REPEATED)


class ModelSpec(Message):
    """BulkInferrer's signatures and SavedModel tags."""

    FIELDS = fields(model_signature_name=REPEATED, tag=REPEATED)


class TensorFlowServing(Message):
    """The TF Serving model server to validate on (tags of its image)."""

    FIELDS = fields(image_name="", tags=REPEATED, digests=REPEATED)


class LocalDockerConfig(Message):
    """A local Docker engine running the model server."""

    FIELDS = fields(
        client_base_url="",
        client_api_version="",
        client_timeout_seconds=0,
        host_ip_address="",
    )


class ServingSpec(Message):
    """InfraValidator's model server and where it runs."""

    FIELDS = fields(
        tensorflow_serving=None,
        local_docker=None,
        kubernetes=None,
        model_name="",
    )


class ValidationSpec(Message):
    """InfraValidator's loading deadline and tries."""

    FIELDS = fields(max_loading_time_seconds=0, num_tries=0)


class TensorFlowServingRequestSpec(Message):
    """Canary requests for TF Serving: tag set and signatures."""

    FIELDS = fields(tag_set=REPEATED, signature_names=REPEATED)


class RequestSpec(Message):
    """InfraValidator's canary requests built from examples."""

    FIELDS = fields(tensorflow_serving=None, split_name="", num_examples=0, make_warmup=False)


__getattr__ = module_getattr("proto")
__dir__ = module_dir("proto", globals())
__all__ = [
    "DataSpec",
    "EvalArgs",
    "Filesystem",
    "Input",
    "LocalDockerConfig",
    "ModelSpec",
    "Output",
    "PayloadFormat",
    "PushDestination",
    "RangeConfig",
    "RequestSpec",
    "ServingSpec",
    "SplitConfig",
    "SplitsConfig",
    "StaticRange",
    "TensorFlowServing",
    "TensorFlowServingRequestSpec",
    "TrainArgs",
    "TuneArgs",
    "ValidationSpec",
    "Versioning",
]

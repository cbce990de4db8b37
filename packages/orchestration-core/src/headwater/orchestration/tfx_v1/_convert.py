"""TFX's configuration messages (or Headwater's own config) to what Headwater's components take."""

from __future__ import annotations

from typing import Any

from headwater.orchestration.example_gen import InputConfig, OutputConfig, RangeConfig
from headwater.orchestration.tfx_v1 import proto
from headwater.orchestration.tfx_v1._message import Message
from headwater.orchestration.tfx_v1._missing import not_implemented
from headwater.orchestration.training import EvalArgs, TrainArgs, TuneArgs


def input_config(value: Any) -> Any:
    """`proto.Input` -> InputConfig (split name -> pattern); other values unchanged."""
    if not isinstance(value, proto.Input):
        return value
    if not value.splits:
        return None
    return InputConfig(splits={s.name: s.pattern for s in value.splits})


def output_config(value: Any) -> Any:
    """`proto.Output` -> OutputConfig (split name -> hash buckets, partition feature)."""
    if not isinstance(value, proto.Output):
        return value
    split_config = value.split_config
    if split_config is None or not split_config.splits:
        return None
    return OutputConfig(
        splits={s.name: s.hash_buckets for s in split_config.splits},
        partition_feature=split_config.partition_feature_name or None,
    )


def range_config(value: Any) -> Any:
    """`proto.RangeConfig(static_range=...)` -> RangeConfig; a rolling range is not yet."""
    if not isinstance(value, proto.RangeConfig):
        return value
    if value.HasField("rolling_range"):
        raise not_implemented("tfx.v1.proto.RollingRange", "give a static_range")
    static = value.static_range
    if static is None:
        return None
    return RangeConfig(start_span=static.start_span_number, end_span=static.end_span_number)


def train_args(value: Any) -> Any:
    """`proto.TrainArgs` -> TrainArgs (splits default to train, as TFX)."""
    if value is None:
        return TrainArgs()
    if not isinstance(value, proto.TrainArgs):
        return value
    return TrainArgs(splits=tuple(value.splits) or ("train",), num_steps=value.num_steps or None)


def eval_args(value: Any) -> Any:
    """`proto.EvalArgs` -> EvalArgs (splits default to eval, as TFX)."""
    if value is None:
        return EvalArgs()
    if not isinstance(value, proto.EvalArgs):
        return value
    return EvalArgs(splits=tuple(value.splits) or ("eval",), num_steps=value.num_steps or None)


def tune_args(value: Any) -> Any:
    """`proto.TuneArgs` -> TuneArgs."""
    if value is None:
        return TuneArgs()
    if not isinstance(value, proto.TuneArgs):
        return value
    return TuneArgs(num_parallel_trials=value.num_parallel_trials or 1)


def splits_config(value: Any) -> Any:
    """`proto.SplitsConfig` -> SplitsConfig (analyze defaults to train)."""
    from headwater.orchestration import SplitsConfig

    if value is None:
        return SplitsConfig()
    if not isinstance(value, proto.SplitsConfig):
        return value
    return SplitsConfig(
        analyze=tuple(value.analyze) or ("train",), transform=tuple(value.transform)
    )


def as_dict(value: Any) -> Any:
    """A message as TFX's JSON dict (what Headwater's components accept); others unchanged."""
    if isinstance(value, Message):
        return value.to_dict()
    return value


def push_destination(value: Any) -> Any:
    """`proto.PushDestination` -> `{"filesystem": {"base_directory": ...}}`."""
    if isinstance(value, proto.PushDestination):
        filesystem = value.filesystem
        if filesystem is None:
            raise ValueError("PushDestination needs filesystem=PushDestination.Filesystem(...)")
        return {"filesystem": {"base_directory": filesystem.base_directory}}
    return value

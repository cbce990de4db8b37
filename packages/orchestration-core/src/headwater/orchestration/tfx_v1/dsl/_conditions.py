"""`tfx.dsl.Cond` for the one predicate pipelines use: a blessing's `blessed` property is 1.

`with Cond(evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1):` wires
that blessing into the nodes made inside the block that take one (the Pusher's
`model_blessing`, the BulkInferrer's), which then do nothing when it says not blessed. Any
other predicate raises NotImplementedInHeadwaterError.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from headwater.orchestration.artifacts import InfraBlessing, ModelBlessing
from headwater.orchestration.dsl import Channel
from headwater.orchestration.tfx_v1._missing import not_implemented

_ACTIVE: list[Predicate] = []


@dataclass(frozen=True)
class Predicate:
    """`channel`'s first artifact has custom property `name` equal to `value`."""

    channel: Channel
    name: str
    value: Any


class ChannelFuture:
    """`channel.future()`: the channel's artifacts at run time."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def __getitem__(self, index: int) -> ArtifactFuture:
        if index != 0:
            raise not_implemented(f"channel.future()[{index}]", "only [0] is")
        return ArtifactFuture(self.channel)


class ArtifactFuture:
    """`channel.future()[0]`: the channel's first artifact at run time."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def custom_property(self, name: str) -> PropertyFuture:
        """Its custom property `name` at run time."""
        return PropertyFuture(self.channel, name)

    def __getattr__(self, name: str) -> Any:
        raise not_implemented(f"channel.future()[0].{name}", "only custom_property(...) is")


class PropertyFuture:
    """`channel.future()[0].custom_property(name)`; only `== value` makes a predicate."""

    def __init__(self, channel: Channel, name: str) -> None:
        self.channel = channel
        self.name = name

    def __eq__(self, value: object) -> Predicate:  # type: ignore[override]
        return Predicate(self.channel, self.name, value)

    def __hash__(self) -> int:
        return hash((id(self.channel), self.name))

    def _other(self, *_: Any) -> Any:
        raise not_implemented("placeholder comparisons other than ==")

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _other


class Cond:
    """TFX's `Cond(predicate)`: nodes made inside run only when the blessing says blessed."""

    def __init__(self, predicate: Any) -> None:
        if not isinstance(predicate, Predicate):
            raise not_implemented(f"tfx.v1.dsl.Cond({predicate!r:.80})", _SUPPORTED)
        blessing = issubclass(predicate.channel.type, ModelBlessing | InfraBlessing)
        if not (blessing and predicate.name == "blessed" and predicate.value == 1):
            raise not_implemented(f"tfx.v1.dsl.Cond({predicate!r:.120})", _SUPPORTED)
        self.predicate = predicate

    def __enter__(self) -> Cond:
        _ACTIVE.append(self.predicate)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _ACTIVE.remove(self.predicate)


_SUPPORTED = (
    "only `<ModelBlessing or InfraBlessing channel>.future()[0].custom_property('blessed') == 1` is"
)


def blessings_in_force() -> dict[str, Channel]:
    """The blessing channels of the enclosing Cond blocks, by the input name that takes them."""
    found: dict[str, Channel] = {}
    for predicate in _ACTIVE:
        key = (
            "infra_blessing"
            if issubclass(predicate.channel.type, InfraBlessing)
            else ("model_blessing")
        )
        found[key] = predicate.channel
    return found


def check_not_in_cond(node_name: str) -> None:
    """Raise if a node that cannot take a blessing input is made inside a Cond block."""
    if _ACTIVE:
        raise not_implemented(
            f"tfx.v1.dsl.Cond around {node_name}",
            "only nodes taking a model_blessing / infra_blessing input (Pusher, BulkInferrer) "
            "may be inside",
        )

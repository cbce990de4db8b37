"""Resolver: pick artifacts from earlier runs (latest artifact, latest blessed model).

    baseline = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=Model),
        model_blessing=Channel(type=ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    Evaluator(..., baseline_model=baseline.outputs["model"])

An unbound `Channel(type=T)` looks at every LIVE artifact of type T in the pipeline; a channel
bound to a node's output looks at what that node produced in any run. An empty result is
legal: a downstream optional input then gets None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.dsl import Channel, Node
from headwater.orchestration.errors import WiringError

if TYPE_CHECKING:
    from headwater.orchestration.metadata import MetadataStore
    from headwater.orchestration.runner import NodeResult


class ResolverStrategy:
    """Base of resolver strategies: choose artifacts per input key from the candidates."""

    NAME: ClassVar[str] = ""

    @staticmethod
    def resolve(
        store: MetadataStore, candidates: Mapping[str, list[Artifact]]
    ) -> dict[str, list[Artifact]]:
        """Chosen artifacts per key; `candidates` are LIVE artifacts, newest first."""
        raise NotImplementedError


class LatestArtifactStrategy(ResolverStrategy):
    """The newest artifact of each channel."""

    NAME = "latest_artifact"

    @staticmethod
    def resolve(
        store: MetadataStore, candidates: Mapping[str, list[Artifact]]
    ) -> dict[str, list[Artifact]]:
        """The newest candidate per key (none if there is none)."""
        return {key: found[:1] for key, found in candidates.items()}


class LatestBlessedModelStrategy(ResolverStrategy):
    """The newest Model with a ModelBlessing that says blessed (and that blessing)."""

    NAME = "latest_blessed_model"

    @staticmethod
    def resolve(
        store: MetadataStore, candidates: Mapping[str, list[Artifact]]
    ) -> dict[str, list[Artifact]]:
        """Newest blessed model per TFX's `blessed` / `current_model_id` custom properties."""
        _check_blessed_model_keys(list(candidates))
        model_key, blessing_key = "model", "model_blessing"
        models = {m.id: m for m in candidates[model_key]}
        best: tuple[Artifact, Artifact] | None = None
        for blessing in candidates[blessing_key]:
            if int(blessing.custom_properties.get("blessed", 0) or 0) != 1:
                continue
            model_id = blessing.custom_properties.get("current_model_id")
            if model_id is None:
                model_id = _model_evaluated_by(store, blessing)
            model = models.get(int(model_id)) if model_id is not None else None
            if model is not None and (best is None or (model.id or 0) > (best[0].id or 0)):
                best = (model, blessing)
        result: dict[str, list[Artifact]] = {key: [] for key in candidates}
        if best is not None:
            result[model_key], result[blessing_key] = [best[0]], [best[1]]
        return result


_STRATEGIES: dict[str, type[ResolverStrategy]] = {
    s.NAME: s for s in (LatestArtifactStrategy, LatestBlessedModelStrategy)
}


def _check_blessed_model_keys(keys: Sequence[str]) -> None:
    if "model" not in keys or "model_blessing" not in keys:
        raise WiringError(
            "Resolver with LatestBlessedModelStrategy needs inputs 'model' (Model) and "
            f"'model_blessing' (ModelBlessing); got {sorted(keys)}"
        )


def _model_evaluated_by(store: MetadataStore, blessing: Artifact) -> int | None:
    """Id of the Model the execution that produced `blessing` read as input 'model'."""
    from ml_metadata.proto import metadata_store_pb2

    mlmd: Any = metadata_store_pb2
    if blessing.id is None:
        return None
    events = store.store.get_events_by_artifact_ids([blessing.id])
    producers = [e.execution_id for e in events if e.type == mlmd.Event.OUTPUT]
    if not producers:
        return None
    for event in store.store.get_events_by_execution_ids([min(producers)]):
        if (
            event.type == mlmd.Event.INPUT
            and event.path.steps
            and event.path.steps[0].key == "model"
        ):
            return int(event.artifact_id)
    return None


class Resolver(Node):
    """A node that outputs, per input key, artifacts chosen from earlier runs by a strategy."""

    def __init__(
        self,
        strategy_class: type[ResolverStrategy] | str = LatestArtifactStrategy,
        **channels: Channel,
    ) -> None:
        if isinstance(strategy_class, str):
            if strategy_class not in _STRATEGIES:
                raise WiringError(
                    f"Resolver: unknown strategy {strategy_class!r} (known: {sorted(_STRATEGIES)})"
                )
            strategy_class = _STRATEGIES[strategy_class]
        if not channels:
            raise WiringError("Resolver: give at least one channel, e.g. model=Channel(type=Model)")
        for key, channel in channels.items():
            if not isinstance(channel, Channel):
                raise WiringError(f"Resolver: input {key!r} must be a Channel, got {channel!r:.80}")
        self.strategy = strategy_class
        super().__init__(
            "Resolver",
            kind="resolver",
            type_name="Resolver",
            inputs=channels,
            parameters={"strategy": strategy_class.NAME or strategy_class.__qualname__},
            outputs={key: ch.type for key, ch in channels.items()},
        )
        if strategy_class is LatestBlessedModelStrategy:
            _check_blessed_model_keys(list(channels))

    def execute(
        self,
        store: MetadataStore,
        pipeline_ctx: Any,
        contexts: Sequence[Any],
        inputs: Mapping[str, list[Artifact]],
    ) -> NodeResult:
        """Query candidates, apply the strategy, record a COMPLETE execution reading them."""
        from headwater.orchestration.metadata import NODE_CONTEXT
        from headwater.orchestration.runner import NodeResult, latest_of_type

        pipeline_name = pipeline_ctx.name
        candidates: dict[str, list[Artifact]] = {}
        for key, channel in self.inputs.items():
            if channel.producer is None:
                candidates[key] = latest_of_type(store, pipeline_ctx, channel)
            else:
                node_ctx = store.get_context(NODE_CONTEXT, f"{pipeline_name}.{channel.producer.id}")
                found = latest_of_type(store, node_ctx, channel) if node_ctx else []
                candidates[key] = found
        chosen = self.strategy.resolve(store, candidates)
        execution_id = store.put_execution(
            type_name="Resolver",
            state="COMPLETE",
            contexts=contexts,
            properties=self.parameters,
            inputs=chosen,
        )
        return NodeResult(self.id, "COMPLETE", execution_id, 0.0, chosen)

"""`tfx.dsl`: Pipeline, Channel, Resolver, Importer and Cond with TFX's arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import headwater.orchestration as hw
from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.dsl import Node
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr, not_implemented
from headwater.orchestration.tfx_v1.dsl import components, experimental
from headwater.orchestration.tfx_v1.dsl._conditions import Cond, check_not_in_cond


class Channel(hw.Channel):
    """Every artifact of `type` (TFX's unbound `Channel(type=...)`, as a Resolver's input)."""

    def __init__(
        self,
        type: type[Artifact],
        additional_properties: Any = None,
        additional_custom_properties: Any = None,
        artifacts: Any = None,
        producer_component_id: str | None = None,
        output_key: str | None = None,
    ) -> None:
        for name, value in (
            ("additional_properties", additional_properties),
            ("additional_custom_properties", additional_custom_properties),
            ("artifacts", artifacts),
            ("producer_component_id", producer_component_id),
            ("output_key", output_key),
        ):
            if value:
                raise not_implemented(
                    f"tfx.v1.dsl.Channel({name}=...)", "use the node's outputs[...] channel"
                )
        super().__init__(type)


class Resolver(hw.Resolver):
    """TFX's `Resolver(strategy_class=..., **channels)`; `config` is not yet."""

    def __init__(
        self,
        strategy_class: type[hw.ResolverStrategy] | None = None,
        config: dict[str, Any] | None = None,
        **channels: hw.Channel,
    ) -> None:
        check_not_in_cond("Resolver")
        if config:
            raise not_implemented("tfx.v1.dsl.Resolver(config=...)")
        if strategy_class is None:
            raise not_implemented("tfx.v1.dsl.Resolver without strategy_class")
        super().__init__(strategy_class, **channels)


class Importer(hw.Importer):
    """TFX's `Importer(source_uri, artifact_type, reimport, properties, custom_properties)`."""

    def __init__(
        self,
        source_uri: str,
        artifact_type: type[Artifact],
        reimport: bool = False,
        properties: dict[str, Any] | None = None,
        custom_properties: dict[str, Any] | None = None,
        output_key: str | None = None,
    ) -> None:
        check_not_in_cond("Importer")
        if output_key not in (None, "result"):
            raise not_implemented("tfx.v1.dsl.Importer(output_key=...)", "the output is 'result'")
        super().__init__(
            source_uri,
            artifact_type,
            reimport=reimport,
            properties=properties,
            custom_properties=custom_properties,
        )


class Pipeline(hw.Pipeline):
    """TFX's `Pipeline(pipeline_name, pipeline_root, components=..., enable_cache=False, ...)`."""

    def __init__(
        self,
        pipeline_name: str,
        pipeline_root: str | None = "",
        metadata_connection_config: Any = None,
        components: Sequence[Node] | None = None,
        enable_cache: bool = False,
        beam_pipeline_args: Sequence[str] | None = None,
        platform_config: Any = None,
        execution_mode: Any = None,
        inputs: Any = None,
        outputs: Any = None,
        dsl_context_registry: Any = None,
    ) -> None:
        for name, value in (
            ("platform_config", platform_config),
            ("execution_mode", execution_mode),
            ("inputs", inputs),
            ("outputs", outputs),
            ("dsl_context_registry", dsl_context_registry),
        ):
            if value is not None:
                raise not_implemented(f"tfx.v1.dsl.Pipeline({name}=...)")
        super().__init__(
            pipeline_name,
            pipeline_root or None,
            list(components or []),
            metadata_connection_config=metadata_connection_config,
            enable_cache=enable_cache,
            beam_pipeline_args=list(beam_pipeline_args or []),
        )


__getattr__ = module_getattr("dsl")
__dir__ = module_dir("dsl", globals())
__all__ = [
    "Artifact",
    "Channel",
    "Cond",
    "Importer",
    "Pipeline",
    "Resolver",
    "components",
    "experimental",
]

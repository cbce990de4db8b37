"""`tfx.dsl.components`: the `@component` decorator and its annotations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.orchestration import dsl as _dsl
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr, not_implemented


def component(
    func: Callable[..., Any] | None = None,
    /,
    *,
    component_annotation: Any = None,
    use_beam: bool = False,
) -> Any:
    """TFX's `@component` / `@component(use_beam=..., component_annotation=...)`."""
    if use_beam:
        raise not_implemented(
            "tfx.v1.dsl.components.component(use_beam=True)",
            "read the pipeline's Beam options with headwater.orchestration.beam_pipeline()",
        )
    if component_annotation is not None:
        raise not_implemented("tfx.v1.dsl.components.component(component_annotation=...)")
    if func is None:
        return _dsl.component
    return _dsl.component(func)


__getattr__ = module_getattr("dsl.components")
__dir__ = module_dir("dsl.components", globals())
__all__ = ["InputArtifact", "OutputArtifact", "Parameter", "component"]

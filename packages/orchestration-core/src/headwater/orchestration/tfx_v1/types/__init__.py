"""`tfx.types`: node and channel base types, and the standard artifact types."""

from headwater.orchestration.dsl import Channel as BaseChannel
from headwater.orchestration.dsl import ComponentFactory as BaseFunctionalComponentFactory
from headwater.orchestration.dsl import Node as BaseFunctionalComponent
from headwater.orchestration.dsl import Node as BaseNode
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr
from headwater.orchestration.tfx_v1.types import standard_artifacts

__getattr__ = module_getattr("types")
__dir__ = module_dir("types", globals())
__all__ = [
    "BaseChannel",
    "BaseFunctionalComponent",
    "BaseFunctionalComponentFactory",
    "BaseNode",
    "standard_artifacts",
]

"""`tfx.dsl.components`: the `@component` decorator and its annotations."""

from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr

__getattr__ = module_getattr("dsl.components")
__dir__ = module_dir("dsl.components", globals())
__all__ = ["InputArtifact", "OutputArtifact", "Parameter", "component"]

"""`tfx.orchestration`: the local runner and ML Metadata connection helpers."""

from headwater.orchestration.runner import LocalDagRunner
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr
from headwater.orchestration.tfx_v1.orchestration import metadata

__getattr__ = module_getattr("orchestration")
__dir__ = module_dir("orchestration", globals())
__all__ = ["LocalDagRunner", "metadata"]

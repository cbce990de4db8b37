"""`tfx.dsl.experimental`: resolver strategies."""

from headwater.orchestration.resolver import (
    LatestArtifactStrategy,
    LatestBlessedModelStrategy,
    ResolverStrategy,
)
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr

LatestBlessedModelResolver = LatestBlessedModelStrategy
"""TFX's older name (`tfx.dsl.experimental.latest_blessed_model_resolver`), kept for old files."""

__getattr__ = module_getattr("dsl.experimental")
__dir__ = module_dir("dsl.experimental", globals())
__all__ = ["LatestArtifactStrategy", "LatestBlessedModelStrategy", "ResolverStrategy"]

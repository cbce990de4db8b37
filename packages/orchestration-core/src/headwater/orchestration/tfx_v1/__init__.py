"""TFX 1.16's `tfx.v1` API on Headwater: a TFX user's files run after changing import lines.

Example:
    from headwater.orchestration import tfx_v1 as tfx   # was: from tfx import v1 as tfx

    trainer = tfx.components.Trainer(
        module_file=module_file,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(num_steps=100),
        eval_args=tfx.proto.EvalArgs(num_steps=5))

Names Headwater does not implement yet raise NotImplementedInHeadwaterError naming them;
docs/migrating_from_tfx.md lists every name with its status.
"""

from headwater.orchestration.tfx_v1 import components, dsl, orchestration, proto, types
from headwater.orchestration.tfx_v1._missing import (
    NotImplementedInHeadwaterError,
    module_dir,
    module_getattr,
)

__getattr__ = module_getattr("")
__dir__ = module_dir("", globals())
__all__ = [
    "NotImplementedInHeadwaterError",
    "components",
    "dsl",
    "orchestration",
    "proto",
    "types",
]

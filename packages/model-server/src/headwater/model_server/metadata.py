"""SignatureSpecs as TF Serving's SignatureDefMap, the answer to GetModelMetadata on both protocols.

The seam describes signatures without TensorFlow; TF Serving clients expect a
`tensorflow.serving.SignatureDefMap` of `tensorflow.SignatureDef`s. Shapes keep -1 for unknown
sizes and `unknown_rank` for unknown ranks; a TensorInfo's `name` is the input or output key
(the seam does not carry graph tensor names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.io.model_seam import SignatureSpec, TensorSpec
from headwater.model_server.tensors import tf_dtype_name

__all__ = ["signature_def_map"]


def _tensor_info(spec: TensorSpec) -> Any:
    from tensorflow.core.framework import tensor_shape_pb2, types_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    shape = tensor_shape_pb2.TensorShapeProto()
    if spec.shape is None:
        shape.unknown_rank = True
    else:
        shape.dim.extend(
            tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d))
            for d in spec.shape
        )
    dtype = spec.tf_dtype or tf_dtype_name(spec.dtype)
    return meta_graph_pb2.TensorInfo(
        name=spec.graph_name or spec.name,
        dtype=types_pb2.DataType.Value(dtype),
        tensor_shape=shape,
    )


def signature_def_map(signatures: Mapping[str, SignatureSpec]) -> Any:
    """A tensorflow.serving.SignatureDefMap describing `signatures`."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    out = get_model_metadata_pb2.SignatureDefMap()
    for name in sorted(signatures):
        spec = signatures[name]
        signature = out.signature_def[name]
        signature.method_name = spec.method_name
        for key, tensor in spec.inputs.items():
            signature.inputs[key].CopyFrom(_tensor_info(tensor))
        for key, tensor in spec.outputs.items():
            signature.outputs[key].CopyFrom(_tensor_info(tensor))
    return out

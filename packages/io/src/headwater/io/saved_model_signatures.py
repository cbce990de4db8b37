"""A SavedModel's signatures read from its `saved_model.pb` without importing TensorFlow.

For light processes (the `headwater ui`, a CLI listing) that describe a model but never run it.
The few SavedModel fields a signature needs (MetaGraphs and their tags, SignatureDefs, each
TensorInfo's dtype and shape) are declared here as protobuf messages with TensorFlow's field
numbers, in a private descriptor pool, so parsing skips the graph and every other field. The
result is the same `SignatureSpec`s that `SavedModelHandler(...).load_model().signatures` gives.

Example:
    specs = read_signatures("models/penguin/3")
    print(specs["serving_default"].inputs)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from headwater.io.model_seam import DTYPE_BY_TF, ModelLoadError, SignatureSpec, TensorSpec

__all__ = ["read_signatures"]

# TensorFlow's DataType enum (tensorflow/core/framework/types.proto), number -> name.
_TF_DTYPE_NAMES = {
    0: "DT_INVALID",
    1: "DT_FLOAT",
    2: "DT_DOUBLE",
    3: "DT_INT32",
    4: "DT_UINT8",
    5: "DT_INT16",
    6: "DT_INT8",
    7: "DT_STRING",
    8: "DT_COMPLEX64",
    9: "DT_INT64",
    10: "DT_BOOL",
    11: "DT_QINT8",
    12: "DT_QUINT8",
    13: "DT_QINT32",
    14: "DT_BFLOAT16",
    15: "DT_QINT16",
    16: "DT_QUINT16",
    17: "DT_UINT16",
    18: "DT_COMPLEX128",
    19: "DT_HALF",
    20: "DT_RESOURCE",
    21: "DT_VARIANT",
    22: "DT_UINT32",
    23: "DT_UINT64",
}
# message -> [(field, number, type, label, message type)], TensorFlow's numbers; types and
# labels name FieldDescriptorProto's TYPE_* / LABEL_* (protobuf is imported on first use).
_MESSAGES: dict[str, list[tuple[str, int, str, str, str]]] = {
    "SavedModel": [
        ("saved_model_schema_version", 1, "INT64", "OPTIONAL", ""),
        ("meta_graphs", 2, "MESSAGE", "REPEATED", "MetaGraphDef"),
    ],
    "MetaGraphDef": [
        ("meta_info_def", 1, "MESSAGE", "OPTIONAL", "MetaInfoDef"),
        ("signature_def", 5, "MESSAGE", "REPEATED", "SignatureDefEntry"),
    ],
    "MetaInfoDef": [("tags", 4, "STRING", "REPEATED", "")],
    "SignatureDef": [
        ("inputs", 1, "MESSAGE", "REPEATED", "TensorInfoEntry"),
        ("outputs", 2, "MESSAGE", "REPEATED", "TensorInfoEntry"),
        ("method_name", 3, "STRING", "OPTIONAL", ""),
    ],
    "TensorInfo": [
        ("name", 1, "STRING", "OPTIONAL", ""),
        ("dtype", 2, "ENUM", "OPTIONAL", "DataType"),
        ("tensor_shape", 3, "MESSAGE", "OPTIONAL", "TensorShapeProto"),
    ],
    "TensorShapeProto": [
        ("dim", 2, "MESSAGE", "REPEATED", "Dim"),
        ("unknown_rank", 3, "BOOL", "OPTIONAL", ""),
    ],
    "Dim": [
        ("size", 1, "INT64", "OPTIONAL", ""),
        ("name", 2, "STRING", "OPTIONAL", ""),
    ],
}
_MAPS = {"SignatureDefEntry": "SignatureDef", "TensorInfoEntry": "TensorInfo"}
_PACKAGE = "headwater_io_saved_model_subset"


@cache
def _saved_model_class() -> Any:
    """The SavedModel message class over the subset above (built once per process)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    kinds = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto3"
    )
    enum = file.enum_type.add(name="DataType")
    for number, name in sorted(_TF_DTYPE_NAMES.items()):
        enum.value.add(name=name, number=number)
    for name, fields in _MESSAGES.items():
        msg = file.message_type.add(name=name)
        for field, number, kind, label, type_name in fields:
            msg.field.add(
                name=field,
                number=number,
                type=getattr(kinds, f"TYPE_{kind}"),
                label=getattr(kinds, f"LABEL_{label}"),
                type_name=f".{_PACKAGE}.{type_name}" if type_name else None,
            )
    for entry, value in _MAPS.items():
        msg = file.message_type.add(name=entry)
        msg.options.map_entry = True
        msg.field.add(name="key", number=1, type=kinds.TYPE_STRING, label=kinds.LABEL_OPTIONAL)
        msg.field.add(
            name="value",
            number=2,
            type=kinds.TYPE_MESSAGE,
            label=kinds.LABEL_OPTIONAL,
            type_name=f".{_PACKAGE}.{value}",
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.SavedModel"))


def _parse(path: str) -> Any:
    from google.protobuf import message, text_format

    saved = _saved_model_class()()
    binary, text = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    try:
        if os.path.exists(binary):
            with open(binary, "rb") as f:
                saved.ParseFromString(f.read())
        elif os.path.exists(text):
            with open(text, encoding="utf-8") as f:
                text_format.Parse(f.read(), saved, allow_unknown_field=True)
        else:
            raise ModelLoadError(f"SavedModel {path}: no saved_model.pb or saved_model.pbtxt")
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"SavedModel {path}: corrupt saved_model.pb: {exc}") from exc
    except OSError as exc:
        raise ModelLoadError(f"SavedModel {path}: cannot read saved_model.pb: {exc}") from exc
    return saved


def _tensor_spec(name: str, info: Any) -> TensorSpec:
    tf_dtype = _TF_DTYPE_NAMES.get(info.dtype, f"DT_{info.dtype}")
    shape: tuple[int | None, ...] | None
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    dtype = DTYPE_BY_TF.get(tf_dtype, tf_dtype.removeprefix("DT_").lower())
    return TensorSpec(name=name, dtype=dtype, shape=shape, tf_dtype=tf_dtype, graph_name=info.name)


def read_signatures(
    path: str | os.PathLike[str], tags: tuple[str, ...] = ("serve",)
) -> Mapping[str, SignatureSpec]:
    """The signatures of the MetaGraph tagged exactly `tags` in the SavedModel at `path`.

    Reads only `saved_model.pb` (or `.pbtxt`); TensorFlow is not imported. ModelLoadError
    names the path and what is wrong (no such directory, no model file, corrupt, no MetaGraph
    with those tags).
    """
    where = os.fspath(path)
    if not os.path.isdir(where):
        raise ModelLoadError(f"SavedModel {where}: no such directory")
    saved = _parse(where)
    found = [list(m.meta_info_def.tags) for m in saved.meta_graphs]
    for meta_graph in saved.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return {
                name: SignatureSpec(
                    name=name,
                    method_name=sig.method_name,
                    inputs={k: _tensor_spec(k, v) for k, v in sorted(sig.inputs.items())},
                    outputs={k: _tensor_spec(k, v) for k, v in sorted(sig.outputs.items())},
                )
                for name, sig in sorted(meta_graph.signature_def.items())
                if name != "__saved_model_init_op"
            }
    raise ModelLoadError(
        f"SavedModel {where}: no MetaGraph tagged {list(tags)}; tag sets are {found}"
    )

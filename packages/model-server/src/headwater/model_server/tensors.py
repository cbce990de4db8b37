"""TensorProto ⇄ numpy, and numpy ⇄ TF DataType names, without calling TensorFlow ops.

gRPC requests carry `tensorflow.TensorProto`s. Numeric tensors travel as raw little-endian
`tensor_content` (one copy, no Python loop) and are read back from either that or the typed
repeated fields (`float_val`, ...) that other clients fill; strings are numpy object arrays of
`bytes`, the form the model seam feeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from headwater.io import DTYPE_BY_TF
from headwater.model_server.errors import ServingError

__all__ = [
    "DTYPE_BY_TF",
    "TF_BY_DTYPE",
    "make_tensor_proto",
    "tensor_proto_to_ndarray",
    "tf_dtype_name",
]

TF_BY_DTYPE: dict[str, str] = {v: k for k, v in DTYPE_BY_TF.items()}

# Which typed repeated field of TensorProto holds values of each dtype.
_VAL_FIELD = {
    "float32": "float_val",
    "float64": "double_val",
    "float16": "half_val",
    "int8": "int_val",
    "int16": "int_val",
    "int32": "int_val",
    "uint8": "int_val",
    "uint16": "int_val",
    "int64": "int64_val",
    "uint32": "uint32_val",
    "uint64": "uint64_val",
    "bool": "bool_val",
    "complex64": "scomplex_val",
    "complex128": "dcomplex_val",
}


def tf_dtype_name(dtype: str) -> str:
    """TF's DataType enum name for a seam dtype name ("float32" -> "DT_FLOAT")."""
    try:
        return TF_BY_DTYPE[dtype]
    except KeyError:
        raise ServingError(
            "INVALID_ARGUMENT", f"dtype {dtype!r} has no TensorFlow DataType"
        ) from None


_DTYPE_BY_ENUM: dict[int, str] = {}
"""TensorProto.dtype (enum number) -> seam dtype, filled on first use (no TensorFlow import
per request)."""
_ENUM_BY_DTYPE: dict[str, int] = {}
_WIRE_DTYPE: dict[str, np.dtype] = {}
"""Seam dtype name -> its little-endian numpy dtype (tensor_content's byte order)."""


def _wire_dtype(dtype: str) -> np.dtype:
    wire = _WIRE_DTYPE.get(dtype)
    if wire is None:
        wire = _WIRE_DTYPE[dtype] = np.dtype(dtype).newbyteorder("<")
    return wire


def _enums() -> None:
    from tensorflow.core.framework import types_pb2

    for tf_name, dtype in DTYPE_BY_TF.items():
        number = types_pb2.DataType.Value(tf_name)
        _DTYPE_BY_ENUM[number] = dtype
        _ENUM_BY_DTYPE[dtype] = number


def _dtype_name_of(proto: Any) -> str:
    dtype = _DTYPE_BY_ENUM.get(proto.dtype)
    if dtype is not None:
        return dtype
    from tensorflow.core.framework import types_pb2

    if not _DTYPE_BY_ENUM:
        _enums()
        return _dtype_name_of(proto)
    try:
        enum_name = types_pb2.DataType.Name(proto.dtype)
    except ValueError:
        enum_name = str(proto.dtype)
    raise ServingError(
        "INVALID_ARGUMENT", f"tensor dtype {enum_name} is not supported by this server"
    )


def tensor_proto_to_ndarray(proto: Any, *, name: str = "tensor") -> np.ndarray:
    """The numpy array a TensorProto holds; strings become an object array of bytes."""
    dtype = _dtype_name_of(proto)
    if proto.tensor_shape.unknown_rank:
        raise ServingError("INVALID_ARGUMENT", f"input {name!r}: tensor_shape has unknown rank")
    shape = tuple([d.size for d in proto.tensor_shape.dim])
    if any(d < 0 for d in shape):
        raise ServingError("INVALID_ARGUMENT", f"input {name!r}: negative dimension in {shape}")
    count = math.prod(shape)
    if dtype == "string":
        values = list(proto.string_val)
        array = np.empty(len(values), dtype=object)
        array[:] = values
    elif content := proto.tensor_content:
        np_dtype = _wire_dtype(dtype)
        if len(content) != count * np_dtype.itemsize:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"input {name!r}: tensor_content holds {len(content)} bytes, "
                f"shape {list(shape)} of {dtype} needs {count * np_dtype.itemsize}",
            )
        return np.frombuffer(content, dtype=np_dtype).astype(dtype).reshape(shape)
    else:
        field = _VAL_FIELD[dtype]
        raw = getattr(proto, field)
        if dtype == "float16":
            array = np.asarray(raw, dtype=np.uint16).view(np.float16)
        elif dtype.startswith("complex"):
            pairs = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
            array = (pairs[:, 0] + 1j * pairs[:, 1]).astype(dtype)
        else:
            array = np.asarray(raw, dtype=dtype)
    if array.size == count:
        return array.reshape(shape)
    if array.size == 1 or (array.size == 0 and count == 0):
        # TF's convention: one value fills the whole shape.
        return np.full(shape, array[0] if array.size else 0, dtype=array.dtype)
    if array.size == 0:
        fill: object = b"" if dtype == "string" else 0
        out = np.empty(shape, dtype=object) if dtype == "string" else np.zeros(shape, dtype=dtype)
        out[...] = fill
        return out
    raise ServingError(
        "INVALID_ARGUMENT",
        f"input {name!r}: {array.size} values do not fill shape {list(shape)} ({count} values)",
    )


def make_tensor_proto(array: np.ndarray) -> Any:
    """A TensorProto holding `array` (numeric as tensor_content, strings as string_val)."""
    from tensorflow.core.framework import tensor_pb2

    array = np.asarray(array)
    dtype = "string" if array.dtype.kind in ("O", "S", "U") else array.dtype.name
    if not _ENUM_BY_DTYPE:
        _enums()
    number = _ENUM_BY_DTYPE.get(dtype)
    if number is None:
        tf_dtype_name(dtype)  # raises INVALID_ARGUMENT naming the dtype
    proto = tensor_pb2.TensorProto(dtype=number)
    dims = proto.tensor_shape.dim
    for d in array.shape:
        dims.add(size=int(d))
    if dtype == "string":
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)
        )
    else:
        wire = _wire_dtype(dtype)  # tobytes() writes C order whatever the array's layout
        proto.tensor_content = (array if array.dtype == wire else array.astype(wire)).tobytes()
    return proto

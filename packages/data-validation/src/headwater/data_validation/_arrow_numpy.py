"""Arrow ⇄ numpy for flat primitive arrays, through their buffers, without pandas.

pyarrow's own conversions (`Array.to_numpy`, `np.asarray(array)`, `pa.array(ndarray)`,
`pa.scalar`) import pandas on first use when it is installed (about 0.25 s on a quiet machine,
several seconds on a busy one), even for an int64 array that needs no copy. Statistics never need
pandas, so the hot paths convert through the buffers here and fall back to pyarrow's conversion
only for types these helpers do not cover.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["from_numpy", "string_array", "to_numpy"]


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of a numeric or boolean array as a numpy array (read-only; may be a view).

    Nulls follow pyarrow's `to_numpy(zero_copy_only=False)`: the fallback handles them.
    """
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1:
            return to_numpy(array.chunk(0))
        if array.num_chunks == 0:
            return to_numpy(pa.Array.from_buffers(array.type, 0, [None, None]))
        return np.concatenate([to_numpy(chunk) for chunk in array.chunks])
    kind = array.type
    n = len(array)
    if array.null_count == 0:
        if pa.types.is_boolean(kind):
            data = array.buffers()[1]
            if data is None or n == 0:
                return np.zeros(n, dtype=bool)
            bits = np.frombuffer(data, dtype=np.uint8)
            start = array.offset
            first, last = start // 8, (start + n + 7) // 8
            unpacked = np.unpackbits(bits[first:last], bitorder="little")
            return unpacked[start - first * 8 : start - first * 8 + n].view(np.bool_)
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            dtype = np.dtype(_NUMPY[kind.id])
            data = array.buffers()[1]
            if data is None or n == 0:
                return np.zeros(n, dtype=dtype)
            return np.frombuffer(data, dtype=dtype, count=n, offset=array.offset * dtype.itemsize)
    return array.to_numpy(zero_copy_only=False)


def from_numpy(values: np.ndarray) -> pa.Array:
    """A 1-D numeric or boolean numpy array as an Arrow array without nulls."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    n = int(values.size)
    if values.dtype == np.bool_:
        packed = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(packed)])
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(values)])


def string_array(values: list[str]) -> pa.Array:
    """Python strings as an Arrow string array without nulls (`pa.array` would import pandas)."""
    encoded = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


_NUMPY = {
    pa.int8().id: "int8",
    pa.int16().id: "int16",
    pa.int32().id: "int32",
    pa.int64().id: "int64",
    pa.uint8().id: "uint8",
    pa.uint16().id: "uint16",
    pa.uint32().id: "uint32",
    pa.uint64().id: "uint64",
    pa.float16().id: "float16",
    pa.float32().id: "float32",
    pa.float64().id: "float64",
}

"""PredictionLog records (tensorflow_serving.apis.prediction_log_pb2) written straight from arrays.

The records are the messages TFX's BulkInferrer writes, serialized from the wire format's
field numbers instead of building one Python proto object per example (which costs more than
the model call): per example, a PredictLog whose request holds the fed tensors (the serialized
tf.Example as a [1] string tensor) and whose response holds each output's row as a TensorProto
of shape [1, ...] filled as tf.make_tensor_proto fills it (several numbers in tensor_content,
a single one in its typed field); a
ClassifyLog / RegressLog whose request holds the tf.Example and whose response holds the
classes and scores / the value; a MultiInferenceLog with one result per head. Tests parse every
kind back with the real protos.

Field numbers (tensorflow_serving/apis, tensorflow/core/framework):
PredictionLog classify_log=2 regress_log=3 multi_inference_log=4 predict_log=6; *Log request=1
response=2; PredictRequest model_spec=1 inputs=2; PredictResponse outputs=1 model_spec=2;
ModelSpec signature_name=3; Classification/RegressionRequest input=2; Input example_list=1;
ExampleList examples=1; Classification/RegressionResponse result=1; ClassificationResult
classifications=1; Classifications classes=1; Class label=1 score=2; RegressionResult
regressions=1; Regression value=1; MultiInferenceRequest input=2; MultiInferenceResponse
results=1; InferenceResult model_spec=1 classification_result=2 regression_result=3;
TensorProto dtype=1 tensor_shape=2 tensor_content=4 float_val=5 double_val=6 int_val=7
string_val=8 int64_val=10 bool_val=11 half_val=13 uint32_val=16 uint64_val=17;
TensorShapeProto dim=2; Dim size=1.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from headwater.bulk_inferrer.errors import InferenceOutputError
from headwater.bulk_inferrer.inference import InferenceBatch
from headwater.io.example_wire import frame_records

__all__ = ["prediction_log_framed", "prediction_log_records"]

_DT = {
    "float32": 1,
    "float64": 2,
    "int32": 3,
    "uint8": 4,
    "int16": 5,
    "int8": 6,
    "int64": 9,
    "bool": 10,
    "uint16": 17,
    "float16": 19,
    "uint32": 22,
    "uint64": 23,
}
_DT_STRING = 7
_CONTENT_TYPES = frozenset(
    [
        "float16",
        "float32",
        "float64",
        "int32",
        "uint8",
        "int16",
        "int8",
        "int64",
        "uint32",
        "uint64",
    ]
)
"""Dtypes tf.make_tensor_proto writes as tensor_content when a tensor has several values."""
_VARINT_FIELDS = {
    "float16": 13,  # half_val: the float16 bits
    "int32": 7,
    "int16": 7,
    "int8": 7,
    "uint8": 7,
    "uint16": 7,
    "int64": 10,
    "bool": 11,
    "uint32": 16,
    "uint64": 17,
}
"""TensorProto's repeated varint field per dtype (int_val, int64_val, bool_val, ...)."""
_MASK64 = (1 << 64) - 1


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


_V = [_encode_varint(n) for n in range(1 << 16)]
"""Varints of 0..65535 (every length of a typical record part), looked up instead of encoded."""


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    if n < 65536:
        return _V[n]
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _tag_ld(field: int) -> bytes:
    return _varint(field << 3 | 2)


def prediction_log_records(result: InferenceBatch) -> list[bytes]:
    """One serialized PredictionLog per example of `result`, of the kind the signatures make."""
    if result.kind == "predict":
        return _predict_logs(result)
    requests = _requests(_examples(result))
    if result.kind == "classify":
        signature = result.signatures[0]
        responses = _classifications(result.outputs[signature.name], result.num_rows)
        return [
            _ld(2, _ld(1, request) + _ld(2, _ld(1, _ld(1, response))))
            for request, response in zip(requests, responses, strict=True)
        ]
    if result.kind == "regress":
        signature = result.signatures[0]
        values = _regressions(result.outputs[signature.name], result.num_rows)
        return [
            _ld(3, _ld(1, request) + _ld(2, _ld(1, _ld(1, value))))
            for request, value in zip(requests, values, strict=True)
        ]
    heads = []
    for signature in result.signatures:
        spec = _ld(1, _ld(3, signature.name.encode()))
        outputs = result.outputs[signature.name]
        if signature.method_name.endswith("/classify"):
            bodies = [_ld(2, _ld(1, c)) for c in _classifications(outputs, result.num_rows)]
        else:
            bodies = [_ld(3, _ld(1, v)) for v in _regressions(outputs, result.num_rows)]
        heads.append([_ld(1, spec + body) for body in bodies])
    return [
        _ld(4, _ld(1, request) + _ld(2, b"".join(row)))
        for request, *row in zip(requests, *heads, strict=True)
    ]


def prediction_log_framed(result: InferenceBatch) -> bytes:
    """The PredictionLogs of `result` as TFRecord-framed records (uncompressed), ready to write.

    The same records as `prediction_log_records`. For the common predict signature over
    serialized tf.Examples with numeric outputs, each record is framed from three shared parts,
    never joined in Python: a prefix that depends only on the example's length, the example's
    own bytes, and the response row of a byte matrix.
    """
    pieces = _predict_pieces(result) if result.kind == "predict" else None
    if pieces is not None:
        return frame_records(pieces, 3)
    return frame_records(prediction_log_records(result))


def _predict_pieces(result: InferenceBatch) -> list[bytes] | None:
    """(prefix, example, response) per row of a predict log whose request is one string per row
    and whose response rows have one length; None when the batch is not of that shape."""
    if len(result.feeds) != 1:
        return None
    ((key, array),) = result.feeds.items()
    if array.dtype != object or array.ndim != 1 or array.shape[0] == 0:
        return None
    examples = array.tolist()
    if set(map(type, examples)) != {bytes}:
        return None
    signature = result.signatures[0]
    named = sorted(result.outputs[signature.name].items())
    fixed = [_fixed_entries(1, name, output) for name, output in named]
    if not all(m is not None for m in fixed):
        return None
    n = len(examples)
    response_spec = _ld(2, _ld(3, signature.name.encode()))
    spec_bytes = np.frombuffer(response_spec, np.uint8)
    width = sum(m.shape[1] for m in fixed if m is not None) + len(spec_bytes)
    head = np.frombuffer(b"\x12" + _varint(width), np.uint8)
    matrix = np.hstack(
        [
            np.broadcast_to(head, (n, len(head))),
            *(m for m in fixed if m is not None),
            np.broadcast_to(spec_bytes, (n, len(spec_bytes))),
        ]
    )
    step = matrix.shape[1]
    request_spec = _ld(1, _ld(3, signature.name.encode()))
    key_field = _ld(1, key.encode())
    header = b"\x08" + _varint(_DT_STRING) + _shape_field(array)
    varint = _varint

    def prefix(length: int) -> bytes:
        tensor = len(header) + 1 + len(varint(length)) + length
        entry = len(key_field) + 1 + len(varint(tensor)) + tensor
        request = len(request_spec) + 1 + len(varint(entry)) + entry
        size = 1 + len(varint(request)) + request + step
        made = b"".join(
            [
                b"\x32" + varint(size) + b"\x0a" + varint(request) + request_spec,
                b"\x12" + varint(entry) + key_field + b"\x12" + varint(tensor) + header,
                b"\x42" + varint(length),
            ]
        )
        return made

    # Per-row work stays in C loops (map, list, numpy): the prefix of each distinct length is
    # made once, and the response rows are the byte matrix viewed as n void items.
    lengths = list(map(len, examples))
    prefixes = {length: prefix(length) for length in set(lengths)}
    pieces: list[bytes] = [b""] * (3 * n)
    pieces[0::3] = list(map(prefixes.__getitem__, lengths))
    pieces[1::3] = examples
    pieces[2::3] = np.ascontiguousarray(matrix).view(f"V{step}").ravel().tolist()
    return pieces


def _examples(result: InferenceBatch) -> list[bytes]:
    """The serialized tf.Example of each row (classify/regress signatures take them)."""
    (records,) = result.feeds.values()
    return records.tolist()


def _requests(examples: list[bytes]) -> list[bytes]:
    """ClassificationRequest / RegressionRequest / MultiInferenceRequest with one example each:
    input (2) { example_list (1) { examples (1): the tf.Example } }, lengths by arithmetic."""
    varint, out = _varint, []
    for example in examples:
        inner = varint(len(example))
        size1 = 1 + len(inner) + len(example)
        middle = varint(size1)
        size2 = 1 + len(middle) + size1
        out.append(b"\x12" + varint(size2) + b"\x0a" + middle + b"\x0a" + inner + example)
    return out


def _predict_logs(result: InferenceBatch) -> list[bytes]:
    """PredictLog per row: request inputs and response outputs as [1, ...] tensors."""
    signature = result.signatures[0]
    spec = _ld(1, _ld(3, signature.name.encode()))
    inputs = [
        _map_entries(2, name, _tensor_rows(array)) for name, array in sorted(result.feeds.items())
    ]
    response_spec = _ld(2, _ld(3, signature.name.encode()))
    if len(inputs) == 1:
        requests = [spec + entry for entry in inputs[0]]
    else:
        requests = [spec + b"".join(row) for row in zip(*inputs, strict=True)]
    named = sorted(result.outputs[signature.name].items())
    fixed = [m for m in (_fixed_entries(1, name, array) for name, array in named) if m is not None]
    if len(fixed) == len(named):
        # Every output row has one length (numbers): the responses are rows of one byte matrix.
        n = result.num_rows
        spec_bytes = np.frombuffer(response_spec, np.uint8)
        matrix = np.hstack([*fixed, np.broadcast_to(spec_bytes, (n, len(spec_bytes)))])
        raw, width = matrix.tobytes(), matrix.shape[1]
        responses = [raw[i * width : (i + 1) * width] for i in range(n)]
    else:
        outputs = [_map_entries(1, name, _tensor_rows(array)) for name, array in named]
        responses = [b"".join(row) + response_spec for row in zip(*outputs, strict=True)]
    varint = _varint
    records = []
    for request, response in zip(requests, responses, strict=True):
        q, r = varint(len(request)), varint(len(response))
        size = 2 + len(q) + len(request) + len(r) + len(response)
        records.append(b"\x32" + varint(size) + b"\x0a" + q + request + b"\x12" + r + response)
    return records


def _fixed_entries(field: int, key: str, array: np.ndarray) -> np.ndarray | None:
    """map<string, TensorProto> entries as rows of a uint8 matrix, when all have one length.

    That is numbers in tensor_content (several per row) or in float_val / double_val (one per
    row); None for strings and varint fields, whose lengths vary.
    """
    name = array.dtype.name
    if array.ndim == 0 or name not in _DT or array.shape[0] == 0:
        return None
    n = array.shape[0]
    flat = array.reshape(n, -1)
    width = flat.shape[1]
    if width > 1 and name in _CONTENT_TYPES:
        content = 4
    elif width == 1 and name in ("float32", "float64"):
        content = 5 if name == "float32" else 6
    else:
        return None
    flat = np.ascontiguousarray(flat, flat.dtype.newbyteorder("<"))
    step = width * flat.dtype.itemsize
    tensor_prefix = b"\x08" + _varint(_DT[name]) + _shape_field(array) + _tag_ld(content)
    tensor_prefix += _varint(step)
    tensor_size = len(tensor_prefix) + step
    key_field = _ld(1, key.encode())
    value_head = b"\x12" + _varint(tensor_size)
    entry_size = len(key_field) + len(value_head) + tensor_size
    prefix = _tag_ld(field) + _varint(entry_size) + key_field + value_head + tensor_prefix
    matrix = np.empty((n, len(prefix) + step), np.uint8)
    matrix[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
    matrix[:, len(prefix) :] = flat.view(np.uint8).reshape(n, step)
    return matrix


def _shape_field(array: np.ndarray) -> bytes:
    """TensorProto.tensor_shape of one row: [1, *array.shape[1:]]."""
    dims = b"".join(_ld(2, b"" if d == 0 else b"\x08" + _varint(d)) for d in (1, *array.shape[1:]))
    return _ld(2, dims)


def _map_entries(field: int, key: str, tensors: list[bytes]) -> list[bytes]:
    """map<string, TensorProto> entries, one per row."""
    key_field = _ld(1, key.encode())
    tag, size, v = _tag_ld(field), len(key_field) + 1, _V
    if tensors and all(len(t) < 16384 for t in (tensors[0], max(tensors, key=len))):
        # Value lengths < 16384 take a 2-byte varint at most: the entry's length is arithmetic.
        return [
            tag + _varint(size + len(v[len(t)]) + len(t)) + key_field + b"\x12" + v[len(t)] + t
            for t in tensors
        ]
    return [tag + _varint(len(key_field) + len(x)) + key_field + x for x in map(_value, tensors)]


def _value(tensor: bytes) -> bytes:
    return _ld(2, tensor)


def _tensor_rows(array: np.ndarray) -> list[bytes]:
    """A TensorProto of shape [1, *array.shape[1:]] per row, as tf.make_tensor_proto makes it."""
    n = array.shape[0]
    shape = _shape_field(array)
    if array.dtype.kind in "OSU":
        header = b"\x08" + _varint(_DT_STRING) + shape
        flat = array.reshape(n, -1)
        if flat.shape[1] == 1:  # one string per row (serialized tf.Examples): no inner join
            v = _V
            return [
                header + b"\x42" + (v[len(x)] if len(x) < 65536 else _varint(len(x))) + x
                for x in map(_as_bytes, flat[:, 0].tolist())
            ]
        return [header + b"".join(_ld(8, _as_bytes(v)) for v in row) for row in flat.tolist()]
    dtype = _DT.get(array.dtype.name)
    if dtype is None:
        raise InferenceOutputError(f"output of dtype {array.dtype} cannot be logged")
    header = b"\x08" + _varint(dtype) + shape
    flat = array.reshape(n, -1)
    width = flat.shape[1]
    if width == 0:
        return [header] * n
    if width > 1 and array.dtype.name in _CONTENT_TYPES:
        # make_tensor_proto packs several numbers into tensor_content (little-endian bytes).
        return _sliced(header, 4, np.ascontiguousarray(flat, flat.dtype.newbyteorder("<")), n)
    # One value (or bool/uint16 values): make_tensor_proto fills the typed repeated field.
    if array.dtype.name in ("float32", "float64"):
        field = 5 if array.dtype.name == "float32" else 6
        return _sliced(header, field, np.ascontiguousarray(flat, flat.dtype.newbyteorder("<")), n)
    if array.dtype.name == "float16":
        flat = flat.view(np.uint16)
    field = _VARINT_FIELDS[array.dtype.name]
    tag = _tag_ld(field)
    out = []
    for row in flat.astype(np.int64).tolist():
        packed = b"".join(_varint(v & _MASK64) for v in row)
        out.append(header + tag + _varint(len(packed)) + packed)
    return out


def _sliced(header: bytes, field: int, flat: np.ndarray, n: int) -> list[bytes]:
    """`header` + a length-delimited field holding each row's raw little-endian bytes."""
    raw = flat.tobytes()
    step = len(raw) // n
    prefix = header + _tag_ld(field) + _varint(step)
    return [prefix + raw[i * step : (i + 1) * step] for i in range(n)]


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _classifications(outputs: Mapping[str, np.ndarray], num_rows: int) -> list[bytes]:
    """The Classifications message (classes with label and score) of each row."""
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    for name, array in (("classes", classes), ("scores", scores)):
        if array is not None and array.ndim != 2:
            raise InferenceOutputError(
                f"classify output {name!r} has shape {array.shape}; expected [rows, classes]"
            )
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InferenceOutputError(
            f"classify outputs 'classes' {classes.shape} and 'scores' {scores.shape} "
            "differ in their number of classes"
        )
    first = classes if classes is not None else scores
    assert first is not None  # the spec check guarantees classes and/or scores
    width = first.shape[1]
    labels = (
        [[_ld(1, _as_bytes(v)) for v in row] for row in classes.tolist()]
        if classes is not None
        else [[b""] * width] * num_rows
    )
    if scores is not None:
        raw = np.ascontiguousarray(scores, dtype="<f4").tobytes()
        score_fields = [
            [b"\x15" + raw[(i * width + c) * 4 : (i * width + c + 1) * 4] for c in range(width)]
            for i in range(num_rows)
        ]
    else:
        score_fields = [[b""] * width] * num_rows
    return [
        b"".join(_ld(1, label + score) for label, score in zip(row_labels, row_scores, strict=True))
        for row_labels, row_scores in zip(labels, score_fields, strict=True)
    ]


def _regressions(outputs: Mapping[str, np.ndarray], num_rows: int) -> list[bytes]:
    """The Regression message (value) of each row."""
    values = outputs["outputs"]
    if values.size != num_rows:
        raise InferenceOutputError(
            f"regress output 'outputs' has shape {values.shape}; expected [rows] or [rows, 1]"
        )
    raw = np.ascontiguousarray(values.reshape(-1), dtype="<f4").tobytes()
    return [b"\x0d" + raw[i * 4 : (i + 1) * 4] for i in range(num_rows)]

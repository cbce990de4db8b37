"""Clients of TF Serving's two protocols: the served model's signatures and one canary call.

Both answer in the model seam's terms (SignatureSpec in, numpy arrays out), so the checks do
not care which protocol carried the request. The REST client is the standard library's
`http.client` on one kept-alive connection, TensorFlow-free; the gRPC client uses
tensorflow-serving-api's stubs, whose messages import TensorFlow.
"""

from __future__ import annotations

import abc
import base64
import http.client
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from headwater.infra_validator.errors import InfraValidatorError
from headwater.infra_validator.requests import CanaryRequest
from headwater.infra_validator.server import Endpoint
from headwater.io import DTYPE_BY_TF, SignatureSpec, TensorSpec

__all__ = [
    "GrpcClient",
    "RequestFailedError",
    "RestClient",
    "ServingClient",
    "make_client",
    "signatures_from_metadata",
]


class RequestFailedError(InfraValidatorError):
    """The server answered a canary request with an error; `retryable` for transport failures."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _tensor_spec(key: str, info: Mapping[str, Any]) -> TensorSpec:
    tf_dtype = str(info.get("dtype", "DT_INVALID"))
    shape_info = info.get("tensor_shape") or {}
    shape: tuple[int | None, ...] | None
    if shape_info.get("unknown_rank"):
        shape = None
    else:
        dims = [int(d.get("size", -1)) for d in shape_info.get("dim", [])]
        shape = tuple(None if d < 0 else d for d in dims)
    return TensorSpec(key, DTYPE_BY_TF.get(tf_dtype, tf_dtype), shape, tf_dtype)


def signatures_from_metadata(signature_def_map: Mapping[str, Any]) -> dict[str, SignatureSpec]:
    """SignatureSpecs from TF Serving's metadata (`{"signature_def": {name: SignatureDef}}`, the
    REST JSON or the gRPC SignatureDefMap as a dict); internal `__...__` signatures left out."""
    defs = signature_def_map.get("signature_def", signature_def_map)
    out = {}
    for name, sig in defs.items():
        if name.startswith("__"):
            continue
        out[name] = SignatureSpec(
            name=name,
            method_name=str(sig.get("method_name", "")),
            inputs={k: _tensor_spec(k, v) for k, v in (sig.get("inputs") or {}).items()},
            outputs={k: _tensor_spec(k, v) for k, v in (sig.get("outputs") or {}).items()},
        )
    return out


class ServingClient(abc.ABC):
    """Reads the served model's signatures and sends canary requests to one endpoint."""

    exact_dtypes: bool = True
    """False when answers carry no dtype (JSON): dtypes are then checked by kind."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    @abc.abstractmethod
    def signatures(self) -> dict[str, SignatureSpec]:
        """The served model's signatures (TF Serving's model metadata)."""

    @abc.abstractmethod
    def call(self, request: CanaryRequest) -> dict[str, np.ndarray]:
        """The answer's tensors; Classify as `classes`/`scores`, Regress as `outputs`.

        Raises RequestFailedError with the server's message when it answers with an error."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections (before the server stops, so its ports close cleanly)."""


class RestClient(ServingClient):
    """TF Serving's REST API (`/v1/models/NAME[:predict|:classify|:regress|/metadata]`)."""

    exact_dtypes = False

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        super().__init__(endpoint, timeout)
        self._conn: http.client.HTTPConnection | None = None

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):  # a kept-alive connection the server closed: reconnect once
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self.endpoint.host, self.endpoint.rest_port, timeout=self.timeout
                )
            try:
                self._conn.request(method, path, body=data, headers=headers)
                response = self._conn.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 1 or isinstance(exc, TimeoutError):
                    raise RequestFailedError(
                        f"{method} {path}: no answer ({type(exc).__name__}: {exc})", retryable=True
                    ) from exc
        text = raw.decode("utf-8", "replace")
        try:
            answer = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RequestFailedError(
                f"{method} {path}: HTTP {response.status}, not JSON: {text[:300]}",
                retryable=response.status >= 500,
            ) from exc
        if response.status != 200 or (isinstance(answer, dict) and "error" in answer):
            error = answer.get("error", text) if isinstance(answer, dict) else text
            raise RequestFailedError(
                f"{method} {path}: HTTP {response.status}: {str(error)[:500]}",
                retryable=response.status in (502, 503, 504),
            )
        return answer

    def signatures(self) -> dict[str, SignatureSpec]:
        """`GET /v1/models/NAME/metadata`."""
        answer = self._send("GET", f"/v1/models/{self.endpoint.model_name}/metadata")
        return signatures_from_metadata(answer["metadata"]["signature_def"])

    def call(self, request: CanaryRequest) -> dict[str, np.ndarray]:
        """`POST /v1/models/NAME:<kind>` with the request's JSON body."""
        answer = self._send(
            "POST", f"/v1/models/{self.endpoint.model_name}:{request.kind}", request.rest_body()
        )
        if request.kind == "predict":
            outputs = answer.get("outputs")
            if not isinstance(outputs, dict):  # a single output comes back without its name
                return {"": _json_array(outputs)}
            return {name: _json_array(value) for name, value in outputs.items()}
        results = answer.get("results", [])
        if request.kind == "classify":
            return {
                "classes": np.array([[str(c[0]) for c in r] for r in results], dtype=object),
                "scores": _json_array([[c[1] for c in r] for r in results]),
            }
        return {"outputs": _json_array(results)}

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _unb64(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_unb64(v) for v in value]
    return value


def _json_array(value: Any) -> np.ndarray:
    value = _unb64(value)
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        array = np.empty(len(value), dtype=object)
        array[:] = value
    if array.dtype.kind in "US":
        return array.astype(object)
    return array


class GrpcClient(ServingClient):
    """TF Serving's gRPC PredictionService (Predict, Classify, Regress, GetModelMetadata)."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        super().__init__(endpoint, timeout)
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self._grpc = grpc
        self._channel = grpc.insecure_channel(endpoint.grpc_target)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def _rpc(self, name: str, request: Any) -> Any:
        try:
            return getattr(self._stub, name)(request, timeout=self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code()
            retryable = code in (
                self._grpc.StatusCode.UNAVAILABLE,
                self._grpc.StatusCode.DEADLINE_EXCEEDED,
            )
            raise RequestFailedError(
                f"{name}: {code.name}: {exc.details()}", retryable=retryable
            ) from exc

    def signatures(self) -> dict[str, SignatureSpec]:
        """GetModelMetadata(signature_def)."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self.endpoint.model_name
        request.metadata_field.append("signature_def")
        response = self._rpc("GetModelMetadata", request)
        defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        return signatures_from_metadata(
            json_format.MessageToDict(defs, preserving_proto_field_name=True)
        )

    def call(self, request: CanaryRequest) -> dict[str, np.ndarray]:
        """Predict, Classify or Regress as the signature's method says."""
        import tensorflow as tf
        from tensorflow_serving.apis import classification_pb2, predict_pb2, regression_pb2

        if request.kind == "predict":
            message = predict_pb2.PredictRequest()
            for name, array in request.inputs.items():
                message.inputs[name].CopyFrom(tf.make_tensor_proto(array))
        elif request.kind == "classify":
            message = classification_pb2.ClassificationRequest()
        else:
            message = regression_pb2.RegressionRequest()
        message.model_spec.name = self.endpoint.model_name
        message.model_spec.signature_name = request.signature_name
        if request.kind != "predict":
            for example in request.examples:
                message.input.example_list.examples.add().ParseFromString(example)
        response = self._rpc(request.kind.capitalize(), message)
        if request.kind == "predict":
            return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
        if request.kind == "classify":
            rows = response.result.classifications
            return {
                "classes": np.array([[c.label for c in r.classes] for r in rows], dtype=object),
                "scores": np.array([[c.score for c in r.classes] for r in rows], dtype=np.float32),
            }
        return {
            "outputs": np.array([r.value for r in response.result.regressions], dtype=np.float32)
        }

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


def make_client(protocol: str, endpoint: Endpoint, timeout: float) -> ServingClient:
    """A client for "grpc" or "rest"."""
    if protocol == "grpc":
        return GrpcClient(endpoint, timeout)
    if protocol == "rest":
        return RestClient(endpoint, timeout)
    raise ValueError(f"protocol must be 'grpc' or 'rest', got {protocol!r}")

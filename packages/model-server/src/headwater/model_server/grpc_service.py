"""TF Serving's gRPC services: PredictionService and ModelService, real protos.

The servicers are coroutines run on the server's event loop (where the model runner batches
gRPC and REST requests together). The server is a thread-pool `grpc.server`: each call's
handler thread hands the coroutine to the loop and waits for its answer, so gRPC's own
transport work runs on grpc's threads, off the loop (see `add_services`).

The servicers subclass the generated `prediction_service_pb2_grpc.PredictionServiceServicer`
and `model_service_pb2_grpc.ModelServiceServicer`, so the method names, messages and wire format
are TF Serving's own and its `PredictionServiceStub` works unchanged. Errors are answered with
TF Serving's status code and a message naming the problem.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from headwater.model_server.config import model_configs_from_proto
from headwater.model_server.errors import ServerConfigError, ServingError
from headwater.model_server.example_input import serialized_examples
from headwater.model_server.metadata import signature_def_map
from headwater.model_server.service import ModelRef, ServingCore
from headwater.model_server.tensors import make_tensor_proto, tensor_proto_to_ndarray

__all__ = ["add_services"]

T = TypeVar("T")
_LOG = logging.getLogger(__name__)


def _ref(model_spec: Any) -> ModelRef:
    which = model_spec.WhichOneof("version_choice")
    return ModelRef(
        name=model_spec.name,
        version=int(model_spec.version.value) if which == "version" else None,
        label=model_spec.version_label if which == "version_label" else None,
        signature_name=model_spec.signature_name,
    )


def _fill_spec(out: Any, name: str, version: int, signature: str) -> None:
    out.name = name
    out.version.value = version
    if signature:
        out.signature_name = signature


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata over a ServingCore."""

    def __init__(self, core: ServingCore) -> None:
        self._core = core

    async def _answer(
        self,
        context: grpc.aio.ServicerContext,
        api: str,
        model_spec: Any | None,
        call: Callable[[], Awaitable[T]],
    ) -> T:
        started = time.perf_counter()
        status = "OK"
        try:
            return await call()
        except ServingError as exc:
            status = exc.code
            await context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
            raise  # abort raises; this keeps type checkers content
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            status = "INTERNAL"
            _LOG.exception("%s request failed", api)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._core.metrics.observe_request(
                model=model_spec.name if model_spec is not None else "",
                signature=(model_spec.signature_name if model_spec is not None else "")
                or "serving_default",
                api=api,
                protocol="grpc",
                status=status,
                seconds=time.perf_counter() - started,
            )

    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """TF Serving's Predict: named input tensors in, named output tensors out."""

        async def call() -> Any:
            ref = _ref(request.model_spec)
            feeds = {k: tensor_proto_to_ndarray(v, name=k) for k, v in request.inputs.items()}
            version, spec, outputs = await self._core.predict(
                ref, feeds, list(request.output_filter)
            )
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, ref.name, version, spec.name)
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(make_tensor_proto(value))
            return response

        return await self._answer(context, "predict", request.model_spec, call)

    async def Classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """TF Serving's Classify: tf.Examples in, (label, score) lists out."""

        async def call() -> Any:
            ref = _ref(request.model_spec)
            examples = serialized_examples(request.input)
            version, spec, result = await self._core.classify(ref, examples)
            response = classification_pb2.ClassificationResponse()
            _fill_spec(response.model_spec, ref.name, version, spec.name)
            _fill_classifications(response.result, result.classes)
            return response

        return await self._answer(context, "classify", request.model_spec, call)

    async def Regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """TF Serving's Regress: tf.Examples in, one value each out."""

        async def call() -> Any:
            ref = _ref(request.model_spec)
            examples = serialized_examples(request.input)
            version, spec, values = await self._core.regress(ref, examples)
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, ref.name, version, spec.name)
            response.result.regressions.extend(regression_pb2.Regression(value=v) for v in values)
            return response

        return await self._answer(context, "regress", request.model_spec, call)

    async def MultiInference(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """TF Serving's MultiInference: several classify/regress tasks over one input."""
        first = request.tasks[0].model_spec if request.tasks else None

        async def call() -> Any:
            if not request.tasks:
                raise ServingError("INVALID_ARGUMENT", "MultiInferenceRequest has no tasks")
            names = {t.model_spec.name for t in request.tasks}
            if len(names) != 1:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"All ModelSpecs in a MultiInferenceRequest must access the same model name, "
                    f"got {sorted(names)}",
                )
            examples = serialized_examples(request.input)
            response = inference_pb2.MultiInferenceResponse()
            for task in request.tasks:
                ref = _ref(task.model_spec)
                result = response.results.add()
                if task.method_name.endswith("/classify"):
                    version, spec, classes = await self._core.classify(ref, examples)
                    _fill_classifications(result.classification_result, classes.classes)
                elif task.method_name.endswith("/regress"):
                    version, spec, values = await self._core.regress(ref, examples)
                    result.regression_result.regressions.extend(
                        regression_pb2.Regression(value=v) for v in values
                    )
                else:
                    raise ServingError(
                        "UNIMPLEMENTED",
                        f"Unsupported signature method_name: {task.method_name!r} "
                        "(tensorflow/serving/classify or tensorflow/serving/regress)",
                    )
                _fill_spec(result.model_spec, ref.name, version, spec.name)
            return response

        return await self._answer(context, "multi_inference", first, call)

    async def GetModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """TF Serving's GetModelMetadata: the signature_def map of the version named."""

        async def call() -> Any:
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Metadata field(s) {fields} not supported: request exactly ['signature_def']",
                )
            ref = _ref(request.model_spec)
            version, signatures = self._core.metadata(ref)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _fill_spec(response.model_spec, ref.name, version, "")
            response.metadata["signature_def"].Pack(signature_def_map(signatures))
            return response

        return await self._answer(context, "metadata", request.model_spec, call)


def _fill_classifications(result: Any, classes: list[list[tuple[bytes, float]]]) -> None:
    for row in classes:
        classification = result.classifications.add()
        for label, score in row:
            classification.classes.add(label=label.decode("utf-8", "replace"), score=score)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest over a ServingCore."""

    def __init__(self, core: ServingCore) -> None:
        self._core = core

    async def GetModelStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """TF Serving's GetModelStatus: each version's state and status."""
        try:
            statuses = self._core.status(_ref(request.model_spec))
        except ServingError as exc:
            await context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
            raise
        response = get_model_status_pb2.GetModelStatusResponse()
        state = get_model_status_pb2.ModelVersionStatus.State
        from tensorflow.core.protobuf import error_codes_pb2

        for status in statuses:
            entry = response.model_version_status.add(
                version=status.version, state=state.Value(status.state)
            )
            entry.status.error_code = error_codes_pb2.Code.Value(status.error_code)
            entry.status.error_message = status.error_message
        return response

    async def HandleReloadConfigRequest(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        """TF Serving's config reload: serve exactly the models of the new ModelServerConfig."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            configs = model_configs_from_proto(request.config)
        except ServerConfigError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        self._core.manager.reload_config(configs)
        # Like TF Serving, answer once the new configuration's versions had their first load.
        await asyncio.get_running_loop().run_in_executor(None, self._core.manager.poll)
        response.status.error_code = 0
        return response


class _Aborted(Exception):
    """Raised by `_BridgeContext.abort` on the loop; the handler thread aborts the real call."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _BridgeContext:
    """What the servicers use of a ServicerContext (`abort`), for a call run on the loop."""

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Aborted(code, details)


def _bridged(
    method: Callable[[Any, Any], Coroutine[Any, Any, Any]], loop: asyncio.AbstractEventLoop
) -> Callable[[Any, Any, grpc.ServicerContext], Any]:
    def handler(_self: object, request: Any, context: grpc.ServicerContext) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(
            method(request, _BridgeContext()), loop
        )
        try:
            return future.result()
        except _Aborted as aborted:
            context.abort(aborted.code, aborted.details)

    handler.__name__ = method.__name__
    handler.__doc__ = method.__doc__
    return handler


def _sync_servicer(servicer: object, base: type, loop: asyncio.AbstractEventLoop) -> object:
    """`servicer`'s async methods as blocking handlers for a thread-pool `grpc.server`.

    Each handler thread runs its call on `loop` (where the model runner and its batches live)
    and waits for the answer: gRPC's transport work stays on grpc's own threads instead of
    the event loop, which then only does the serving work itself.
    """
    names = [n for n in vars(base) if not n.startswith("_")]
    methods = {n: _bridged(getattr(servicer, n), loop) for n in names}
    return type(f"Sync{type(servicer).__name__}", (base,), methods)()


def add_services(
    server: grpc.Server | grpc.aio.Server,
    core: ServingCore,
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Register PredictionService and ModelService on `server`.

    A grpc.aio server runs the servicers on its loop; a thread-pool `grpc.server` needs
    `loop`, the running event loop the calls are handed to.
    """
    prediction: object = PredictionServicer(core)
    model: object = ModelServicer(core)
    if loop is not None:
        prediction = _sync_servicer(
            prediction, prediction_service_pb2_grpc.PredictionServiceServicer, loop
        )
        model = _sync_servicer(model, model_service_pb2_grpc.ModelServiceServicer, loop)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(model, server)

"""TF Serving's REST API on aiohttp: /v1/models/... status, metadata, :predict, :classify, :regress.

URLs, bodies, answers and errors follow TF Serving's REST document; every error is
`{"error": "<message>"}` with the HTTP status TF Serving maps its code to, never a traceback.
Bodies over the configured size are refused with 413 before they are read into memory.
Prometheus metrics are served at /monitoring/prometheus/metrics.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import numpy as np
from aiohttp import web

from headwater.io.model_seam import SignatureSpec
from headwater.model_server.errors import ServingError
from headwater.model_server.metadata import signature_def_map
from headwater.model_server.metrics import METRICS_CONTENT_TYPE, METRICS_PATH
from headwater.model_server.rest_json import (
    decode_body,
    examples_from_json,
    predict_feeds,
    predict_response,
)
from headwater.model_server.service import ModelRef, ServingCore

__all__ = ["make_app"]

_LOG = logging.getLogger(__name__)

_POST = re.compile(
    r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(predict|classify|regress)$",
    re.IGNORECASE,
)
_GET = re.compile(
    r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata)?$", re.IGNORECASE
)


def _json(payload: Any, status: int = 200) -> web.Response:
    text = json.dumps(payload, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json")


def _error(code: str, message: str, status: int) -> web.Response:
    return _json({"error": message}, status)


class _Handlers:
    def __init__(self, core: ServingCore) -> None:
        self._core = core

    async def get(self, request: web.Request) -> web.Response:
        match = _GET.match(request.path)
        if match is None:
            raise ServingError("NOT_FOUND", f"Malformed request: GET {request.path}")
        name, version, label, metadata = match.groups()
        ref = ModelRef(name=name, version=int(version) if version else None, label=label)
        if metadata:
            return self._metadata(ref)
        statuses = self._core.status(ref)
        return _json(
            {
                "model_version_status": [
                    {
                        "version": str(s.version),
                        "state": s.state,
                        "status": {"error_code": s.error_code, "error_message": s.error_message},
                    }
                    for s in statuses
                ]
            }
        )

    def _metadata(self, ref: ModelRef) -> web.Response:
        from google.protobuf import json_format

        version, signatures = self._core.metadata(ref)
        signature_map = json_format.MessageToDict(
            signature_def_map(signatures), preserving_proto_field_name=True
        )
        signature_map["@type"] = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
        return _json(
            {
                "model_spec": {"name": ref.name, "signature_name": "", "version": str(version)},
                "metadata": {"signature_def": signature_map},
            }
        )

    async def post(self, request: web.Request) -> web.Response:
        match = _POST.match(request.path)
        if match is None:
            raise ServingError("NOT_FOUND", f"Malformed request: POST {request.path}")
        name, version, label, verb = match.groups()
        verb = verb.lower()
        started = time.perf_counter()
        status = "OK"
        signature = ""
        try:
            body = decode_body(await request.read())
            signature = body.get("signature_name") or ""
            if not isinstance(signature, str):
                raise ServingError("INVALID_ARGUMENT", "'signature_name' must be a string")
            ref = ModelRef(
                name=name,
                version=int(version) if version else None,
                label=label,
                signature_name=signature,
            )
            if verb == "predict":
                return await self._predict(ref, body)
            examples = examples_from_json(body)
            if verb == "classify":
                _v, _spec, result = await self._core.classify(ref, examples)
                return _json(
                    {
                        "results": [
                            [[label_.decode("utf-8", "replace"), score] for label_, score in row]
                            for row in result.classes
                        ]
                    }
                )
            _v, _spec, values = await self._core.regress(ref, examples)
            return _json({"results": values})
        except ServingError as exc:
            status = exc.code
            raise
        except web.HTTPRequestEntityTooLarge:
            status = "RESOURCE_EXHAUSTED"
            raise
        finally:
            self._core.metrics.observe_request(
                model=name,
                signature=signature or "serving_default",
                api=verb,
                protocol="rest",
                status=status,
                seconds=time.perf_counter() - started,
            )

    async def _predict(self, ref: ModelRef, body: dict[str, Any]) -> web.Response:
        row_format = []

        def feeds(spec: SignatureSpec) -> dict[str, np.ndarray]:
            decoded, rows = predict_feeds(body, spec)
            row_format.append(rows)
            return decoded

        _v, _spec, outputs = await self._core.predict(ref, feeds)
        return _json(predict_response(outputs, row_format[0]))

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._core.metrics.exposition(),
            headers={"Content-Type": METRICS_CONTENT_TYPE},
        )


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServingError as exc:
        return _error(exc.code, exc.message, exc.http_status)
    except web.HTTPRequestEntityTooLarge as exc:
        return _error(
            "RESOURCE_EXHAUSTED",
            f"Request body too large: {exc.text or ''} (limit set by --rest_api_max_body_bytes)",
            413,
        )
    except web.HTTPException as exc:
        return _error(
            "NOT_FOUND",
            f"Malformed request: {request.method} {request.path}: {exc.reason}",
            exc.status,
        )
    except Exception as exc:
        _LOG.exception("REST %s %s failed", request.method, request.path)
        return _error("INTERNAL", f"{type(exc).__name__}: {exc}", 500)


def make_app(core: ServingCore, *, max_body_bytes: int) -> web.Application:
    """The aiohttp application of TF Serving's REST API over `core`."""
    handlers = _Handlers(core)
    app = web.Application(middlewares=[_errors], client_max_size=max_body_bytes)
    app.router.add_get(METRICS_PATH, handlers.metrics)
    app.router.add_get("/v1/models/{tail:.*}", handlers.get)
    app.router.add_post("/v1/models/{tail:.*}", handlers.post)
    return app

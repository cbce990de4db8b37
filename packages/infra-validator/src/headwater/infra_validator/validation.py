"""validate_model: start a model server on the candidate, wait for it, send canary requests,
check the answers, stop the server, and say whether the model is blessed and why.

Each try starts a fresh server; a failure of the machine (a crash, a timeout, a dropped
connection) is tried again up to `ValidationSpec.num_tries`, a failure of the model (the server
refused to load it, rejected a request, answered NaN or the wrong shape) ends the validation at
once. With several TensorFlow Serving images (`tags`, `digests`) the model must pass on each.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from headwater.infra_validator.checks import check_answer
from headwater.infra_validator.client import RequestFailedError, ServingClient, make_client
from headwater.infra_validator.docker_server import DockerRunner
from headwater.infra_validator.errors import RequestBuildError, ServerUnavailableError
from headwater.infra_validator.in_process_server import InProcessModelServerRunner
from headwater.infra_validator.local_server import (
    HeadwaterModelServerRunner,
    TensorFlowModelServerRunner,
)
from headwater.infra_validator.requests import ExampleSource, build_requests, take_examples
from headwater.infra_validator.result import StepOutcome, ValidationResult, percentile
from headwater.infra_validator.server import ModelServerRunner, ServerNotReadyError
from headwater.infra_validator.specs import (
    Mode,
    RequestSpec,
    ServingSpec,
    ValidationSpec,
    as_request_spec,
    as_serving_spec,
    as_validation_spec,
)

__all__ = [
    "CanaryOutcome",
    "RunnerFactory",
    "runner_factories",
    "send_canary_requests",
    "validate_model",
]

logger = logging.getLogger(__name__)

RunnerFactory = Callable[[str, str], ModelServerRunner]
"""Makes a runner for (model base path, model name); one per try."""


def runner_factories(
    serving_spec: ServingSpec, validation_spec: ValidationSpec | None = None
) -> list[RunnerFactory]:
    """One runner factory per server the spec asks for (one per Docker image)."""
    grace = (validation_spec or ValidationSpec()).stop_timeout_seconds
    if serving_spec.tensorflow_serving is None:
        headwater = serving_spec.headwater_model_server
        python = headwater.python if headwater else ""
        extra = headwater.extra_args if headwater else ()
        if headwater is not None and headwater.in_process:
            return [
                lambda base, name: InProcessModelServerRunner(
                    base, name, stop_timeout_seconds=grace
                )
            ]
        return [
            lambda base, name: HeadwaterModelServerRunner(
                base, name, python=python, extra_args=extra, stop_timeout_seconds=grace
            )
        ]
    if serving_spec.local_binary is not None:
        binary = serving_spec.local_binary
        return [
            lambda base, name: TensorFlowModelServerRunner(
                base,
                name,
                binary=binary.binary,
                extra_args=binary.extra_args,
                stop_timeout_seconds=grace,
            )
        ]
    docker = serving_spec.local_docker

    def docker_factory(image: str) -> RunnerFactory:
        return lambda base, name: DockerRunner(
            base, name, image, docker, stop_timeout_seconds=grace
        )

    return [docker_factory(image) for image in serving_spec.tensorflow_serving.images()]


@dataclass(frozen=True)
class CanaryOutcome:
    """What the canary requests found against one running server."""

    ok: bool
    reason: str
    num_requests: int = 0
    latencies_ms: tuple[float, ...] = ()
    failing_request: str | None = None
    retryable: bool = False


def send_canary_requests(
    client: ServingClient,
    request_spec: RequestSpec,
    rows: pa.RecordBatch,
    validation_spec: ValidationSpec | None = None,
) -> CanaryOutcome:
    """Read the served signatures, send one request per example per signature, check each answer
    and the latency bound. Works against any running TF Serving–compatible server."""
    validation_spec = validation_spec or ValidationSpec()
    try:
        signatures = client.signatures()
    except RequestFailedError as exc:
        return CanaryOutcome(
            False, f"reading the model's signatures failed: {exc}", retryable=exc.retryable
        )
    try:
        requests = build_requests(signatures, request_spec.signature_names, rows)
    except RequestBuildError as exc:
        return CanaryOutcome(False, f"cannot build canary requests: {exc}")
    latencies: list[float] = []
    for request in requests:
        started = time.perf_counter()
        try:
            outputs = client.call(request)
        except RequestFailedError as exc:
            return CanaryOutcome(
                False,
                f"the server rejected a {request.kind} request to signature "
                f"{request.signature_name!r}: {exc}",
                len(latencies),
                tuple(latencies),
                request.describe(),
                exc.retryable,
            )
        latencies.append((time.perf_counter() - started) * 1000.0)
        problem = check_answer(
            request, signatures[request.signature_name], outputs, exact_dtypes=client.exact_dtypes
        )
        if problem is not None:
            return CanaryOutcome(
                False,
                f"the answer of signature {request.signature_name!r} is wrong: {problem}",
                len(latencies),
                tuple(latencies),
                request.describe(),
            )
    outcome = CanaryOutcome(
        True,
        f"{len(requests)} request(s) answered as the signatures declare",
        len(requests),
        tuple(latencies),
    )
    bound = validation_spec.max_latency_p99_ms
    if bound is not None and latencies:
        p99 = percentile(latencies, 99)
        if p99 > bound:
            return CanaryOutcome(
                False,
                f"p99 latency {p99:.2f} ms exceeds ValidationSpec.max_latency_p99_ms {bound} ms",
                len(requests),
                tuple(latencies),
                retryable=True,
            )
    return outcome


@dataclass
class _Try:
    ok: bool
    retryable: bool
    failed_step: str | None
    reason: str
    steps: list[StepOutcome]
    server: str
    log_tail: str
    failing_request: str | None = None
    latencies_ms: tuple[float, ...] = ()


def _serving_layout(model_dir: str, model_name: str, work_dir: str) -> str | None:
    """The base path to serve: a SavedModel is copied to `<work>/<name>/1/`, a directory of
    numeric versions is served as it is; None when `model_dir` holds neither."""
    entries = os.listdir(model_dir)
    if any(e in ("saved_model.pb", "saved_model.pbtxt") for e in entries):
        base = os.path.join(work_dir, re.sub(r"[^\w.-]", "_", model_name))
        shutil.copytree(model_dir, os.path.join(base, "1"))
        return base
    if any(e.isdigit() and os.path.isdir(os.path.join(model_dir, e)) for e in entries):
        return model_dir
    return None


def _try_once(
    factory: RunnerFactory,
    base_path: str,
    model_name: str,
    attempt: int,
    validation_spec: ValidationSpec,
    request_spec: RequestSpec | None,
    rows: pa.RecordBatch | None,
) -> _Try:
    steps: list[StepOutcome] = []
    began = time.monotonic()
    runner: ModelServerRunner | None = None
    try:
        runner = factory(base_path, model_name)
        runner.start()
    except ServerUnavailableError as exc:
        if runner is not None:
            runner.stop()  # whatever a half-done start left (a created container)
        reason = f"the model server cannot run here: {exc}"
        steps.append(StepOutcome("start", False, time.monotonic() - began, reason, attempt))
        return _Try(False, False, "start", reason, steps, "not started", "")
    server = runner.description

    def say(name: str, ok: bool, seconds: float, detail: str) -> None:
        steps.append(StepOutcome(name, ok, seconds, detail, attempt, server))

    outcome: _Try
    try:
        try:
            ready = runner.wait_until_running(
                max_loading_time_s=validation_spec.max_loading_time_seconds,
                max_start_time_s=validation_spec.max_start_time_seconds,
                started_at=began,
            )
        except ServerNotReadyError as exc:
            answered = exc.answered_after_s
            if answered is None:
                say("start", False, time.monotonic() - began, str(exc))
            else:
                endpoint = runner.endpoint
                say("start", True, answered, f"answered on {endpoint.rest_url}")
                say(exc.step, False, time.monotonic() - began - answered, str(exc))
            outcome = _Try(False, exc.retryable, exc.step, str(exc), steps, server, "")
        else:
            endpoint = runner.endpoint
            started, loaded = (
                ready.answered_after_s,
                ready.available_after_s - ready.answered_after_s,
            )
            how = "waited for"
            reported = runner.reported_load_seconds()
            if reported is not None and loaded < reported <= started:
                started, loaded, how = started - reported, reported, "as the server's log reports"
            say(
                "start",
                True,
                started,
                f"answered on {endpoint.rest_url} (REST), {endpoint.grpc_target} (gRPC)",
            )
            say("load", True, loaded, f"version {ready.version} AVAILABLE ({how})")
            outcome = _Try(True, False, None, "the model loaded", steps, server, "")
            if request_spec is not None and rows is not None:
                outcome = _query(runner, request_spec, rows, validation_spec, outcome, say)
    finally:
        log_tail = runner.log_tail()
        stopping = time.monotonic()
        runner.stop()
        say("stop", True, time.monotonic() - stopping, "server stopped, ports released")
        cleanup = getattr(runner, "cleanup", None)
        if cleanup is not None:
            cleanup()
    outcome.log_tail = log_tail
    return outcome


def _query(
    runner: ModelServerRunner,
    request_spec: RequestSpec,
    rows: pa.RecordBatch,
    validation_spec: ValidationSpec,
    loaded: _Try,
    say: Callable[[str, bool, float, str], None],
) -> _Try:
    started = time.monotonic()
    client = make_client(
        request_spec.protocol, runner.endpoint, validation_spec.request_timeout_seconds
    )
    try:
        canary = send_canary_requests(client, request_spec, rows, validation_spec)
    finally:
        client.close()
    seconds = time.monotonic() - started
    if not canary.ok:
        say("requests", False, seconds, canary.reason)
        return _Try(
            False,
            canary.retryable,
            "requests",
            canary.reason,
            loaded.steps,
            loaded.server,
            "",
            canary.failing_request,
            canary.latencies_ms,
        )
    say("requests", True, seconds, canary.reason)
    return _Try(
        True,
        False,
        None,
        loaded.reason + "; " + canary.reason,
        loaded.steps,
        loaded.server,
        "",
        None,
        canary.latencies_ms,
    )


def _try_each_server(
    factories: Sequence[RunnerFactory],
    base_path: str,
    model_name: str,
    validation: ValidationSpec,
    requests: RequestSpec | None,
    rows: pa.RecordBatch | None,
) -> list[_Try]:
    """Up to `num_tries` tries on each server in turn; stops at the first server that fails."""
    tries: list[_Try] = []
    for factory in factories:
        for attempt in range(1, validation.num_tries + 1):
            outcome = _try_once(factory, base_path, model_name, attempt, validation, requests, rows)
            tries.append(outcome)
            if outcome.ok or not outcome.retryable:
                break
            logger.warning(
                "infra validation try %d of %d failed (%s); trying again",
                attempt,
                validation.num_tries,
                outcome.reason,
            )
        if not tries[-1].ok:
            break
    return tries


def validate_model(
    model_dir: str | os.PathLike[str],
    *,
    examples: ExampleSource | None = None,
    serving_spec: ServingSpec | Mapping[str, Any] | str | None = None,
    validation_spec: ValidationSpec | Mapping[str, Any] | str | None = None,
    request_spec: RequestSpec | Mapping[str, Any] | str | None = None,
    runners: Sequence[RunnerFactory] | None = None,
    work_dir: str | None = None,
) -> ValidationResult:
    """Canary `model_dir` (a SavedModel, or a directory of numeric versions) on a real server.

    LOAD_ONLY without `request_spec`; LOAD_AND_QUERY with it, requests built from `examples`
    (Arrow, or a split directory of TFRecord / Parquet files). `runners` overrides the servers
    `serving_spec` selects. A directory with nothing to serve fails at once (step "load").
    Returns the result; raises only for a wrong call (no such directory, no examples for
    LOAD_AND_QUERY, a spec that does not parse).
    """
    model_dir = os.path.abspath(os.fspath(model_dir))
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"validate_model: model directory {model_dir} does not exist")
    serving = as_serving_spec(serving_spec)
    validation = as_validation_spec(validation_spec)
    requests = as_request_spec(request_spec)
    mode = Mode.LOAD_ONLY if requests is None else Mode.LOAD_AND_QUERY
    rows = None
    if requests is not None:
        if examples is None:
            raise ValueError("validate_model: a request_spec (LOAD_AND_QUERY) needs examples")
        rows = take_examples(examples, requests.num_examples)
    factories = list(runners) if runners is not None else runner_factories(serving, validation)
    model_name = serving.served_model_name
    own_work = work_dir is None
    work = tempfile.mkdtemp(prefix="hw-infra-validation-") if work_dir is None else work_dir
    tries: list[_Try] = []
    try:
        base_path = _serving_layout(model_dir, model_name, work)
        if base_path is None:
            reason = (
                f"{model_dir} holds no SavedModel (saved_model.pb or saved_model.pbtxt) and no "
                "numeric version directories: there is nothing to serve"
            )
            step = StepOutcome("load", False, 0.0, reason)
            tries.append(_Try(False, False, "load", reason, [step], "not started", ""))
        else:
            tries = _try_each_server(factories, base_path, model_name, validation, requests, rows)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    last = tries[-1]
    steps = tuple(step for t in tries for step in t.steps)
    return ValidationResult(
        blessed=last.ok,
        model_dir=model_dir,
        mode=mode,
        model_name=model_name,
        protocol=None if requests is None else requests.protocol,
        servers=tuple(t.server for t in tries),
        steps=steps,
        failed_step=last.failed_step,
        reason=last.reason,
        failing_request=last.failing_request,
        server_log_tail=last.log_tail,
        latencies_ms=last.latencies_ms,
        tries=len(tries),
    )

"""Run a user's keras-tuner search: in this process, or in parallel worker processes.

Parallel trials use keras-tuner's own distributed mode: this process serves the tuner's
oracle over gRPC (keras-tuner's `OracleServicer`, the role of its chief) and starts N
worker processes with `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` set; each worker builds the same tuner from `tuner_fn` and asks
the oracle for trials until it says stop. Workers on other machines join the same way by
pointing those variables at this machine. An overall time budget stops new trials and
ends running ones; completed trials are kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from headwater.orchestration.training.fn_args import FnArgs, TunerFnResult
from headwater.orchestration.training.user_code import UserCodeError, call_user_fn

logger = logging.getLogger(__name__)

_WORKER_LOG_TAIL = 4000


@dataclass(frozen=True, kw_only=True)
class TuneArgs:
    """How the Tuner searches (TFX's `TuneArgs`, plus a time budget)."""

    num_parallel_trials: int = 1
    """Trials run at once; above 1, each in its own keras-tuner worker process."""
    time_budget_s: float | None = None
    """Overall wall-clock budget of the search; trials still running then are stopped."""

    def __post_init__(self) -> None:
        if self.num_parallel_trials < 1:
            raise ValueError(f"num_parallel_trials must be >= 1, got {self.num_parallel_trials!r}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be > 0, got {self.time_budget_s!r}")


@dataclass(frozen=True, kw_only=True)
class UserFn:
    """Where a worker process finds `tuner_fn`: a module file or a dotted path."""

    module_file: str | None = None
    fn_path: str | None = None
    fn_name: str = "tuner_fn"


@dataclass(frozen=True)
class SearchResult:
    """A finished search: the tuner (its oracle holds the trials) and which worker ran each."""

    tuner: Any
    trial_workers: dict[str, str]
    """trial_id → KERASTUNER_TUNER_ID of the worker that ran it ("tuner0" in-process)."""


def search(tuner_fn: Any, fn_args: FnArgs, tune_args: TuneArgs, user_fn: UserFn) -> SearchResult:
    """Build the tuner with `tuner_fn(fn_args)` and run its search."""
    result = call_user_fn(tuner_fn, fn_args)
    if not isinstance(result, TunerFnResult) and not (
        hasattr(result, "tuner") and hasattr(result, "fit_kwargs")
    ):
        raise UserCodeError(
            f"tuner_fn must return TunerFnResult(tuner, fit_kwargs), got {type(result).__name__}"
        )
    tuner = result.tuner
    deadline = (
        None if tune_args.time_budget_s is None else time.monotonic() + tune_args.time_budget_s
    )
    if tune_args.num_parallel_trials == 1:
        _search_here(tuner, dict(result.fit_kwargs), deadline)
        workers = {trial_id: tuner.tuner_id for trial_id in tuner.oracle.trials}
    else:
        workers = _search_in_workers(
            tuner, fn_args, tune_args.num_parallel_trials, user_fn, deadline
        )
    if not completed_trials(tuner):
        raise UserCodeError(
            "no tuning trial completed"
            + (f" within the time budget of {tune_args.time_budget_s} s" if deadline else "")
        )
    return SearchResult(tuner, workers)


def completed_trials(tuner: Any) -> list[Any]:
    """The tuner's trials that finished with a score."""
    return [
        t for t in tuner.oracle.trials.values() if t.score is not None and t.status == "COMPLETED"
    ]


def best_hyperparameters_config(tuner: Any) -> dict[str, Any]:
    """`HyperParameters.get_config()` of the best trial, as TFX writes best_hyperparameters.txt."""
    return dict(tuner.get_best_hyperparameters(1)[0].get_config())


def trial_summaries(tuner: Any, workers: dict[str, str]) -> list[dict[str, Any]]:
    """One JSON-able record per trial, best first: id, status, score, values, worker."""
    records = [
        {
            "trial_id": trial.trial_id,
            "status": str(trial.status),
            "score": trial.score,
            "best_step": trial.best_step,
            "hyperparameters": dict(trial.hyperparameters.values),
            "tuner_id": workers.get(trial.trial_id),
        }
        for trial in tuner.oracle.trials.values()
    ]
    direction = tuner.oracle.objective.direction
    scored = [r for r in records if r["score"] is not None]
    scored.sort(key=lambda r: r["score"], reverse=direction == "max")
    return scored + [r for r in records if r["score"] is None]


def _search_here(tuner: Any, fit_kwargs: dict[str, Any], deadline: float | None) -> None:
    """`tuner.search` in this process; a deadline callback ends the running and next trials."""
    if deadline is not None:
        callbacks = list(fit_kwargs.get("callbacks") or [])
        callbacks.append(_deadline_callback(tuner, deadline))
        fit_kwargs["callbacks"] = callbacks
    tuner.search(**fit_kwargs)


def _deadline_callback(tuner: Any, deadline: float) -> Any:
    """A Keras callback that stops training and the oracle once `deadline` has passed."""
    import keras

    class StopAtDeadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if time.monotonic() >= deadline:
                self.model.stop_training = True
                tuner.oracle.max_trials = len(tuner.oracle.trials)

    return StopAtDeadline()


def _search_in_workers(
    tuner: Any, fn_args: FnArgs, num_workers: int, user_fn: UserFn, deadline: float | None
) -> dict[str, str]:
    """Serve `tuner.oracle` over gRPC and run `num_workers` keras-tuner worker processes."""
    import grpc

    # keras-tuner's chief servicer; its start_server() cannot be stopped, so serve it here.
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    class RecordingServicer(OracleServicer):
        """keras-tuner's servicer, noting which worker each trial went to."""

        def CreateTrial(self, request: Any, context: Any) -> Any:
            response = super().CreateTrial(request, context)
            if response.trial.trial_id in self.oracle.trials:
                assignments[response.trial.trial_id] = request.tuner_id
            return response

    assignments: dict[str, str] = {}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    protos.get_service_grpc().add_OracleServicer_to_server(RecordingServicer(tuner.oracle), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    run_dir = tempfile.mkdtemp(prefix="tuning-workers-", dir=fn_args.working_dir)
    spec_path = os.path.join(run_dir, "worker_spec.json")
    fields = {
        f.name: getattr(fn_args, f.name)
        for f in dataclasses.fields(fn_args)
        if f.name != "data_accessor"
    }
    with open(spec_path, "w", encoding="utf-8") as f:
        json.dump({"user_fn": dataclasses.asdict(user_fn), "fn_args": fields}, f)
    workers: list[tuple[str, subprocess.Popen[bytes], str]] = []
    try:
        for i in range(num_workers):
            tuner_id = f"tuner{i}"
            log_path = os.path.join(run_dir, f"{tuner_id}.log")
            env = dict(
                os.environ,
                KERASTUNER_TUNER_ID=tuner_id,
                KERASTUNER_ORACLE_IP="127.0.0.1",
                KERASTUNER_ORACLE_PORT=str(port),
            )
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "headwater.orchestration.training.tuning_worker",
                        spec_path,
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            workers.append((tuner_id, proc, log_path))
        logger.info(
            "tuning with %d workers on oracle port %d (logs in %s)", num_workers, port, run_dir
        )
        timed_out = _wait(workers, deadline)
    finally:
        for _, proc, _ in workers:
            _stop(proc)
        server.stop(grace=None)
    failed = [(i, p, log) for i, p, log in workers if p.returncode != 0 and i not in timed_out]
    if failed:
        tuner_id, proc, log_path = failed[0]
        with open(log_path, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-_WORKER_LOG_TAIL:]
        raise UserCodeError(
            f"tuning worker {tuner_id} exited with code {proc.returncode}; "
            f"the end of its log ({log_path}):\n{tail}"
        )
    return assignments


def _wait(
    workers: list[tuple[str, subprocess.Popen[bytes], str]], deadline: float | None
) -> set[str]:
    """Wait for every worker; past the deadline stop the rest. Returns the ids stopped."""
    while any(proc.poll() is None for _, proc, _ in workers):
        if deadline is not None and time.monotonic() >= deadline:
            stopped = {i for i, proc, _ in workers if proc.poll() is None}
            logger.info("time budget spent: stopping tuning workers %s", sorted(stopped))
            return stopped
        time.sleep(0.2)
    return set()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a worker this module started, then kill it if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

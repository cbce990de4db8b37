"""The outcome of an infra validation: blessed or not, each step's time, the reason, the evidence.

`ValidationResult.report()` is the readable report the InfraValidator component writes beside
TFX's `INFRA_BLESSED` / `INFRA_NOT_BLESSED` marker (`write_blessing`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from headwater.infra_validator.specs import Mode

__all__ = [
    "BLESSED_FILE",
    "NOT_BLESSED_FILE",
    "REPORT_FILE",
    "RESULT_FILE",
    "StepOutcome",
    "ValidationResult",
    "percentile",
    "write_blessing",
]

BLESSED_FILE = "INFRA_BLESSED"
NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"
REPORT_FILE = "infra_validation_report.txt"
RESULT_FILE = "infra_validation_result.json"

STEPS = ("start", "load", "requests", "stop")
"""start: spawn until the server answers; load: until the model is AVAILABLE; requests: read the
signatures, send and check the canary requests; stop: until no process is left."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile of `values` (numpy's linear interpolation)."""
    return float(np.percentile(values, q))


@dataclass(frozen=True)
class StepOutcome:
    """One step of one try: its name (see STEPS), whether it passed, its time, what happened."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""
    attempt: int = 1
    server: str = ""


@dataclass(frozen=True)
class ValidationResult:
    """Blessed or not, and why: the steps of every try, the failing request, the server's log."""

    blessed: bool
    model_dir: str
    mode: Mode
    model_name: str
    protocol: str | None
    """"grpc" / "rest" for LOAD_AND_QUERY, None for LOAD_ONLY."""
    servers: tuple[str, ...]
    """What was started, one line per try (command line and pid, or container and image)."""
    steps: tuple[StepOutcome, ...]
    failed_step: str | None
    """The step that failed the validation (see STEPS), None when blessed."""
    reason: str
    failing_request: str | None = None
    server_log_tail: str = ""
    latencies_ms: tuple[float, ...] = ()
    """Latency of each canary request of the passing try, in milliseconds."""
    tries: int = 1

    @property
    def latency_p50_ms(self) -> float | None:
        """Median request latency (None without requests)."""
        return percentile(self.latencies_ms, 50) if self.latencies_ms else None

    @property
    def latency_p99_ms(self) -> float | None:
        """99th percentile request latency (None without requests)."""
        return percentile(self.latencies_ms, 99) if self.latencies_ms else None

    def step_seconds(self) -> dict[str, float]:
        """Seconds per step of the last try (start, load, requests, stop)."""
        last = max((s.attempt for s in self.steps), default=1)
        server = self.steps[-1].server if self.steps else ""
        out: dict[str, float] = {}
        for step in self.steps:
            if step.attempt == last and step.server == server:
                out[step.name] = out.get(step.name, 0.0) + step.seconds
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `write_blessing` stores as infra_validation_result.json)."""
        data = asdict(self)
        data["mode"] = self.mode.value
        data["latency_p50_ms"] = self.latency_p50_ms
        data["latency_p99_ms"] = self.latency_p99_ms
        return data

    def report(self) -> str:
        """The readable report: verdict, what was started, each step's outcome and time, why."""
        verdict = "INFRA_BLESSED" if self.blessed else "INFRA_NOT_BLESSED"
        lines = [f"Infra validation of {self.model_dir}: {verdict}"]
        mode = self.mode.value + (f" over {self.protocol}" if self.protocol else "")
        lines.append(f"Mode: {mode}; model name {self.model_name!r}; {self.tries} try(s)")
        for index, server in enumerate(self.servers, 1):
            lines.append(f"Server {index}: {server}")
        lines.append("Steps:")
        for step in self.steps:
            status = "ok" if step.ok else "FAILED"
            seconds = f"{step.seconds:8.3f} s"
            lines.append(f"  try {step.attempt}  {step.name:<9}{status:<7}{seconds}  {step.detail}")
        if self.latencies_ms:
            lines.append(
                f"Latency: {len(self.latencies_ms)} requests, p50 {self.latency_p50_ms:.2f} ms, "
                f"p99 {self.latency_p99_ms:.2f} ms, max {max(self.latencies_ms):.2f} ms"
            )
        lines.append(f"Reason: {self.reason}")
        if self.failing_request:
            lines.append(f"Failing request: {self.failing_request}")
        if self.server_log_tail and not self.blessed:
            lines.append("Server log (last lines):")
            lines.extend(f"  | {line}" for line in self.server_log_tail.splitlines())
        return "\n".join(lines) + "\n"


def write_blessing(result: ValidationResult, directory: str) -> str:
    """Write TFX's marker file (INFRA_BLESSED or INFRA_NOT_BLESSED), the report and the result
    JSON into `directory`; returns the marker's path."""
    os.makedirs(directory, exist_ok=True)
    marker = os.path.join(directory, BLESSED_FILE if result.blessed else NOT_BLESSED_FILE)
    with open(marker, "w") as f:
        f.write("" if result.blessed else result.reason + "\n")
    with open(os.path.join(directory, REPORT_FILE), "w") as f:
        f.write(result.report())
    with open(os.path.join(directory, RESULT_FILE), "w") as f:
        json.dump(result.to_dict(), f, indent=2, sort_keys=True)
    return marker

"""Isolated virtual environments for tools whose pins cannot meet Headwater's.

Some tools cannot share an interpreter with ml-metadata (it needs protobuf < 5 and an old attrs):
the TensorFlow.js converter, Apache Airflow 3, the Kubeflow Pipelines SDK. Each runs as a
subprocess of its own virtual environment, created on first use from a hash-locked requirements
file under `cache_root()` (in a directory named for the file's digest, so a changed lock makes a
new environment) and reused afterwards. uv creates it when it is on PATH, else venv + pip. One
process creates, concurrent ones wait on a file lock and reuse it; an interrupted creation is
removed and started again.

Example:
    python = isolated_python("airflow", Path("airflow_tooling/requirements.txt"))
    subprocess.run([python, "-c", "import airflow"], check=True)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from headwater.io.errors import HeadwaterError

__all__ = ["IsolatedEnvError", "cache_root", "digest", "isolated_env_dir", "isolated_python"]

logger = logging.getLogger(__name__)

INSTALL_TIMEOUT_S = 1800


class IsolatedEnvError(HeadwaterError, OSError):
    """An isolated tool environment cannot be created or a tool in it cannot be started."""


def cache_root() -> Path:
    """Where the tooling lives: $HEADWATER_CACHE_DIR, else $XDG_CACHE_HOME/headwater."""
    explicit = os.environ.get("HEADWATER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "headwater"


def digest(*files: Path) -> str:
    """A short sha256 of the files' bytes (names an environment after its lock file)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (one process installs, the others wait and reuse)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_tool(
    argv: list[str],
    what: str,
    timeout: float,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run `argv` (in `cwd`, with environment `env` when given); IsolatedEnvError naming
    `what` and the output's last lines on failure."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IsolatedEnvError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise IsolatedEnvError(f"{what} failed (exit {done.returncode}): {tail}")


def isolated_env_dir(name: str, requirements: Path) -> Path:
    """The directory `isolated_python(name, requirements)` creates: `<cache>/<name>-<digest>`."""
    return cache_root() / f"{name}-{digest(requirements)}"


def isolated_python(
    name: str, requirements: Path, *, python_version: str = "3.11", description: str = ""
) -> str:
    """The python of the environment `name` installed from `requirements` (hash-locked).

    Created on first use (seconds with a warm uv cache, minutes cold), reused afterwards.
    `description` names the environment in log lines and errors.
    """
    env = isolated_env_dir(name, requirements)
    python = env / "bin" / "python"
    done = env / ".complete"
    if done.exists():
        return str(python)
    what = f"creating the {description or name} environment {env}"
    with locked(env.with_name(env.name + ".lock")):
        if done.exists():
            return str(python)
        shutil.rmtree(env, ignore_errors=True)  # a creation that was interrupted
        logger.info("creating the %s environment in %s", description or name, env)
        uv = shutil.which("uv")
        base = (
            sys.executable if sys.version_info[:2] == _version(python_version) else python_version
        )
        try:
            if uv:
                run_tool([uv, "venv", "--quiet", "--python", base, str(env)], what, 300)
                install = [uv, "pip", "install", "--quiet", "--python", str(python)]
            else:
                run_tool([sys.executable, "-m", "venv", str(env)], what, 300)
                install = [str(python), "-m", "pip", "install", "--quiet"]
            run_tool(
                [*install, "--require-hashes", "-r", str(requirements)], what, INSTALL_TIMEOUT_S
            )
        except IsolatedEnvError:
            shutil.rmtree(env, ignore_errors=True)
            raise
        done.write_text("ok\n")
    return str(python)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)

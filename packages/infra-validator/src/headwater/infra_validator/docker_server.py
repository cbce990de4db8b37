"""TensorFlow Serving's Docker image (`tensorflow/serving`) run through the `docker` command line.

The image serves `/models/$MODEL_NAME` on ports 8500 (gRPC) and 8501 (REST); the runner bind-
mounts the model's base directory there read-only and publishes both ports on free host ports.
`LocalDockerConfig`'s fields become the docker client's settings (DOCKER_HOST,
DOCKER_API_VERSION, a timeout per command).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

from headwater.infra_validator.errors import ServerUnavailableError
from headwater.infra_validator.server import Endpoint, ModelServerRunner, free_port
from headwater.infra_validator.specs import LocalDockerConfig

__all__ = ["DockerRunner", "docker_unavailable_reason"]

_GRPC_PORT = 8500
_REST_PORT = 8501


def _docker_env(config: LocalDockerConfig) -> dict[str, str]:
    env = dict(os.environ)
    if config.client_base_url:
        env["DOCKER_HOST"] = config.client_base_url
    if config.client_api_version:
        env["DOCKER_API_VERSION"] = config.client_api_version
    return env


def docker_unavailable_reason(config: LocalDockerConfig | None = None) -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    config = config or LocalDockerConfig()
    if shutil.which("docker") is None:
        return "no `docker` command on PATH"
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=config.client_timeout_seconds or 20,
            env=_docker_env(config),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Docker engine did not answer: {exc}"
    if done.returncode != 0:
        return f"the Docker engine did not answer: {done.stderr.strip()[:300]}"
    return None


class DockerRunner(ModelServerRunner):
    """One `tensorflow/serving` container serving `model_base_path` as `model_name`."""

    def __init__(
        self,
        model_base_path: str,
        model_name: str,
        image: str,
        config: LocalDockerConfig | None = None,
        *,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self._base_path = os.path.abspath(model_base_path)
        self._model_name = model_name
        self._image = image
        self._config = config or LocalDockerConfig()
        self._host = self._config.host_ip_address or "127.0.0.1"
        self._timeout = self._config.client_timeout_seconds or 60
        self._stop_timeout = stop_timeout_seconds
        self._container: str | None = None
        self._endpoint: Endpoint | None = None
        self.description = f"docker image {image}"

    def _docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["docker", *args],
                capture_output=True,
                text=True,
                timeout=self._timeout,
                env=_docker_env(self._config),
                check=check,
            )
        except subprocess.CalledProcessError as exc:
            raise ServerUnavailableError(
                f"docker {args[0]} failed ({exc.returncode}): {exc.stderr.strip()[:500]}"
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServerUnavailableError(f"docker {args[0]} failed: {exc}") from exc

    def start(self) -> None:
        """`docker run -d` the image with the model mounted and both ports published."""
        reason = docker_unavailable_reason(self._config)
        if reason is not None:
            raise ServerUnavailableError(f"cannot run {self._image}: {reason}")
        grpc_port, rest_port = free_port(self._host), free_port(self._host)
        name = f"hw-infra-validator-{uuid.uuid4().hex[:12]}"
        self._container = name  # so that stop() removes what a failed run created
        self._docker(
            "run",
            "--detach",
            "--name",
            name,
            "--publish",
            f"{self._host}:{grpc_port}:{_GRPC_PORT}",
            "--publish",
            f"{self._host}:{rest_port}:{_REST_PORT}",
            "--mount",
            f"type=bind,source={self._base_path},target=/models/{self._model_name},readonly",
            "--env",
            f"MODEL_NAME={self._model_name}",
            self._image,
        )
        self._endpoint = Endpoint(self._host, grpc_port, rest_port, self._model_name)
        self.description = f"docker container {name} of {self._image}"

    @property
    def endpoint(self) -> Endpoint:
        """Host, published ports and model name; only after `start()`."""
        if self._endpoint is None:
            raise RuntimeError(f"{self.description}: not started")
        return self._endpoint

    def is_alive(self) -> bool:
        """True while the container runs."""
        if self._container is None:
            return False
        done = self._docker(
            "inspect", "--format", "{{.State.Running}}", self._container, check=False
        )
        return done.stdout.strip() == "true"

    def exit_detail(self) -> str:
        """The container's exit code."""
        if self._container is None:
            return "the container was not started"
        done = self._docker(
            "inspect", "--format", "{{.State.ExitCode}}", self._container, check=False
        )
        return f"the container exited with code {done.stdout.strip() or '?'}"

    def log_tail(self, lines: int = 40) -> str:
        """`docker logs --tail`."""
        if self._container is None:
            return ""
        done = self._docker("logs", "--tail", str(lines), self._container, check=False)
        return (done.stdout + done.stderr).strip()

    def stop(self) -> None:
        """`docker stop` (SIGTERM, then SIGKILL after the grace time) and `docker rm`."""
        if self._container is None:
            return
        self._docker("stop", "--time", str(int(self._stop_timeout)), self._container, check=False)
        self._docker("rm", "--force", self._container, check=False)
        self._container = None

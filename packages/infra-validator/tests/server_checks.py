"""Checks that a model server left nothing behind: no process, no listening port."""

from __future__ import annotations

import os
import socket

from headwater.infra_validator import LocalProcessRunner
from headwater.io.processes import child_processes


def server_children() -> list[str]:
    """Command lines of this process's children that run a model server."""
    return [c for c in child_processes(os.getpid()).values() if "model_server" in c]


def assert_released(runner: LocalProcessRunner) -> None:
    """The runner's server and its process group are gone and both ports can be bound again."""
    pid = runner.pid
    assert pid is not None
    assert not os.path.exists(f"/proc/{pid}"), f"server pid {pid} is still there"
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"process group {pid} still has processes")
    endpoint = runner.endpoint
    for port in (endpoint.grpc_port, endpoint.rest_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            assert probe.connect_ex((endpoint.host, port)) != 0, f"port {port} still listens"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((endpoint.host, port))  # raises if the port is still held
    assert not any(f"--rest_api_port {endpoint.rest_port} " in c for c in server_children())

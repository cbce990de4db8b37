"""free_port and child_processes against real sockets and real child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from headwater.io.processes import child_processes, free_port


def test_a_free_port_can_be_bound_and_listened_on():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert sock.getsockname() == ("127.0.0.1", port)


def test_child_processes_lists_a_started_child_until_it_ends():
    marker = "import time; time.sleep(60)  # headwater child_processes test"
    child = subprocess.Popen([sys.executable, "-c", marker])
    try:
        children = child_processes(os.getpid())
        assert children[child.pid] == f"{sys.executable} -c {marker} "
    finally:
        child.kill()
        child.wait()
    assert child.pid not in child_processes(os.getpid())
    assert child_processes(child.pid) == {}

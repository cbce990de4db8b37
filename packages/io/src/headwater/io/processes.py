"""Local processes and ports, for the libraries that start servers (infra-validator) and tests.

`free_port` asks the kernel for a TCP port nothing listens on; `child_processes` lists the
processes a process started, with their command lines (Linux `/proc`; empty elsewhere).
"""

from __future__ import annotations

import os
import socket

__all__ = ["child_processes", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def child_processes(parent: int) -> dict[int, str]:
    """The live children of process `parent`: pid -> command line (arguments joined by spaces).

    Read from `/proc` (Linux); a process that ends while it is read is left out, and where
    there is no `/proc` the answer is empty.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    found = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent:
            found[int(entry)] = cmdline
    return found

"""Runs a model server as its child and stops it when the validating process dies.

    python _watchdog.py SERVER_COMMAND...

The validating process holds the write end of this process's stdin and never writes to it.
When that process exits, even by SIGKILL, the pipe closes and the read below returns: the
server gets SIGTERM, then SIGKILL after a grace time. A SIGTERM to the process group (the
runner's `stop()`) reaches the server directly; this process ignores it and exits with the
server's status once the server has stopped. Standard library only, run as a plain script, so
it starts in milliseconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

GRACE_SECONDS = 10.0


def main(command: list[str]) -> int:
    """Run `command`; stop it when stdin reaches EOF; return its exit status."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM is for the server
    server = subprocess.Popen(  # no thread runs yet, so preexec_fn is safe here
        command,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    )

    def watch() -> None:
        sys.stdin.buffer.read()  # EOF: the validating process is gone
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()

    threading.Thread(target=watch, daemon=True).start()
    code = server.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

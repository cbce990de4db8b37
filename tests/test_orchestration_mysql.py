"""The same pipeline against a real MySQL-protocol server (MariaDB) through ConnectionConfig.mysql.

Kubeflow Pipelines keeps ML Metadata in MySQL. The test starts its own MariaDB server
(mariadb-install-db + mariadbd into a temporary folder, loopback, a free port, no grant tables)
and stops it afterwards. ML Metadata creates the database itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from mlmd_servers import check_pipeline_records_and_caches

from headwater.io.processes import free_port
from headwater.orchestration import mysql_metadata_connection_config

pytestmark = pytest.mark.integration


def _wait_for(port: int, server: subprocess.Popen[bytes], log: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            with open(log) as f:
                raise RuntimeError(f"MariaDB exited at start:\n{f.read()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("MariaDB did not accept connections within 60 s")


@pytest.fixture(scope="module")
def mariadb() -> Iterator[dict[str, object]]:
    server_bin = shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
    install = shutil.which("mariadb-install-db")
    if server_bin is None or install is None:
        pytest.skip("MariaDB is not installed (.ci/run installs Debian's mariadb-server)")
    base = tempfile.mkdtemp(prefix="hw_mysql_")
    data = os.path.join(base, "data")
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:  # the server refuses to run as root: use Debian's mysql user
        user = "mysql"
        shutil.chown(base, user, user)
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", f"--user={user}", "--skip-test-db"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = os.path.join(base, "server.log")
    with open(log, "w") as out:
        server = subprocess.Popen(
            [
                server_bin,
                "--no-defaults",
                f"--datadir={data}",
                f"--user={user}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={os.path.join(base, 'mysql.sock')}",
                "--skip-grant-tables",
                "--innodb-flush-log-at-trx-commit=0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(port, server, log)
        yield {"host": "127.0.0.1", "port": port, "database": "mlmd", "user": "root"}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_pipeline_records_in_mysql_and_reruns_from_cache(mariadb, tmp_path):
    config = mysql_metadata_connection_config(**mariadb)  # type: ignore[arg-type]
    check_pipeline_records_and_caches(config, str(tmp_path), "my")

"""The same pipeline against a real PostgreSQL server through ConnectionConfig.postgresql.

The test starts its own server (initdb + pg_ctl into a temporary folder, loopback, a free
port) as the `postgres` user (PostgreSQL refuses to run as root) and stops it afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
from mlmd_servers import PENGUIN, check_pipeline_records_and_caches

from headwater.io.processes import free_port
from headwater.orchestration import (
    CsvExampleGen,
    LocalDagRunner,
    MetadataStore,
    Pipeline,
    postgresql_metadata_connection_config,
)

pytestmark = pytest.mark.integration


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, object]]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    base = tempfile.mkdtemp(prefix="hw_pg_")
    data = os.path.join(base, "data")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_server_user([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_server_user(
            [f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", f"{base}/log", "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlmd"],
            check=True,
            capture_output=True,
        )
        yield {"host": "127.0.0.1", "port": port, "database": "mlmd", "user": "postgres"}
    finally:
        subprocess.run(
            _as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_pipeline_records_in_postgresql_and_reruns_from_cache(postgres, tmp_path):
    config = postgresql_metadata_connection_config(**postgres)  # type: ignore[arg-type]
    check_pipeline_records_and_caches(config, str(tmp_path), "pg")


def test_switching_a_root_from_sqlite_to_postgresql_keeps_the_sqlite_artifacts(postgres, tmp_path):
    """Both stores number executions from 1: the second never overwrites the first's outputs."""
    root = str(tmp_path / "root")
    fresh = {**postgres, "database": "switch"}  # a new database: execution ids start at 1
    pg = postgresql_metadata_connection_config(**fresh)  # type: ignore[arg-type]
    sqlite_run = LocalDagRunner(quiet=True).run(
        Pipeline("switch", root, [CsvExampleGen(input_base=PENGUIN)])
    )
    first = sqlite_run.output("CsvExampleGen", "examples")
    files_before = sorted(os.listdir(os.path.join(first.uri, "Split-train")))
    pg_run = LocalDagRunner(quiet=True).run(
        Pipeline(
            "switch",
            root,
            [CsvExampleGen(input_base=PENGUIN).with_cache(False)],
            metadata_connection_config=pg,
        )
    )
    second = pg_run.output("CsvExampleGen", "examples")
    assert sqlite_run.node("CsvExampleGen").execution_id == 1
    assert pg_run.node("CsvExampleGen").execution_id == 1
    assert first.uri == os.path.join(root, "CsvExampleGen", "examples", "1")
    assert second.uri == os.path.join(root, "CsvExampleGen", "examples", "1-2")
    assert sorted(os.listdir(os.path.join(first.uri, "Split-train"))) == files_before
    again = LocalDagRunner(quiet=True).run(
        Pipeline("switch", root, [CsvExampleGen(input_base=PENGUIN)])
    )
    assert again.node("CsvExampleGen").status == "CACHED"
    assert again.output("CsvExampleGen", "examples").uri == first.uri
    [recorded] = MetadataStore(pg).store.get_artifacts()
    assert recorded.uri == second.uri

"""`headwater ui --store postgresql://...` over a real PostgreSQL server, read by a user that
may only SELECT: the pages answer, and the database itself would refuse any write."""

from __future__ import annotations

import glob
import subprocess
import urllib.request

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd
from mlmd_servers import PENGUIN
from test_orchestration_postgres import postgres  # noqa: F401  (the server fixture)

from headwater.orchestration import (
    CsvExampleGen,
    LocalDagRunner,
    Pipeline,
    postgresql_metadata_connection_config,
)
from headwater.orchestration.metadata import RUN_CONTEXT
from headwater.orchestration.ui import open_store, running

pytestmark = pytest.mark.integration


def _psql(server: dict[str, object], database: str, sql: str) -> None:
    [psql] = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1:]
    subprocess.run(
        [
            psql,
            "-h",
            str(server["host"]),
            "-p",
            str(server["port"]),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
    )


def test_ui_reads_a_postgresql_store_as_a_select_only_user(postgres, tmp_path):  # noqa: F811
    server = {**postgres, "database": "ui"}
    config = postgresql_metadata_connection_config(**server)  # type: ignore[arg-type]
    root = str(tmp_path / "root")
    pipeline = Pipeline(
        "pg_ui", root, [CsvExampleGen(input_base=PENGUIN)], metadata_connection_config=config
    )
    LocalDagRunner(quiet=True).run(pipeline)
    _psql(
        postgres,
        "ui",
        "CREATE ROLE reader LOGIN; GRANT USAGE ON SCHEMA public TO reader; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;",
    )
    store = open_store(f"postgresql://reader@{postgres['host']}:{postgres['port']}/ui")
    with running([store]) as base:
        with urllib.request.urlopen(base + "/", timeout=60) as response:
            index = response.read().decode()
        assert "pg_ui" in index
        assert "badge state-complete" in index
        run = index.split("class='run-link' href='")[1].split("'")[0]
        with urllib.request.urlopen(base + run, timeout=60) as response:
            page = response.read().decode()
    assert 'class="node state-complete"' in page
    [run_type] = [t for t in store.store.get_context_types() if t.name == RUN_CONTEXT]
    with pytest.raises(Exception, match="permission denied"):
        store.store.put_contexts([mlmd.Context(type_id=run_type.id, name="written")])

"""Apache Airflow 3: a DAG file for a compiled pipeline, and an isolated Airflow to run it.

`write_airflow_dag` writes one Python file per pipeline: a BashOperator (Airflow's standard
provider) per node calling `headwater node run` through Headwater's own environment (the
absolute path of the headwater executable that generated it, or `command_prefix`), the
pipeline's edges as task dependencies, and a closing `headwater run finish` task with trigger
rule `all_done`. The run id is Airflow's `{{ run_id }}`, passed in the HEADWATER_RUN_ID
environment variable (so no shell quoting meets it). The file imports only Airflow and the
standard library, so it parses in Airflow's environment, which never needs Headwater.

Airflow 3 cannot share an environment with ml-metadata (attrs, protobuf, SQLAlchemy pins), so
`airflow_executable()` creates one of its own from the hash-locked
`airflow_tooling/requirements.txt` (the same mechanism as the TF.js converter's) and
`airflow_home()` prepares a standalone home: SQLite metadata DB migrated once per environment
and copied, no examples, no webserver.

Example:
    description = compile_pipeline("pipeline.py")
    write_airflow_dag(description, "dags/penguin.py", schedule="@daily", retries=2)
"""

from __future__ import annotations

import datetime as dt
import keyword
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headwater.io.isolated_env import (
    isolated_env_dir,
    isolated_python,
    locked,
    run_tool,
)
from headwater.orchestration.adapter_commands import RUN_ID, adapter_nodes, description_dict
from headwater.orchestration.errors import WiringError

__all__ = [
    "FINISH_TASK_ID",
    "airflow_dag_source",
    "airflow_executable",
    "airflow_home",
    "write_airflow_dag",
]

TOOLING = Path(__file__).parent / "airflow_tooling"
FINISH_TASK_ID = "headwater_run_finish"
"""The closing task: records the run COMPLETE or FAILED, whatever the nodes did."""
RUN_ID_ENV = "HEADWATER_RUN_ID"
_TASK_ID = re.compile(r"[^A-Za-z0-9_.-]")
_MIGRATE_TIMEOUT_S = 600


def airflow_dag_source(
    description: Any,
    *,
    dag_id: str | None = None,
    schedule: str | None = None,
    start_date: dt.datetime | str | None = None,
    retries: int = 2,
    retry_delay_s: float = 60.0,
    command_prefix: Sequence[str] | str | None = None,
    metadata: str | None = None,
    root: str | None = None,
    no_cache: bool = False,
    tags: Sequence[str] = ("headwater",),
) -> str:
    """The text of the DAG file for `description` (see `write_airflow_dag`)."""
    data = description_dict(description)
    if retries < 0 or retry_delay_s < 0:
        raise ValueError(f"retries and retry_delay_s must be >= 0, got {retries}, {retry_delay_s}")
    nodes, finish = adapter_nodes(
        data, command_prefix=command_prefix, metadata=metadata, root=root, no_cache=no_cache
    )
    dag_id = dag_id or str(data["pipeline_name"])
    if _TASK_ID.search(dag_id):
        raise WiringError(f"dag_id must be letters, digits and '_-.', got {dag_id!r}")
    task_ids = _task_ids([n.id for n in nodes])
    start = _start_date(start_date, schedule)
    lines = [
        f'"""Airflow DAG for the Headwater pipeline {data["pipeline_name"]!r}.',
        "",
        f"Written by headwater from {data['pipeline_file']}; regenerate it rather than edit it.",
        "Each task runs one node with `headwater node run` in Headwater's own environment;",
        f"{FINISH_TASK_ID} records the run's outcome in ML Metadata whatever the nodes did.",
        '"""',
        "",
        "import datetime",
        "",
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.sdk import DAG",
        "",
        f"RUN_ENV = {{{RUN_ID_ENV!r}: '{{{{ run_id }}}}'}}",
        "",
        "with DAG(",
        f"    dag_id={dag_id!r},",
        f"    schedule={schedule!r},",
        f"    start_date={start},",
        "    catchup=False,",
        f"    tags={list(tags)!r},",
        "    default_args={",
        f"        'retries': {int(retries)},",
        f"        'retry_delay': datetime.timedelta(seconds={float(retry_delay_s)!r}),",
        "    },",
        ") as dag:",
    ]
    for node in nodes:
        lines += _task(task_ids[node.id], node.command)
    lines += _task(FINISH_TASK_ID, finish, extra=["trigger_rule='all_done'", "retries=0"])
    for node in nodes:
        for up in node.upstream:
            if up not in task_ids:
                raise WiringError(f"node {node.id!r}: upstream {up!r} is not a node")
            lines.append(f"    {_var(task_ids[up])} >> {_var(task_ids[node.id])}")
    for node in nodes:
        lines.append(f"    {_var(task_ids[node.id])} >> {_var(FINISH_TASK_ID)}")
    return "\n".join(lines) + "\n"


def write_airflow_dag(
    description: Any,
    path: str | os.PathLike[str],
    *,
    dag_id: str | None = None,
    schedule: str | None = None,
    start_date: dt.datetime | str | None = None,
    retries: int = 2,
    retry_delay_s: float = 60.0,
    command_prefix: Sequence[str] | str | None = None,
    metadata: str | None = None,
    root: str | None = None,
    no_cache: bool = False,
) -> Path:
    """Write the Airflow DAG file for a compiled pipeline to `path`; returns the path.

    `description`: a PipelineDescription, its dict, its JSON text or a path to it.
    `schedule`: a cron expression or preset (`@daily`), None to run only when triggered.
    `start_date`: a datetime or ISO 8601 text (naive means UTC); default: today, when a schedule
    is given. `retries` and `retry_delay_s` apply to every node task (the finish task is not
    retried). `command_prefix` replaces `headwater` in each command (default: the absolute path
    of this environment's headwater executable). `metadata` and `root` override the pipeline's
    ML Metadata connection and root (`--metadata`, `--root`).
    """
    source = airflow_dag_source(
        description,
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        retries=retries,
        retry_delay_s=retry_delay_s,
        command_prefix=command_prefix,
        metadata=metadata,
        root=root,
        no_cache=no_cache,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(source)
    os.replace(tmp, target)  # Airflow's DAG processor never sees half a file
    return target


def _task(task_id: str, command: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    shell = " ".join(f'"${RUN_ID_ENV}"' if a == RUN_ID else shlex.quote(a) for a in command)
    if "{{" in shell or "{%" in shell or "{#" in shell:
        raise WiringError(f"task {task_id!r}: its command would be read as a Jinja template")
    args = [
        f"task_id={task_id!r}",
        f"bash_command={shell!r}",
        "env=RUN_ENV",
        "append_env=True",
        *extra,
    ]
    return [f"    {_var(task_id)} = BashOperator(", *[f"        {a}," for a in args], "    )"]


def _task_ids(node_ids: list[str]) -> dict[str, str]:
    """Airflow task ids (letters, digits, '_-.'), unique and never the finish task's."""
    ids: dict[str, str] = {}
    taken = {FINISH_TASK_ID}
    for node_id in node_ids:
        base = _TASK_ID.sub("_", node_id) or "node"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        ids[node_id] = candidate
    return ids


def _var(task_id: str) -> str:
    name = "t_" + re.sub(r"\W", "_", task_id)
    return name + "_" if keyword.iskeyword(name) else name


def _start_date(start_date: dt.datetime | str | None, schedule: str | None) -> str:
    if start_date is None:
        if schedule is None:
            return "None"
        today = dt.datetime.now(dt.UTC).date()
        start_date = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)
    if isinstance(start_date, str):
        try:
            start_date = dt.datetime.fromisoformat(start_date)
        except ValueError as exc:
            raise ValueError(f"start_date must be ISO 8601, got {start_date!r}") from exc
    if start_date.tzinfo is None:
        start_date = start_date.replace(tzinfo=dt.UTC)
    return f"datetime.datetime.fromisoformat({start_date.isoformat()!r})"


# -- the isolated Airflow ------------------------------------------------------------------
def airflow_executable() -> str:
    """The `airflow` command of the isolated Airflow 3 environment (created on first use)."""
    python = isolated_python("airflow", TOOLING / "requirements.txt", description="Apache Airflow")
    return str(Path(python).parent / "airflow")


def airflow_home(
    home: str | os.PathLike[str], dags_folder: str | os.PathLike[str]
) -> dict[str, str]:
    """Environment variables for a standalone Airflow in `home` reading DAGs from `dags_folder`.

    The SQLite metadata DB is migrated once per Airflow environment (a template kept beside
    it) and copied into `home`; examples are off and nothing is served. Pass the result as the
    environment of `airflow dags test DAG_ID`.
    """
    airflow = airflow_executable()
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    template = isolated_env_dir("airflow", TOOLING / "requirements.txt") / "migrated-airflow.db"
    if not template.exists():
        with locked(template.with_name(template.name + ".lock")):
            if not template.exists():
                _migrate(airflow, template)
    shutil.copyfile(template, home / "airflow.db")
    return _airflow_env(home, Path(dags_folder).absolute())


def _airflow_env(home: Path, dags: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    return env


def _migrate(airflow: str, template: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="airflow-migrate-") as tmp:
        home = Path(tmp)
        (home / "dags").mkdir()
        env = _airflow_env(home, home / "dags")
        run_tool([airflow, "db", "migrate"], "`airflow db migrate`", _MIGRATE_TIMEOUT_S, env=env)
        tmp_template = template.with_name(template.name + ".tmp")
        shutil.copyfile(home / "airflow.db", tmp_template)
        os.replace(tmp_template, template)

"""docs/migrating_from_tfx.md is generated from the tfx_v1 catalog and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "gen_migration_doc", REPO / "tools" / "gen_migration_doc.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_migration_doc_is_current() -> None:
    tool = _tool()
    committed = (REPO / "docs" / "migrating_from_tfx.md").read_text(encoding="utf-8")
    assert committed == tool.render(), "run: uv run --frozen python tools/gen_migration_doc.py"
    assert tool.main(["--check"]) == 0


def test_doc_lists_each_name_with_its_status() -> None:
    text = _tool().render()
    assert "| `Cond` | same | `model_blessing / infra_blessing inputs` |" in text
    assert "| `TrainArgs` | renamed | `headwater.orchestration.TrainArgs` |  |" in text
    assert "| `ExampleDiff` | not yet |  |  |" in text

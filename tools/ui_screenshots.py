"""Screenshots of `headwater ui`'s main pages, for docs/ui.md (regenerate after UI changes).

    uv run --frozen python tools/ui_screenshots.py [--out docs/images] [--metadata FILE]

Without --metadata it runs a small pipeline (CsvExampleGen, StatisticsGen, SchemaGen,
ExampleValidator on the penguin data) twice into a temporary root. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=3000",
]


def make_store(root: str) -> str:
    """Two runs of a four-node pipeline (the second cached); returns the SQLite store's path."""
    from headwater.orchestration import (
        CsvExampleGen,
        ExampleValidator,
        LocalDagRunner,
        Pipeline,
        SchemaGen,
        StatisticsGen,
    )

    for _ in range(2):
        gen = CsvExampleGen(input_base=str(REPO / "examples" / "penguin" / "data"))
        stats = StatisticsGen(examples=gen.outputs["examples"])
        schema = SchemaGen(statistics=stats.outputs["statistics"])
        check = ExampleValidator(
            statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]
        )
        LocalDagRunner(quiet=True).run(Pipeline("penguin_data", root, [gen, stats, schema, check]))
    return os.path.join(root, "metadata.sqlite")


def shoot(url: str, png: Path, size: str = "1280,860") -> None:
    """A PNG of `url` in headless Chromium."""
    with tempfile.TemporaryDirectory(prefix="hw-shot-") as profile:
        subprocess.run(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--screenshot={png}",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    print(f"wrote {png}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return str(response.read().decode())


def main(argv: list[str] | None = None) -> int:
    """Write ui-pipelines.png, ui-run.png, ui-artifact.png and ui-lineage.png to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"))
    parser.add_argument("--metadata", help="an existing SQLite MLMD file")
    args = parser.parse_args(argv)
    from headwater.orchestration import MetadataStore, sqlite_metadata_connection_config
    from headwater.orchestration.ui import running

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hw-ui-shots-") as root:
        path = args.metadata or make_store(root)
        store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
        with running([store]) as base:
            shoot(base + "/", out / "ui-pipelines.png", "1280,520")
            run = re.findall(r"class='run-link' href='([^']+)'", _get(base + "/"))[-1]
            shoot(base + run, out / "ui-run.png", "1280,640")
            node = re.findall(r"class='node-link' href='([^']+)'", _get(base + run))[1]
            artifact = re.findall(r"class='artifact-link' href='([^']+)'", _get(base + node))[-1]
            shoot(base + artifact, out / "ui-artifact.png", "1280,1100")
            shoot(base + artifact + "/lineage", out / "ui-lineage.png", "1960,520")
    return 0


if __name__ == "__main__":
    sys.exit(main())

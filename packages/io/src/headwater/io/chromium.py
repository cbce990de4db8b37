"""Headless Chromium for rendering Headwater's HTML views: the DOM after their scripts ran, the
console errors they logged, PNG screenshots.

The view tests of data-validation and model-analysis, the UI's end-to-end test and the docs'
screenshots run Chromium with these flags: headless, no GPU, no sandbox (containers), nothing
fetched on its own (no updates, sync or background requests), console messages on stderr, and
a fresh profile per run, removed afterwards. Chromium is a system package (Debian's `chromium`);
nothing here starts it unless called.

Example:
    if chromium_available():
        proc = run_chromium("--dump-dom", Path("view.html").resolve().as_uri())
        assert not console_errors(proc.stderr)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM", "FLAGS", "chromium_available", "console_errors", "run_chromium"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
"""The Chromium binary: on PATH, else Debian's path (which may not exist)."""

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
"""Every run's flags, before its profile directory and its own arguments."""


def chromium_available() -> bool:
    """Whether the Chromium binary is installed."""
    return Path(CHROMIUM).exists()


def run_chromium(
    *args: str, timeout: float = 120.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Chromium with FLAGS and a fresh profile (removed afterwards), then `args`; its stdout
    (e.g. `--dump-dom`'s DOM) and stderr (the console log) as text."""
    with tempfile.TemporaryDirectory(prefix="hw-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=check,
        )


def console_errors(stderr: str) -> list[str]:
    """The lines of a run's stderr that report a page error: a console line logged at ERROR
    level, or an uncaught exception (Chromium logs `console.error` itself at INFO)."""
    return [
        line
        for line in stderr.splitlines()
        if ("CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)) or "Uncaught" in line
    ]

"""Render HTML in a real headless Chromium: the DOM after scripts ran, console errors, a PNG.

Shared by the view tests of headwater-data-validation. Tests skip when Chromium is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


@dataclass(frozen=True)
class Rendered:
    """What Chromium made of a page."""

    dom: str
    """The serialized DOM after the page's scripts ran."""
    console_errors: list[str]
    """Console messages at error level and uncaught exceptions."""


def available() -> bool:
    """Whether a Chromium binary is installed."""
    return Path(CHROMIUM).exists()


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="hw-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def render(page: Path, fragment: str = "", timeout: float = 60.0) -> Rendered:
    """Load `page` (a file), let its scripts run, and return the DOM and console errors."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    proc = _run(
        ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", "--dump-dom", url],
        timeout,
    )
    errors = [
        line
        for line in proc.stderr.splitlines()
        if ("CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)) or "Uncaught" in line
    ]
    return Rendered(proc.stdout, errors)


def screenshot(page: Path, png: Path, size: str = "1280,900", timeout: float = 60.0) -> bytes:
    """A PNG screenshot of `page`, written to `png` and returned."""
    _run([f"--screenshot={png}", f"--window-size={size}", page.resolve().as_uri()], timeout)
    return png.read_bytes()

"""Render HTML in a real headless Chromium: the DOM after scripts ran, console errors, a PNG.

Shared by the view tests of headwater-data-validation, over `headwater.io.chromium` (the flags
and profile every Headwater view test uses). Tests skip when Chromium is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headwater.io.chromium import chromium_available, console_errors, run_chromium


@dataclass(frozen=True)
class Rendered:
    """What Chromium made of a page."""

    dom: str
    """The serialized DOM after the page's scripts ran."""
    console_errors: list[str]
    """Console messages at error level and uncaught exceptions."""


def available() -> bool:
    """Whether a Chromium binary is installed."""
    return chromium_available()


def render(page: Path, fragment: str = "", timeout: float = 60.0) -> Rendered:
    """Load `page` (a file), let its scripts run, and return the DOM and console errors."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    proc = run_chromium(
        "--virtual-time-budget=3000", "--dump-dom", url, timeout=timeout, check=False
    )
    return Rendered(proc.stdout, console_errors(proc.stderr))


def screenshot(page: Path, png: Path, size: str = "1280,900", timeout: float = 60.0) -> bytes:
    """A PNG screenshot of `page`, written to `png` and returned."""
    run_chromium(
        f"--screenshot={png}",
        f"--window-size={size}",
        page.resolve().as_uri(),
        timeout=timeout,
        check=False,
    )
    return png.read_bytes()

"""headwater.io.chromium: a page's scripts run, its console errors are found, its profile goes."""

import os
import tempfile

import pytest

from headwater.io.chromium import FLAGS, chromium_available, console_errors, run_chromium

pytestmark = pytest.mark.skipif(not chromium_available(), reason="chromium is not installed")


def test_the_dom_after_the_scripts_ran_and_the_console_errors(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><p id='out'>before</p><script>"
        "document.getElementById('out').textContent = 'after ' + (6 * 7);"
        "throw new Error('broken view');"
        "</script></body></html>"
    )
    profiles = set(os.listdir(tempfile.gettempdir()))
    proc = run_chromium("--virtual-time-budget=1000", "--dump-dom", page.as_uri())
    assert '<p id="out">after 42</p>' in proc.stdout
    errors = console_errors(proc.stderr)
    assert len(errors) == 1
    assert "Uncaught Error: broken view" in errors[0]
    left = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("hw-chromium-")}
    assert left <= profiles  # the run's fresh profile is removed


def test_console_errors_keep_errors_and_uncaught_exceptions_only():
    stderr = "\n".join(
        [
            '[1:2:INFO:CONSOLE(1)] "fine", source: file:///p.html (1)',
            '[1:2:ERROR:CONSOLE(3)] "bad", source: file:///p.html (3)',
            '[1:2:INFO:CONSOLE(4)] "Uncaught TypeError: x", source: file:///p.html (4)',
            "[1:2:WARNING:gpu] not a console line",
        ]
    )
    assert console_errors(stderr) == stderr.splitlines()[1:3]
    assert "--headless" in FLAGS
    assert "--disable-background-networking" in FLAGS

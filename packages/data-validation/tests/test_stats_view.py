"""The HTML view loads in a real headless Chromium without console errors and shows the table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import headwater.data_validation as dv
from headwater.io.chromium import chromium_available, run_chromium


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(3)
    n = 2000
    train = pa.table(
        {
            "fare": rng.gamma(2.0, 6.0, n),
            "hour": rng.integers(0, 24, n),
            "payment": rng.choice(["Cash", "Card", "Mobile"], n, p=[0.5, 0.4, 0.1]),
            "name<script>": rng.choice(["a", "b"], n),
        }
    )
    serving = pa.table(
        {
            "fare": rng.gamma(2.0, 9.0, n),
            "hour": rng.integers(0, 24, n),
            "payment": rng.choice(["Cash", "Card", "Mobile"], n, p=[0.2, 0.4, 0.4]),
            "tips": rng.random(n),
        }
    )
    return dv.generate_statistics(train), dv.generate_statistics(serving)


def test_page_is_self_contained_and_marks_differences(pair) -> None:
    view = dv.visualize_statistics(*pair, left_name="train", right_name="serving")
    page = view.html
    assert not re.search(r"(src|href)=\"?https?:", page)
    assert "<script>" not in page.split("<tbody>")[1].split("</tbody>")[0]
    assert "name&lt;script&gt;" in page
    rows = re.findall(r"<tr class=\"([^\"]*)\"><td class=\"name\"[^>]*>([^<]*)</td>", page)
    assert [name for _, name in rows] == ["fare", "hour", "name&lt;script&gt;", "payment", "tips"]
    assert dict((n, c) for c, n in rows) == {
        "fare": "",
        "hour": "",
        "name&lt;script&gt;": "only-left",
        "payment": "",
        "tips": "only-right",
    }
    fare_row = page.split('data-sort="fare"')[1].split("</tr>")[0]
    assert 'class="mean diff"' in fare_row
    hour_row = page.split('data-sort="hour"')[1].split("</tr>")[0]
    assert "diff" not in hour_row
    assert view._repr_html_().startswith("<iframe")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return run_chromium("--window-size=1400,900", *args)


@pytest.mark.skipif(not chromium_available(), reason="chromium is not installed")
def test_page_in_headless_chromium(pair, tmp_path: Path) -> None:
    page = tmp_path / "stats.html"
    dv.visualize_statistics(*pair, path=page, left_name="train", right_name="serving")
    # Filter and sort through the link's hash: the page's own script must run to apply them.
    dumped = _chromium("--dump-dom", f"{page.as_uri()}#filter=a&sort=name&order=desc")
    assert ":CONSOLE" not in dumped.stderr, dumped.stderr
    body = dumped.stdout.split("<tbody>")[1]
    names = re.findall(r"<tr class=\"([^\"]*)\"><td class=\"name\"[^>]*>([^<]*)</td>", body)
    visible = [name for classes, name in names if "hidden" not in classes]
    assert visible == ["payment", "name&lt;script&gt;", "fare"]
    assert '<span id="shown">3</span>' in dumped.stdout
    shot = tmp_path / "shot.png"
    taken = _chromium(f"--screenshot={shot}", page.as_uri())
    assert ":CONSOLE" not in taken.stderr, taken.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 900)
    assert len(data) > 20_000  # a table with charts, not a blank page

"""A missing optional dependency raises an error that names the pip extra to install."""

from __future__ import annotations

import pytest

from headwater.io import HeadwaterError, MissingExtraError
from headwater.io.extras import missing_extra


def test_a_missing_beam_names_the_extra() -> None:
    err = missing_extra(
        ModuleNotFoundError("No module named 'apache_beam.io'", name="apache_beam.io"),
        "apache_beam",
        "headwater-io[beam]",
        "ReadCsv",
    )
    assert isinstance(err, MissingExtraError)
    assert isinstance(err, HeadwaterError)
    assert isinstance(err, ModuleNotFoundError)
    assert str(err) == "ReadCsv needs apache_beam (not installed): pip install 'headwater-io[beam]'"
    assert err.name == "apache_beam.io"


def test_another_missing_module_is_left_as_it_is() -> None:
    original = ModuleNotFoundError("No module named 'fastavro'", name="fastavro")
    assert missing_extra(original, "apache_beam", "headwater-io[beam]", "ReadCsv") is original


def test_the_beam_transforms_load_when_beam_is_installed() -> None:
    pytest.importorskip("apache_beam")
    import headwater.io as hio

    assert hio.ReadCsv.__module__ == "headwater.io.beam_io"

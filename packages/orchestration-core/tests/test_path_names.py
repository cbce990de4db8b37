"""Names that become paths (split names, node ids, output keys) cannot leave their directory."""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pytest

from headwater.io import UnsafePathError, safe_path_component
from headwater.orchestration import (
    ComponentFailedError,
    Examples,
    ExampleStatistics,
    InputConfig,
    LocalDagRunner,
    OutputArtifact,
    OutputConfig,
    Parameter,
    Pipeline,
    component,
)

ESCAPE = "../../../../escaped"


@component
def WriteSplit(examples: OutputArtifact[Examples], split: Parameter[str] = "train") -> None:
    """Writes one row as split `split`."""
    examples.write_split(split, [pa.record_batch({"x": pa.array([1])})])


def test_a_split_name_cannot_write_outside_the_artifact(tmp_path):
    root = tmp_path / "a" / "b" / "c" / "root"
    with pytest.raises(ComponentFailedError) as caught:
        LocalDagRunner(quiet=True).run(Pipeline("p", str(root), [WriteSplit(split=ESCAPE)]))
    assert isinstance(caught.value.cause, UnsafePathError)
    assert str(caught.value.cause) == (
        "split name '../../../../escaped' would leave its directory or is not a valid file "
        "name: it holds '/'; expected letters, digits and punctuation other than '/' and '\\'"
    )
    escaped = [os.path.join(d, n) for d, dirs, _ in os.walk(tmp_path) for n in dirs]
    assert not [p for p in escaped if "escaped" in p]


def test_split_names_read_from_metadata_are_checked_too():
    stats = ExampleStatistics("/data/stats", properties={"split_names": '["train", ".."]'})
    assert stats.split_file("train") == "/data/stats/Split-train/FeatureStats.pb"
    with pytest.raises(UnsafePathError, match=re.escape("split name '..' cannot be a file")):
        stats.split_file("..")
    examples = Examples("/data/ex", properties={"split_names": '["train", "a/../../b"]'})
    with pytest.raises(UnsafePathError, match=re.escape("split name 'a/../../b' would leave")):
        examples.splits()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "\n"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafePathError):
        safe_path_component(name, what="split name")


@pytest.mark.parametrize("name", ["train", "Split-1", "eval.2024-01", "..a", "a..", "é"])
def test_safe_names_pass_unchanged(name):
    assert safe_path_component(name) == name


def test_example_gen_configs_refuse_unsafe_split_names():
    with pytest.raises(UnsafePathError, match=re.escape("InputConfig split name '../x'")):
        InputConfig(splits={"../x": "*.csv"})
    with pytest.raises(UnsafePathError, match=re.escape("OutputConfig split name '..'")):
        OutputConfig(splits={"train": 2, "..": 1})

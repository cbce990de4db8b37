"""End to end: a crafted analyzer cache imported as `analyzer_cache` is refused, never run."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest

import headwater.transform as tft
from headwater.orchestration import (
    ComponentFailedError,
    CsvExampleGen,
    Importer,
    LocalDagRunner,
    Pipeline,
    SchemaGen,
    StatisticsGen,
    Transform,
    TransformCache,
)

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUIN = os.path.join(REPO, "examples", "penguin")


class _TouchOnUnpickle:
    """Unpickling this runs `open(marker, "w")`: what a crafted cache would do, harmlessly."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pipeline(root, analyzer_cache_uri=None):
    gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"))
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    nodes = [gen, stats, schema]
    cache = None
    if analyzer_cache_uri is not None:
        importer = Importer(analyzer_cache_uri, TransformCache).with_id("import_cache")
        nodes.append(importer)
        cache = importer.outputs["result"]
    transform = Transform(
        examples=gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
        analyzer_cache=cache,
        materialize=False,
        disable_statistics=True,
    )
    return Pipeline("cache_artifact", root, [*nodes, transform])


def test_a_crafted_imported_analyzer_cache_fails_transform_without_running_code(tmp_path):
    root = str(tmp_path / "root")
    first = LocalDagRunner(quiet=True).run(_pipeline(root))
    good = first.output("Transform", "updated_analyzer_cache").uri
    crafted = tmp_path / "crafted"
    shutil.copytree(good, crafted)
    marker = tmp_path / "pwned"
    planted = []
    for dirpath, _, files in os.walk(crafted):
        for name in files:
            planted.append(os.path.join(dirpath, name))
            with open(planted[-1], "wb") as f:
                f.write(pickle.dumps(_TouchOnUnpickle(str(marker))))
    assert planted, "the first run cached nothing to replace"
    with pytest.raises(ComponentFailedError, match="'Transform' failed") as err:
        LocalDagRunner(quiet=True).run(_pipeline(root, str(crafted)))
    assert isinstance(err.value.cause, tft.AnalyzerCacheError)
    assert "never unpickled" in str(err.value.cause)
    assert not marker.exists()

"""The cache key holds the component's implementation: its format version and library versions.

An output written by an older implementation (a library that has since changed its artifact
format, as Transform's `transform_fn/` once did) is never reused after an upgrade; the same
implementation still answers from the cache. Real runs on a real SQLite ML Metadata store; the
"library" is a real distribution installed into a directory put on `sys.path`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from headwater.orchestration import (
    LocalDagRunner,
    MetadataStore,
    Model,
    OutputArtifact,
    Pipeline,
    WiringError,
    component,
)
from headwater.orchestration.components.transform import Transform
from headwater.orchestration.runner import IMPLEMENTATION_VERSION

PROBE = "headwater-cache-probe"


def _install_probe(site: Path, version: str) -> None:
    """(Re)install `headwater.cache_probe` at `version`: a module and its dist-info."""
    for old in site.glob("headwater_cache_probe-*.dist-info"):
        shutil.rmtree(old)
    package = site / "headwater" / "cache_probe"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "import importlib.metadata\n\n\n"
        "def artifact_format() -> str:\n"
        f"    return 'format-' + importlib.metadata.version({PROBE!r})\n"
    )
    info = site / f"headwater_cache_probe-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: {version}\n")
    importlib.invalidate_caches()


@pytest.fixture
def probe_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _install_probe(site, "1.0")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("headwater.cache_probe", None)
    importlib.invalidate_caches()


@component
def Produce(model: OutputArtifact[Model]) -> None:
    """Writes the artifact format of the installed `headwater-cache-probe` library."""
    from headwater import cache_probe

    with open(os.path.join(model.uri, "format.txt"), "w") as f:
        f.write(cache_probe.artifact_format())


def _versioned(format_version: int):
    """The same component (name, code, outputs) declared with `format_version`."""

    @component(format_version=format_version)
    def Versioned(model: OutputArtifact[Model]) -> None:
        with open(os.path.join(model.uri, "v.txt"), "w") as f:
            f.write(str(format_version))

    return Versioned


def _run(root: Path, node) -> tuple[str, object]:
    result = LocalDagRunner(quiet=True).run(Pipeline("versions", str(root), [node]))
    [only] = result.nodes
    return only.status, result.output(only.node_id, "model")


def test_an_upgraded_library_is_not_answered_from_an_older_output(probe_site, tmp_path):
    assert "headwater-cache-probe" in Produce.spec.implementation_distributions
    root = tmp_path / "root"
    status, first = _run(root, Produce())
    assert status == "COMPLETE"
    assert Path(first.uri, "format.txt").read_text() == "format-1.0"
    status, same = _run(root, Produce())
    assert (status, same.id) == ("CACHED", first.id)

    _install_probe(probe_site, "2.0")  # the upgrade changes what the library writes
    status, upgraded = _run(root, Produce())
    assert status == "COMPLETE"
    assert upgraded.id != first.id
    assert Path(upgraded.uri, "format.txt").read_text() == "format-2.0"
    status, again = _run(root, Produce())
    assert (status, again.id) == ("CACHED", upgraded.id)

    store = MetadataStore(Pipeline("versions", str(root), []).connection_config()).store
    recorded = [
        json.loads(e.custom_properties[IMPLEMENTATION_VERSION].string_value)["distributions"][PROBE]
        for e in store.get_executions()
    ]
    assert recorded == ["1.0", "1.0", "2.0", "2.0"]


def test_a_bumped_format_version_is_not_answered_from_an_older_output(tmp_path):
    root = tmp_path / "root"
    status, first = _run(root, _versioned(1)())
    assert status == "COMPLETE"
    status, same = _run(root, _versioned(1)())
    assert (status, same.id) == ("CACHED", first.id)
    status, bumped = _run(root, _versioned(2)())
    assert status == "COMPLETE"
    assert bumped.id != first.id
    assert Path(bumped.uri, "v.txt").read_text() == "2"
    status, again = _run(root, _versioned(2)())
    assert (status, again.id) == ("CACHED", bumped.id)
    store = MetadataStore(Pipeline("versions", str(root), []).connection_config()).store
    formats = [
        json.loads(e.custom_properties[IMPLEMENTATION_VERSION].string_value)["format_version"]
        for e in store.get_executions()
    ]
    assert formats == [1, 1, 2, 2]


def test_a_standard_component_is_keyed_by_the_libraries_it_calls():
    names = Transform.spec.implementation_distributions
    assert {"headwater-transform", "headwater-orchestration-core"} <= set(names)
    versions = Transform.spec.implementation_version()["distributions"]
    assert versions["headwater-transform"] == importlib.metadata.version("headwater-transform")


def test_a_bad_format_version_is_a_wiring_error():
    def Bad(model: OutputArtifact[Model]) -> None: ...

    with pytest.raises(WiringError, match="format_version must be a positive int, got 0"):
        component(format_version=0)(Bad)
    with pytest.raises(WiringError, match="distributions must be a list"):
        component(distributions="tensorflow")(Bad)

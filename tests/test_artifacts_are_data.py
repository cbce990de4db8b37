"""No library deserializes files with a code-running loader: artifacts are read as data.

A pickle (or dill, joblib, marshal, yaml.load, numpy's allow_pickle=True) runs code chosen by
whoever wrote the file; Headwater reads artifacts written by other runs, other stores and
imports, so none of its libraries may use one. Beam's own coders pickle in-process values and
user module files are imported on purpose (and registered with Beam's cloudpickle to travel by
value to workers, a dump, not a load): neither is a file read here.
"""

from __future__ import annotations

import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "packages")
CODE_RUNNING_LOADERS = re.compile(
    r"\bpickle\.(load|loads|Unpickler)\b|\bcloudpickle\.loads?\b|\bdill\b|\bjoblib\b|\bshelve\b"
    r"|\bmarshal\.loads?\b|\byaml\.(load|unsafe_load|full_load)\(|allow_pickle\s*=\s*True"
)


def _sources() -> list[str]:
    found = []
    for package in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, package, "src")
        for dirpath, _, files in os.walk(src):
            found.extend(os.path.join(dirpath, f) for f in files if f.endswith(".py"))
    return found


def test_no_library_source_uses_a_code_running_loader():
    sources = _sources()
    assert len(sources) > 50  # the scan really sees the libraries
    hits = []
    for path in sources:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if CODE_RUNNING_LOADERS.search(line):
                    hits.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert hits == []


def test_the_scan_recognizes_each_loader():
    for line in (
        "acc = pickle.load(f)",
        "x = pickle.loads(data)",
        "fn = cloudpickle.loads(blob)",
        "import dill",
        "joblib.load(path)",
        "marshal.loads(b)",
        "yaml.load(text)",
        "np.load(path, allow_pickle=True)",
    ):
        assert CODE_RUNNING_LOADERS.search(line), line
    for line in (
        "np.load(path, allow_pickle=False)",
        "yaml.safe_load(text)",
        "json.loads(s)",
        "cloudpickle.register_pickle_by_value(module)",
    ):
        assert not CODE_RUNNING_LOADERS.search(line), line

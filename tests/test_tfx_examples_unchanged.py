"""TFX 1.16's own penguin files run on Headwater with only their import lines changed.

The files come, at test time, from the tfx 1.16.0 wheel that `pip download` fetches from the
package registry (cached under `$HEADWATER_TEST_CACHE`, default `~/.cache/headwater-tests`;
never committed). The test rewrites their import lines (`from tfx import v1 as tfx` ->
`headwater.orchestration.tfx_v1`, `tensorflow_model_analysis` -> `tfx_v1.tfma`, ...),
asserts that no other line changed, and runs
TFX's `create_pipeline` from `penguin_pipeline_local.py` end to end: CsvExampleGen ->
StatisticsGen -> SchemaGen -> Transform -> Trainer (TFX's `penguin_utils_keras.py`, which
imports its sibling `penguin_utils_base.py`) -> Resolver -> Evaluator (TFMA's
`preprocessing_function_names`) -> Pusher under `Cond`, and BulkInferrer; and TFX's
native-Keras Chicago taxi pipeline (`taxi_pipeline_native_keras.py`, whose pre-v1 imports such
as `from tfx.proto import trainer_pb2` map onto the same namespace) with its module file and
data. Skipped, with the reason, when the registry cannot be reached.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parent.parent
TFX_VERSION = "1.16.0"
PENGUIN = "tfx/examples/penguin"
FILES = ("penguin_pipeline_local.py", "penguin_utils_keras.py", "penguin_utils_base.py")

IMPORT_REWRITES = {
    "from tfx import v1 as tfx": "from headwater.orchestration import tfx_v1 as tfx",
    "import tensorflow_transform as tft": "import headwater.transform as tft",
    "from tfx_bsl.public import tfxio": "from headwater.orchestration import training as tfxio",
    "from tfx.examples.penguin import penguin_utils_base as base": (
        "import penguin_utils_base as base"
    ),
    "import tensorflow_model_analysis as tfma": "from headwater.orchestration.tfx_v1 import tfma",
    "from tfx.utils import proto_utils": "from headwater.orchestration.tfx_v1 import proto_utils",
}


TAXI = "tfx/examples/chicago_taxi_pipeline"
TAXI_FILES = ("taxi_pipeline_native_keras.py", "taxi_utils_native_keras.py")
_COMPAT = "headwater.orchestration.tfx_v1"
TAXI_IMPORT_REWRITES = {
    **{
        f"from tfx.components import {name}": f"from {_COMPAT}.components import {name}"
        for name in (
            "CsvExampleGen",
            "Evaluator",
            "ExampleValidator",
            "Pusher",
            "SchemaGen",
            "StatisticsGen",
            "Trainer",
            "Transform",
        )
    },
    "import tensorflow_model_analysis as tfma": f"from {_COMPAT} import tfma",
    "from tfx.dsl.components.common import resolver": f"from {_COMPAT} import dsl as resolver",
    "from tfx.dsl.experimental import latest_blessed_model_resolver": (
        f"from {_COMPAT}.dsl import experimental as latest_blessed_model_resolver"
    ),
    "from tfx.orchestration import metadata": f"from {_COMPAT}.orchestration import metadata",
    "from tfx.orchestration import pipeline": f"from {_COMPAT} import dsl as pipeline",
    "from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner": (
        "from headwater.orchestration import LocalDagRunner as BeamDagRunner"
    ),
    "from tfx.proto import pusher_pb2": f"from {_COMPAT} import proto as pusher_pb2",
    "from tfx.proto import trainer_pb2": f"from {_COMPAT} import proto as trainer_pb2",
    "from tfx.types import Channel": f"from {_COMPAT}.dsl import Channel",
    "from tfx.types.standard_artifacts import Model": (
        f"from {_COMPAT}.types.standard_artifacts import Model"
    ),
    "from tfx.types.standard_artifacts import ModelBlessing": (
        f"from {_COMPAT}.types.standard_artifacts import ModelBlessing"
    ),
    "import tensorflow_transform as tft": "import headwater.transform as tft",
    "from tfx.components.trainer.fn_args_utils import DataAccessor": (
        f"from {_COMPAT}.components import DataAccessor"
    ),
    "from tfx.components.trainer.fn_args_utils import FnArgs": (
        f"from {_COMPAT}.components import FnArgs"
    ),
    "from tfx_bsl.tfxio import dataset_options": (
        "from headwater.orchestration import training as dataset_options"
    ),
}


def _cache_dir() -> Path:
    default = Path.home() / ".cache" / "headwater-tests"
    return Path(os.environ.get("HEADWATER_TEST_CACHE", default))


def _pip() -> list[str] | None:
    """A pip command line: this interpreter's pip, else the one on PATH (None if neither)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    return [found] if found else None


def _download_wheel() -> Path:
    """The tfx wheel, fetched by `pip download` (PyPI or the configured index) into the cache.

    TFX 1.16 supports Python 3.9-3.10 only, so pip is asked for the pure-Python wheel as for
    3.10; the files read from it are plain Python.
    """
    cache = _cache_dir() / f"tfx-{TFX_VERSION}"
    found = sorted(cache.glob(f"tfx-{TFX_VERSION}-*.whl"))
    if found:
        return found[0]
    pip = _pip()
    if pip is None:
        pytest.skip("no pip to download the tfx wheel with")
    done = subprocess.run(
        [
            *pip,
            "download",
            f"tfx=={TFX_VERSION}",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.10",
            "--dest",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = sorted(cache.glob(f"tfx-{TFX_VERSION}-*.whl"))
    if done.returncode != 0 or not found:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"the package registry cannot be reached for tfx=={TFX_VERSION}: {reason}")
    return found[0]


def _rewrite_imports(text: str, rewrites: dict[str, str] = IMPORT_REWRITES) -> str:
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        stripped = line.rstrip("\n")
        out.append(rewrites[stripped] + "\n" if stripped in rewrites else line)
    return "".join(out)


def _changed_non_import_lines(before: str, after: str) -> list[str]:
    """Lines of `before` that differ in `after` and are not import statements (diffed)."""
    changed = [
        line[2:]
        for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line[:2] in ("+ ", "- ")
    ]
    return [line for line in changed if not line.startswith(("import ", "from "))]


@pytest.fixture(scope="module")
def tfx_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TFX's penguin files, import lines rewritten, in a folder of their own."""
    wheel = _download_wheel()
    folder = tmp_path_factory.mktemp("tfx_penguin")
    with zipfile.ZipFile(wheel) as zf:
        for name in FILES:
            original = zf.read(f"{PENGUIN}/{name}").decode()
            rewritten = _rewrite_imports(original)
            assert _changed_non_import_lines(original, rewritten) == [], name
            (folder / name).write_text(rewritten)
    return folder


def test_only_import_lines_change(tfx_files: Path) -> None:
    changed = {
        name: sum(
            1
            for line in (tfx_files / name).read_text().splitlines()
            if line.startswith(("from headwater", "import headwater", "import penguin_utils"))
        )
        for name in FILES
    }
    # penguin_pipeline_local imports tfx, tfma and proto_utils; the module files tfx, tft,
    # tfxio and base.
    assert changed == {
        "penguin_pipeline_local.py": 3,
        "penguin_utils_keras.py": 3,
        "penguin_utils_base.py": 3,
    }


def test_catalog_lists_exactly_tfx_v1_public_names() -> None:
    """Every `__all__` of TFX 1.16's tfx/v1 modules is the catalog's list for that module."""
    from headwater.orchestration.tfx_v1._catalog import CATALOG

    with zipfile.ZipFile(_download_wheel()) as zf:
        for path in sorted(
            n for n in zf.namelist() if n.startswith("tfx/v1/") and n.endswith(".py")
        ):
            tree = ast.parse(zf.read(path))
            names = [
                ast.literal_eval(node.value)
                for node in tree.body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            ]
            module = path[len("tfx/v1/") : -len(".py")].removesuffix("/__init__")
            key = "" if module == "__init__" else module.replace("/", ".")
            if names:  # plus public submodules not in __all__ (ai_platform.experimental)
                submodules = {n for n in CATALOG[key] if f"{key}.{n}" in CATALOG}
                assert sorted(CATALOG[key]) == sorted(set(names[0]) | submodules), key
            else:  # tfx/v1/__init__.py: its submodules
                assert key == ""
                assert set(CATALOG[""]) == {
                    "components",
                    "dsl",
                    "extensions",
                    "orchestration",
                    "proto",
                    "testing",
                    "types",
                    "utils",
                }


def test_tfx_penguin_pipeline_runs_end_to_end(tfx_files: Path, tmp_path: Path) -> None:
    """TFX's `create_pipeline` with the arguments of TFX's own local e2e test, run locally."""
    import tensorflow as tf

    spec = importlib.util.spec_from_file_location(
        "tfx_penguin_pipeline_local", tfx_files / "penguin_pipeline_local.py"
    )
    assert spec is not None
    assert spec.loader is not None
    penguin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(penguin)
    from headwater.orchestration import tfx_v1 as tfx

    labelled = tmp_path / "data" / "labelled"
    unlabelled = tmp_path / "data" / "unlabelled"
    labelled.mkdir(parents=True)
    unlabelled.mkdir()
    csv = (REPO / "examples" / "penguin" / "data" / "penguins_processed.csv").read_text()
    (labelled / "penguins.csv").write_text(csv)
    rows = csv.splitlines()
    (unlabelled / "penguins.csv").write_text(  # TFX's unlabelled data: no species column
        "".join(line.split(",", 1)[1] + "\n" for line in rows)
    )
    serving = tmp_path / "serving_model"
    pipeline = penguin.create_pipeline(
        pipeline_name="penguin_local_keras",
        pipeline_root=str(tmp_path / "tfx" / "pipelines"),
        data_root=str(tmp_path / "data"),
        module_file=str(tfx_files / "penguin_utils_keras.py"),
        accuracy_threshold=0.6,
        serving_model_dir=str(serving),
        metadata_path=str(tmp_path / "tfx" / "metadata.db"),
        user_provided_schema_path=None,
        enable_tuning=False,  # TFX's tuner_fn runs 6 trials (48 s more); the Tuner has its tests
        enable_bulk_inferrer=True,
        enable_example_diff=False,
        examplegen_input_config=None,
        examplegen_range_config_date=None,
        resolver_range_config=None,
        beam_pipeline_args=[],
        enable_transform_input_cache=False,
    )
    result = tfx.orchestration.LocalDagRunner(quiet=True).run(pipeline)

    assert [(n.node_id, n.status) for n in result.nodes] == [
        ("CsvExampleGen", "COMPLETE"),
        ("StatisticsGen", "COMPLETE"),
        ("SchemaGen", "COMPLETE"),
        ("Transform", "COMPLETE"),
        ("Trainer", "COMPLETE"),
        ("latest_blessed_model_resolver", "COMPLETE"),
        ("EvaluatorPreprocessing", "COMPLETE"),
        ("Evaluator", "COMPLETE"),
        ("Pusher", "COMPLETE"),
        ("CsvExampleGen_Unlabelled", "COMPLETE"),
        ("BulkInferrer", "COMPLETE"),
    ]
    blessing = result.node("Evaluator").outputs["blessing"][0]
    assert blessing.custom_properties["blessed"] == 1
    pushed = result.node("Pusher").outputs["pushed_model"][0]
    assert pushed.custom_properties["pushed"] == 1
    inference = result.node("BulkInferrer").outputs["inference_result"][0]
    assert inference.custom_properties["num_examples"] == len(rows) - 1
    (version,) = os.listdir(serving)
    model = tf.saved_model.load(str(serving / version))
    assert sorted(model.signatures) == ["serving_default", "transform_features"]


@pytest.fixture(scope="module")
def taxi_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TFX's native-Keras taxi pipeline and module, import lines rewritten, and its data."""
    wheel = _download_wheel()
    folder = tmp_path_factory.mktemp("tfx_taxi")
    with zipfile.ZipFile(wheel) as zf:
        for name in TAXI_FILES:
            original = zf.read(f"{TAXI}/{name}").decode()
            rewritten = _rewrite_imports(original, TAXI_IMPORT_REWRITES)
            assert _changed_non_import_lines(original, rewritten) == [], name
            assert "from tfx" not in rewritten, name
            assert "import tensorflow_" not in rewritten, name
            (folder / name).write_text(rewritten)
        (folder / "data").mkdir()
        (folder / "data" / "data.csv").write_bytes(zf.read(f"{TAXI}/data/simple/data.csv"))
    return folder


def test_tfx_taxi_pipeline_runs_end_to_end(taxi_files: Path, tmp_path: Path) -> None:
    """TFX's `_create_pipeline` from `taxi_pipeline_native_keras.py`, on its simple data."""
    spec = importlib.util.spec_from_file_location(
        "tfx_taxi_pipeline_native_keras", taxi_files / "taxi_pipeline_native_keras.py"
    )
    assert spec is not None
    assert spec.loader is not None
    taxi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(taxi)
    from headwater.orchestration import tfx_v1 as tfx

    pipeline = taxi._create_pipeline(
        pipeline_name="chicago_taxi_native_keras",
        pipeline_root=str(tmp_path / "tfx" / "pipelines"),
        data_root=str(taxi_files / "data"),
        module_file=str(taxi_files / "taxi_utils_native_keras.py"),
        serving_model_dir=str(tmp_path / "serving_model"),
        metadata_path=str(tmp_path / "tfx" / "metadata.db"),
        beam_pipeline_args=[],
    )
    result = tfx.orchestration.LocalDagRunner(quiet=True).run(pipeline)

    assert [(n.node_id, n.status) for n in result.nodes] == [
        ("CsvExampleGen", "COMPLETE"),
        ("StatisticsGen", "COMPLETE"),
        ("SchemaGen", "COMPLETE"),
        ("ExampleValidator", "COMPLETE"),
        ("Transform", "COMPLETE"),
        ("Trainer", "COMPLETE"),
        ("latest_blessed_model_resolver", "COMPLETE"),
        ("EvaluatorPreprocessing", "COMPLETE"),
        ("Evaluator", "COMPLETE"),
        ("Pusher", "COMPLETE"),
    ]
    assert result.node("Evaluator").outputs["blessing"][0].custom_properties["blessed"] == 1
    assert result.node("Pusher").outputs["pushed_model"][0].custom_properties["pushed"] == 1

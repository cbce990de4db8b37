"""User code as TFX packages it: the module file's siblings import, errors blame their lines."""

from __future__ import annotations

import pytest

from headwater.orchestration import UserCodeError
from headwater.orchestration.training.user_code import call_user_fn, load_user_fn


def test_a_module_file_imports_its_sibling_modules(tmp_path):
    (tmp_path / "hw_sibling_base.py").write_text("SCALE = 3\n")
    module = tmp_path / "hw_sibling_main.py"
    module.write_text(
        "import hw_sibling_base as base\n\ndef run_fn(x):\n    return x * base.SCALE\n"
    )
    assert load_user_fn(str(module), "run_fn")(2) == 6
    (tmp_path / "hw_sibling_base.py").write_text("SCALE = 5\n")  # edited: loaded afresh
    assert load_user_fn(str(module), "run_fn")(2) == 10


def test_an_error_in_a_sibling_module_points_at_the_siblings_line(tmp_path):
    base = tmp_path / "hw_sibling_err_base.py"
    base.write_text("def parse(x):\n    return int(x)\n")
    module = tmp_path / "hw_sibling_err_main.py"
    module.write_text(
        "import hw_sibling_err_base as base\n\ndef run_fn(x):\n    return base.parse(x)\n"
    )
    fn = load_user_fn(str(module), "run_fn")
    with pytest.raises(UserCodeError) as info:
        call_user_fn(fn, "abc")
    lines = str(info.value).splitlines()
    assert lines[0] == (
        f"run_fn raised at {base}:2: ValueError: invalid literal for int() with base 10: 'abc'"
    )
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    assert frames == [
        f'File "{module}", line 4, in run_fn',
        f'File "{base}", line 2, in parse',
    ]

    base.write_text("X = 1 / 0\n")
    with pytest.raises(UserCodeError) as info:
        load_user_fn(str(module), "run_fn")
    assert str(info.value).splitlines()[0] == (
        f"loading module_file {module} at {base}:1: ZeroDivisionError: division by zero"
    )


def test_editing_a_sibling_module_changes_the_module_files_fingerprint(tmp_path):
    from headwater.orchestration.parameters import code_fingerprints

    (tmp_path / "main.py").write_text("import base\n")
    (tmp_path / "base.py").write_text("SCALE = 3\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    before = code_fingerprints(str(tmp_path / "main.py"))
    (tmp_path / "notes.txt").write_text("still not code\n")
    assert code_fingerprints(str(tmp_path / "main.py")) == before
    (tmp_path / "base.py").write_text("SCALE = 5\n")
    assert code_fingerprints(str(tmp_path / "main.py")) != before


def test_a_function_from_a_sibling_pickles_by_value(tmp_path):
    import pickle
    import subprocess
    import sys

    from apache_beam.internal.cloudpickle import cloudpickle

    (tmp_path / "hw_pickle_base.py").write_text("def fn(x):\n    return x + 1\n")
    module = tmp_path / "hw_pickle_main.py"
    module.write_text("import hw_pickle_base as base\n\nfn = base.fn\n")
    data = cloudpickle.dumps(load_user_fn(str(module), "fn"))
    # A fresh interpreter without the folder on its path (as a Beam worker) still runs it.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read())(1))",
        ],
        input=data,
        capture_output=True,
        check=True,
        cwd="/",
    )
    assert done.stdout.strip() == b"2"
    assert pickle.loads(data)(2) == 3

"""FnArgs laid out from artifacts as TFX does; user module files loaded with clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from headwater.io import InputError
from headwater.orchestration import EvalArgs, TrainArgs, UserCodeError
from headwater.orchestration.training.executor import fn_args_for, read_hyperparameters
from headwater.orchestration.training.user_code import call_user_fn, load_user_fn

HP = {
    "space": [{"class_name": "Int", "config": {"name": "num_layers"}}],
    "values": {"num_layers": 2},
}


def test_fn_args_point_at_splits_schema_graph_hyperparameters_and_base_model(
    tmp_path: Path,
) -> None:
    (tmp_path / "hp").mkdir()
    (tmp_path / "hp" / "best_hyperparameters.txt").write_text(json.dumps(HP))
    fn_args = fn_args_for(
        examples_uri="/ex",
        split_names=["train", "eval", "test"],
        train_args=TrainArgs(splits=("train", "test"), num_steps=7),
        eval_args=EvalArgs(num_steps=3),
        schema_file="/schema/schema.pbtxt",
        transform_graph_uri="/graph",
        hyperparameters_uri=str(tmp_path / "hp"),
        base_model_uri="/models/4",
        custom_config={"k": 1},
    )
    assert fn_args.train_files == ["/ex/Split-train/*", "/ex/Split-test/*"]
    assert fn_args.eval_files == ["/ex/Split-eval/*"]
    assert (fn_args.train_steps, fn_args.eval_steps) == (7, 3)
    assert fn_args.schema_path == fn_args.schema_file == "/schema/schema.pbtxt"
    assert fn_args.transform_graph_path == fn_args.transform_output == "/graph"
    assert fn_args.base_model == "/models/4/Format-Serving"
    assert fn_args.hyperparameters == HP
    assert fn_args.custom_config == {"k": 1}
    assert fn_args.data_accessor is not None


def test_a_split_the_examples_lack_is_named() -> None:
    with pytest.raises(InputError, match=r"no split 'validation' \(splits: \['train', 'eval'\]\)"):
        fn_args_for(
            examples_uri="/ex",
            split_names=["train", "eval"],
            train_args=TrainArgs(),
            eval_args=EvalArgs(splits=("validation",)),
        )


def test_hyperparameters_that_are_not_json_are_named(tmp_path: Path) -> None:
    (tmp_path / "best_hyperparameters.txt").write_text("learning_rate=0.1")
    with pytest.raises(InputError, match=r"best_hyperparameters\.txt: not JSON"):
        read_hyperparameters(str(tmp_path))


def test_args_are_validated() -> None:
    with pytest.raises(ValueError, match=r"TrainArgs\.num_steps must be None or >= 1, got 0"):
        TrainArgs(num_steps=0)
    with pytest.raises(ValueError, match=r"EvalArgs\.splits must be a non-empty tuple"):
        EvalArgs(splits="eval")  # type: ignore[arg-type]


def test_a_module_without_the_function_is_named(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def train(fn_args):\n    pass\n")
    with pytest.raises(UserCodeError, match=f"{module} defines no function 'run_fn'"):
        load_user_fn(str(module), "run_fn")


def test_a_module_that_fails_to_load_points_at_its_line(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\nVALUE = 1 / 0\n")
    with pytest.raises(UserCodeError) as info:
        load_user_fn(str(module), "run_fn")
    assert str(info.value).startswith(
        f"loading module_file {module} at {module}:3: ZeroDivisionError"
    )


def test_a_syntax_error_points_at_its_line(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def run_fn(fn_args):\n    return (\n")
    with pytest.raises(UserCodeError, match=f"at {module}:2: SyntaxError"):
        load_user_fn(str(module), "run_fn")


def test_a_raising_function_leads_with_the_users_frames(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def helper(x):\n    raise KeyError(x)\n\ndef run_fn(fn_args):\n    helper('label')\n"
    )
    fn = load_user_fn(str(module), "run_fn")
    with pytest.raises(UserCodeError) as info:
        call_user_fn(fn, None)
    lines = str(info.value).splitlines()
    assert lines[0] == f"run_fn raised at {module}:2: KeyError: 'label'"
    assert f'File "{module}", line 5, in run_fn' in lines[2]
    assert f'File "{module}", line 2, in helper' in lines[4]
    assert isinstance(info.value.__cause__, KeyError)


def test_a_dotted_path_loads_the_function() -> None:
    fn = load_user_fn(None, "run_fn", "os.path.join")
    assert fn is os.path.join

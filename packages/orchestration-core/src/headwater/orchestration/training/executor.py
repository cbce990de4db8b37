"""What the Trainer and Tuner components do, given their artifacts' directories.

`fn_args_for` lays out TFX's `FnArgs` from the input artifacts (split file patterns,
schema, transform graph, hyperparameters, base model); `train` runs the user's `run_fn`
and checks it saved a model; `tune` runs `tuner_fn`'s search and writes the best
hyperparameters and the trials in TFX's files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from headwater.io import InputError, safe_path_component
from headwater.orchestration.training.args import EvalArgs, TrainArgs
from headwater.orchestration.training.data_accessor import DataAccessor
from headwater.orchestration.training.fn_args import FnArgs
from headwater.orchestration.training.tuning import (
    TuneArgs,
    UserFn,
    best_hyperparameters_config,
    search,
    trial_summaries,
)
from headwater.orchestration.training.user_code import UserCodeError, call_user_fn, load_user_fn

logger = logging.getLogger(__name__)

SERVING_MODEL_DIR = "Format-Serving"
"""Where the serving SavedModel lives in a Model artifact (TFX's layout)."""
EVAL_MODEL_DIR = "Format-TFMA"
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"
TUNER_RESULTS_FILE = "tuner_results.json"


def fn_args_for(
    *,
    examples_uri: str,
    split_names: list[str],
    train_args: TrainArgs,
    eval_args: EvalArgs,
    schema_file: str | None = None,
    transform_graph_uri: str | None = None,
    hyperparameters_uri: str | None = None,
    base_model_uri: str | None = None,
    custom_config: Mapping[str, Any] | None = None,
    working_dir: str | None = None,
) -> FnArgs:
    """FnArgs as TFX fills them: `<examples>/Split-<name>/*` patterns and artifact paths."""
    for split in (*train_args.splits, *eval_args.splits):
        safe_path_component(split, what="TrainArgs/EvalArgs split name")
        if split_names and split not in split_names:
            raise InputError(
                f"Examples at {examples_uri} have no split {split!r} (splits: {split_names}); "
                "set TrainArgs/EvalArgs splits"
            )
    return FnArgs(
        working_dir=working_dir,
        train_files=[os.path.join(examples_uri, f"Split-{s}", "*") for s in train_args.splits],
        eval_files=[os.path.join(examples_uri, f"Split-{s}", "*") for s in eval_args.splits],
        train_steps=train_args.num_steps,
        eval_steps=eval_args.num_steps,
        schema_path=schema_file,
        schema_file=schema_file,
        transform_graph_path=transform_graph_uri,
        transform_output=transform_graph_uri,
        data_accessor=DataAccessor(),
        base_model=(
            os.path.join(base_model_uri, SERVING_MODEL_DIR) if base_model_uri is not None else None
        ),
        hyperparameters=(
            read_hyperparameters(hyperparameters_uri) if hyperparameters_uri is not None else None
        ),
        custom_config=dict(custom_config or {}),
    )


def read_hyperparameters(uri: str) -> dict[str, Any]:
    """The keras-tuner config in `<uri>/best_hyperparameters.txt` (the one file there, as TFX)."""
    path = os.path.join(uri, BEST_HYPERPARAMETERS_FILE)
    if not os.path.exists(path):
        found = (
            [f for f in sorted(os.listdir(uri)) if not f.startswith(".")]
            if os.path.isdir(uri)
            else []
        )
        if len(found) != 1:
            raise FileNotFoundError(f"HyperParameters at {uri}: expected {path}, found {found}")
        path = os.path.join(uri, found[0])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not JSON ({exc}); expected HyperParameters.get_config()"
        ) from exc
    if not isinstance(config, dict):
        raise InputError(
            f"{path}: expected a JSON object (HyperParameters.get_config()), got {text[:80]!r}"
        )
    return config


def train(
    fn_args: FnArgs,
    *,
    model_uri: str,
    model_run_uri: str,
    module_file: str | None,
    run_fn: str | None,
) -> str:
    """Run the user's `run_fn(fn_args)`; returns the serving model directory it saved."""
    fn = load_user_fn(module_file, "run_fn", run_fn)
    fn_args.serving_model_dir = os.path.join(model_uri, SERVING_MODEL_DIR)
    fn_args.eval_model_dir = os.path.join(model_uri, EVAL_MODEL_DIR)
    fn_args.model_run_dir = model_run_uri
    with tempfile.TemporaryDirectory(prefix="headwater-trainer-") as working_dir:
        fn_args.working_dir = working_dir
        call_user_fn(fn, fn_args)
    if not os.path.isdir(fn_args.serving_model_dir) or not os.listdir(fn_args.serving_model_dir):
        raise UserCodeError(
            f"run_fn returned without saving a model to fn_args.serving_model_dir "
            f"({fn_args.serving_model_dir}); save one there, e.g. with export_serving_model"
        )
    logger.info("model saved to %s", fn_args.serving_model_dir)
    return fn_args.serving_model_dir


def tune(
    fn_args: FnArgs,
    *,
    best_hyperparameters_uri: str,
    tuner_results_uri: str,
    module_file: str | None,
    tuner_fn: str | None,
    tune_args: TuneArgs,
) -> dict[str, Any]:
    """Run `tuner_fn`'s search; write best_hyperparameters.txt and the trials. Returns the best."""
    fn = load_user_fn(module_file, "tuner_fn", tuner_fn)
    user_fn = UserFn(
        module_file=os.path.abspath(module_file) if module_file else None, fn_path=tuner_fn
    )
    with tempfile.TemporaryDirectory(prefix="headwater-tuner-") as working_dir:
        fn_args.working_dir = working_dir
        found = search(fn, fn_args, tune_args, user_fn)
        tuner = found.tuner
        best = best_hyperparameters_config(tuner)
        trials = trial_summaries(tuner, found.trial_workers)
        os.makedirs(tuner_results_uri, exist_ok=True)
        for trial in tuner.oracle.trials.values():
            trial_file = os.path.join(tuner.project_dir, f"trial_{trial.trial_id}", "trial.json")
            if os.path.exists(trial_file):
                shutil.copy(
                    trial_file, os.path.join(tuner_results_uri, f"trial_{trial.trial_id}.json")
                )
    os.makedirs(best_hyperparameters_uri, exist_ok=True)
    with open(
        os.path.join(best_hyperparameters_uri, BEST_HYPERPARAMETERS_FILE), "w", encoding="utf-8"
    ) as f:
        json.dump(best, f)
    with open(os.path.join(tuner_results_uri, TUNER_RESULTS_FILE), "w", encoding="utf-8") as f:
        json.dump(trials, f, indent=1)
    logger.info("best hyperparameters: %s", best.get("values"))
    return best

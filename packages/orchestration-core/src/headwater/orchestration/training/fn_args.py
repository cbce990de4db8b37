"""What a user's `run_fn` / `tuner_fn` receives: TFX's `FnArgs`, under TFX's names.

A TFX module file reads `fn_args.train_files`, `fn_args.serving_model_dir`,
`fn_args.data_accessor` and so on; the Trainer and Tuner components fill the same
fields, so such a module runs here after changing its imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from headwater.orchestration.training.data_accessor import DataAccessor


@dataclass(kw_only=True)
class FnArgs:
    """Arguments of a user's `run_fn(fn_args)` / `tuner_fn(fn_args)` (TFX's `FnArgs`)."""

    working_dir: str | None = None
    """A scratch directory for this run (the tuner's trial directory)."""
    train_files: list[str] = field(default_factory=list)
    """File patterns of the training split(s), e.g. `[".../Split-train/*"]`."""
    eval_files: list[str] = field(default_factory=list)
    """File patterns of the evaluation split(s)."""
    train_steps: int | None = None
    eval_steps: int | None = None
    schema_path: str | None = None
    """Path of `schema.pbtxt` of the input data, when a Schema was given."""
    schema_file: str | None = None
    """Same as `schema_path` (TFX keeps both names)."""
    transform_graph_path: str | None = None
    """Directory of the TransformGraph artifact, when one was given."""
    transform_output: str | None = None
    """Same as `transform_graph_path` (TFX keeps both names)."""
    data_accessor: DataAccessor | None = None
    """Reads the example files into a `tf.data.Dataset` (`tf_dataset_factory`)."""
    serving_model_dir: str | None = None
    """Where `run_fn` saves the serving SavedModel (`<Model uri>/Format-Serving`)."""
    eval_model_dir: str | None = None
    """Where `run_fn` may save a model for evaluation (`<Model uri>/Format-TFMA`)."""
    model_run_dir: str | None = None
    """Where `run_fn` writes TensorBoard logs (the ModelRun artifact)."""
    base_model: str | None = None
    """SavedModel directory of a previous Model to warm-start from, when given."""
    hyperparameters: dict[str, Any] | None = None
    """keras-tuner `HyperParameters.get_config()` of the HyperParameters input, when given."""
    custom_config: dict[str, Any] = field(default_factory=dict)
    """The component's `custom_config` parameter, passed through untouched."""


class TunerFnResult(NamedTuple):
    """What `tuner_fn` returns (TFX's `TunerFnResult`): the tuner and `search()` arguments."""

    tuner: Any
    """A keras-tuner tuner (`keras_tuner.RandomSearch`, `BayesianOptimization`, ...)."""
    fit_kwargs: dict[str, Any]
    """Keyword arguments for `tuner.search(**fit_kwargs)`: x, validation_data, steps..."""

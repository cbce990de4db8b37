"""What a Trainer `run_fn` / Tuner `tuner_fn` module uses, under the names TFX users know.

Example (a TFX module file ported by changing its imports):
    from headwater.orchestration import DataAccessor, FnArgs, TensorFlowDatasetOptions

    def run_fn(fn_args: FnArgs) -> None:
        train = fn_args.data_accessor.tf_dataset_factory(
            fn_args.train_files, TensorFlowDatasetOptions(batch_size=20, label_key="species"))
        ...
        export_serving_model(model, fn_args.serving_model_dir)

Nothing here imports TensorFlow until a dataset is built or a model exported.
"""

from headwater.orchestration.training.args import EvalArgs, TrainArgs
from headwater.orchestration.training.data_accessor import (
    AUTOTUNE,
    DataAccessor,
    TensorFlowDatasetOptions,
)
from headwater.orchestration.training.export import (
    SERVING_DEFAULT,
    SERVING_RAW,
    export_serving_model,
    make_serving_signatures,
)
from headwater.orchestration.training.feature_spec import load_schema, schema_as_feature_spec
from headwater.orchestration.training.fn_args import FnArgs, TunerFnResult
from headwater.orchestration.training.strategy import distribution_strategy
from headwater.orchestration.training.tuning import TuneArgs
from headwater.orchestration.training.user_code import UserCodeError
from headwater.orchestration.training.warm_start import warm_start

__all__ = [
    "AUTOTUNE",
    "SERVING_DEFAULT",
    "SERVING_RAW",
    "DataAccessor",
    "EvalArgs",
    "FnArgs",
    "TensorFlowDatasetOptions",
    "TrainArgs",
    "TuneArgs",
    "TunerFnResult",
    "UserCodeError",
    "distribution_strategy",
    "export_serving_model",
    "load_schema",
    "make_serving_signatures",
    "schema_as_feature_spec",
    "warm_start",
]

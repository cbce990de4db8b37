"""The penguin pipeline: TFX's penguin example on Headwater.

    uv run headwater pipeline run examples/penguin/pipeline.py

Runs on SQLite ML Metadata under the pipeline root (`$HEADWATER_HOME/pipelines/penguin`,
default `~/.headwater`) and Beam's DirectRunner; a blessed model is pushed to
`<root>/serving_model/<version>/` once it is also infra-blessed (loaded by a real
headwater-model-server and answering canary requests). Each library adds its component here
when it works.
"""

import os

import headwater.infra_validator as iv
import headwater.model_analysis as ma
from headwater.orchestration import (
    BulkInferrer,
    Channel,
    CsvExampleGen,
    EvalArgs,
    Evaluator,
    ExampleValidator,
    InfraValidator,
    LatestBlessedModelStrategy,
    LocalDagRunner,
    Model,
    ModelBlessing,
    Pipeline,
    Pusher,
    Resolver,
    SchemaGen,
    StatisticsGen,
    TrainArgs,
    Trainer,
    Transform,
    default_pipeline_root,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# TFX penguin's evaluation: accuracy >= 0.6, and no worse than the baseline when there is one.
EVAL_CONFIG = ma.EvalConfig(
    model_specs=(ma.ModelSpec(label_key="species"),),
    slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("species",))),
    metrics_specs=(
        ma.MetricsSpec(
            metrics=(
                ma.MetricConfig(class_name="ExampleCount"),
                ma.MetricConfig(
                    class_name="SparseCategoricalAccuracy",
                    threshold=ma.MetricThreshold(
                        value_threshold=ma.GenericValueThreshold(lower_bound=0.6),
                        change_threshold=ma.GenericChangeThreshold(
                            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10
                        ),
                    ),
                ),
                ma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ),
        ),
    ),
)

# The server runs in the pipeline's process, where TensorFlow is loaded already: ~1 s instead of
# ~10-20 s for a fresh interpreter that imports TensorFlow (the library's default, isolated).
SERVING_SPEC = iv.ServingSpec(headwater_model_server=iv.HeadwaterModelServer(in_process=True))
# TFX's RequestSpec: 10 eval examples to each serving signature, over gRPC.
REQUEST_SPEC = iv.RequestSpec(
    tensorflow_serving=iv.TensorFlowServingRequestSpec(
        signature_names=("serving_default", "serving_raw")
    ),
    split_name="eval",
    num_examples=10,
)


def create_pipeline(root: str | None = None, *, enable_cache: bool = True) -> Pipeline:
    """The penguin pipeline over the bundled CSV."""
    example_gen = CsvExampleGen(input_base=DATA)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        fail_on_error=True,  # stop the run on ERROR anomalies
    )
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        module_file=os.path.join(HERE, "penguin_preprocessing.py"),
    )
    trainer = Trainer(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        module_file=os.path.join(HERE, "penguin_keras.py"),
        train_args=TrainArgs(num_steps=100),
        eval_args=EvalArgs(num_steps=5),
    )
    # The baseline: the newest blessed model of earlier runs (none on the first run).
    model_resolver = Resolver(
        LatestBlessedModelStrategy,
        model=Channel(type=Model),
        model_blessing=Channel(type=ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=EVAL_CONFIG,
    )
    # Canary: serve the model on a real headwater-model-server and send it eval examples, as
    # serialized tf.Examples (serving_default) and as raw features (serving_raw).
    infra_validator = InfraValidator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        serving_spec=SERVING_SPEC,
        request_spec=REQUEST_SPEC,
    )
    # Only a model blessed by both reaches the serving directory (TF Serving's
    # base/<version>/ layout).
    root = root or default_pipeline_root("penguin")
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=os.path.join(root, "serving_model"),
    )
    # Batch inference with the blessed model over the eval split: PredictionLogs as TFX writes
    # them, and Parquet with the species column beside the model's output.
    bulk_inferrer = BulkInferrer(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        data_spec={"example_splits": ["eval"]},
        output_columns=["species"],
    )
    components = [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        trainer,
        model_resolver,
        evaluator,
        infra_validator,
        pusher,
        bulk_inferrer,
    ]
    return Pipeline(
        "penguin",
        root,
        components,
        enable_cache=enable_cache,
        beam_pipeline_args=["--direct_num_workers=1"],
    )


if __name__ == "__main__":
    LocalDagRunner().run(create_pipeline())

"""Pipelines of typed components, recorded in ML Metadata, cached, run locally.

Example:
    @component
    def Count(examples: InputArtifact[Examples], out: OutputArtifact[Model]) -> None:
        ...

    gen = CsvExampleGen(input_base="data/")
    count = Count(examples=gen.outputs["examples"])
    LocalDagRunner().run(Pipeline("demo", "/tmp/demo", [gen, count]))
"""

from typing import TYPE_CHECKING

from headwater.orchestration.artifacts import (
    FORMAT_PARQUET,
    FORMAT_TF_EXAMPLE,
    STANDARD_TYPES,
    Artifact,
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    HyperParameters,
    InferenceResult,
    InfraBlessing,
    Model,
    ModelBlessing,
    ModelEvaluation,
    ModelRun,
    PushedModel,
    Schema,
    Split,
    TransformCache,
    TransformGraph,
    TunerResults,
    register_artifact_type,
)
from headwater.orchestration.compiler import PipelineDescription, compile_pipeline
from headwater.orchestration.components.bulk_inferrer import BulkInferrer
from headwater.orchestration.components.csv_example_gen import CsvExampleGen
from headwater.orchestration.components.evaluator import Evaluator
from headwater.orchestration.components.example_validator import ExampleValidator
from headwater.orchestration.components.import_example_gen import ImportExampleGen
from headwater.orchestration.components.import_schema_gen import ImportSchemaGen
from headwater.orchestration.components.infra_validator import InfraValidator
from headwater.orchestration.components.pusher import Pusher
from headwater.orchestration.components.schema_gen import SchemaGen
from headwater.orchestration.components.statistics_gen import StatisticsGen
from headwater.orchestration.components.trainer import Trainer
from headwater.orchestration.components.transform import SplitsConfig, Transform
from headwater.orchestration.components.tuner import Tuner
from headwater.orchestration.context import ExecutionContext, beam_pipeline, current_context
from headwater.orchestration.dsl import (
    Channel,
    ComponentFactory,
    InputArtifact,
    Node,
    OutputArtifact,
    Parameter,
    component,
)
from headwater.orchestration.errors import (
    ComponentFailedError,
    MetadataError,
    MetadataStoreError,
    PipelineRootError,
    WiringError,
)
from headwater.orchestration.example_gen import InputConfig, OutputConfig, RangeConfig
from headwater.orchestration.importer import Importer
from headwater.orchestration.metadata import (
    MetadataStore,
    mysql_metadata_connection_config,
    postgresql_metadata_connection_config,
    sqlite_metadata_connection_config,
)
from headwater.orchestration.pipeline import Pipeline, default_pipeline_root, headwater_home
from headwater.orchestration.query import (
    ExecutionInfo,
    Lineage,
    RunArtifact,
    RunInfo,
    latest_artifacts,
    lineage,
    list_pipelines,
    pipeline_runs,
    run_artifacts,
)
from headwater.orchestration.resolver import (
    LatestArtifactStrategy,
    LatestBlessedModelStrategy,
    Resolver,
    ResolverStrategy,
)
from headwater.orchestration.runner import LocalDagRunner, NodeResult, RunResult
from headwater.orchestration.training import (
    DataAccessor,
    EvalArgs,
    FnArgs,
    TensorFlowDatasetOptions,
    TrainArgs,
    TuneArgs,
    TunerFnResult,
    UserCodeError,
    distribution_strategy,
    export_serving_model,
    make_serving_signatures,
    warm_start,
)

if TYPE_CHECKING:
    from headwater.orchestration.beam_dag_runner import BeamDagRunner, PipelineSource

__all__ = [
    "FORMAT_PARQUET",
    "FORMAT_TF_EXAMPLE",
    "STANDARD_TYPES",
    "Artifact",
    "BeamDagRunner",
    "BulkInferrer",
    "Channel",
    "ComponentFactory",
    "ComponentFailedError",
    "CsvExampleGen",
    "DataAccessor",
    "EvalArgs",
    "Evaluator",
    "ExampleAnomalies",
    "ExampleStatistics",
    "ExampleValidator",
    "Examples",
    "ExecutionContext",
    "ExecutionInfo",
    "FnArgs",
    "HyperParameters",
    "ImportExampleGen",
    "ImportSchemaGen",
    "Importer",
    "InferenceResult",
    "InfraBlessing",
    "InfraValidator",
    "InputArtifact",
    "InputConfig",
    "LatestArtifactStrategy",
    "LatestBlessedModelStrategy",
    "Lineage",
    "LocalDagRunner",
    "MetadataError",
    "MetadataStore",
    "MetadataStoreError",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "ModelRun",
    "Node",
    "NodeResult",
    "OutputArtifact",
    "OutputConfig",
    "Parameter",
    "Pipeline",
    "PipelineDescription",
    "PipelineRootError",
    "PipelineSource",
    "PushedModel",
    "Pusher",
    "RangeConfig",
    "Resolver",
    "ResolverStrategy",
    "RunArtifact",
    "RunInfo",
    "RunResult",
    "Schema",
    "SchemaGen",
    "Split",
    "SplitsConfig",
    "StatisticsGen",
    "TensorFlowDatasetOptions",
    "TrainArgs",
    "Trainer",
    "Transform",
    "TransformCache",
    "TransformGraph",
    "TuneArgs",
    "Tuner",
    "TunerFnResult",
    "TunerResults",
    "UserCodeError",
    "WiringError",
    "beam_pipeline",
    "compile_pipeline",
    "component",
    "current_context",
    "default_pipeline_root",
    "distribution_strategy",
    "export_serving_model",
    "headwater_home",
    "latest_artifacts",
    "lineage",
    "list_pipelines",
    "make_serving_signatures",
    "mysql_metadata_connection_config",
    "pipeline_runs",
    "postgresql_metadata_connection_config",
    "register_artifact_type",
    "run_artifacts",
    "sqlite_metadata_connection_config",
    "warm_start",
]


def __getattr__(name: str) -> object:
    """BeamDagRunner on first use: importing Beam costs about a second, and only it needs it."""
    if name in ("BeamDagRunner", "PipelineSource"):
        from headwater.orchestration import beam_dag_runner

        return getattr(beam_dag_runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Every public name of TFX 1.16's `tfx.v1`, module by module, with its Headwater status.

The one source for the compat namespace's missing names (they raise an error naming them) and
for docs/migrating_from_tfx.md (tools/gen_migration_doc.py). `same`: the name works here as in
TFX (arguments as TFX's); `renamed`: Headwater's own API calls it `headwater`; `not yet`: using
it raises NotImplementedInHeadwaterError.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.orchestration.artifacts import STANDARD_TYPES

SAME = "same"
RENAMED = "renamed"
NOT_YET = "not yet"


@dataclass(frozen=True)
class Entry:
    """One TFX name: its status, the Headwater object behind it, and a note."""

    status: str
    headwater: str = ""
    note: str = ""


def _same(headwater: str, note: str = "") -> Entry:
    return Entry(SAME, headwater, note)


def _renamed(headwater: str, note: str = "") -> Entry:
    return Entry(RENAMED, headwater, note)


def _not_yet(note: str = "") -> Entry:
    return Entry(NOT_YET, "", note)


_HW = "headwater.orchestration"
_PROTO = "headwater.orchestration.tfx_v1.proto"
_CLOUD = "Google Cloud services are not targeted"

CATALOG: dict[str, dict[str, Entry]] = {
    "": {
        "components": _same("headwater.orchestration.tfx_v1.components"),
        "dsl": _same("headwater.orchestration.tfx_v1.dsl"),
        "extensions": _not_yet(_CLOUD),
        "orchestration": _same("headwater.orchestration.tfx_v1.orchestration"),
        "proto": _same("headwater.orchestration.tfx_v1.proto"),
        "testing": _not_yet("pass a node's outputs[...] channel in tests"),
        "types": _same("headwater.orchestration.tfx_v1.types"),
        "utils": _not_yet(),
    },
    "components": {
        "BulkInferrer": _same(f"{_HW}.BulkInferrer", "output_example_spec: use output_columns"),
        "CsvExampleGen": _same(f"{_HW}.CsvExampleGen"),
        "DataAccessor": _same(f"{_HW}.DataAccessor"),
        "Evaluator": _same(
            f"{_HW}.Evaluator",
            "eval_config: tfx_v1.tfma.EvalConfig (preprocessing_function_names run first) "
            "or a headwater.model_analysis config",
        ),
        "ExampleDiff": _not_yet(),
        "ExampleValidator": _same(f"{_HW}.ExampleValidator"),
        "FnArgs": _same(f"{_HW}.FnArgs"),
        "ImportExampleGen": _same(f"{_HW}.ImportExampleGen"),
        "ImportSchemaGen": _same(f"{_HW}.ImportSchemaGen"),
        "InfraValidator": _same(f"{_HW}.InfraValidator"),
        "Pusher": _same(f"{_HW}.Pusher"),
        "SchemaGen": _same(f"{_HW}.SchemaGen"),
        "StatisticsGen": _same(f"{_HW}.StatisticsGen", "stats_options: not yet"),
        "Trainer": _same(
            f"{_HW}.Trainer", "trainer_fn (Estimator) and custom_executor_spec: not yet"
        ),
        "Transform": _same(f"{_HW}.Transform"),
        "Tuner": _same(f"{_HW}.Tuner"),
        "TunerFnResult": _same(f"{_HW}.TunerFnResult"),
    },
    "dsl": {
        "Artifact": _same(f"{_HW}.Artifact"),
        "Channel": _same(f"{_HW}.Channel", "producer_component_id: not yet"),
        "Cond": _same(
            "model_blessing / infra_blessing inputs",
            "only `blessing.future()[0].custom_property('blessed') == 1` around nodes "
            "taking that blessing (Pusher, BulkInferrer)",
        ),
        "ExecutionMode": _not_yet("pipelines run synchronously"),
        "Importer": _same(f"{_HW}.Importer"),
        "Pipeline": _same(f"{_HW}.Pipeline"),
        "Resolver": _same(f"{_HW}.Resolver", "config=: not yet"),
        "components": _same("headwater.orchestration.tfx_v1.dsl.components"),
        "experimental": _same("headwater.orchestration.tfx_v1.dsl.experimental"),
        "io": _not_yet("use fsspec or tf.io.gfile"),
        "placeholders": _not_yet(),
    },
    "dsl.components": {
        "AsyncOutputArtifact": _not_yet(),
        "BeamComponentParameter": _not_yet("read the pipeline's Beam options via beam_pipeline()"),
        "InputArtifact": _same(f"{_HW}.InputArtifact"),
        "OutputArtifact": _same(f"{_HW}.OutputArtifact"),
        "OutputDict": _not_yet("write outputs as OutputArtifact parameters"),
        "Parameter": _same(f"{_HW}.Parameter"),
        "component": _same(f"{_HW}.component"),
    },
    "dsl.experimental": {
        "LatestArtifactStrategy": _same(f"{_HW}.LatestArtifactStrategy"),
        "LatestBlessedModelStrategy": _same(f"{_HW}.LatestBlessedModelStrategy"),
        "ResolverStrategy": _same(f"{_HW}.ResolverStrategy"),
        "RuntimeParameter": _not_yet(),
        "SpanRangeStrategy": _not_yet("CsvExampleGen's range_config reads a span range"),
        "create_container_component": _not_yet(),
    },
    "dsl.io.fileio": {
        name: _not_yet("use fsspec or tf.io.gfile")
        for name in (
            "NotFoundError",
            "copy",
            "exists",
            "glob",
            "isdir",
            "listdir",
            "makedirs",
            "mkdir",
            "open",
            "remove",
            "rename",
            "rmtree",
            "stat",
            "walk",
            "PathType",
        )
    },
    "dsl.placeholders": {
        name: _not_yet() for name in ("exec_property", "execution_invocation", "input", "output")
    },
    "dsl.standard_annotations": {
        name: _not_yet("artifact types carry TFX's MLMD base types (BASE_TYPE)")
        for name in (
            "Dataset",
            "Deploy",
            "Evaluate",
            "Metrics",
            "Model",
            "Process",
            "Statistics",
            "Train",
            "Transform",
        )
    },
    "dsl.io": {"fileio": _not_yet("use fsspec or tf.io.gfile")},
    "extensions": {
        "google_cloud_ai_platform": _not_yet(_CLOUD),
        "google_cloud_big_query": _not_yet(_CLOUD),
    },
    "extensions.google_cloud_ai_platform": {
        name: _not_yet(_CLOUD)
        for name in (
            "BulkInferrer",
            "Pusher",
            "Trainer",
            "Tuner",
            "ENABLE_UCAIP_KEY",
            "ENABLE_VERTEX_KEY",
            "JOB_ID_KEY",
            "LABELS_KEY",
            "SERVING_ARGS_KEY",
            "TRAINING_ARGS_KEY",
            "UCAIP_REGION_KEY",
            "VERTEX_CONTAINER_IMAGE_URI_KEY",
            "VERTEX_REGION_KEY",
            "experimental",
        )
    },
    "extensions.google_cloud_ai_platform.experimental": {
        name: _not_yet(_CLOUD)
        for name in (
            "BULK_INFERRER_SERVING_ARGS_KEY",
            "ENDPOINT_ARGS_KEY",
            "PUSHER_SERVING_ARGS_KEY",
            "REMOTE_TRIALS_WORKING_DIR_KEY",
            "TUNING_ARGS_KEY",
        )
    },
    "extensions.google_cloud_big_query": {
        name: _not_yet(_CLOUD)
        for name in ("BigQueryExampleGen", "Pusher", "PUSHER_SERVING_ARGS_KEY")
    },
    "orchestration": {
        "LocalDagRunner": _same(f"{_HW}.LocalDagRunner"),
        "experimental": _not_yet("Kubeflow V2 runner"),
        "metadata": _same("headwater.orchestration.tfx_v1.orchestration.metadata"),
    },
    "orchestration.experimental": {
        name: _not_yet("Kubeflow V2 runner")
        for name in (
            "FinalStatusStr",
            "KubeflowV2DagRunner",
            "KubeflowV2DagRunnerConfig",
            "exit_handler",
            "get_default_kubeflow_metadata_config",
        )
    },
    "orchestration.metadata": {
        "ConnectionConfigType": _same("ml_metadata ConnectionConfig"),
        "mysql_metadata_connection_config": _same(f"{_HW}.mysql_metadata_connection_config"),
        "sqlite_metadata_connection_config": _same(f"{_HW}.sqlite_metadata_connection_config"),
    },
    "proto": {
        "ClassifyOutput": _not_yet("BulkInferrer: use output_columns"),
        "CustomConfig": _not_yet(),
        "DataSpec": _same("headwater.bulk_inferrer.DataSpec"),
        "DistributionValidatorConfig": _not_yet(),
        "EnvVar": _not_yet("Kubernetes serving"),
        "EnvVarSource": _not_yet("Kubernetes serving"),
        "EvalArgs": _renamed(f"{_HW}.EvalArgs"),
        "ExampleDiffConfig": _not_yet(),
        "FeatureComparator": _not_yet(),
        "FeatureSlicingSpec": _not_yet("use eval_config slicing_specs"),
        "Filesystem": _same(f"{_PROTO}.PushDestination.Filesystem"),
        "Input": _renamed(f"{_HW}.InputConfig"),
        "KubernetesConfig": _not_yet("Kubernetes serving"),
        "LocalDockerConfig": _same("headwater.infra_validator.ServingSpec"),
        "ModelSpec": _same("headwater.bulk_inferrer.ModelSpec"),
        "Output": _renamed(f"{_HW}.OutputConfig"),
        "OutputColumnsSpec": _not_yet("BulkInferrer: use output_columns"),
        "OutputExampleSpec": _not_yet("BulkInferrer: use output_columns"),
        "PairedExampleSkew": _not_yet(),
        "PodOverrides": _not_yet("Kubernetes serving"),
        "PredictOutput": _not_yet("BulkInferrer: use output_columns"),
        "PredictOutputCol": _not_yet("BulkInferrer: use output_columns"),
        "PushDestination": _same(f"{_HW}.Pusher push_destination"),
        "RangeConfig": _renamed(f"{_HW}.RangeConfig", "static_range only"),
        "RegressOutput": _not_yet("BulkInferrer: use output_columns"),
        "RequestSpec": _same("headwater.infra_validator.RequestSpec"),
        "RollingRange": _not_yet("use StaticRange"),
        "SecretKeySelector": _not_yet("Kubernetes serving"),
        "ServingSpec": _same("headwater.infra_validator.ServingSpec"),
        "SingleSlicingSpec": _not_yet("use eval_config slicing_specs"),
        "SplitConfig": _renamed(f"{_HW}.OutputConfig.splits"),
        "SplitsConfig": _renamed(f"{_HW}.SplitsConfig"),
        "StaticRange": _renamed(f"{_HW}.RangeConfig"),
        "TensorFlowServing": _same("headwater.infra_validator.ServingSpec"),
        "TensorFlowServingRequestSpec": _same("headwater.infra_validator.RequestSpec"),
        "TrainArgs": _renamed(f"{_HW}.TrainArgs"),
        "TuneArgs": _renamed(f"{_HW}.TuneArgs"),
        "ValidationSpec": _same("headwater.infra_validator.ValidationSpec"),
        "orchestration": _not_yet("RunState"),
    },
    "proto.orchestration": {"RunState": _not_yet()},
    "testing": {"Channel": _not_yet("pass a node's outputs[...] channel in tests")},
    "types": {
        "BaseBeamComponent": _not_yet("components are typed functions (@component)"),
        "BaseChannel": _renamed(f"{_HW}.Channel"),
        "BaseComponent": _not_yet("components are typed functions (@component)"),
        "BaseFunctionalComponent": _renamed(f"{_HW}.Node"),
        "BaseFunctionalComponentFactory": _renamed(f"{_HW}.ComponentFactory"),
        "BaseNode": _renamed(f"{_HW}.Node"),
        "standard_artifacts": _same("headwater.orchestration.tfx_v1.types.standard_artifacts"),
    },
    "types.standard_artifacts": {
        **{t.__name__: _same(f"{_HW}.{t.__name__}") for t in STANDARD_TYPES},
        **{
            name: _same(
                f"headwater.orchestration.tfx_v1.types.standard_artifacts.{name}",
                "value in the file `value` under the artifact's uri",
            )
            for name in ("Boolean", "Bytes", "Float", "Integer", "JsonValue", "String")
        },
    },
    "utils": {"JsonableType": _not_yet(), "parse_pbtxt_file": _not_yet()},
}

"""Canary a model on a real model server before it is pushed.

Starts a TF Serving–compatible server on the candidate (headwater-model-server by default, a
`tensorflow_model_server` binary, or the `tensorflow/serving` Docker image), waits until the
model is AVAILABLE, sends real requests built from examples, checks the answers against the
signatures (shapes, dtypes, no NaN), records latencies, stops the server, and says why.

Example:
    result = validate_model(
        "models/penguin/Format-Serving",
        examples="examples/Split-eval",
        request_spec=RequestSpec(num_examples=10),
    )
    print(result.report())      # blessed or not, each step's time, the reason, the log tail
"""

from headwater.infra_validator.checks import check_answer
from headwater.infra_validator.client import (
    GrpcClient,
    RequestFailedError,
    RestClient,
    ServingClient,
    make_client,
    signatures_from_metadata,
)
from headwater.infra_validator.docker_server import DockerRunner, docker_unavailable_reason
from headwater.infra_validator.errors import (
    InfraValidatorError,
    RequestBuildError,
    ServerUnavailableError,
)
from headwater.infra_validator.in_process_server import InProcessModelServerRunner
from headwater.infra_validator.local_server import (
    HeadwaterModelServerRunner,
    LocalProcessRunner,
    TensorFlowModelServerRunner,
)
from headwater.infra_validator.requests import (
    CanaryRequest,
    ExampleSource,
    build_requests,
    take_examples,
)
from headwater.infra_validator.result import (
    BLESSED_FILE,
    NOT_BLESSED_FILE,
    REPORT_FILE,
    RESULT_FILE,
    StepOutcome,
    ValidationResult,
    write_blessing,
)
from headwater.infra_validator.server import (
    Endpoint,
    ModelServerRunner,
    ModelStatus,
    Readiness,
    RunningServer,
    ServerNotReadyError,
    free_port,
    rest_model_status,
)
from headwater.infra_validator.specs import (
    DEFAULT_MODEL_NAME,
    HeadwaterModelServer,
    LocalBinaryConfig,
    LocalDockerConfig,
    Mode,
    RequestSpec,
    ServingSpec,
    TensorFlowServing,
    TensorFlowServingRequestSpec,
    ValidationSpec,
    as_request_spec,
    as_serving_spec,
    as_validation_spec,
)
from headwater.infra_validator.validation import (
    CanaryOutcome,
    RunnerFactory,
    runner_factories,
    send_canary_requests,
    validate_model,
)

__all__ = [
    "BLESSED_FILE",
    "DEFAULT_MODEL_NAME",
    "NOT_BLESSED_FILE",
    "REPORT_FILE",
    "RESULT_FILE",
    "CanaryOutcome",
    "CanaryRequest",
    "DockerRunner",
    "Endpoint",
    "ExampleSource",
    "GrpcClient",
    "HeadwaterModelServer",
    "HeadwaterModelServerRunner",
    "InProcessModelServerRunner",
    "InfraValidatorError",
    "LocalBinaryConfig",
    "LocalDockerConfig",
    "LocalProcessRunner",
    "Mode",
    "ModelServerRunner",
    "ModelStatus",
    "Readiness",
    "RequestBuildError",
    "RequestFailedError",
    "RequestSpec",
    "RestClient",
    "RunnerFactory",
    "RunningServer",
    "ServerNotReadyError",
    "ServerUnavailableError",
    "ServingClient",
    "ServingSpec",
    "StepOutcome",
    "TensorFlowModelServerRunner",
    "TensorFlowServing",
    "TensorFlowServingRequestSpec",
    "ValidationResult",
    "ValidationSpec",
    "as_request_spec",
    "as_serving_spec",
    "as_validation_spec",
    "build_requests",
    "check_answer",
    "docker_unavailable_reason",
    "free_port",
    "make_client",
    "rest_model_status",
    "runner_factories",
    "send_canary_requests",
    "signatures_from_metadata",
    "take_examples",
    "validate_model",
    "write_blessing",
]

"""A TensorFlow Serving compatible model server: TF Serving's gRPC and REST APIs over pushed models.

Serves what the Pusher writes (TF Serving's `base/<version>/` layout) through the model-running
seam, watching each base path for new versions and hot-swapping them.

Example:
    options = ServerOptions(models=[ModelConfig(name="penguin", base_path="serving/penguin")])
    with ModelServer(options) as server:
        print(server.rest_url)      # POST {rest_url}/v1/models/penguin:predict
"""

from headwater.model_server.config import (
    BatchingOptions,
    ModelConfig,
    VersionPolicy,
    parse_batching_parameters,
    parse_model_config_file,
)
from headwater.model_server.errors import ServerConfigError, ServingError
from headwater.model_server.manager import ModelManager, VersionStatus
from headwater.model_server.server import ModelServer, ServerOptions

__all__ = [
    "BatchingOptions",
    "ModelConfig",
    "ModelManager",
    "ModelServer",
    "ServerConfigError",
    "ServerOptions",
    "ServingError",
    "VersionPolicy",
    "VersionStatus",
    "parse_batching_parameters",
    "parse_model_config_file",
]

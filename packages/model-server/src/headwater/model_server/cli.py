"""`headwater-model-server`: tensorflow_model_server's command line, same flag names.

    headwater-model-server --port=8500 --rest_api_port=8501 \
        --model_name=penguin --model_base_path=/serving/penguin

or `--model_config_file=models.config` (a ModelServerConfig text proto) for several models,
`--enable_batching --batching_parameters_file=batching.config` for server-side batching.
Flags are accepted as `--flag=value` or `--flag value`; booleans also as `--flag=true`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from headwater.model_server.config import (
    BatchingOptions,
    ModelConfig,
    parse_batching_parameters,
    parse_model_config_file,
)
from headwater.model_server.errors import ServerConfigError

__all__ = ["IGNORED_FLAGS", "main", "options_from_args", "parser"]


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parser() -> argparse.ArgumentParser:
    """The argument parser (flag names are tensorflow_model_server's)."""
    p = argparse.ArgumentParser(
        prog="headwater-model-server",
        description="Serve SavedModels over TF Serving's gRPC and REST APIs.",
    )
    p.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500; 0 picks one)")
    p.add_argument(
        "--rest_api_port", type=int, default=8501, help="REST port (default 8501; 0 turns REST off)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--model_name", default="default", help="name of the one model served")
    p.add_argument("--model_base_path", default="", help="directory holding numbered versions")
    p.add_argument("--model_config_file", default="", help="ModelServerConfig text proto file")
    p.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0.0,
        help="seconds between checks of --model_config_file for changes (0: never)",
    )
    p.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between polls of the base paths for new versions (0: only at start)",
    )
    p.add_argument(
        "--enable_batching",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="merge concurrent requests into batches",
    )
    p.add_argument(
        "--batching_parameters_file", default="", help="BatchingParameters text proto file"
    )
    p.add_argument(
        "--rest_api_max_body_bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="largest request body accepted (413 above; also the gRPC message limit)",
    )
    p.add_argument(
        "--grace_seconds",
        type=float,
        default=30.0,
        help="how long SIGTERM waits for requests in flight",
    )
    p.add_argument("--log_level", default="INFO", help="logging level (default INFO)")
    p.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=0,
        help="threads inside one TensorFlow op (0: TensorFlow's choice)",
    )
    p.add_argument(
        "--tensorflow_inter_op_parallelism",
        type=int,
        default=0,
        help="TensorFlow ops run at once (0: TensorFlow's choice)",
    )
    for flag in IGNORED_FLAGS:
        p.add_argument(f"--{flag}", default=None, help=argparse.SUPPRESS)
    return p


IGNORED_FLAGS = (
    "enable_model_warmup",
    "rest_api_num_threads",
    "rest_api_timeout_in_ms",
    "grpc_channel_arguments",
    "monitoring_config_file",
    "allow_version_labels_for_unavailable_models",
    "max_num_load_retries",
    "load_retry_interval_micros",
    "tensorflow_session_parallelism",
    "num_load_threads",
    "num_unload_threads",
)
"""tensorflow_model_server flags accepted (so scripts written for it run) but without effect."""


def options_from_args(args: argparse.Namespace) -> object:
    """ServerOptions from parsed flags (raises ServerConfigError naming the flag at fault)."""
    from headwater.model_server.server import ServerOptions

    if args.model_config_file and args.model_base_path:
        raise ServerConfigError("give --model_config_file or --model_base_path, not both")
    if args.model_config_file:
        models = parse_model_config_file(args.model_config_file)
    elif args.model_base_path:
        models = [
            ModelConfig(name=args.model_name, base_path=os.path.abspath(args.model_base_path))
        ]
    else:
        raise ServerConfigError(
            "nothing to serve: give --model_base_path (with --model_name) or --model_config_file"
        )
    batching = None
    if args.enable_batching:
        if args.batching_parameters_file:
            try:
                with open(args.batching_parameters_file, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise ServerConfigError(
                    f"cannot read --batching_parameters_file {args.batching_parameters_file}: {exc}"
                ) from exc
            batching = parse_batching_parameters(text, source=args.batching_parameters_file)
        else:
            batching = BatchingOptions()
    elif args.batching_parameters_file:
        raise ServerConfigError("--batching_parameters_file needs --enable_batching")
    return ServerOptions(
        models=models,
        host=args.host,
        port=args.port,
        rest_api_port=args.rest_api_port or None,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        max_body_bytes=args.rest_api_max_body_bytes,
        grace_seconds=args.grace_seconds,
        model_config_file=args.model_config_file or None,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM / SIGINT; exit status 0 after a clean stop, 2 on bad flags."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ignored = [f"--{flag}" for flag in IGNORED_FLAGS if getattr(args, flag) is not None]
    if ignored:
        logging.getLogger(__name__).warning(
            "tensorflow_model_server flags accepted without effect: %s", ", ".join(ignored)
        )
    try:
        options = options_from_args(args)
        if args.tensorflow_intra_op_parallelism or args.tensorflow_inter_op_parallelism:
            import tensorflow as tf

            if args.tensorflow_intra_op_parallelism:
                tf.config.threading.set_intra_op_parallelism_threads(
                    args.tensorflow_intra_op_parallelism
                )
            if args.tensorflow_inter_op_parallelism:
                tf.config.threading.set_inter_op_parallelism_threads(
                    args.tensorflow_inter_op_parallelism
                )
        from headwater.model_server.server import ModelServer, ServerOptions

        assert isinstance(options, ServerOptions)
        ModelServer(options).serve_forever()
    except ServerConfigError as exc:
        print(f"headwater-model-server: {exc}", file=sys.stderr)
        return 2
    return 0

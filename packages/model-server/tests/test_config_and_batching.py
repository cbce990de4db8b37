"""Configuration files and flags as TF Serving writes them, and server-side batching."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
from model_factory import push

from headwater.io.processes import free_port
from headwater.model_server import (
    BatchingOptions,
    ModelConfig,
    ModelServer,
    ServerConfigError,
    ServerOptions,
    VersionPolicy,
    parse_batching_parameters,
    parse_model_config_file,
)
from headwater.model_server.cli import options_from_args, parser
from headwater.model_server.tensors import make_tensor_proto, tensor_proto_to_ndarray

MODEL_CONFIG = """
model_config_list {
  config {
    name: "penguin"
    base_path: "/serving/penguin"
    model_platform: "tensorflow"
    model_version_policy { latest { num_versions: 2 } }
  }
  config {
    name: "taxi"
    base_path: "/serving/taxi"
    model_version_policy { specific { versions: 3 versions: 5 } }
    version_labels { key: "stable" value: 3 }
    version_labels { key: "canary" value: 5 }
  }
  config {
    name: "all"
    base_path: "/serving/all"
    model_version_policy { all {} }
  }
}
"""


def test_model_config_file_gives_policies_and_labels(tmp_path: Any) -> None:
    path = tmp_path / "models.config"
    path.write_text(MODEL_CONFIG)
    assert parse_model_config_file(str(path)) == [
        ModelConfig(
            name="penguin",
            base_path="/serving/penguin",
            version_policy=VersionPolicy(kind="latest", num_versions=2),
        ),
        ModelConfig(
            name="taxi",
            base_path="/serving/taxi",
            version_policy=VersionPolicy(kind="specific", versions=(3, 5)),
            version_labels={"stable": 3, "canary": 5},
        ),
        ModelConfig(name="all", base_path="/serving/all", version_policy=VersionPolicy(kind="all")),
    ]


def test_bad_model_config_file_names_the_file(tmp_path: Any) -> None:
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { nme: 'x' } }")
    with pytest.raises(ServerConfigError, match=r"models.config: not a ModelServerConfig"):
        parse_model_config_file(str(path))


def test_version_policies_select_versions() -> None:
    on_disk = [1, 2, 5, 7]
    assert VersionPolicy().select(on_disk) == {7}
    assert VersionPolicy(num_versions=3).select(on_disk) == {2, 5, 7}
    assert VersionPolicy(kind="specific", versions=(2, 3)).select(on_disk) == {2}
    assert VersionPolicy(kind="all").select(on_disk) == {1, 2, 5, 7}
    with pytest.raises(ServerConfigError, match="num_versions must be >= 1"):
        VersionPolicy(num_versions=0)


def test_batching_parameters_text_proto() -> None:
    text = """
        max_batch_size { value: 128 }
        batch_timeout_micros { value: 500 }
        num_batch_threads { value: 4 }
        max_enqueued_batches { value: 10 }
        allowed_batch_sizes: 32
        allowed_batch_sizes: 128
        pad_variable_length_inputs: true
    """
    assert parse_batching_parameters(text) == BatchingOptions(
        max_batch_size=128,
        batch_timeout_micros=500,
        num_batch_threads=4,
        max_enqueued_batches=10,
        allowed_batch_sizes=(32, 128),
    )
    with pytest.raises(ServerConfigError, match=r"must equal max_batch_size \(64\)"):
        parse_batching_parameters("max_batch_size { value: 64 } allowed_batch_sizes: 32")


def test_tensorflow_model_server_flags(tmp_path: Any) -> None:
    batching = tmp_path / "batching.config"
    batching.write_text("max_batch_size { value: 16 } batch_timeout_micros { value: 1000 }")
    args = parser().parse_args(
        [
            "--port=9000",
            "--rest_api_port",
            "9001",
            "--model_name=penguin",
            f"--model_base_path={tmp_path}",
            "--file_system_poll_wait_seconds=5",
            "--enable_batching=true",
            f"--batching_parameters_file={batching}",
            "--host=0.0.0.0",
            "--rest_api_max_body_bytes=1000",
        ]
    )
    options = options_from_args(args)
    assert isinstance(options, ServerOptions)
    assert (options.port, options.rest_api_port, options.host) == (9000, 9001, "0.0.0.0")
    assert options.models == [ModelConfig(name="penguin", base_path=str(tmp_path))]
    assert options.file_system_poll_wait_seconds == 5
    assert options.max_body_bytes == 1000
    assert options.batching is not None
    assert (options.batching.max_batch_size, options.batching.batch_timeout_micros) == (16, 1000)
    with pytest.raises(ServerConfigError, match="not both"):
        options_from_args(
            parser().parse_args([f"--model_base_path={tmp_path}", "--model_config_file=x"])
        )


def test_tensor_protos_match_tensorflow() -> None:
    import tensorflow as tf

    for array in (
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([[1, -2]], dtype=np.int64),
        np.array([True, False]),
        np.array([b"a", b"\x00\xff"], dtype=object),
        np.array([1.5], dtype=np.float16),
    ):
        ours = make_tensor_proto(array)
        assert tf.make_ndarray(ours).tolist() == array.tolist()
        theirs = tf.make_tensor_proto(array)
        assert tensor_proto_to_ndarray(theirs).tolist() == array.tolist()
    filled = tf.make_tensor_proto(7.0, dtype=tf.float32, shape=[2, 2])
    assert tensor_proto_to_ndarray(filled).tolist() == [[7.0, 7.0], [7.0, 7.0]]


def _predict(url: str, x: list[list[float]]) -> Any:
    request = urllib.request.Request(url, data=json.dumps({"inputs": {"x": x}}).encode())
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _batch_counts(server: ModelServer) -> dict[str, float]:
    with urllib.request.urlopen(server.rest_url + "/monitoring/prometheus/metrics") as response:
        text = response.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("headwater_model_server_batch_size_bucket"):
            le = line.split('le="')[1].split('"')[0]
            counts[le] = float(line.rsplit(" ", 1)[1])
    return counts


def test_concurrent_requests_share_one_batch(templates: dict[int, str], tmp_path: Any) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    # A batch runs only when full (the timeout is far away): four requests, one batch of four.
    batching = BatchingOptions(
        max_batch_size=4, batch_timeout_micros=60_000_000, num_batch_threads=1
    )
    options = ServerOptions(
        models=[ModelConfig(name="m", base_path=base)],
        port=0,
        rest_api_port=0,
        file_system_poll_wait_seconds=0,
        batching=batching,
    )
    results: dict[int, Any] = {}
    with ModelServer(options) as server:
        url = server.rest_url + "/v1/models/m:predict"

        def call(i: int) -> None:
            results[i] = _predict(url, [[float(i), 1.0]])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = _batch_counts(server)
    assert results == {i: {"outputs": {"version": [1], "y": [101.0 + i]}} for i in range(4)}
    assert (counts["2.0"], counts["4.0"], counts["+Inf"]) == (0.0, 1.0, 1.0)


def test_batches_are_padded_to_allowed_sizes(templates: dict[int, str], tmp_path: Any) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    batching = BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1)
    options = ServerOptions(
        models=[ModelConfig(name="m", base_path=base)],
        port=0,
        rest_api_port=0,
        file_system_poll_wait_seconds=0,
        batching=batching,
    )
    with ModelServer(options) as server:
        url = server.rest_url + "/v1/models/m:predict"
        assert _predict(url, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]) == {
            "outputs": {"version": [1, 1, 1], "y": [103.0, 107.0, 111.0]}
        }
        counts = _batch_counts(server)
    assert (counts["2.0"], counts["4.0"], counts["+Inf"]) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize("which", ["port", "rest_api_port"])
def test_busy_port_is_a_config_error_naming_the_flag(
    templates: dict[int, str], tmp_path: Any, which: str
) -> None:
    import socket

    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"port": 0, "rest_api_port": 0, which: port}
        server = ModelServer(
            ServerOptions(
                models=[ModelConfig(name="m", base_path=base)],
                file_system_poll_wait_seconds=0,
                **ports,
            )
        )
        with pytest.raises(ServerConfigError, match=f"--{which}"):
            server.start()


def test_a_bad_request_does_not_fail_its_batch_neighbour(
    templates: dict[int, str], tmp_path: Any
) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    # Both requests pass the checks (strings in), one fails parsing inside the shared batch.
    batching = BatchingOptions(
        max_batch_size=2, batch_timeout_micros=60_000_000, num_batch_threads=1
    )
    options = ServerOptions(
        models=[ModelConfig(name="m", base_path=base)],
        port=0,
        rest_api_port=0,
        file_system_poll_wait_seconds=0,
        batching=batching,
    )
    bodies = {
        "good": {"signature_name": "regress", "examples": [{"x": [3.0, 1.0]}]},
        "bad": {"signature_name": "regress", "examples": [{"x": [3, 1]}]},  # int64, not float
    }
    answers: dict[str, Any] = {}
    with ModelServer(options) as server:
        url = server.rest_url + "/v1/models/m:regress"

        def call(name: str) -> None:
            request = urllib.request.Request(url, data=json.dumps(bodies[name]).encode())
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    answers[name] = (response.status, json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                answers[name] = (exc.code, json.loads(exc.read()))

        threads = [threading.Thread(target=call, args=(name,)) for name in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = _batch_counts(server)
    assert answers["good"] == (200, {"results": [3.0]})
    assert answers["bad"][0] == 400
    assert "failed on its inputs" in answers["bad"][1]["error"]
    assert counts["2.0"] == 1.0  # they did share one batch


def test_model_config_file_is_reread_when_it_changes(
    templates: dict[int, str], tmp_path: Any
) -> None:
    import time

    push(templates[1], str(tmp_path / "a"), 1)
    push(templates[2], str(tmp_path / "b"), 2)
    path = tmp_path / "models.config"
    entry = 'config {{ name: "{0}" base_path: "{1}" }}'
    path.write_text(f"model_config_list {{ {entry.format('a', tmp_path / 'a')} }}")
    args = parser().parse_args(
        [
            "--port=0",
            f"--rest_api_port={free_port()}",  # 0 would turn REST off, as in TF Serving
            f"--model_config_file={path}",
            "--model_config_file_poll_wait_seconds=0.05",
            "--file_system_poll_wait_seconds=0",
        ]
    )
    options = options_from_args(args)
    assert isinstance(options, ServerOptions)
    with ModelServer(options) as server:
        assert server.manager.available_versions() == {"a": [1]}
        both = entry.format("a", tmp_path / "a") + " " + entry.format("b", tmp_path / "b")
        path.write_text(f"model_config_list {{ {both} }}")
        for _ in range(400):
            if server.manager.available_versions() == {"a": [1], "b": [2]}:
                break
            time.sleep(0.05)
        assert server.manager.available_versions() == {"a": [1], "b": [2]}
        assert _predict(server.rest_url + "/v1/models/b:predict", [[1.0, 1.0]]) == {
            "outputs": {"version": [2], "y": [202.0]}
        }

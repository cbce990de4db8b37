"""End to end: the penguin pipeline pushes a model; headwater-model-server serves it.

The README's penguin pipeline runs once (its Pusher writes serving_model/<version>/); the
`headwater-model-server` command serves that directory with tensorflow_model_server's flags,
and real clients (TF Serving's gRPC stub, REST over urllib) get the same probabilities as the
SavedModel called in this process on the same tf.Examples.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import runpy
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from headwater.io.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parent.parent
PENGUIN = REPO / "examples" / "penguin"


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The base path the penguin pipeline's Pusher wrote (serving_model/<version>/)."""
    from headwater.orchestration import LocalDagRunner

    root = tmp_path_factory.mktemp("penguin")
    pipeline = runpy.run_path(str(PENGUIN / "pipeline.py"))["create_pipeline"](str(root))
    LocalDagRunner(out=None).run(pipeline)
    base = os.path.join(str(root), "serving_model")
    assert [v for v in os.listdir(base) if v.isdigit()], "the Pusher pushed nothing"
    return base


@pytest.fixture(scope="module")
def server(pushed: str) -> Any:
    """`headwater-model-server` on the pushed model, as a separate process."""
    grpc_port, rest_port = free_port(), free_port()
    command = os.path.join(os.path.dirname(sys.executable), "headwater-model-server")
    proc = subprocess.Popen(
        [
            command,
            f"--port={grpc_port}",
            f"--rest_api_port={rest_port}",
            "--model_name=penguin",
            f"--model_base_path={pushed}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{rest_port}"
    try:
        for _ in range(1200):
            assert proc.poll() is None, "the server exited"
            try:
                with urllib.request.urlopen(url + "/v1/models/penguin", timeout=5) as response:
                    if b"AVAILABLE" in response.read():
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the penguin model never became AVAILABLE")
        yield {"url": url, "grpc": f"127.0.0.1:{grpc_port}", "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0


def penguin_rows(n: int, dtypes: dict[str, str]) -> list[dict[str, Any]]:
    """The first n rows of the example data as features typed like the model's raw inputs.

    JSON has no float type of its own: 18 is an int (an int64_list feature) and 18.0 a float,
    as in TF Serving, so float features are written as floats.
    """
    with open(PENGUIN / "data" / "penguins_processed.csv") as f:
        rows = list(csv.DictReader(f))[:n]
    return [
        {
            k: float(v) if dtypes[k].startswith("float") else int(v)
            for k, v in row.items()
            if k in dtypes
        }
        for row in rows
    ]


def serialized(rows: list[dict[str, Any]]) -> list[bytes]:
    from headwater.model_server.rest_json import examples_from_json

    return examples_from_json({"examples": rows})


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_pushed_penguin_model_is_served_over_rest_and_grpc(server: Any, pushed: str) -> None:
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from headwater.io.saved_model import SavedModelHandler
    from headwater.model_server.tensors import make_tensor_proto, tensor_proto_to_ndarray

    version = max(int(v) for v in os.listdir(pushed) if v.isdigit())
    model = SavedModelHandler(os.path.join(pushed, str(version))).load_model()
    raw = model.signatures["serving_raw"].inputs
    rows = penguin_rows(5, {name: tensor.dtype for name, tensor in raw.items()})
    records = serialized(rows)
    expected = model.run("serving_default", {"examples": np.array(records, dtype=object)})
    (output,) = expected
    want = expected[output].tolist()

    status = json.loads(urllib.request.urlopen(server["url"] + "/v1/models/penguin").read())
    assert status["model_version_status"][0]["version"] == str(version)
    assert status["model_version_status"][0]["state"] == "AVAILABLE"

    instances = [{"b64": base64.b64encode(r).decode()} for r in records]
    got = post(server["url"] + "/v1/models/penguin:predict", {"instances": instances})
    assert got == {"predictions": want}
    assert post(server["url"] + "/v1/models/penguin:classify", {"examples": rows}) == {
        "results": [[["", p] for p in probs] for probs in want]
    }

    with grpc.insecure_channel(server["grpc"]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "penguin"
        request.inputs["examples"].CopyFrom(make_tensor_proto(np.array(records, dtype=object)))
        response = stub.Predict(request, timeout=60)
    assert response.model_spec.version.value == version
    assert tensor_proto_to_ndarray(response.outputs[output]).tolist() == want
    assert max(range(3), key=lambda c: want[0][c]) == 0  # the first penguin is an Adelie

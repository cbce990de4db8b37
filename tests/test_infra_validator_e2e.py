"""End to end: the InfraValidator component in a pipeline on real headwater-model-servers. A
healthy model is INFRA_BLESSED (subprocess server) and pushed; a model whose canary answers NaN
is INFRA_NOT_BLESSED (in-process server) and the Pusher refuses it; both blessings are recorded
in ML Metadata with their inputs; no server process or port is left behind."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import sys

import pytest

from headwater.infra_validator import RequestSpec, TensorFlowServingRequestSpec
from headwater.orchestration import (
    CsvExampleGen,
    Importer,
    InfraValidator,
    LocalDagRunner,
    MetadataStore,
    Model,
    Pipeline,
    Pusher,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("headwater.model_server.__main__") is None,
        reason="headwater-model-server is not installed (no `python -m headwater.model_server`)",
    ),
]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "packages", "infra-validator", "tests"))

from canary_models import X1, X2, save_canary_model  # noqa: E402
from server_checks import server_children  # noqa: E402


def requests(*signatures: str) -> RequestSpec:
    return RequestSpec(
        tensorflow_serving=TensorFlowServingRequestSpec(signature_names=signatures),
        split_name="eval",
        num_examples=3,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("iv_pipeline")
    data = root / "data"
    data.mkdir()
    rows = [f"{x1},{x2},row{i}" for i, (x1, x2) in enumerate(zip(X1 * 3, X2 * 3, strict=True))]
    (data / "rows.csv").write_text("x1,x2,name\n" + "\n".join(rows) + "\n")
    model_dir = str(root / "canary")  # a Model artifact: the SavedModel under Format-Serving/
    save_canary_model(os.path.join(model_dir, "Format-Serving"))
    before = server_children()
    gen = CsvExampleGen(input_base=str(data))
    model = Importer(source_uri=model_dir, artifact_type=Model).with_id("import_model")
    good = InfraValidator(
        model=model.outputs["result"],
        examples=gen.outputs["examples"],
        request_spec=requests("serving_default", "raw", "classify", "regress"),
        validation_spec={"num_tries": 1},
    ).with_id("infra_validator")
    bad = InfraValidator(
        model=model.outputs["result"],
        examples=gen.outputs["examples"],
        request_spec=requests("serving_default", "nan"),
        validation_spec='{"numTries": 1}',  # TFX's JSON
        serving_spec={"headwater_model_server": {"in_process": True}},
    ).with_id("nan_infra_validator")
    pushed = Pusher(
        model=model.outputs["result"],
        infra_blessing=good.outputs["blessing"],
        push_destination=str(root / "serving"),
    ).with_id("pusher")
    refused = Pusher(
        model=model.outputs["result"],
        infra_blessing=bad.outputs["blessing"],
        push_destination=str(root / "refused"),
    ).with_id("nan_pusher")
    pipeline = Pipeline(
        "infra", str(root / "root"), [gen, model, good, bad, pushed, refused], enable_cache=False
    )
    result = LocalDagRunner(quiet=True).run(pipeline)
    return pipeline, result, before


def test_a_healthy_model_is_infra_blessed_and_pushed(run) -> None:  # type: ignore[no-untyped-def]
    _, result, _ = run
    blessing = result.output("infra_validator", "blessing")
    assert blessing.custom_properties["blessed"] == 1
    assert blessing.custom_properties["blessing_status"] == "INFRA_BLESSED"
    assert blessing.custom_properties["failed_step"] == ""
    assert sorted(os.listdir(blessing.uri)) == [
        "INFRA_BLESSED",
        "infra_validation_report.txt",
        "infra_validation_result.json",
    ]
    with open(os.path.join(blessing.uri, "infra_validation_result.json")) as f:
        recorded = json.load(f)
    assert recorded["blessed"] is True
    assert recorded["mode"] == "LOAD_AND_QUERY"
    assert len(recorded["latencies_ms"]) == 12  # 3 eval examples x 4 signatures
    assert blessing.custom_properties["latency_p99_ms"] == recorded["latency_p99_ms"]
    pusher = result.output("pusher", "pushed_model")
    assert pusher.custom_properties["pushed"] == 1


def test_nan_answers_are_not_blessed_and_the_pusher_refuses_the_model(run) -> None:  # type: ignore[no-untyped-def]
    _, result, _ = run
    blessing = result.output("nan_infra_validator", "blessing")
    assert blessing.custom_properties["blessed"] == 0
    assert blessing.custom_properties["blessing_status"] == "INFRA_NOT_BLESSED"
    assert blessing.custom_properties["failed_step"] == "requests"
    with open(os.path.join(blessing.uri, "INFRA_NOT_BLESSED")) as f:
        assert f.read() == (
            "the answer of signature 'nan' is wrong: output 'score': NaN in the answer "
            "(first at index (0,), 1 in all)\n"
        )
    with open(os.path.join(blessing.uri, "infra_validation_report.txt")) as f:
        report = f.read()
    assert "INFRA_NOT_BLESSED" in report.splitlines()[0]
    assert "Failing request: predict 'nan' (example 0): " in report
    refused = result.output("nan_pusher", "pushed_model")
    assert refused.custom_properties["pushed"] == 0
    with open(os.path.join(refused.uri, "NOT_PUSHED")) as f:
        assert "not blessed by infra validation" in f.read()


def test_the_blessings_are_recorded_in_ml_metadata_with_their_inputs(run) -> None:  # type: ignore[no-untyped-def]
    pipeline, result, _ = run
    store = MetadataStore(pipeline.connection_config()).store
    blessings = store.get_artifacts_by_type("InfraBlessing")
    by_uri = {a.uri: a for a in blessings}
    good = by_uri[result.output("infra_validator", "blessing").uri]
    bad = by_uri[result.output("nan_infra_validator", "blessing").uri]
    assert good.custom_properties["blessed"].int_value == 1
    assert good.custom_properties["blessing_status"].string_value == "INFRA_BLESSED"
    assert bad.custom_properties["blessing_status"].string_value == "INFRA_NOT_BLESSED"
    [event] = [e for e in store.get_events_by_artifact_ids([good.id]) if e.type == e.OUTPUT]
    inputs = {
        store.get_artifact_types_by_id([a.type_id])[0].name
        for e in store.get_events_by_execution_ids([event.execution_id])
        if e.type == e.INPUT
        for a in store.get_artifacts_by_id([e.artifact_id])
    }
    assert inputs == {"Model", "Examples"}
    [execution] = store.get_executions_by_id([event.execution_id])
    assert execution.last_known_state == execution.COMPLETE


def test_no_server_process_or_port_is_left(run) -> None:  # type: ignore[no-untyped-def]
    _, result, before = run
    assert server_children() == before
    ports = []
    for node in ("infra_validator", "nan_infra_validator"):
        path = os.path.join(result.output(node, "blessing").uri, "infra_validation_result.json")
        with open(path) as f:
            (server,) = json.load(f)["servers"]
        ports += [int(p) for p in re.findall(r"--(?:port|rest_api_port) (\d+)", server)]
        ports += [int(p) for p in re.findall(r"(\d+) \((?:gRPC|REST)\)", server)]
    assert len(ports) == 4  # the subprocess's two from its command line, the in-process two
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listens"

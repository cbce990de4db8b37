"""Benchmark: headwater-model-server over REST and gRPC against the bare in-process signature call.

    uv run --frozen python tools/bench/bench_model_server.py [--base-path DIR] [--seconds 5]
        [--concurrency 1,4,16] [--protocols rest,grpc] [--batching off,on]
        [--batch-timeout-micros 0] [--num-batch-threads 2] [--max-batch-size 64]
        [--examples-per-request 1] [--client-processes 1] [--ab-src DIR] [--profile-server DIR]

Serves a model with `python -m headwater.model_server` (a separate process, like production,
so the clients' Python does not share the server's GIL) once with batching off and once on,
and drives it from asyncio clients (aiohttp, grpc.aio) on 127.0.0.1: each of N clients sends
one-example Predict requests back to back for `--seconds` (bounded), and the run reports p50 /
p99 latency and requests/s per protocol, batching mode and concurrency. Beside it, in the same
run, the ceiling: the bare `LoadedModel.run` of the same signature in this process, at one
example (p50 latency) and at the batch size batching uses (examples/s).

Client and server share the machine's cores. The load comes from one process (this one) on one
asyncio thread, so the clients use at most one core whatever N is (`--client-processes P`
spreads them over P spawned processes that start together at a barrier); their CPU is not
counted in the server's figures. `--examples-per-request K` sends K examples per request and
reports examples/s beside the ceiling's. Each row also gives the CPU time per answered request
of the server process (all its threads, from /proc) and of the clients: on a busy machine,
where wall-clock requests/s swing with the neighbours' load, the server's CPU per request is
the steadier figure (1e6 / it is the requests/s one free core would sustain).

The model: `--base-path` of a pushed model (e.g. the penguin pipeline's serving_model; one
example is built from `--features`), or by default a penguin-shaped Keras model (4 floats in,
Dense(8), softmax(3) out) built in a temporary directory. Prints a table and `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

PENGUIN_FEATURES = {
    "culmen_length_mm": [0.49],
    "culmen_depth_mm": [0.48],
    "flipper_length_mm": [0.66],
    "body_mass_g": [0.52],
}


def build_default_model(root: str) -> str:
    """A penguin-shaped Keras classifier saved as base/1; returns the base path."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(shape=(4,), name="inputs")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="inputs")])
    def serve(x: Any) -> Any:
        return {"probabilities": model(x)}

    base = os.path.join(root, "model")
    tf.saved_model.save(model, os.path.join(base, "1"), signatures={"serving_default": serve})
    return base


def one_example(spec: Any, features: dict[str, Any]) -> dict[str, np.ndarray]:
    """A one-example feed of `spec`: a serialized tf.Example, or fixed numbers per input."""
    from headwater.model_server.rest_json import examples_from_json

    if spec.takes_serialized_examples:
        (name,) = spec.inputs
        array = np.empty(1, dtype=object)
        array[0] = examples_from_json({"examples": [features]})[0]
        return {name: array}
    feeds = {}
    for name, tensor in spec.inputs.items():
        shape = tuple(1 if d is None else d for d in (tensor.shape or (1,)))
        feeds[name] = np.full(shape, 0.5, dtype=tensor.dtype)
    return feeds


def rest_body(feeds: dict[str, np.ndarray]) -> bytes:
    """The :predict body (columnar `inputs`) of a feed; strings as b64."""

    def value(array: np.ndarray) -> Any:
        if array.dtype.kind == "O":
            return [{"b64": base64.b64encode(v).decode()} for v in array.reshape(-1)]
        return array.tolist()

    return json.dumps({"inputs": {k: value(v) for k, v in feeds.items()}}).encode()


def ceiling(
    path: str, signature: str, feeds: dict[str, np.ndarray], batch: int, seconds: float
) -> dict[str, float]:
    """Bare LoadedModel.run in this process: p50 of one example, examples/s at `batch`."""
    from headwater.io.saved_model import SavedModelHandler

    model = SavedModelHandler(path).load_model()
    single = []
    deadline = time.perf_counter() + seconds
    for _ in range(100_000):
        start = time.perf_counter()
        model.run(signature, feeds)
        single.append(time.perf_counter() - start)
        if start > deadline:
            break
    batched = {k: np.repeat(v, batch, axis=0) for k, v in feeds.items()}
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline and calls < 100_000:
        model.run(signature, batched)
        calls += 1
    elapsed = time.perf_counter() - start
    return {
        "p50_ms": statistics.median(single) * 1e3,
        "p99_ms": float(np.percentile(single, 99)) * 1e3,
        "calls_per_s": len(single) / sum(single),
        "batch": batch,
        "examples_per_s": calls * batch / elapsed,
    }


def wait_ready(rest_port: int, model: str, proc: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError("the model server exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/{model}") as r:
                if b"AVAILABLE" in r.read():
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the model server did not become AVAILABLE")


async def drive(
    protocol: str,
    clients: int,
    seconds: float,
    port: int,
    model: str,
    signature: str,
    feeds: dict[str, np.ndarray],
    ready: Any = None,
) -> dict[str, Any]:
    """N clients back to back for `seconds`; latencies of every answered request.

    `ready`, when given, is called once the clients are set up, just before the clock starts
    (client processes meet at a barrier there).
    """
    latencies: list[float] = []
    failures = 0
    deadline = 0.0  # set once the clients are set up (imports are not part of the time)
    if protocol == "rest":
        import aiohttp

        body = rest_body({k: v for k, v in feeds.items()})
        url = f"http://127.0.0.1:{port}/v1/models/{model}:predict"
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            if ready is not None:
                ready()
            deadline = time.perf_counter() + seconds

            async def client() -> None:
                nonlocal failures
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    async with session.post(url, data=body) as response:
                        await response.read()
                        if response.status != 200:
                            failures += 1
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(client() for _ in range(clients)))
    else:
        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        from headwater.model_server.tensors import make_tensor_proto

        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        for key, value in feeds.items():
            request.inputs[key].CopyFrom(make_tensor_proto(value))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            if ready is not None:
                ready()
            deadline = time.perf_counter() + seconds

            async def client() -> None:
                nonlocal failures
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    try:
                        await stub.Predict(request, timeout=30)
                    except grpc.RpcError:
                        failures += 1
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(client() for _ in range(clients)))
    return {"latencies": latencies, "failures": failures}


def _summary(latencies: list[float], failures: int, seconds: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "failures": failures,
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": float(np.percentile(latencies, 99)) * 1e3,
    }


def _drive_process(barrier: Any, results: Any, drive_args: tuple[Any, ...]) -> None:
    """One client process (spawned): drive its share of the clients, put what it measured."""
    cpu = 0.0

    def ready() -> None:
        nonlocal cpu
        barrier.wait(timeout=120)
        cpu = time.process_time()

    result = asyncio.run(drive(*drive_args, ready=ready))
    result["cpu_seconds"] = time.process_time() - cpu
    results.put(result)


def drive_in_processes(
    processes: int, protocol: str, clients: int, seconds: float, *rest: Any
) -> tuple[dict[str, Any], float]:
    """`clients` split over `processes` spawned client processes (loopback, bounded by
    `seconds`); (merged result, their CPU seconds while driving)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    workers = [
        context.Process(
            target=_drive_process, args=(barrier, results, (protocol, n, seconds, *rest))
        )
        for n in shares
        if n
    ]
    if len(workers) != processes:
        raise SystemExit(f"--client-processes {processes} is more than {clients} clients")
    for worker in workers:
        worker.start()
    try:
        parts = [results.get(timeout=seconds + 300) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
                worker.join()
    latencies = [t for part in parts for t in part["latencies"]]
    merged = {"latencies": latencies, "failures": sum(part["failures"] for part in parts)}
    return merged, sum(part["cpu_seconds"] for part in parts)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid`, all its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_PROFILED = """
import cProfile, runpy, sys, time
out = sys.argv.pop(1)
sys.argv[0] = "headwater.model_server"
profiler = cProfile.Profile(time.thread_time)  # CPU time of the event-loop thread, not wall
profiler.enable()
try:
    runpy.run_module("headwater.model_server", run_name="__main__", alter_sys=True)
finally:
    profiler.disable()
    profiler.dump_stats(out)
"""


def serve(
    base: str,
    model: str,
    batching: bool,
    max_batch: int,
    workdir: str,
    tf_threads: int = 0,
    profile: str | None = None,
    src: str | None = None,
    batch_timeout_micros: int = 0,
    num_batch_threads: int = 2,
) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start `python -m headwater.model_server` (from `src` when given); wait until AVAILABLE."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    args = [
        sys.executable,
        *(["-c", _PROFILED, profile] if profile else ["-m", "headwater.model_server"]),
        f"--port={ports[0]}",
        f"--rest_api_port={ports[1]}",
        f"--model_name={model}",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=0",
        "--log_level=WARNING",
    ]
    if tf_threads:
        args += [
            f"--tensorflow_intra_op_parallelism={tf_threads}",
            f"--tensorflow_inter_op_parallelism={tf_threads}",
        ]
    if batching:
        params = os.path.join(workdir, "batching.config")
        with open(params, "w") as f:
            f.write(
                f"max_batch_size {{ value: {max_batch} }}\n"
                f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
                f"num_batch_threads {{ value: {num_batch_threads} }}\n"
            )
        args += ["--enable_batching", f"--batching_parameters_file={params}"]
    env = dict(os.environ)
    if src:
        # headwater is a namespace package: the first portion holding model_server wins.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(args, env=env)
    wait_ready(ports[1], model, proc)
    return proc, ports[0], ports[1]


def batch_totals(rest_port: int) -> tuple[float, float]:
    """(examples, model calls) of the server's batch-size histogram so far (its /metrics)."""
    import urllib.request

    url = f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
    with urllib.request.urlopen(url) as response:
        text = response.read().decode()
    totals = {"_sum": 0.0, "_count": 0.0}
    for line in text.splitlines():
        if line.startswith("headwater_model_server_batch_size_"):
            name, value = line.rsplit(" ", 1)
            suffix = name.split("{")[0].removeprefix("headwater_model_server_batch_size")
            if suffix in totals:
                totals[suffix] += float(value)
    return totals["_sum"], totals["_count"]


def measure(
    proc: subprocess.Popen[bytes],
    protocol: str,
    clients: int,
    port: int,
    rest_port: int,
    args: Any,
    feeds: Any,
) -> dict[str, Any]:
    """One row: `drive`, plus CPU time per answered request (server, clients), mean batch."""
    examples, calls = batch_totals(rest_port)
    drive_args = (protocol, clients, args.seconds, port, args.model_name, args.signature, feeds)
    server_cpu = cpu_seconds(proc.pid)
    if args.client_processes > 1:
        driven, client_cpu = drive_in_processes(args.client_processes, *drive_args)
    else:
        client_cpu = time.process_time()
        driven = asyncio.run(drive(*drive_args))
        client_cpu = time.process_time() - client_cpu
    server_cpu = cpu_seconds(proc.pid) - server_cpu
    result: dict[str, Any] = _summary(driven["latencies"], driven["failures"], args.seconds)
    result["examples_per_s"] = result["requests_per_s"] * args.examples_per_request
    answered = max(1, result["requests"])
    result["server_cpu_us_per_request"] = server_cpu / answered * 1e6
    result["client_cpu_us_per_request"] = client_cpu / answered * 1e6
    examples_after, calls_after = batch_totals(rest_port)
    batches = calls_after - calls
    result["mean_batch"] = (examples_after - examples) / batches if batches else 0.0
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base-path", help="a pushed model's base path (default: a built Keras model)")
    p.add_argument("--model-name", default="bench")
    p.add_argument("--signature", default="serving_default")
    p.add_argument(
        "--features",
        default=json.dumps(PENGUIN_FEATURES),
        help="JSON features of the one example (serialized-Example signatures)",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument("--protocols", default="rest,grpc")
    p.add_argument("--batching", default="off,on")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument(
        "--num-batch-threads",
        type=int,
        default=2,
        help="the batching config's num_batch_threads (batches running at once)",
    )
    p.add_argument(
        "--examples-per-request",
        type=int,
        default=1,
        help="examples each request carries (the ceiling's batch stays --max-batch-size)",
    )
    p.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="spread the clients over this many spawned processes (loopback, bounded like "
        "one); 1 drives them from this process",
    )
    p.add_argument(
        "--batch-timeout-micros",
        type=int,
        default=0,
        help="the batching config's batch_timeout_micros (TF Serving: how long a batch waits "
        "to fill after its first request)",
    )
    p.add_argument(
        "--profile-server",
        metavar="DIR",
        help="run the server under cProfile (its event-loop thread) and write "
        "DIR/server_batching_<mode>.prof per batching mode",
    )
    p.add_argument(
        "--ab-src",
        metavar="DIR",
        help="A/B: also serve headwater.model_server from DIR (e.g. an older checkout's "
        "packages/model-server/src) and measure it ('old') beside this one ('new'), row by row",
    )
    p.add_argument(
        "--tf-threads",
        type=int,
        default=0,
        help="the server's --tensorflow_intra/inter_op_parallelism (0: TensorFlow's choice; "
        "1 suits a small model: no hand-off to TF's thread pools per call)",
    )
    args = p.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench_model_server_")
    base = args.base_path or build_default_model(workdir)
    versions = sorted(int(v) for v in os.listdir(base) if v.isdigit())
    version_dir = os.path.join(base, str(versions[-1]))
    from headwater.io.saved_model import SavedModelHandler

    spec = SavedModelHandler(version_dir).load_model().signatures[args.signature]
    feeds = one_example(spec, json.loads(args.features))
    if args.examples_per_request > 1:
        feeds = {k: np.repeat(v, args.examples_per_request, axis=0) for k, v in feeds.items()}
    bare = ceiling(version_dir, args.signature, feeds, args.max_batch_size, args.seconds)
    print(
        f"bare call: p50 {bare['p50_ms']:.3f} ms, p99 {bare['p99_ms']:.3f} ms at 1 example; "
        f"{bare['examples_per_s']:.0f} examples/s at batch {bare['batch']}",
        flush=True,
    )
    servers = {"": None} if not args.ab_src else {"old": args.ab_src, "new": None}
    rows = []
    for mode in args.batching.split(","):
        procs = {}
        try:
            for label, src in servers.items():
                profile = None
                if args.profile_server:
                    os.makedirs(args.profile_server, exist_ok=True)
                    profile = os.path.join(
                        args.profile_server, f"server{label and '_' + label}_batching_{mode}.prof"
                    )
                procs[label] = serve(
                    base,
                    args.model_name,
                    mode == "on",
                    args.max_batch_size,
                    workdir,
                    args.tf_threads,
                    profile,
                    src,
                    args.batch_timeout_micros,
                    args.num_batch_threads,
                )
            for protocol in args.protocols.split(","):
                for clients in (int(c) for c in args.concurrency.split(",")):
                    for label, (proc, grpc_port, rest_port) in procs.items():
                        port = rest_port if protocol == "rest" else grpc_port
                        result = measure(proc, protocol, clients, port, rest_port, args, feeds)
                        row = {
                            "protocol": protocol,
                            "batching": mode,
                            "clients": clients,
                            **({"server": label} if label else {}),
                            **result,
                        }
                        rows.append(row)
                        print(
                            f"{label:3s} {protocol:4s} batching={mode:3s} clients={clients:3d}: "
                            f"{result['requests_per_s']:6.0f} req/s "
                            f"{result['examples_per_s']:7.0f} ex/s  "
                            f"p50 {result['p50_ms']:7.3f} ms  p99 {result['p99_ms']:7.3f} ms  "
                            f"cpu/req server {result['server_cpu_us_per_request']:5.0f} us "
                            f"client {result['client_cpu_us_per_request']:4.0f} us  "
                            f"batch {result['mean_batch']:4.1f}  "
                            f"failures {result['failures']}",
                            flush=True,
                        )
        finally:
            for proc, _g, _r in procs.values():
                proc.terminate()
            for proc, _g, _r in procs.values():
                proc.wait(timeout=120)
    print(f"load average: {os.getloadavg()}, cpus: {os.cpu_count()}", flush=True)
    settings = {
        "tf_threads": args.tf_threads,
        "batch_timeout_micros": args.batch_timeout_micros,
        "max_batch_size": args.max_batch_size,
        "num_batch_threads": args.num_batch_threads,
        "examples_per_request": args.examples_per_request,
        "client_processes": args.client_processes,
    }
    print("RESULT " + json.dumps({"bare": bare, "served": rows, **settings}))


if __name__ == "__main__":
    main()

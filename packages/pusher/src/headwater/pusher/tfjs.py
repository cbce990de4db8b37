"""The TensorFlow.js target: convert in an isolated environment, verify in Node, then publish.

`tensorflowjs` cannot share an interpreter with ml-metadata (it needs protobuf >= 5 through
tensorflow-decision-forests/ydf; ml-metadata needs protobuf < 5), so the converter runs as a
subprocess of its own virtual environment, created on first use from the hash-locked
`tfjs_tooling/requirements.txt` under `$XDG_CACHE_HOME/headwater/` (uv when on PATH, else
venv + pip) and reused afterwards. The graph model is then loaded in Node with the pure-JS
`@tensorflow/tfjs` (locked by `tfjs_tooling/package-lock.json`, installed with `npm ci` into the
same cache on first use) and run on the same feeds as the SavedModel.

Signatures: as for TFLite, a raw-features signature is preferred; TF.js has no ParseExample,
so a serialized tf.Example signature is a ConversionError naming the op.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from headwater.io.isolated_env import (
    IsolatedEnvError,
    cache_root,
    digest,
    isolated_python,
    locked,
    run_tool,
)
from headwater.pusher.filesystem import PushError
from headwater.pusher.parity import ConversionError, Parity, Tolerance, compare_outputs
from headwater.pusher.parity import reference_outputs as _reference_outputs
from headwater.pusher.tflite import ConvertedModel, choose_signature

__all__ = [
    "TFJS_FILE",
    "TFJS_QUANTIZATIONS",
    "ToolingError",
    "cache_root",
    "convert_to_tfjs",
    "converter_python",
    "node_verifier",
    "run_tfjs",
    "verify_tfjs",
]

logger = logging.getLogger(__name__)

TFJS_FILE = "model.json"
"""The graph model's topology and weights manifest inside its version directory."""
TFJS_QUANTIZATIONS = ("none", "float16", "uint8")
TOOLING = Path(__file__).parent / "tfjs_tooling"
_INSTALL_TIMEOUT_S = 1800
_CONVERT_TIMEOUT_S = 900
_JS_DTYPES = {"f": "float32", "i": "int32", "u": "int32", "b": "bool"}


class ToolingError(PushError, OSError):
    """The isolated converter or Node verifier cannot be installed or started."""


def _run(argv: list[str], what: str, timeout: float, cwd: str | None = None) -> None:
    try:
        run_tool(argv, what, timeout, cwd)
    except IsolatedEnvError as exc:
        raise ToolingError(str(exc)) from exc


def converter_python() -> str:
    """The isolated converter environment's python, created on first use (minutes, once)."""
    try:
        return isolated_python(
            "tfjs-converter", TOOLING / "requirements.txt", description="TensorFlow.js converter"
        )
    except IsolatedEnvError as exc:
        raise ToolingError(str(exc)) from exc


def node_verifier() -> Path:
    """A directory holding verify.mjs and its node_modules (`npm ci`, on first use)."""
    files = [TOOLING / "package.json", TOOLING / "package-lock.json", TOOLING / "verify.mjs"]
    target = cache_root() / f"tfjs-node-{digest(*files)}"
    done = target / ".complete"
    if done.exists():
        return target
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise ToolingError(
            "verifying a TensorFlow.js model needs Node.js 18+ and npm on PATH; found "
            f"node={node}, npm={npm}"
        )
    with locked(target.with_name(target.name + ".lock")):
        if done.exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for f in files:
            shutil.copy(f, target / f.name)
        what = f"installing @tensorflow/tfjs with npm ci in {target}"
        try:
            _run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                what,
                _INSTALL_TIMEOUT_S,
                cwd=str(target),
            )
        except ToolingError:
            shutil.rmtree(target, ignore_errors=True)
            raise
        done.write_text("ok\n")
    return target


def convert_to_tfjs(
    saved_model_dir: str,
    output_dir: str,
    *,
    signature_name: str | None = None,
    quantization: str = "none",
) -> ConvertedModel:
    """Convert one signature to a TF.js graph model in `output_dir` (model.json + shards)."""
    from headwater.io.saved_model import SavedModelHandler

    if quantization not in TFJS_QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {TFJS_QUANTIZATIONS}, got {quantization!r}")
    started = time.perf_counter()
    described = SavedModelHandler(saved_model_dir).load_model()
    name = choose_signature(described.signatures, signature_name, saved_model_dir)
    spec = described.signatures[name]
    python = converter_python()
    converter = str(Path(python).parent / "tensorflowjs_converter")
    argv = [
        converter,
        "--input_format=tf_saved_model",
        "--output_format=tfjs_graph_model",
        f"--signature_name={name}",
        "--saved_model_tags=serve",
    ]
    if quantization != "none":
        argv.append(f"--quantize_{quantization}=*")
    os.makedirs(output_dir, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    with tempfile.TemporaryDirectory(prefix="headwater-tfjs-frozen-") as tmp:
        source = _frozen_signature(saved_model_dir, name, os.path.join(tmp, "frozen"))
        try:
            done = subprocess.run(
                [*argv, source, output_dir],
                capture_output=True,
                text=True,
                timeout=_CONVERT_TIMEOUT_S,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolingError(
                f"SavedModel {saved_model_dir}: tensorflowjs_converter: {exc}"
            ) from exc
    if done.returncode != 0 or not os.path.exists(os.path.join(output_dir, TFJS_FILE)):
        raise ConversionError(
            f"SavedModel {saved_model_dir}: signature {name!r} cannot be converted to "
            f"TensorFlow.js: {_converter_reason(done.stderr or done.stdout)}"
        )
    rewritten = _replace_ensure_shape(os.path.join(output_dir, TFJS_FILE))
    details = {
        "format": "tfjs_graph_model",
        "ensure_shape_as_identity": rewritten,
        "signature_name": name,
        "inputs": {k: [t.dtype, list(t.shape or ())] for k, t in spec.inputs.items()},
        "outputs": sorted(spec.outputs),
        "quantization": quantization,
        "converter": "tensorflowjs==4.22.0",
    }
    with open(os.path.join(output_dir, "conversion.json"), "w", encoding="utf-8") as f:
        json.dump(details, f, indent=2, sort_keys=True)
    return ConvertedModel(
        format="tfjs",
        directory=output_dir,
        signature_name=name,
        quantization=quantization,
        seconds=time.perf_counter() - started,
        details=details,
    )


def _frozen_signature(saved_model_dir: str, name: str, out: str) -> str:
    """A SavedModel holding only signature `name` with its variables folded into constants.

    tensorflowjs 4.22 cannot freeze some SavedModels itself (a Trainer's model that embeds the
    transform graph: grappler fails to import the MetaGraph, then its TF1 fallback loses the
    output node); the workspace's TensorFlow freezes the one signature instead. Models it cannot
    freeze (hash tables) go to the converter as they are.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    try:
        loaded = tf.saved_model.load(saved_model_dir)
        frozen = convert_variables_to_constants_v2(loaded.signatures[name])
        tf.saved_model.save(tf.Module(), out, signatures={name: frozen})
    except Exception as exc:  # tables, unsupported resources: let the converter try itself
        logger.info("converting %s unfrozen: %s", saved_model_dir, exc)
        return saved_model_dir
    return out


def _replace_ensure_shape(model_json: str) -> int:
    """Rewrite EnsureShape nodes as Identity; returns how many.

    @tensorflow/tfjs 4.22 fails on EnsureShape (its op mapper reads a missing input); the op
    only asserts a shape the graph already has, so Identity computes the same values.
    """
    with open(model_json, encoding="utf-8") as f:
        model = json.load(f)
    count = 0
    for node in model.get("modelTopology", {}).get("node", []):
        if node.get("op") == "EnsureShape":
            node["op"] = "Identity"
            node["input"] = node.get("input", [])[:1]
            node.pop("attr", None)
            count += 1
    if count:
        with open(model_json, "w", encoding="utf-8") as f:
            json.dump(model, f)
    return count


def _converter_reason(text: str) -> str:
    """The converter's own complaint (unsupported ops), not its traceback."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for i in reversed(range(len(lines))):
        if lines[i].startswith("ValueError: Unsupported Ops"):  # the op names follow
            return " ".join(lines[i : i + 2])[len("ValueError: ") :][:500]
    for line in reversed(lines):
        if "Error" in line:
            return line[:500]
    return (lines[-1] if lines else "no output")[:500]


def run_tfjs(model_dir: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of the graph model in `model_dir` on `feeds`, run by @tensorflow/tfjs in Node."""
    verifier = node_verifier()
    payload = {"inputs": {name: _js_tensor(name, array) for name, array in feeds.items()}}
    with tempfile.TemporaryDirectory(prefix="headwater-tfjs-") as tmp:
        feeds_path, outputs_path = os.path.join(tmp, "feeds.json"), os.path.join(tmp, "out.json")
        with open(feeds_path, "w", encoding="utf-8") as f:
            json.dump(payload, f)
        node = shutil.which("node") or "node"
        argv = [node, str(verifier / "verify.mjs"), model_dir, feeds_path, outputs_path]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolingError(f"{model_dir}: running the TF.js model in Node: {exc}") from exc
        if done.returncode != 0:
            lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
            reason = next((x for x in lines if "failed" in x), lines[-1] if lines else "")
            raise ConversionError(f"{model_dir}: @tensorflow/tfjs cannot run it: {reason[:400]}")
        with open(outputs_path, encoding="utf-8") as f:
            out = json.load(f)
    return {k: np.asarray(v["data"], dtype=np.float64).reshape(v["shape"]) for k, v in out.items()}


def _js_tensor(name: str, array: np.ndarray) -> dict[str, object]:
    dtype = _JS_DTYPES.get(array.dtype.kind)
    if dtype is None:
        raise ConversionError(
            f"input {name!r}: dtype {array.dtype} has no TensorFlow.js equivalent; expected "
            "numbers or booleans (use a raw-features signature)"
        )
    return {"dtype": dtype, "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def verify_tfjs(
    converted: ConvertedModel,
    saved_model_dir: str,
    batch: pa.RecordBatch,
    tolerance: Tolerance,
) -> tuple[Parity, float]:
    """Parity of the TF.js model (in Node) with the SavedModel on `batch`, and the seconds."""
    started = time.perf_counter()
    feeds, expected = _reference_outputs(saved_model_dir, converted.signature_name, batch)
    actual = run_tfjs(converted.directory, feeds)
    parity = compare_outputs(expected, actual, tolerance, what=f"TF.js model of {saved_model_dir}")
    return parity, time.perf_counter() - started

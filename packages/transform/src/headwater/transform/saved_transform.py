"""Save the analyzed graph as a SavedModel in TFT's layout, and run a saved one on batches.

Layout of an output directory (as TFT and the TFX Transform component write it):
    transform_fn/                 SavedModel: signature "transform_signature" (raw feature
                                  tensors in, transformed tensors out) and "serving_default"
                                  (serialized tf.Examples in), vocabularies in assets/
    transformed_metadata/schema.pbtxt   schema of the outputs (int domains for vocab/buckets)
    transformed_metadata/asset_map      vocabulary name -> asset file name (JSON)
    metadata/schema.pbtxt               the raw schema
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.transform.analysis import VOCAB_SIZE_KEY, VOCABULARY_KINDS
from headwater.transform.features import (
    FeatureSpec,
    make_placeholders,
    output_spec,
    schema_from_spec,
    to_feeds,
    to_record_batch,
)
from headwater.transform.graph import TracedGraph, closure, component_names, parts, rebuild

TRANSFORM_FN_DIR = "transform_fn"
TRANSFORMED_METADATA_DIR = "transformed_metadata"
RAW_METADATA_DIR = "metadata"
SIGNATURE = "transform_signature"
SERVING_SIGNATURE = "serving_default"
EXAMPLES_INPUT = "examples"


def write_schema(schema: schema_pb2.Schema, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "schema.pbtxt"), "w") as f:
        f.write(text_format.MessageToString(schema))


def _domains(traced: TracedGraph, results: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Integer ranges of outputs fed by a vocabulary or bucketize, from analysis results."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(traced.graph_def)
        tf.graph_util.import_graph_def(gd, name="")
    by_tensor: dict[str, tuple[int, int]] = {}
    for ann in traced.annotations:
        node = traced.analyzers[ann.analyzer]
        if ann.kind == "vocabulary":
            size = int(results.get(VOCAB_SIZE_KEY.format(node.index), 0))
            by_tensor[ann.tensor] = (0, max(size + ann.extra - 1, 0))
        elif ann.kind == "buckets":
            by_tensor[ann.tensor] = (0, int(np.asarray(results[node.outputs[0]]).size))
    domains = {}
    for name, (kind, names) in traced.outputs.items():
        values = names[1] if kind == "sparse" else names[0]
        source = graph.get_tensor_by_name(values).op.inputs[0].name  # before the Identity
        if source in by_tensor:
            domains[name] = by_tensor[source]
    return domains


def save_transform(
    traced: TracedGraph,
    results: dict[str, Any],
    output_dir: str,
    raw_schema: schema_pb2.Schema | None = None,
) -> str:
    """Bind analyzer results into the traced graph and write `output_dir` (TFT layout)."""
    import tensorflow as tf

    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".transform_fn-", dir=output_dir)
    graph = tf.Graph()
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(traced.graph_def)
    with graph.as_default():
        constants: dict[str, Any] = {}
        asset_map: dict[str, str] = {}
        for node in traced.analyzers:
            for ph in node.outputs:
                value = results[ph]
                if node.kind in VOCABULARY_KINDS:
                    c = tf.constant(value, name=f"asset_{node.index}")
                    graph.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, c)
                    asset_map[node.config["vocab_filename"]] = os.path.basename(value)
                else:
                    dtype = graph_dtype(gd, ph)
                    c = tf.constant(np.asarray(value), dtype=dtype)
                constants[ph] = c
        raw = make_placeholders(traced.spec)
        serialized = tf.compat.v1.placeholder(tf.string, [None], name=EXAMPLES_INPUT)
        parsed = tf.io.parse_example(serialized, traced.spec)
        inits = []
        sig_outputs = []
        for scope, features in (("transform", raw), ("serving", parsed)):
            input_map = dict(constants)
            for name, (_, names) in traced.inputs.items():
                for src, dst in zip(names, component_names(features[name]), strict=True):
                    input_map[src] = graph.get_tensor_by_name(dst)
            tf.graph_util.import_graph_def(gd, input_map=input_map, return_elements=[], name=scope)
            inits += [
                graph.get_operation_by_name(f"{scope}/{op}") for op in traced.table_initializers
            ]
            outs = {
                name: rebuild(graph, kind, [f"{scope}/{n}" for n in names])
                for name, (kind, names) in traced.outputs.items()
            }
            sig_outputs.append(outs)
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        transform_sig = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
            inputs={name: info(t) for name, t in raw.items()},
            outputs={name: info(t) for name, t in sig_outputs[0].items()},
            method_name="tensorflow/serving/predict",
        )
        serving_sig = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
            inputs={EXAMPLES_INPUT: info(serialized)},
            outputs={name: info(t) for name, t in sig_outputs[1].items()},
            method_name="tensorflow/serving/predict",
        )
        main_op = tf.group(*inits, name="main_op")
        with tf.compat.v1.Session(graph=graph) as sess:
            builder = tf.compat.v1.saved_model.Builder(os.path.join(staging, TRANSFORM_FN_DIR))
            builder.add_meta_graph_and_variables(
                sess,
                [tf.saved_model.SERVING],
                signature_def_map={SIGNATURE: transform_sig, SERVING_SIGNATURE: serving_sig},
                assets_collection=graph.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
                main_op=main_op,
                strip_default_attrs=True,
            )
            builder.save()
    out_schema = schema_from_spec(output_spec(sig_outputs[0]), _domains(traced, results))
    write_schema(out_schema, os.path.join(staging, TRANSFORMED_METADATA_DIR))
    with open(os.path.join(staging, TRANSFORMED_METADATA_DIR, "asset_map"), "w") as f:
        json.dump(asset_map, f)
    write_schema(
        raw_schema if raw_schema is not None else schema_from_spec(traced.spec, {}),
        os.path.join(staging, RAW_METADATA_DIR),
    )
    for sub in (TRANSFORM_FN_DIR, TRANSFORMED_METADATA_DIR, RAW_METADATA_DIR):
        dst = os.path.join(output_dir, sub)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        os.replace(os.path.join(staging, sub), dst)
    shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def graph_dtype(gd: Any, tensor_name: str) -> Any:
    """The dtype of a placeholder in a GraphDef, by tensor name."""
    import tensorflow as tf

    op_name = tensor_name.split(":")[0]
    for node in gd.node:
        if node.name == op_name:
            return tf.dtypes.as_dtype(node.attr["dtype"].type)
    raise KeyError(tensor_name)


class SavedTransformRunner:
    """Apply a saved transform_fn to RecordBatches in one session (lazily loaded; picklable)."""

    def __init__(self, transform_fn_dir: str, spec: FeatureSpec) -> None:
        self.transform_fn_dir = transform_fn_dir
        self.spec = spec
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_session"] = None
        return state

    def _ensure(self) -> None:
        if self._session is not None:
            return
        import tensorflow as tf

        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph)
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(
                session, [tf.saved_model.SERVING], self.transform_fn_dir
            )
            sig = meta.signature_def[SIGNATURE]
            get = tf.compat.v1.saved_model.utils.get_tensor_from_tensor_info
            self._names = sorted(sig.outputs)
            self._outputs = [get(sig.outputs[n], graph) for n in self._names]
            needed = closure([p for o in self._outputs for p in parts(o)])
            self._placeholders = {}
            for name, info in sig.inputs.items():
                t = get(info, graph)
                if any(p.op.name in needed for p in parts(t)) and name in self.spec:
                    self._placeholders[name] = t
        self._session = session

    def run(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Transformed columns for one batch of raw rows."""
        self._ensure()
        feeds = to_feeds(batch, self.spec, self._placeholders)
        values = self._session.run(self._outputs, feed_dict=feeds)
        values = [(v.flat_values, v.row_splits) if hasattr(v, "row_splits") else v for v in values]
        return to_record_batch(self._names, values, batch.num_rows)

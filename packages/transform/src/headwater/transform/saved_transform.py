"""Save the analyzed graph as a SavedModel in TFT's layout, and run a saved one on batches.

Layout of an output directory (as TFT and the TFX Transform component write it):
    transform_fn/                 TF2 SavedModel as TFT 1.x writes it by default: a function
                                  `transform_fn` (dict of raw dense / sparse / ragged tensors in,
                                  dict of transformed tensors out), signature "serving_default"
                                  (serialized tf.Examples in), vocabularies in assets/
    transformed_metadata/schema.pbtxt   schema of the outputs (int domains for vocab/buckets)
    transformed_metadata/asset_map      vocabulary name -> asset file name (JSON)
    metadata/schema.pbtxt               the raw schema
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.io import filesystems
from headwater.transform.analysis import VOCAB_SIZE_KEY, VOCABULARY_KINDS
from headwater.transform.errors import FeatureSpecError
from headwater.transform.features import (
    FeatureSpec,
    feature_value,
    output_spec,
    schema_from_spec,
    to_record_batch,
)
from headwater.transform.graph import TracedGraph, parts, rebuild

TRANSFORM_FN_DIR = "transform_fn"
TRANSFORMED_METADATA_DIR = "transformed_metadata"
RAW_METADATA_DIR = "metadata"
SERVING_SIGNATURE = "serving_default"
EXAMPLES_INPUT = "examples"
_SCOPE = "transform"


def write_schema(schema: schema_pb2.Schema, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "schema.pbtxt"), "w") as f:
        f.write(text_format.MessageToString(schema))


def _domains(traced: TracedGraph, results: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Integer ranges of outputs fed by a vocabulary or bucketize, from analysis results."""
    import tensorflow as tf

    by_tensor: dict[str, tuple[int, int]] = {}
    for ann in traced.annotations:
        node = traced.analyzers[ann.analyzer]
        if ann.kind == "vocabulary":
            size = int(results.get(VOCAB_SIZE_KEY.format(node.index), 0))
            by_tensor[ann.tensor] = (0, max(size + ann.extra - 1, 0))
        elif ann.kind == "buckets":
            by_tensor[ann.tensor] = (0, int(np.asarray(results[node.outputs[0]]).size))
    if not by_tensor:
        return {}
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(traced.graph_def)
    first_input = {n.name: n.input[0] for n in gd.node if n.input}
    domains = {}
    for name, (kind, names) in traced.outputs.items():
        values = names[1] if kind == "sparse" else names[0]
        source = first_input.get(values.split(":")[0], "")  # the tensor before the Identity
        if ":" not in source:
            source += ":0"
        if source in by_tensor:
            domains[name] = by_tensor[source]
    return domains


def _input_signature(traced: TracedGraph) -> dict[str, Any]:
    """The TensorSpec / SparseTensorSpec / RaggedTensorSpec of each raw feature."""
    import tensorflow as tf

    specs: dict[str, Any] = {}
    for name, f in traced.spec.items():
        if isinstance(f, tf.io.FixedLenFeature):
            specs[name] = tf.TensorSpec([None, *f.shape], f.dtype)
        elif isinstance(f, tf.io.VarLenFeature):
            specs[name] = tf.SparseTensorSpec([None, None], f.dtype)
        else:
            specs[name] = tf.RaggedTensorSpec(
                [None, None], f.dtype, ragged_rank=1, row_splits_dtype=f.row_splits_dtype
            )
    return specs


_MODULES = itertools.count()


def _unshare_resources(gd: Any, suffix: str) -> None:
    """Give every resource op (the vocabularies' hash tables) a shared name of its own.

    A table's shared name comes from its vocabulary placeholder, the same in every trace of
    one preprocessing_fn; two transform functions called in one process would then share
    one table, initialized from the first one's vocabulary. TensorFlow's SavedModel loader
    makes loaded functions' names unique the same way (it appends a suffix of its own).
    """
    for node in gd.node:
        if "shared_name" in node.attr:
            name = node.attr["shared_name"].s or node.name.encode()
            node.attr["shared_name"].s = name + suffix.encode()


def _transform_module(traced: TracedGraph, results: dict[str, Any]) -> Any:
    """A tf.Module whose `transform_fn` applies the traced graph with analyzer results bound.

    This is TFT's TF2 export: `transform_fn` takes and returns a dict of (composite) tensors,
    and its ops are inlined, so an output depends on exactly the inputs it reads. Vocabularies
    are tracked `tf.saved_model.Asset`s, copied into assets/ and re-pointed on load.
    """
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(traced.graph_def)
    _unshare_resources(gd, f"_transform_fn_{next(_MODULES)}")
    module = tf.Module()
    assets: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for node in traced.analyzers:
        for ph in node.outputs:
            if node.kind in VOCABULARY_KINDS:
                assets[ph] = tf.saved_model.Asset(results[ph])
            else:
                values[ph] = (np.asarray(results[ph]), graph_dtype(gd, ph))
    module.vocabulary_assets = list(assets.values())

    @tf.function(input_signature=[_input_signature(traced)], autograph=False)
    def transform_fn(inputs: dict[str, Any]) -> dict[str, Any]:
        graph = tf.compat.v1.get_default_graph()
        input_map: dict[str, Any] = {ph: tf.identity(a.asset_path) for ph, a in assets.items()}
        input_map.update({ph: tf.constant(v, dtype=d) for ph, (v, d) in values.items()})
        for name, (_, names) in traced.inputs.items():
            for src, t in zip(names, parts(inputs[name]), strict=True):
                input_map[src] = t
        tf.graph_util.import_graph_def(gd, input_map=input_map, return_elements=[], name=_SCOPE)
        outputs = {
            name: rebuild(graph, kind, [f"{_SCOPE}/{n}" for n in names])
            for name, (kind, names) in traced.outputs.items()
        }
        module.output_tensors = dict(outputs)  # the traced outputs' types, for the schema
        return outputs

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)], autograph=False
    )
    def serve_examples(examples: Any) -> dict[str, Any]:
        return transform_fn(tf.io.parse_example(examples, traced.spec))

    module.transform_fn = transform_fn
    module.serve_examples = serve_examples
    return module


def save_transform(
    traced: TracedGraph,
    results: dict[str, Any],
    output_dir: str,
    raw_schema: schema_pb2.Schema | None = None,
) -> str:
    """Bind analyzer results into the traced graph and write `output_dir` (TFT layout).

    `output_dir` may be a URL (`s3://`, `gs://`, ...): the output is written to a local
    temporary directory, then each file published under the URL (`filesystems.upload_tree`).
    """
    _save(traced, results, output_dir, raw_schema)
    return output_dir


def save_transform_function(
    traced: TracedGraph,
    results: dict[str, Any],
    output_dir: str,
    raw_schema: schema_pb2.Schema | None = None,
) -> TransformFunction | None:
    """`save_transform`, and the transform_fn the save traced, ready to call in this process
    (so a transform right after the analysis need not load the SavedModel it just wrote).

    The function reads its vocabularies from the paths in `results`, which must outlive it.
    None where the graph holds functions of its own (tf.cond branches, asserts: a traced
    function does not register them for an eager call) or TensorFlow kept no traced function.
    """
    import tensorflow as tf

    module = _save(traced, results, output_dir, raw_schema)
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(traced.graph_def)
    if gd.library.function:  # graph functions (tf.cond branches...) are registered by a load
        return None
    cache = getattr(module.transform_fn, "_function_cache", None)  # TF's traces, by context
    traced_fns = list(cache.values()) if cache is not None else []
    if len(traced_fns) != 1:
        return None
    return TransformFunction.from_function(traced_fns[0])


def _save(
    traced: TracedGraph,
    results: dict[str, Any],
    output_dir: str,
    raw_schema: schema_pb2.Schema | None,
) -> Any:
    """Write `output_dir`; the tf.Module saved (its functions traced by the save)."""
    import tensorflow as tf

    if filesystems.is_url(output_dir):
        local = tempfile.mkdtemp(prefix="headwater-transform-output-")
        try:
            module = _save(traced, results, local, raw_schema)
            filesystems.upload_tree(local, output_dir)
        finally:
            shutil.rmtree(local, ignore_errors=True)
        return module
    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".transform_fn-", dir=output_dir)
    asset_map = {
        node.config["vocab_filename"]: os.path.basename(results[ph])
        for node in traced.analyzers
        if node.kind in VOCABULARY_KINDS
        for ph in node.outputs
    }
    module = _transform_module(traced, results)
    # Every function is traced once, inside the save: tracing one before it would trace it
    # again there (the save context is part of tf.function's cache key). Custom gradients
    # are not searched for: a transform graph has none.
    tf.saved_model.save(
        module,
        os.path.join(staging, TRANSFORM_FN_DIR),
        signatures={SERVING_SIGNATURE: module.serve_examples},
        options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
    )
    out_schema = schema_from_spec(output_spec(module.output_tensors), _domains(traced, results))
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
    return module


def graph_dtype(gd: Any, tensor_name: str) -> Any:
    """The dtype of a placeholder in a GraphDef, by tensor name."""
    import tensorflow as tf

    op_name = tensor_name.split(":")[0]
    for node in gd.node:
        if node.name == op_name:
            return tf.dtypes.as_dtype(node.attr["dtype"].type)
    raise KeyError(tensor_name)


def _batch_size(value: Any) -> Any:
    import tensorflow as tf

    if isinstance(value, tf.SparseTensor):
        return value.dense_shape[0]
    if isinstance(value, tf.RaggedTensor):
        return value.nrows(out_type=tf.int64)
    return tf.shape(value, out_type=tf.int64)[0]


def _empty_input(spec: Any, batch_size: Any) -> Any:
    """A batch of `batch_size` rows with no values for an input that was not given."""
    import tensorflow as tf

    if isinstance(spec, tf.SparseTensorSpec):
        rank = spec.shape.rank or 2
        return tf.SparseTensor(
            tf.zeros([0, rank], tf.int64),
            tf.zeros([0], spec.dtype),
            tf.concat([[batch_size], tf.ones([rank - 1], tf.int64)], 0),
        )
    if isinstance(spec, tf.RaggedTensorSpec):
        splits = tf.zeros([batch_size + 1], spec.row_splits_dtype)
        return tf.RaggedTensor.from_row_splits(tf.zeros([0], spec.dtype), splits, validate=False)
    dims = [d if d is not None else 1 for d in spec.shape[1:]]
    return tf.zeros(tf.concat([[batch_size], tf.constant(dims, tf.int64)], 0), spec.dtype)


class TransformFunction:
    """A saved transform graph's `transform_fn` (Headwater's or TFT 1.x's TF2 export): call it
    on a dict of raw tensors; raw features not given get empty values and the outputs that
    depend on them are left out (as TFT's TransformFeaturesLayer does)."""

    def __init__(self, transform_fn_dir: str) -> None:
        import tensorflow as tf

        self.loaded = tf.saved_model.load(transform_fn_dir)
        fn = getattr(self.loaded, "transform_fn", None)
        if fn is None:
            raise FeatureSpecError(
                f"{transform_fn_dir} has no transform_fn function: it was written with TF1 "
                "APIs (TFT's force_tf_compat_v1=True, or Headwater before its graphs became "
                "TFT-readable); re-run the Transform to write a TF2 transform graph"
            )
        if hasattr(fn, "concrete_functions"):
            fn = fn.concrete_functions[0]
        self._bind(fn)

    @classmethod
    def from_function(cls, fn: Any) -> TransformFunction:
        """A concrete transform_fn traced in this process (no SavedModel loaded; `loaded`
        is None)."""
        function = cls.__new__(cls)
        function.loaded = None
        function._bind(fn)
        return function

    def _bind(self, fn: Any) -> None:
        self.fn = fn
        self.input_specs: dict[str, Any] = dict(fn.structured_input_signature[0][0])
        self._deps: dict[str, set[str]] | None = None

    def dependencies(self) -> dict[str, set[str]]:
        """For each output, the raw features it reads (data edges only, as TFT walks them)."""
        if self._deps is not None:
            return self._deps
        import tensorflow as tf

        graph = self.fn.graph
        owner: dict[str, str] = {}
        inputs = iter(graph.inputs)
        for name in sorted(self.input_specs):
            for _ in tf.nest.flatten(self.input_specs[name], expand_composites=True):
                owner[next(inputs).op.name] = name
        outputs = tf.nest.pack_sequence_as(
            graph.structured_outputs, graph.outputs, expand_composites=True
        )
        deps: dict[str, set[str]] = {}
        for name, out in outputs.items():
            seen: set[str] = set()
            stack = [t.op for t in tf.nest.flatten(out, expand_composites=True)]
            while stack:
                op = stack.pop()
                if op.name not in seen:
                    seen.add(op.name)
                    stack.extend(t.op for t in op.inputs)
            deps[name] = {owner[n] for n in seen if n in owner}
        self._deps = deps
        return deps

    def __call__(self, features: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        unknown = set(features) - set(self.input_specs)
        if unknown:
            raise KeyError(
                f"raw features {sorted(unknown)} are not inputs of the transform graph "
                f"(inputs: {sorted(self.input_specs)})"
            )
        missing = set(self.input_specs) - set(features)
        args = dict(features)
        if missing:
            size = (
                _batch_size(next(iter(features.values()))) if features else tf.constant(1, tf.int64)
            )
            args.update({k: _empty_input(self.input_specs[k], size) for k in missing})
        outputs = self.fn(args)
        if missing:
            deps = self.dependencies()
            outputs = {k: v for k, v in outputs.items() if not deps[k] & missing}
        return dict(outputs)


def spec_from_signature(input_specs: dict[str, Any]) -> FeatureSpec:
    """The raw feature spec behind a transform_fn's input signature."""
    import tensorflow as tf

    spec: FeatureSpec = {}
    for name, s in input_specs.items():
        if isinstance(s, tf.SparseTensorSpec):
            spec[name] = tf.io.VarLenFeature(s.dtype)
        elif isinstance(s, tf.RaggedTensorSpec):
            spec[name] = tf.io.RaggedFeature(s.dtype, row_splits_dtype=s.row_splits_dtype)
        else:
            spec[name] = tf.io.FixedLenFeature([int(d) for d in s.shape[1:]], s.dtype)
    return spec


def as_input(value: Any, spec: Any) -> Any:
    """A numpy array, SparseTensorValue, (values, splits) pair or tensor as the tensor `spec`
    (a TensorSpec, SparseTensorSpec or RaggedTensorSpec) wants."""
    import tensorflow as tf

    if isinstance(spec, tf.SparseTensorSpec):
        if isinstance(value, tf.SparseTensor):
            return value
        if hasattr(value, "indices"):
            return tf.SparseTensor(
                value.indices, tf.constant(value.values, spec.dtype), value.dense_shape
            )
        return tf.sparse.from_dense(tf.convert_to_tensor(value, spec.dtype))
    if isinstance(spec, tf.RaggedTensorSpec):
        if isinstance(value, tuple):
            return tf.RaggedTensor.from_row_splits(
                tf.constant(value[0], spec.dtype),
                tf.constant(value[1], spec.row_splits_dtype),
                validate=False,
            )
        return value
    return tf.convert_to_tensor(value, spec.dtype)


class SavedTransformRunner:
    """Apply a saved transform_fn to RecordBatches (lazily loaded; picklable)."""

    def __init__(
        self, transform_fn_dir: str, spec: FeatureSpec, function: TransformFunction | None = None
    ) -> None:
        """`function`: the transform_fn of `transform_fn_dir` already in memory (it is not
        pickled: an unpickled runner loads the SavedModel)."""
        self.transform_fn_dir = transform_fn_dir
        self.spec = spec
        self._fn: TransformFunction | None = function

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fn"] = None
        return state

    def run(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Transformed columns for one batch of raw rows."""
        if self._fn is None:
            self._fn = TransformFunction(self.transform_fn_dir)
        fn = self._fn
        columns = set(batch.schema.names)
        given = [
            name
            for name in fn.input_specs
            if name in self.spec
            and (name in columns or not isinstance(self.spec[name], tf_fixed_len()))
        ]
        absent = set(fn.input_specs) - set(given)
        for out, needs in fn.dependencies().items():
            if needs & absent:
                name = sorted(needs & absent)[0]
                raise FeatureSpecError(
                    f"feature {name!r} is not a column of the batch (columns: "
                    f"{batch.schema.names}); transformed feature {out!r} needs it"
                )
        features = {
            name: as_input(feature_value(batch, name, self.spec[name]), fn.input_specs[name])
            for name in given
        }
        outputs = fn(features)
        names = sorted(outputs)
        values = [_to_numpy(outputs[n]) for n in names]
        return to_record_batch(names, values, batch.num_rows)


def tf_fixed_len() -> type:
    import tensorflow as tf

    return tf.io.FixedLenFeature


def _to_numpy(t: Any) -> Any:
    if hasattr(t, "row_splits"):
        return (t.flat_values.numpy(), t.row_splits.numpy())
    if hasattr(t, "indices"):
        import tensorflow as tf

        return tf.compat.v1.SparseTensorValue(
            t.indices.numpy(), t.values.numpy(), t.dense_shape.numpy()
        )
    return t.numpy()

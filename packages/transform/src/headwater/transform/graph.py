"""Trace a preprocessing_fn into a graph, order its analyzers into passes, run it on batches.

`trace` calls the user's function once over placeholders and returns a picklable `TracedGraph`:
the GraphDef, which tensors feed each raw feature, which tensors are the outputs, and the
analyzers found, each with its nesting level (an analyzer whose input depends on another
analyzer's result runs one pass later). `GraphRunner` imports a GraphDef into a session and
runs it over RecordBatches; the Beam and plain drivers share it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from headwater.transform import _tracing
from headwater.transform.combiners import COUNTED_KINDS, TokenCounts
from headwater.transform.errors import AnalyzerError, PreprocessingFnError
from headwater.transform.features import FeatureSpec, make_placeholders, output_spec, to_feeds

PreprocessingFn = Callable[[dict[str, Any]], dict[str, Any]]


class MissingFeatureError(PreprocessingFnError, KeyError):
    """A preprocessing_fn read a feature that the raw schema does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


class _Inputs(Mapping[str, Any]):
    """The raw feature tensors handed to a preprocessing_fn; unknown names fail clearly."""

    def __init__(self, tensors: dict[str, Any], fn_name: str) -> None:
        self._tensors = tensors
        self._fn_name = fn_name

    def __getitem__(self, name: str) -> Any:
        try:
            return self._tensors[name]
        except KeyError as exc:
            raise MissingFeatureError(
                f"preprocessing_fn {self._fn_name} reads feature {name!r}, which is not in the "
                f"raw schema (features: {sorted(self._tensors)})"
            ) from exc

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    def copy(self) -> dict[str, Any]:
        return dict(self._tensors)


def component_names(t: Any) -> list[str]:
    """Graph tensor names that make up a dense, sparse or ragged tensor."""
    import tensorflow as tf

    if isinstance(t, tf.SparseTensor):
        return [t.indices.name, t.values.name, t.dense_shape.name]
    if isinstance(t, tf.RaggedTensor):
        return [t.flat_values.name, t.row_splits.name]
    return [t.name]


def parts(t: Any) -> list[Any]:
    """The plain tensors that make up a dense, sparse or ragged tensor."""
    if hasattr(t, "indices") and hasattr(t, "dense_shape"):
        return [t.indices, t.values, t.dense_shape]
    if hasattr(t, "row_splits"):
        return [t.flat_values, t.row_splits]
    return [t]


def rebuild(graph: Any, kind: str, names: list[str]) -> Any:
    """The dense, sparse or ragged tensor of `kind` from its component names in `graph`."""
    import tensorflow as tf

    parts = [graph.get_tensor_by_name(n) for n in names]
    if kind == "sparse":
        return tf.SparseTensor(*parts)
    if kind == "ragged":
        return tf.RaggedTensor.from_row_splits(parts[0], parts[1], validate=False)
    return parts[0]


def kind_of(t: Any) -> str:
    import tensorflow as tf

    if isinstance(t, tf.SparseTensor):
        return "sparse"
    if isinstance(t, tf.RaggedTensor):
        return "ragged"
    return "dense"


@dataclasses.dataclass
class TracedGraph:
    """A traced preprocessing_fn: everything needed to analyze and save it, picklable."""

    fn_name: str
    graph_def: bytes
    spec: FeatureSpec
    inputs: dict[str, tuple[str, list[str]]]
    outputs: dict[str, tuple[str, list[str]]]
    analyzers: list[_tracing.AnalyzerNode]
    annotations: list[_tracing.Annotation]
    table_initializers: list[str]
    output_feature_spec: FeatureSpec = dataclasses.field(default_factory=dict)
    """The feature spec of the outputs (their dtypes and static shapes), known at trace time."""

    @property
    def num_levels(self) -> int:
        return 1 + max(n.level for n in self.analyzers) if self.analyzers else 0

    def level_nodes(self, level: int) -> list[_tracing.AnalyzerNode]:
        return [n for n in self.analyzers if n.level == level]

    def phase_runner(self, level: int, results: Mapping[str, Any]) -> GraphRunner:
        """A runner fetching the inputs of every analyzer of `level`, given earlier results."""
        fetches: list[str] = []
        counted: set[int] = set()
        for node in self.level_nodes(level):
            if node.kind in COUNTED_KINDS and len(node.inputs) == 1:
                counted.add(len(fetches))
            fetches.extend(node.inputs)
        return GraphRunner(
            self.graph_def,
            self.spec,
            self.inputs,
            fetches,
            self.table_initializers,
            dict(results),
            counted=frozenset(counted),
        )


def _fn_name(fn: Any) -> str:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{name}" if module else name


def _check_outputs(outputs: Any, fn_name: str) -> dict[str, Any]:
    import tensorflow as tf

    if not isinstance(outputs, Mapping):
        raise PreprocessingFnError(
            f"preprocessing_fn {fn_name} must return a dict of feature name -> tensor, "
            f"returned {type(outputs).__name__}"
        )
    if not outputs:
        raise PreprocessingFnError(f"preprocessing_fn {fn_name} returned no features")
    checked: dict[str, Any] = {}
    for name, t in outputs.items():
        if not isinstance(name, str):
            raise PreprocessingFnError(
                f"preprocessing_fn {fn_name} returned a non-string key {name!r}"
            )
        if not isinstance(t, tf.Tensor | tf.SparseTensor | tf.RaggedTensor):
            raise PreprocessingFnError(
                f"preprocessing_fn {fn_name} returned {type(t).__name__} for feature {name!r}; "
                "every output must be a tf.Tensor, tf.SparseTensor or tf.RaggedTensor"
            )
        if isinstance(t, tf.Tensor):
            if t.shape.rank == 0:
                raise PreprocessingFnError(
                    f"preprocessing_fn {fn_name} returned a scalar for feature {name!r}; outputs "
                    "must keep the batch dimension (one row per input row)"
                )
            if t.shape.rank is not None and t.shape[0] is not None:
                raise PreprocessingFnError(
                    f"preprocessing_fn {fn_name} returned feature {name!r} with a fixed first "
                    f"dimension {t.shape[0]}, not the batch size; outputs must have one row per "
                    "input row"
                )
        checked[name] = t
    return checked


def _analyzer_dependencies(graph: Any, state: _tracing.TraceState) -> None:
    """Set each analyzer's level: 1 + the deepest analyzer its inputs depend on."""
    owner = {out.split(":")[0]: node.index for node in state.analyzers for out in node.outputs}
    memo: dict[str, frozenset[int]] = {}

    def deps(op: Any) -> frozenset[int]:
        stack = [(op, False)]
        while stack:
            cur, expanded = stack.pop()
            if cur.name in memo:
                continue
            parents = [t.op for t in cur.inputs] + list(cur.control_inputs)
            if not expanded:
                stack.append((cur, True))
                stack.extend((p, False) for p in parents if p.name not in memo)
                continue
            found: set[int] = set()
            if cur.name in owner:
                found.add(owner[cur.name])
            for p in parents:
                found |= memo.get(p.name, frozenset())
            memo[cur.name] = frozenset(found)
        return memo[op.name]

    by_index = {n.index: n for n in state.analyzers}
    for node in state.analyzers:
        needed: set[int] = set()
        for name in node.inputs:
            needed |= deps(graph.get_tensor_by_name(name).op)
        node.level = 1 + max(by_index[i].level for i in needed) if needed else 0


def trace(preprocessing_fn: PreprocessingFn, spec: FeatureSpec) -> TracedGraph:
    """Run `preprocessing_fn` once over placeholders and record its analyzers and outputs."""
    import tensorflow as tf

    fn_name = _fn_name(preprocessing_fn)
    graph = tf.Graph()
    with graph.as_default(), _tracing.tracing() as state:
        inputs = make_placeholders(spec)
        try:
            raw_outputs = preprocessing_fn(_Inputs(inputs, fn_name))  # type: ignore[arg-type]
        except PreprocessingFnError:
            raise
        except AnalyzerError as exc:
            raise PreprocessingFnError(f"preprocessing_fn {fn_name}: {exc}") from exc
        except Exception as exc:
            raise PreprocessingFnError(
                f"preprocessing_fn {fn_name} raised {type(exc).__name__} while being traced: {exc}"
            ) from exc
        outputs = _check_outputs(raw_outputs, fn_name)
        named: dict[str, tuple[str, list[str]]] = {}
        traced_outputs: dict[str, Any] = {}
        for i, (name, t) in enumerate(sorted(outputs.items())):
            with tf.name_scope(f"output_{i}"):
                if isinstance(t, tf.SparseTensor):
                    t = tf.SparseTensor(
                        tf.identity(t.indices), tf.identity(t.values), tf.identity(t.dense_shape)
                    )
                elif isinstance(t, tf.RaggedTensor):
                    if t.ragged_rank != 1:
                        raise PreprocessingFnError(
                            f"preprocessing_fn {fn_name} returned feature {name!r} with ragged "
                            f"rank {t.ragged_rank}; only ragged rank 1 is supported"
                        )
                    t = tf.RaggedTensor.from_row_splits(
                        tf.identity(t.flat_values), tf.identity(t.row_splits), validate=False
                    )
                elif t.shape.rank is not None:
                    t = tf.ensure_shape(t, t.shape)  # static shapes survive the GraphDef
                else:
                    t = tf.identity(t)
            named[name] = (kind_of(t), component_names(t))
            traced_outputs[name] = t
        initializers = [
            op.name for op in graph.get_collection(tf.compat.v1.GraphKeys.TABLE_INITIALIZERS)
        ]
        _analyzer_dependencies(graph, state)
    return TracedGraph(
        fn_name=fn_name,
        graph_def=graph.as_graph_def().SerializeToString(),
        spec=spec,
        inputs={name: (kind_of(t), component_names(t)) for name, t in inputs.items()},
        outputs=named,
        analyzers=state.analyzers,
        annotations=state.annotations,
        table_initializers=initializers,
        output_feature_spec=output_spec(traced_outputs),
    )


def closure(fetches: list[Any]) -> set[str]:
    """Names of every op the given tensors/ops depend on (inputs and control inputs)."""
    seen: set[str] = set()
    stack = [getattr(f, "op", f) for f in fetches]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def _subgraph(
    gd: Any,
    fetches: list[str],
    table_initializers: list[str],
    inputs: dict[str, tuple[str, list[str]]],
) -> Any:
    """The nodes of `gd` that `fetches` need, with the initializers of the tables they use
    and every part of a raw input they read (importing the whole graph would build every
    output's ops too)."""
    nodes = {n.name: n for n in gd.node}
    needed: set[str] = set()

    def close(roots: list[str]) -> None:
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)

    close([f.split(":")[0] for f in fetches])
    close([i for i in table_initializers if nodes[i].input[0].split(":")[0] in needed])
    for _, names in inputs.values():
        parts = [n.split(":")[0] for n in names]
        if any(p in needed for p in parts):
            close(parts)
    sub = type(gd)()
    sub.versions.CopyFrom(gd.versions)
    sub.library.CopyFrom(gd.library)
    sub.node.extend(n for n in gd.node if n.name in needed)
    return sub


class GraphRunner:
    """Run fetches of a GraphDef over RecordBatches in one TF1 session (built lazily, so the
    runner pickles for Beam workers)."""

    def __init__(
        self,
        graph_def: bytes,
        spec: FeatureSpec,
        inputs: dict[str, tuple[str, list[str]]],
        fetches: list[str],
        table_initializers: list[str],
        fixed_feeds: dict[str, Any],
        counted: frozenset[int] = frozenset(),
    ) -> None:
        self.graph_def = graph_def
        self.counted = counted
        """Indices of `fetches` fetched as `TokenCounts` (distinct values and their counts)."""
        self.spec = spec
        self.inputs = inputs
        self.fetches = fetches
        self.table_initializers = table_initializers
        self.fixed_feeds = fixed_feeds
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
        with graph.as_default():
            gd = tf.compat.v1.GraphDef()
            gd.ParseFromString(self.graph_def)
            sub = _subgraph(gd, self.fetches, self.table_initializers, self.inputs)
            tf.graph_util.import_graph_def(sub, name="")
            kept = {n.name for n in sub.node}
            self._fetch_tensors: list[Any] = []
            for i, name in enumerate(self.fetches):
                t = graph.get_tensor_by_name(name)
                if i in self.counted:
                    with tf.name_scope("headwater_token_counts"):
                        u = tf.unique_with_counts(tf.reshape(t, [-1]), out_idx=tf.int64)
                    self._fetch_tensors.append((u.y, u.count))
                else:
                    self._fetch_tensors.append(t)
            needed = closure(tf.nest.flatten(self._fetch_tensors))
            inits = [graph.get_operation_by_name(n) for n in self.table_initializers if n in kept]
            inits = [op for op in inits if op.inputs[0].op.name in needed]
            needed |= closure(inits)
            self._placeholders = {}
            for name, (kind, names) in self.inputs.items():
                if any(n.split(":")[0] in needed for n in names):
                    self._placeholders[name] = rebuild(graph, kind, names)
            feeds = {
                graph.get_tensor_by_name(k): v
                for k, v in self.fixed_feeds.items()
                if k.split(":")[0] in needed
            }
            self._fixed = feeds
            self._session = tf.compat.v1.Session(graph=graph)
            if inits:
                self._session.run(inits, feed_dict=feeds)

    @property
    def needed_features(self) -> list[str]:
        self._ensure()
        return sorted(self._placeholders)

    def run_counted(self, batch: pa.RecordBatch) -> tuple[list[Any], int]:
        """`run(batch)` and the batch's row count."""
        return self.run(batch), batch.num_rows

    def run(self, batch: pa.RecordBatch) -> list[Any]:
        """The fetched tensors for one batch of raw rows (a counted fetch as TokenCounts)."""
        self._ensure()
        feeds = to_feeds(batch, self.spec, self._placeholders)
        feeds.update(self._fixed)
        fetched = self._session.run(self._fetch_tensors, feed_dict=feeds)
        if self.counted:
            return [TokenCounts(*v) if i in self.counted else v for i, v in enumerate(fetched)]
        return list(fetched)

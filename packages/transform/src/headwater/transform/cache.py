"""Analyzer caching across spans: keep each dataset's accumulators, reuse them next time.

Accumulators of first-pass analyzers (those whose inputs depend on no other analyzer) are
stored per dataset key (e.g. a span's directory) under a fingerprint of the traced graph, so
re-analyzing after a new span arrived only reads the new span for those analyzers; nested
analyzers still read everything (their inputs depend on results that change with the data).
Cache files are pickles written by this module; point `cache_dir` only at trusted storage.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from headwater.transform._prefetch import map_ahead
from headwater.transform.analysis import PhaseCombiner, finalize
from headwater.transform.graph import PreprocessingFn, TracedGraph, trace
from headwater.transform.output import TransformOutput
from headwater.transform.saved_transform import save_transform

logger = logging.getLogger(__name__)


def graph_fingerprint(traced: TracedGraph) -> str:
    """Identity of the first pass: the traced graph and every analyzer's config."""
    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    gd.ParseFromString(traced.graph_def)
    nodes = {n.name: n for n in gd.node}
    stack = [name.split(":")[0] for node in traced.level_nodes(0) for name in node.inputs]
    seen: set[str] = set()
    while stack:  # only the subgraph feeding first-pass analyzers (table names vary per trace)
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)
    h = hashlib.sha256()
    for name in sorted(seen):
        h.update(nodes[name].SerializeToString(deterministic=True))
    for node in traced.level_nodes(0):
        h.update(repr((node.kind, node.inputs, sorted(node.config.items()))).encode())
    return h.hexdigest()[:24]


def key_file(cache_dir: str, fingerprint: str, key: str) -> str:
    """Where the first-pass accumulators of dataset `key` are cached."""
    return _key_file(cache_dir, fingerprint, key)


def load_accumulators(path: str) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def store_accumulators(acc: Any, path: str) -> Any:
    """Write `acc` to `path` atomically; return it (for use in a Beam Map)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        pickle.dump(acc, f)
    os.replace(path + ".tmp", path)
    return acc


def _key_file(cache_dir: str, fingerprint: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return os.path.join(cache_dir, fingerprint, f"{digest}.pkl")


def _accumulate(
    traced: TracedGraph, level: int, results: dict[str, Any], batches: Iterable[pa.RecordBatch]
) -> list[Any]:
    combiner = PhaseCombiner(traced.level_nodes(level))
    runner = traced.phase_runner(level, results)
    acc = combiner.create_accumulator()
    for fetched, _ in map_ahead(runner.run_counted, batches):
        acc = combiner.add_input(acc, fetched)
    return acc


def analyze_datasets_with_cache(
    datasets: Mapping[str, Callable[[], Iterable[pa.RecordBatch]]],
    raw_metadata: Any,
    preprocessing_fn: PreprocessingFn,
    output_dir: str,
    *,
    cache_dir: str,
    temp_dir: str | None = None,
) -> tuple[TransformOutput, dict[str, bool]]:
    """Analyze the union of `datasets` (key -> function returning its batches), reusing and
    refreshing per-key first-pass accumulators in `cache_dir`.

    Returns the TransformOutput and, per key, whether its accumulators came from the cache.

    Example:
        out, hits = analyze_datasets_with_cache(
            {"span-1": lambda: read_csv("s1.csv"), "span-2": lambda: read_csv("s2.csv")},
            schema, preprocessing_fn, "out/", cache_dir="cache/")
    """
    from headwater.transform.impl import raw_schema_of, spec_of

    traced = trace(preprocessing_fn, spec_of(raw_metadata))
    fingerprint = graph_fingerprint(traced)
    hits: dict[str, bool] = {}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=temp_dir, prefix="headwater-transform-") as tmp:
        vocab_dir = os.path.join(tmp, "vocabularies")
        for level in range(traced.num_levels):
            combiner = PhaseCombiner(traced.level_nodes(level))
            accs = []
            for key, batches in datasets.items():
                path = _key_file(cache_dir, fingerprint, key)
                if level == 0 and os.path.exists(path):
                    with open(path, "rb") as f:
                        accs.append(pickle.load(f))
                    hits[key] = True
                    continue
                acc = _accumulate(traced, level, results, batches())
                accs.append(acc)
                if level == 0:
                    hits[key] = False
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path + ".tmp", "wb") as f:
                        pickle.dump(acc, f)
                    os.replace(path + ".tmp", path)
            merged = combiner.merge_accumulators(accs)
            results.update(finalize(combiner.nodes, combiner.extract_output(merged), vocab_dir))
        logger.info("analyzer cache %s: %s", fingerprint, hits)
        save_transform(traced, results, output_dir, raw_schema_of(raw_metadata))
    return TransformOutput(output_dir), hits

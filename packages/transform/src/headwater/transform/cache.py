"""Analyzer caching across spans: keep each dataset's accumulators, reuse them next time.

Accumulators of first-pass analyzers (those whose inputs depend on no other analyzer) are
stored per dataset key (e.g. a span's directory) under a fingerprint of the traced graph, so
re-analyzing after a new span arrived only reads the new span for those analyzers; nested
analyzers still read everything (their inputs depend on results that change with the data).

Trust boundary: a cache file is data, never code. It is a `.npz` archive of plain arrays and a
JSON manifest (see `_cache_format`), read with numpy's `allow_pickle=False` and rebuilt from an
allow-list of types, so a crafted or imported cache cannot run anything; a file in any other
format (a pickle, e.g. an earlier Headwater's `.pkl` cache) is refused with AnalyzerCacheError
or, under its old name, ignored. A cache can still lie: whoever can write it can change the
analyzers' results (a vocabulary, a mean), as whoever can write the training data can, so keep
`cache_dir` as trusted as the data.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from headwater.io import read_ahead
from headwater.transform._cache_format import read_accumulators, write_accumulators
from headwater.transform.analysis import PhaseCombiner, finalize
from headwater.transform.graph import PreprocessingFn, TracedGraph, trace
from headwater.transform.output import TransformOutput
from headwater.transform.saved_transform import save_transform

logger = logging.getLogger(__name__)


def graph_fingerprint(traced: TracedGraph) -> str:
    """Identity of the first pass: the traced graph, every analyzer's config and this library's
    version (an upgrade may change what an accumulator holds, so it never reads an older one)."""
    from importlib.metadata import version

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
    h = hashlib.sha256(f"headwater-transform {version('headwater-transform')}\n".encode())
    for name in sorted(seen):
        h.update(nodes[name].SerializeToString(deterministic=True))
    for node in traced.level_nodes(0):
        h.update(repr((node.kind, node.inputs, sorted(node.config.items()))).encode())
    return h.hexdigest()[:24]


def key_file(cache_dir: str, fingerprint: str, key: str) -> str:
    """Where the first-pass accumulators of dataset `key` are cached."""
    return _key_file(cache_dir, fingerprint, key)


def load_accumulators(path: str) -> Any:
    """The accumulators cached at `path` (data only; AnalyzerCacheError for any other file)."""
    return read_accumulators(path)


def store_accumulators(acc: Any, path: str) -> Any:
    """Write `acc` to `path` atomically; return it (for use in a Beam Map)."""
    write_accumulators(acc, path)
    return acc


def _key_file(cache_dir: str, fingerprint: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    path = os.path.join(cache_dir, fingerprint, f"{digest}.npz")
    legacy = path[: -len(".npz")] + ".pkl"
    if os.path.exists(legacy):
        logger.warning("analyzer cache: ignoring %s (pickle format, never loaded)", legacy)
    return path


def _accumulate(
    traced: TracedGraph, level: int, results: dict[str, Any], batches: Iterable[pa.RecordBatch]
) -> list[Any]:
    combiner = PhaseCombiner(traced.level_nodes(level))
    runner = traced.phase_runner(level, results)
    acc = combiner.create_accumulator()
    for fetched, _ in read_ahead(map(runner.run_counted, batches)):
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
                    accs.append(load_accumulators(path))
                    hits[key] = True
                    continue
                acc = _accumulate(traced, level, results, batches())
                accs.append(acc)
                if level == 0:
                    hits[key] = False
                    store_accumulators(acc, path)
            merged = combiner.merge_accumulators(accs)
            results.update(finalize(combiner.nodes, combiner.extract_output(merged), vocab_dir))
        logger.info("analyzer cache %s: %s", fingerprint, hits)
        save_transform(traced, results, output_dir, raw_schema_of(raw_metadata))
    return TransformOutput(output_dir), hits

"""One analysis pass: the combiner over all analyzers of a nesting level, and its results.

`PhaseCombiner` has the shape of a `beam.CombineFn` (the Beam driver wraps it in one, so this
module never imports Beam): its input is the list of arrays a `GraphRunner` fetched for one
batch; its accumulator is the list of the analyzers' accumulators. The plain driver calls the
same methods in a loop. `finalize` turns extracted outputs into the values fed to the
graph: vocabularies become text files (TFT's asset format), the rest stay arrays.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from headwater.transform._tracing import AnalyzerNode
from headwater.transform.combiners import Combiner, make_combiner
from headwater.transform.quantiles import ElementwiseQuantilesCombiner, QuantilesCombiner

logger = logging.getLogger(__name__)

VOCAB_SIZE_KEY = "__vocabulary_size__/{}"
QUANTILE_ERROR_KEY = "__quantiles_error__/{}"
VOCABULARY_KINDS = ("vocabulary", "approximate_vocabulary", "mutual_information_vocabulary")
"""Analyzer kinds whose result is a vocabulary file (an asset)."""


class PhaseCombiner:
    """Reduce the fetched analyzer inputs of one pass with every analyzer's combiner."""

    def __init__(self, nodes: list[AnalyzerNode]) -> None:
        super().__init__()
        self.nodes = nodes
        self._combiners: list[Combiner] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_combiners"] = None
        return state

    @property
    def combiners(self) -> list[Combiner]:
        if self._combiners is None:
            self._combiners = [make_combiner(n.kind, n.config) for n in self.nodes]
        return self._combiners

    def create_accumulator(self) -> list[Any]:
        return [c.create_accumulator() for c in self.combiners]

    def add_input(self, acc: list[Any], fetched: list[np.ndarray]) -> list[Any]:
        start = 0
        out = []
        for node, combiner, a in zip(self.nodes, self.combiners, acc, strict=True):
            width = len(node.inputs)
            out.append(combiner.add_input(a, fetched[start : start + width]))
            start += width
        return out

    def merge_accumulators(self, accs: Any) -> list[Any]:
        accs = list(accs)
        return [c.merge_accumulators([a[i] for a in accs]) for i, c in enumerate(self.combiners)]

    def extract_output(self, acc: list[Any]) -> list[list[np.ndarray]]:
        outputs = []
        for node, combiner, a in zip(self.nodes, self.combiners, acc, strict=True):
            out = combiner.extract_output(a)
            if isinstance(combiner, QuantilesCombiner | ElementwiseQuantilesCombiner):
                out = [*out, np.asarray(combiner.last_error)]
                if combiner.last_error > combiner.epsilon:
                    logger.warning(
                        "analyzer %s: certified quantile error %.5f exceeds epsilon %.5f",
                        node.name,
                        combiner.last_error,
                        combiner.epsilon,
                    )
            outputs.append(out)
        return outputs


EMPTY_VOCABULARY_TOKENS = (b"\x00headwater-empty-vocabulary", b"-9223372036854775808")
"""The one line written for an empty vocabulary (TF cannot build a table from an empty file):
a string token no text holds, or the smallest int64."""


def _count_text(count: float) -> bytes:
    return (str(int(count)) if float(count).is_integer() else repr(float(count))).encode()


def _write_vocabulary(
    path: str, tokens: np.ndarray, is_string: bool, counts: np.ndarray | None = None
) -> None:
    lines = [t if isinstance(t, bytes) else str(int(t)).encode() for t in tokens]
    if counts is not None:  # store_frequency: "<count> <token>" lines, as TFT writes them
        lines = [_count_text(c) + b" " + line for c, line in zip(counts, lines, strict=True)]
    if not lines:
        lines = [EMPTY_VOCABULARY_TOKENS[0] if is_string else EMPTY_VOCABULARY_TOKENS[1]]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))
    os.replace(tmp, path)


def finalize(
    nodes: list[AnalyzerNode], outputs: list[list[np.ndarray]], vocab_dir: str
) -> dict[str, Any]:
    """Values for the analyzers' result placeholders (vocabularies written as files)."""
    results: dict[str, Any] = {}
    for node, out in zip(nodes, outputs, strict=True):
        if node.kind in VOCABULARY_KINDS:
            os.makedirs(vocab_dir, exist_ok=True)
            path = os.path.join(vocab_dir, node.config["vocab_filename"])
            counts = out[1] if node.config.get("store_frequency") else None
            _write_vocabulary(path, out[0], node.config["filter_tokens"], counts)
            results[node.outputs[0]] = path
            results[VOCAB_SIZE_KEY.format(node.index)] = max(len(out[0]), 1)
        elif node.kind in ("mean_var_per_key", "min_max_per_key"):
            keys = out[0]
            keys = np.asarray(list(keys), dtype=object) if keys.dtype == object else keys
            results[node.outputs[0]] = keys
            results[node.outputs[1]] = out[1]
            results[node.outputs[2]] = out[2]
        elif node.kind == "count_per_key":
            keys = out[0]
            if keys.dtype == object:
                keys = np.asarray(list(keys), dtype=object)
            else:
                keys = keys.astype(np.int64)
            results[node.outputs[0]] = keys
            results[node.outputs[1]] = out[1]
        elif node.kind == "quantiles":
            results[node.outputs[0]] = out[0]
            results[QUANTILE_ERROR_KEY.format(node.index)] = float(out[1])
        else:
            for name, value in zip(node.outputs, out, strict=True):
                results[name] = value
    return results

"""The analyzer cache is data only: crafted pickles are refused unrun; accumulators round-trip."""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import headwater.transform as tft
from headwater.transform._cache_format import FORMAT, MANIFEST
from headwater.transform.analysis import PhaseCombiner
from headwater.transform.cache import load_accumulators, store_accumulators
from headwater.transform.combiners import make_combiner
from headwater.transform.quantiles import Summary

from .conftest import feature_spec


class _TouchOnUnpickle:
    """Unpickling this runs `open(marker, "w")`: what a crafted cache would do, harmlessly."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload(marker) -> bytes:
    return pickle.dumps(_TouchOnUnpickle(str(marker)))


def test_the_payload_runs_code_when_unpickled(tmp_path):
    # The control: the payload the next tests plant really does run code under pickle.
    marker = tmp_path / "control"
    pickle.loads(_payload(marker)).close()
    assert marker.exists()


def test_a_pickle_cache_file_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "cache" / "fp" / "0123.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(_payload(marker))
    with pytest.raises(tft.AnalyzerCacheError, match=r"0123\.npz: not a Headwater analyzer cache"):
        load_accumulators(str(path))
    assert not marker.exists()


def test_a_pickled_array_inside_a_cache_archive_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _TouchOnUnpickle(str(marker))
    manifest = json.dumps({"format": FORMAT, "tree": {"t": "array", "ref": "a0"}}).encode()
    path = tmp_path / "evil.npz"
    with open(path, "wb") as f:
        np.savez(f, **{MANIFEST: np.frombuffer(manifest, np.uint8)}, a0=evil)
    with pytest.raises(tft.AnalyzerCacheError, match="'a0' is not plain data"):
        load_accumulators(str(path))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("manifest", "match"),
    [
        ({"format": "other/9", "tree": None}, "format 'other/9', expected"),
        ({"format": FORMAT, "tree": {"t": "object", "v": "os.system"}}, "unknown entry type"),
        ({"format": FORMAT, "tree": {"t": "array", "ref": "a7"}}, "array 'a7' missing"),
        ({"format": FORMAT, "tree": {"t": "int", "v": "1"}}, "int entry holds str"),
    ],
)
def test_a_cache_archive_outside_the_format_is_refused(tmp_path, manifest, match):
    path = tmp_path / "odd.npz"
    with open(path, "wb") as f:
        np.savez(f, **{MANIFEST: np.frombuffer(json.dumps(manifest).encode(), np.uint8)})
    with pytest.raises(tft.AnalyzerCacheError, match=match):
        load_accumulators(str(path))


def test_a_damaged_cache_archive_is_refused(tmp_path):
    path = tmp_path / "cut.npz"
    store_accumulators([np.arange(1000.0)], str(path))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(tft.AnalyzerCacheError, match=r"cut\.npz"):
        load_accumulators(str(path))


def _fn(inputs):
    return {
        "z": tft.scale_to_z_score(inputs["x"]),
        "s_id": tft.compute_and_apply_vocabulary(inputs["s"], vocab_filename="s"),
    }


def test_a_planted_pickle_in_a_real_cache_stops_the_analysis_unrun(batches, tmp_path):
    spec = {k: v for k, v in feature_spec().items() if k in ("x", "s")}
    cache = tmp_path / "cache"
    datasets = {"span-0": lambda: [batches[0]]}
    _, hits = tft.analyze_datasets_with_cache(
        datasets, spec, _fn, str(tmp_path / "a"), cache_dir=str(cache)
    )
    assert hits == {"span-0": False}
    [cached] = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs]
    assert cached.endswith(".npz")
    assert zipfile.is_zipfile(cached)
    marker = tmp_path / "pwned"
    # The old pickle name beside it is ignored; the cached file itself is refused.
    with open(cached[: -len(".npz")] + ".pkl", "wb") as f:
        f.write(_payload(marker))
    _, hits = tft.analyze_datasets_with_cache(
        datasets, spec, _fn, str(tmp_path / "b"), cache_dir=str(cache)
    )
    assert hits == {"span-0": True}
    with open(cached, "wb") as f:
        f.write(_payload(marker))
    with pytest.raises(tft.AnalyzerCacheError, match="never unpickled"):
        tft.analyze_datasets_with_cache(
            datasets, spec, _fn, str(tmp_path / "c"), cache_dir=str(cache)
        )
    assert not marker.exists()


# Every analyzer kind make_combiner knows, with a config and the inputs it takes.
KINDS = {
    "min_max": ({"reduce_instance_dims": True, "dtype": "float32", "shape": []}, "x"),
    "sum": ({"reduce_instance_dims": False, "dtype": "int64", "shape": [2]}, "ints2"),
    "size": ({"reduce_instance_dims": True, "shape": []}, "x"),
    "mean_var": ({"reduce_instance_dims": False, "output_dtype": "float32", "shape": [2]}, "x2"),
    "quantiles": ({"qs": [0.25, 0.5, 0.75], "epsilon": 0.01, "dedupe": True}, "x"),
    "elementwise_quantiles": ({"qs": [0.5], "epsilon": 0.01, "dim": 2}, "x2"),
    "vocabulary": (
        {"top_k": None, "frequency_threshold": 0.0, "has_weights": False, "filter_tokens": True},
        "tokens",
    ),
    "count_per_key": (
        {"top_k": None, "frequency_threshold": 0.0, "has_weights": True, "filter_tokens": False},
        "tokens_w",
    ),
    "approximate_vocabulary": (
        {"top_k": 3, "capacity": 2, "has_weights": False, "filter_tokens": True},
        "tokens",
    ),
    "mean_var_per_key": ({"output_dtype": "float32"}, "keyed"),
    "min_max_per_key": ({"output_dtype": "float64"}, "keyed"),
    "mutual_information_vocabulary": (
        {
            "top_k": None,
            "frequency_threshold": 0.0,
            "has_weights": False,
            "filter_tokens": True,
            "min_diff_from_avg": 0.0,
        },
        "labelled",
    ),
    "tukey_hh": ({"output_dtype": "float32", "shape": [2]}, "x2"),
    "covariance": ({"dim": 2, "output_dtype": "float64"}, "x2"),
}


def _combiner(kind):
    config, _ = KINDS[kind]
    return make_combiner("quantiles" if kind == "elementwise_quantiles" else kind, config)


def _inputs(kind, x, tokens):
    xs = np.asarray(x, np.float64)
    toks = np.asarray([t.encode() for t in tokens], dtype=object)
    n = min(len(xs), len(toks))
    xs2 = np.stack([xs, xs * 2.0 - 1.0], axis=1)
    return {
        "x": [xs.astype(np.float32)],
        "x2": [xs2],
        "ints2": [np.round(np.nan_to_num(xs2)).astype(np.int64)],
        "tokens": [toks],
        "tokens_w": [toks[:n], np.abs(xs[:n])],
        "keyed": [toks[:n], xs[:n]],
        "labelled": [toks[:n], (np.abs(xs[:n]) > 1).astype(np.int64)],
    }[KINDS[kind][1]]


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, pa.Table):  # column by column: NaN counts equal NaN
        return a.schema.equals(b.schema) and all(
            _same(a.column(c).to_numpy(), b.column(c).to_numpy()) for c in a.column_names
        )
    if isinstance(a, Summary):
        return a.total == b.total and all(
            _same(getattr(a, f), getattr(b, f)) for f in ("values", "weights", "rmin", "rmax")
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)  # NaN equals NaN here


def _outputs_equal(xs, ys) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f")
        for x, y in zip(xs, ys, strict=True)
    )


values = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False, width=32),
        st.just(float("nan")),
        st.integers(-5, 5).map(float),
    ),
    min_size=0,
    max_size=40,
)
words = st.lists(st.sampled_from(["a", "b", "", "c d", "ü", "x\ny", "zz"]), max_size=40)


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.tuples(values, words), min_size=0, max_size=3))
def test_every_analyzer_accumulator_round_trips_exactly(batches):
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            combiner = _combiner(kind)
            acc = combiner.create_accumulator()
            for x, tokens in batches:
                acc = combiner.add_input(acc, _inputs(kind, x, tokens))
            path = os.path.join(tmp, f"{kind}.npz")
            store_accumulators(acc, path)
            loaded = load_accumulators(path)
            assert _same(acc, loaded), kind
            want = combiner.extract_output(combiner.merge_accumulators([acc, acc]))
            got = _combiner(kind).extract_output(_combiner(kind).merge_accumulators([loaded, acc]))
            assert _outputs_equal(want, got), kind


def test_a_pass_accumulator_of_mixed_analyzers_round_trips(tmp_path):
    from headwater.transform._tracing import AnalyzerNode

    nodes = []
    for i, kind in enumerate(KINDS):
        config, _ = KINDS[kind]
        real = "quantiles" if kind == "elementwise_quantiles" else kind
        width = {"tokens_w": 2, "keyed": 2, "labelled": 2}.get(KINDS[kind][1], 1)
        nodes.append(
            AnalyzerNode(
                name=f"n{i}",
                kind=real,
                inputs=[f"t{i}:{j}" for j in range(width)],
                outputs=[],
                config=config,
                index=i,
                level=0,
            )
        )
    combiner = PhaseCombiner(nodes)
    rng = np.random.default_rng(7)
    acc = combiner.create_accumulator()
    for _ in range(3):
        x = list(rng.normal(0.0, 2.0, 50))
        tokens = list(rng.choice(["p", "q", "r", "s"], 50))
        fetched = [a for kind in KINDS for a in _inputs(kind, x, tokens)]
        acc = combiner.add_input(acc, fetched)
    path = tmp_path / "pass.npz"
    store_accumulators(acc, str(path))
    loaded = load_accumulators(str(path))
    assert _same(acc, loaded)
    assert all(
        _outputs_equal(a, b)
        for a, b in zip(
            combiner.extract_output(acc), PhaseCombiner(nodes).extract_output(loaded), strict=True
        )
    )
    with zipfile.ZipFile(path) as z:  # data only: .npy members and nothing pickled
        assert all(name.endswith(".npy") for name in z.namelist())
        header = io.BytesIO(z.read(f"{MANIFEST}.npy"))
        assert np.load(header, allow_pickle=False).dtype == np.uint8


def test_a_planted_pickle_stops_the_beam_analysis_unrun(batches, tmp_path):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    spec = {k: v for k, v in feature_spec().items() if k in ("x", "s")}
    cache = tmp_path / "cache"

    def analyze(out):
        with TestPipeline(runner="FnApiRunner") as p, tft.Context(temp_dir=str(tmp_path / "t")):
            spans = {"span-0": p | "Span0" >> beam.Create([batches[0]])}
            _ = (spans, spec) | tft.AnalyzeDatasetsWithCache(_fn, str(cache), str(tmp_path / out))

    analyze("a")
    [cached] = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs]
    marker = tmp_path / "pwned"
    with open(cached, "wb") as f:
        f.write(_payload(marker))
    with pytest.raises(tft.AnalyzerCacheError, match="never unpickled"):
        analyze("b")
    assert not marker.exists()

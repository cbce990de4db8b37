"""Analyzer caching across spans: a new span is read alone, results equal a full analysis."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import headwater.transform as tft

from .conftest import feature_spec


def _fn(inputs):
    z = tft.scale_to_z_score(inputs["x"])
    return {
        "z": z,
        "bz": tft.bucketize(z, 3),  # nested: second pass, never cached
        "s_id": tft.compute_and_apply_vocabulary(inputs["s"], vocab_filename="s"),
    }


def test_only_new_spans_are_read_and_results_match_a_full_analysis(batches, tmp_path):
    spec = {k: v for k, v in feature_spec().items() if k in ("x", "s")}
    reads: list[str] = []

    def span(i):
        def read():
            reads.append(f"span-{i}")
            return [batches[i]]

        return read

    cache = str(tmp_path / "cache")
    first = {f"span-{i}": span(i) for i in range(2)}
    _, hits = tft.analyze_datasets_with_cache(
        first, spec, _fn, str(tmp_path / "a"), cache_dir=cache
    )
    assert hits == {"span-0": False, "span-1": False}
    reads.clear()
    second = {f"span-{i}": span(i) for i in range(3)}
    cached, hits = tft.analyze_datasets_with_cache(
        second, spec, _fn, str(tmp_path / "b"), cache_dir=cache
    )
    assert hits == {"span-0": True, "span-1": True, "span-2": False}
    assert reads.count("span-2") == 2  # first pass and nested pass
    assert reads.count("span-0") == 1  # nested pass only
    full = tft.analyze_dataset(batches[:3], spec, _fn, str(tmp_path / "full"))
    assert cached.vocabulary_by_name("s") == full.vocabulary_by_name("s")
    got = pa.Table.from_batches(list(tft.transform_dataset(batches[:3], cached)))
    want = pa.Table.from_batches(list(tft.transform_dataset(batches[:3], full)))
    assert got.column("s_id").equals(want.column("s_id"))
    assert got.column("bz").equals(want.column("bz"))
    np.testing.assert_allclose(got.column("z").to_numpy(), want.column("z").to_numpy(), rtol=1e-6)


def _flat_fn(inputs):
    return {
        "z": tft.scale_to_z_score(inputs["x"]),
        "s_id": tft.compute_and_apply_vocabulary(inputs["s"], vocab_filename="s"),
    }


def test_beam_cache_skips_cached_spans_and_matches_a_full_analysis(batches, tmp_path):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    spec = {k: v for k, v in feature_spec().items() if k in ("x", "s")}
    cache = str(tmp_path / "cache")
    with TestPipeline(runner="FnApiRunner") as p, tft.Context(temp_dir=str(tmp_path / "tmp")):
        spans = {f"span-{i}": p | f"Span{i}" >> beam.Create([batches[i]]) for i in range(2)}
        _ = (spans, spec) | tft.AnalyzeDatasetsWithCache(_flat_fn, cache, str(tmp_path / "a"))
    # Cached spans must not be read again: give them batches that would fail if they were.
    unreadable = pa.record_batch({"other": [1]})
    with TestPipeline(runner="FnApiRunner") as p, tft.Context(temp_dir=str(tmp_path / "tmp")):
        spans = {
            "span-0": p | "Span0" >> beam.Create([unreadable]),
            "span-1": p | "Span1" >> beam.Create([unreadable]),
            "span-2": p | "Span2" >> beam.Create([batches[2]]),
        }
        _ = (spans, spec) | tft.AnalyzeDatasetsWithCache(_flat_fn, cache, str(tmp_path / "b"))
    cached = tft.TransformOutput(str(tmp_path / "b"))
    full = tft.analyze_dataset(batches[:3], spec, _flat_fn, str(tmp_path / "full"))
    assert cached.vocabulary_by_name("s") == full.vocabulary_by_name("s")
    got = pa.Table.from_batches(list(tft.transform_dataset(batches[:3], cached)))
    want = pa.Table.from_batches(list(tft.transform_dataset(batches[:3], full)))
    assert got.column("s_id").equals(want.column("s_id"))
    np.testing.assert_allclose(got.column("z").to_numpy(), want.column("z").to_numpy(), rtol=1e-6)

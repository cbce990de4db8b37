"""The Beam path (`GenerateStatistics`) gives the same statistics as the plain path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

# GenerateStatistics is headwater-data-validation[beam]: without that extra this module skips.
beam = pytest.importorskip("apache_beam")

from apache_beam.testing import test_pipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

import headwater.data_validation as dv  # noqa: E402


@pytest.fixture(scope="module")
def batches() -> list[pa.RecordBatch]:
    rng = np.random.default_rng(11)
    n = 2400
    table = pa.table(
        {
            "price": rng.gamma(2.0, 5.0, n).round(2),
            "count": rng.integers(0, 30, n),
            "city": rng.choice(["Oslo", "Lima", "Pune", "Nuuk"], n),
            "tags": pa.array(
                [["a"] * int(k) for k in rng.integers(0, 4, n)], pa.list_(pa.string())
            ),
            "weight": rng.integers(1, 5, n).astype(float),
        }
    )
    return table.to_batches(max_chunksize=300)


def _options() -> dv.StatsOptions:
    return dv.StatsOptions(
        weight_feature="weight",
        slice_functions=[dv.get_feature_value_slicer({"city": None})],
    )


def test_beam_equals_plain(batches: list[pa.RecordBatch]) -> None:
    expected = dv.generate_statistics(batches, _options())
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        stats = (
            pipeline
            | "Batches" >> beam.Create(batches, reshuffle=True)
            | "Stats" >> dv.GenerateStatistics(_options())
        )
        assert_that(stats, equal_to([expected], equals_fn=_stats_equal))


def test_several_inputs_give_the_statistics_of_all_their_rows(batches) -> None:
    """(train, eval) | GenerateStatistics(): partial statistics per input, merged; no Flatten
    of the rows (which the FnApiRunner would hold in memory). An empty input adds nothing."""
    expected = dv.generate_statistics(batches, _options())
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        first = pipeline | "First" >> beam.Create(batches[:3], reshuffle=False)
        second = pipeline | "Second" >> beam.Create(batches[3:], reshuffle=True)
        empty = pipeline | "Empty" >> beam.Create([], reshuffle=False).with_output_types(
            pa.RecordBatch
        )
        stats = (first, second, empty) | "Stats" >> dv.GenerateStatistics(_options())
        assert_that(stats, equal_to([expected], equals_fn=_stats_equal))


def test_beam_on_no_batches_gives_zero_examples() -> None:
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        stats = (
            pipeline
            | "Nothing" >> beam.Create([], reshuffle=False).with_output_types(pa.RecordBatch)
            | "Stats" >> dv.GenerateStatistics()
        )
        assert_that(stats | beam.Map(lambda s: s.datasets[0].num_examples), equal_to([0]))


def _stats_equal(left, right) -> bool:
    """Equal up to float rounding of sums, which depend on how Beam grouped the batches."""
    if left == right:
        return True
    a, b = left.__deepcopy__(), right.__deepcopy__()
    for stats in (a, b):
        for dataset in stats.datasets:
            for feature in dataset.features:
                for holder in (feature.num_stats, feature.num_stats.weighted_numeric_stats):
                    holder.mean = round(holder.mean, 9)
                    holder.std_dev = round(holder.std_dev, 9)
    return a == b


def test_record_batch_coder_round_trips_and_sizes_without_encoding(batches) -> None:
    import headwater.data_validation.statistics_beam  # noqa: F401  (loads the coder)
    from headwater.io import RecordBatchCoder

    coder = beam.coders.registry.get_coder(pa.RecordBatch)
    assert isinstance(coder, RecordBatchCoder)
    batch = batches[0]
    assert coder.decode(coder.encode(batch)).equals(batch)
    assert coder.estimate_size(batch) == batch.nbytes

"""Headwater's DaskRunner spreads a Create's values over partitions and lifts combiners.

Runs on an in-process `distributed.LocalCluster` (threads, scheduler on 127.0.0.1), started and
closed by the test: a second or two, no worker processes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from headwater.orchestration.dask_runner import DaskRunner

FILES = [f"part-{i}" for i in range(6)]
ROWS_PER_FILE = 3


class _SumAndParts(beam.CombineFn):  # type: ignore[misc]
    """Sums the values; the output also says how many partial accumulators were merged last
    and the largest number of raw values any one accumulator received."""

    def create_accumulator(self) -> tuple[int, int, int]:
        return (0, 0, 1)  # sum, raw values added, partial accumulators merged

    def add_input(self, acc: tuple[int, int, int], value: int) -> tuple[int, int, int]:
        return (acc[0] + value, acc[1] + 1, acc[2])

    def merge_accumulators(self, accs: Any) -> tuple[int, int, int]:
        accs = list(accs)
        return (sum(a[0] for a in accs), max(a[1] for a in accs), len(accs))

    def extract_output(self, acc: tuple[int, int, int]) -> tuple[int, int, int]:
        return acc


@pytest.fixture
def cluster() -> Any:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster
    finally:
        cluster.close()


def test_a_global_combine_merges_one_accumulator_per_file_not_the_rows(
    cluster: Any, tmp_path: Path
) -> None:
    """Each file is its own partition (Beam's default puts up to 128 in one) and each
    partition's values are folded into one accumulator before the GroupByKey, so the
    GroupByKey carries 6 accumulators, not the 18 rows (Beam's Dask translation, unlifted,
    groups every row of the key on one worker)."""
    result = tmp_path / "sum.json"
    options = PipelineOptions([f"--dask_client_address={cluster.scheduler_address}"])
    with beam.Pipeline(runner=DaskRunner(), options=options) as p:
        _ = (
            p
            | "Files" >> beam.Create(FILES)
            | "Read" >> beam.FlatMap(lambda f: [int(f.split("-")[1]) * 10 + k for k in range(3)])
            | "Sum" >> beam.CombineGlobally(_SumAndParts())
            | "Keep" >> beam.Map(lambda r: result.write_text(json.dumps(r)))
        )
    expected_sum = sum(i * 10 + k for i in range(len(FILES)) for k in range(ROWS_PER_FILE))
    total, most_raw_values, merged = json.loads(result.read_text())
    assert total == expected_sum
    assert merged == len(FILES)  # one partial accumulator per partition, i.e. per file
    assert most_raw_values == ROWS_PER_FILE  # no accumulator saw more than one file's rows

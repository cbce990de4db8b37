"""assign_splits: deterministic by value, in proportion, identical in another process."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from portable_c import run_portable

from headwater.io import (
    InputError,
    _wire,
    assign_splits,
    partition_keys,
    record_buckets,
    split_buckets,
)


def _batch(n=3000):
    rng = np.random.default_rng(0)
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array(np.arange(n)),
            "x": pa.array(rng.normal(size=n).astype(np.float32)),
            "s": pa.array([f"user-{i % 97}" if i % 11 else None for i in range(n)]),
            "l": pa.array([[i, i + 1] if i % 5 else [] for i in range(n)], pa.list_(pa.int64())),
        }
    )


def test_splits_partition_rows_in_ratio():
    batch = _batch()
    splits = assign_splits(batch, {"train": 2, "eval": 1})
    assert list(splits) == ["train", "eval"]
    ids = sorted(splits["train"].column("id").to_pylist() + splits["eval"].column("id").to_pylist())
    assert ids == list(range(3000))
    assert abs(splits["train"].num_rows / 3000 - 2 / 3) < 0.03


def test_a_row_goes_to_the_same_split_whatever_its_batch():
    batch = _batch()
    whole = assign_splits(batch, {"train": 3, "eval": 1})
    parts = [
        assign_splits(batch.slice(i, 500), {"train": 3, "eval": 1}) for i in range(0, 3000, 500)
    ]
    train = [i for p in parts for i in p["train"].column("id").to_pylist()]
    assert train == whole["train"].column("id").to_pylist()


def test_key_column_keeps_equal_keys_together():
    splits = assign_splits(_batch(), {"a": 1, "b": 1, "c": 1}, key="s")
    seen = {}
    for name, part in splits.items():
        for user in set(part.column("s").to_pylist()):
            assert seen.setdefault(user, name) == name


def test_zero_ratio_gives_an_empty_split():
    splits = assign_splits(_batch(100), {"train": 1, "never": 0})
    assert splits["never"].num_rows == 0
    assert splits["train"].num_rows == 100


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="ratios"):
        assign_splits(_batch(10), {"train": -1})
    with pytest.raises(InputError, match="nope"):
        assign_splits(_batch(10), {"train": 1}, key="nope")


_CHILD = """
import json, sys
import numpy as np, pyarrow as pa
from headwater.io import assign_splits
sys.path.insert(0, {here!r})
from test_splits import _batch
splits = assign_splits(_batch(), {{"train": 2, "eval": 1}})
print(json.dumps({{k: v.column("id").to_pylist() for k, v in splits.items()}}))
"""


def test_splits_are_identical_in_another_process():
    import os

    here = os.path.dirname(__file__)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(here=here)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    theirs = json.loads(out.stdout)
    ours = {
        k: v.column("id").to_pylist()
        for k, v in assign_splits(_batch(), {"train": 2, "eval": 1}).items()
    }
    assert theirs == ours


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(1, 2**55 - 1))
def test_c_sha256_buckets_match_hashlib(records, total):
    digests = [hashlib.sha256(r).digest() for r in records]
    assert [_wire.sha256(r) for r in records] == digests
    expected = [int.from_bytes(d, "big") % total for d in digests]
    assert record_buckets(records, total).tolist() == expected


def test_split_buckets_hash_the_partition_keys():
    batch = _batch(500)
    for key in (None, "s", "l"):
        keys = partition_keys(batch, key)
        expected = [int.from_bytes(hashlib.sha256(k).digest(), "big") % 7 for k in keys]
        assert split_buckets(batch, 7, key).tolist() == expected


_PORTABLE = """
import hashlib, json, sys
from headwater.io import _wire
data = [bytes(range(n % 256)) * (1 + n // 256) for n in range(0, 700, 7)]
same = all(_wire.sha256(d) == hashlib.sha256(d).digest() for d in data)
print(json.dumps([_wire.sha_ni(), same]))
"""


def test_portable_sha256_matches_hashlib_too():
    """Where the CPU has SHA extensions the tests above check them; this checks the C fallback."""
    assert run_portable(_PORTABLE) == [False, True]

"""The plain-Python codec (`_wire_py`, used when the C extension is not built) gives the same bytes
and columns as the compiled one, and headwater.io says once that it runs on it."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from headwater.io import _wire_py, example_wire
from headwater.io.feature_columns import BYTES, FLOAT, INT64, FeatureColumn

_CSV = (
    "id,name,score,tags\n"
    "1,ada,0.5,x\n"
    "2,,1.25,y\n"
    "-3,grace,,z\n"
    "9223372036854775807,l\u00e9on,-2.5,\n"
)

_CHILD = """
import gzip, hashlib, json, logging, sys
logging.basicConfig(level=logging.WARNING)
import pyarrow.parquet as pq
from headwater.io import example_wire, read_csv, read_tfrecord, write_parquet, write_tfrecord
from headwater.io import split_buckets
out = sys.argv[1]
batches = list(read_csv(out + "/in.csv"))
tf_paths = write_tfrecord(batches, out + "/ex", compression=None)
pq_paths = write_parquet(batches, out + "/ex")
back = [b.to_pydict() for b in read_tfrecord(tf_paths[0])]
pq_back = pq.read_table(pq_paths[0]).to_pydict()
buckets = [int(x) for b in batches for x in split_buckets(b, 10)]
print(json.dumps({
    "compiled": example_wire.COMPILED,
    "tfrecord_sha": hashlib.sha256(open(tf_paths[0], "rb").read()).hexdigest(),
    "rows": back,
    "parquet": pq_back,
    "buckets": buckets,
}, default=str))
"""


def _run(tmp: Path, pure: bool) -> tuple[dict, str]:
    tmp.mkdir()
    (tmp / "in.csv").write_text(_CSV, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "HEADWATER_IO_PURE_PYTHON"}
    if pure:
        env["HEADWATER_IO_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return json.loads(done.stdout), done.stderr


def test_a_process_on_the_python_codec_writes_and_reads_what_the_compiled_one_does(
    tmp_path: Path,
) -> None:
    fast, fast_log = _run(tmp_path / "c", pure=False)
    slow, slow_log = _run(tmp_path / "py", pure=True)
    assert fast["compiled"] is example_wire.COMPILED
    assert slow["compiled"] is False
    assert slow["tfrecord_sha"] == fast["tfrecord_sha"]
    assert slow["rows"] == fast["rows"]
    assert slow["parquet"] == fast["parquet"]
    assert slow["buckets"] == fast["buckets"]
    assert slow["rows"][0]["id"] == [1, 2, -3, 9223372036854775807]
    assert slow_log.count("runs in plain Python") == 1
    assert "plain Python" not in fast_log


def _columns() -> list[FeatureColumn]:
    words = [b"a", b"", b"\xff\x00bc", b"long" * 40]
    data = np.frombuffer(b"".join(words), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in words])]).astype(np.int64)
    return [
        FeatureColumn("s", BYTES, np.array([2, -1, 0, 2], dtype=np.int64), (offsets, data)),
        FeatureColumn(
            "f", FLOAT, np.array([1, 3, -1, 0], dtype=np.int64), np.arange(4, dtype=np.float32)
        ),
        FeatureColumn(
            "i",
            INT64,
            np.array([0, 1, 2, -1], dtype=np.int64),
            np.array([-1, 2**63 - 1, 300], dtype=np.int64),
        ),
    ]


@pytest.mark.skipif(not example_wire.COMPILED, reason="compares against the C extension")
def test_every_codec_function_matches_the_c_extension() -> None:
    from headwater.io import _wire  # type: ignore[attr-defined,unused-ignore]

    cols = example_wire._wire_columns(_columns())
    for mode in (0, 1, 2):
        assert _wire_py.encode(4, cols, mode) == _wire.encode(4, cols, mode)
    assert _wire_py.encode(4, cols, 0, 7) == _wire.encode(4, cols, 0, 7)
    assert _wire_py.encode(4, cols, 2, 7) == _wire.encode(4, cols, 2, 7)
    records = _wire.encode(4, cols, 0)
    assert isinstance(records, list)
    # A record whose map repeats a key and is out of order, for the canonical hash.
    shuffled = records[0] + b"\x0a\x0b\x0a\x09\x0a\x01b\x12\x04\x1a\x02\x0a\x00"
    records = [*records, shuffled, b"not a proto \xff"]
    for names in (None, [b"i", b"s", b"absent"]):
        assert _wire_py.decode_records(records[:5], names) == _wire.decode_records(
            records[:5], names
        )
    data = b"".join(records)
    ends = np.cumsum([len(r) for r in records]).astype(np.int64)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    for canonical in (False, True):
        assert _wire_py.span_buckets(data, starts, ends, 1000, 1, canonical) == (
            _wire.span_buckets(data, starts, ends, 1000, 1, canonical)
        )
    assert _wire_py.record_buckets(records, 97) == _wire.record_buckets(records, 97)
    framed = _wire.encode(4, cols, 1)
    assert isinstance(framed, bytes)
    assert _wire_py.unframe(framed) == _wire.unframe(framed)
    corrupt = framed[:30] + bytes([framed[30] ^ 1]) + framed[31:]
    assert _wire_py.unframe(corrupt) == _wire.unframe(corrupt)
    assert _wire_py.unframe(framed[:-3]) == _wire.unframe(framed[:-3])
    for k in (1, 2, 3):
        pieces = records[: 6 // k * k]
        assert _wire_py.frame(pieces, k) == _wire.frame(pieces, k)
    for blob in (b"", b"123456789", gzip.compress(b"x" * 1000)):
        assert _wire_py.masked_crc32c(blob) == _wire.masked_crc32c(blob)
        assert _wire_py.sha256(blob) == hashlib.sha256(blob).digest()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (b"\x0a\x04\x0a\x03\x0a\x01", "malformed Features message"),
        (b"\x0a\x08\x0a\x06\x12\x04\x1a\x02\x0a\x05", "malformed int64_list of feature "),
        (b"\x0a\x0a\x0a\x08\x0a\x01x\x12\x03\x12\x01\x0d", "malformed float_list of feature x"),
    ],
)
def test_a_malformed_record_raises_the_c_extensions_error(record: bytes, message: str) -> None:
    with pytest.raises(_wire_py.WireError) as caught:
        _wire_py.decode_records([b"", record], None)
    assert caught.value.args == (message, 1)
    if example_wire.COMPILED:
        from headwater.io import _wire  # type: ignore[attr-defined,unused-ignore]

        with pytest.raises(_wire.WireError) as c_caught:
            _wire.decode_records([b"", record], None)
        assert c_caught.value.args == caught.value.args

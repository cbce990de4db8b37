"""No skew: the saved graph, loaded in a fresh process with only TensorFlow, transforms
serialized tf.Examples one by one exactly as the analysis transformed the batch."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

SERVE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    serve = model.signatures["serving_default"]
    records = json.load(open(sys.argv[2]))
    rows = []
    for hex_record in records:
        out = serve(examples=tf.constant([bytes.fromhex(hex_record)]))
        row = {}
        for name, value in out.items():
            if isinstance(value, tf.SparseTensor):
                row[name] = value.values.numpy().tolist()
            else:
                row[name] = value.numpy()[0].tolist()
        rows.append(row)
    assert not any(m.startswith("headwater") for m in sys.modules), "headwater was imported"
    json.dump(rows, open(sys.argv[3], "w"))
    """
)


def _example(row: dict) -> bytes:
    import tensorflow as tf

    def floats(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    feature = {
        "x": floats([row["x"]]),
        "w": floats([row["w"]]),
        "s": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["s"].encode()])),
        "k": tf.train.Feature(int64_list=tf.train.Int64List(value=[row["k"]])),
        "tags": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[t.encode() for t in row["tags"]])
        ),
        "vals": floats(row["vals"]),
    }
    if row["opt"] is not None:
        feature["opt"] = floats([row["opt"]])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def served(batches, analyzed, tmp_path_factory):
    """Serving outputs, one request per row, from a fresh Python process."""
    _, output = analyzed
    rows = pa.Table.from_batches(batches).slice(0, 60).to_pylist()
    unseen = dict(rows[0], s="never-seen", k=99, tags=["purple"])
    records = [_example(r).hex() for r in [*rows, unseen]]
    work = tmp_path_factory.mktemp("serve")
    (work / "records.json").write_text(json.dumps(records))
    (work / "serve.py").write_text(SERVE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            sys.executable,
            str(work / "serve.py"),
            output.transform_savedmodel_dir,
            str(work / "records.json"),
            str(work / "out.json"),
        ],
        check=True,
        env=env,
        cwd=str(work),
        timeout=300,
    )
    served_rows = json.loads((work / "out.json").read_text())
    return served_rows[:-1], served_rows[-1]


def _same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def test_every_output_is_identical_at_serving(analyzed, served):
    table, _ = analyzed
    served_rows, _ = served
    batch_rows = table.slice(0, len(served_rows)).to_pylist()
    mismatches = []
    for i, (want, got) in enumerate(zip(batch_rows, served_rows, strict=True)):
        for name, value in want.items():
            if isinstance(value, float):
                value = float(np.float32(value))
            if isinstance(value, list):
                value = [float(np.float32(v)) if isinstance(v, float) else v for v in value]
            if not _same(value, got[name]):
                mismatches.append((i, name, value, got[name]))
    assert not mismatches, mismatches[:10]
    assert set(served_rows[0]) == set(batch_rows[0])


def test_unseen_values_at_serving_map_to_oov_or_default(analyzed, served):
    _, output = analyzed
    _, unseen = served
    size = output.vocabulary_size_by_name("s_vocab")
    assert size <= unseen["s_id"] < size + 2
    assert unseen["s_top"] == -1
    assert unseen["k_id"] == -1
    assert unseen["tags_id"] == [-1]

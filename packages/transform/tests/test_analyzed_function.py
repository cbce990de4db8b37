"""The transform right after an analysis calls the function the save traced, not a reloaded
SavedModel: the same outputs, its own vocabularies, its temporary files removed with it."""

from __future__ import annotations

import gc
import os

import pyarrow as pa

import headwater.transform as tft

from .conftest import feature_spec


def test_transform_after_analysis_equals_the_saved_graph(batches, analyzed):
    table, output = analyzed
    assert output.analyzed_function is not None  # the analyzed fixture used the traced function
    reread = tft.TransformOutput(output.transform_output_dir)
    assert reread.analyzed_function is None  # ... and this one loads transform_fn/
    loaded = pa.Table.from_batches(list(tft.transform_dataset(batches, reread, feature_spec())))
    assert loaded.schema == table.schema
    assert loaded.equals(table)


def _spec():
    import tensorflow as tf

    return {"s": tf.io.FixedLenFeature([], tf.string)}


def _vocab(inputs):
    return {"id": tft.compute_and_apply_vocabulary(inputs["s"], num_oov_buckets=1)}


def test_two_analyses_in_one_process_apply_their_own_vocabularies(tmp_path):
    first = pa.record_batch({"s": ["a", "a", "b"]})  # vocabulary: a, b
    second = pa.record_batch({"s": ["c", "b", "b"]})  # vocabulary: b, c
    out_1 = tft.analyze_dataset([first], _spec(), _vocab, str(tmp_path / "one"))
    out_2 = tft.analyze_dataset([second], _spec(), _vocab, str(tmp_path / "two"))
    probe = pa.record_batch({"s": ["a", "b", "c"]})
    for _ in range(2):  # interleaved: neither function's table is the other's
        (got_2,) = tft.transform_dataset([probe], out_2, _spec())
        (got_1,) = tft.transform_dataset([probe], out_1, _spec())
        assert got_1.column("id").to_pylist() == [0, 1, 2]  # c is out of vocabulary
        assert got_2.column("id").to_pylist() == [2, 0, 1]  # a is out of vocabulary


def test_the_traced_functions_vocabularies_go_with_it(tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    batch = pa.record_batch({"s": ["x", "y", "x"]})
    output = tft.analyze_dataset(
        [batch], _spec(), _vocab, str(tmp_path / "out"), temp_dir=str(temp)
    )
    (kept,) = os.listdir(temp)  # the vocabularies the traced function reads
    assert os.listdir(temp / kept / "vocabularies")
    (got,) = tft.transform_dataset([batch], output, _spec())
    assert got.column("id").to_pylist() == [0, 1, 0]
    del output, got
    gc.collect()
    assert os.listdir(temp) == []
    # the saved graph carries its own copy of the vocabulary
    (again,) = tft.transform_dataset([batch], tft.TransformOutput(str(tmp_path / "out")), _spec())
    assert again.column("id").to_pylist() == [0, 1, 0]

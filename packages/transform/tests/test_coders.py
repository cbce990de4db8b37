"""tft.coders: ExampleProtoCoder and CsvCoder move instances as TFT's do."""

from __future__ import annotations

import numpy as np
import pytest

import headwater.transform as tft
from headwater.transform.errors import FeatureSpecError


@pytest.fixture(scope="module")
def spec():
    import tensorflow as tf

    return {
        "fare": tf.io.FixedLenFeature([], tf.float32),
        "trips": tf.io.FixedLenFeature([2], tf.int64),
        "company": tf.io.VarLenFeature(tf.string),
    }


def test_example_proto_coder_round_trips_and_tensorflow_parses_it(spec) -> None:
    import tensorflow as tf

    schema = tft.DatasetMetadata.from_feature_spec(spec).schema
    coder = tft.coders.ExampleProtoCoder(schema)
    data = coder.encode({"fare": 2.5, "trips": [3, 4], "company": ["Flash Cab"]})
    assert isinstance(data, bytes)
    parsed = tf.io.parse_example([data], spec)
    assert parsed["fare"].numpy().tolist() == [2.5]
    assert parsed["trips"].numpy().tolist() == [[3, 4]]
    assert parsed["company"].values.numpy().tolist() == [b"Flash Cab"]
    decoded = coder.decode(data)
    assert decoded["fare"] == np.float32(2.5)
    assert decoded["trips"].tolist() == [3, 4]
    assert decoded["company"].tolist() == [b"Flash Cab"]
    assert coder.decode(coder.encode({"fare": 1.0, "trips": [1, 2]}))["company"].tolist() == []
    with pytest.raises(FeatureSpecError, match="feature 'trips' is dense with 2 value"):
        coder.encode({"fare": 1.0, "trips": [1]})
    proto = tft.coders.ExampleProtoCoder(schema, serialized=False).encode(
        {"fare": 1.0, "trips": [1, 2]}
    )
    assert proto.features.feature["trips"].int64_list.value == [1, 2]


def test_csv_coder_round_trips(spec) -> None:
    import tensorflow as tf

    scalar_spec = {
        "fare": spec["fare"],
        "trips": tf.io.FixedLenFeature([], tf.int64),
        "company": spec["company"],
    }
    coder = tft.coders.CsvCoder(["company", "fare", "trips"], scalar_spec)
    line = coder.encode({"fare": 2.5, "trips": 9007199254740993, "company": ["A, B"]})
    assert line == '"A, B",2.5,9007199254740993'
    decoded = coder.decode(line)
    assert decoded["company"].tolist() == [b"A, B"]
    assert decoded["fare"] == np.float32(2.5)
    assert decoded["trips"] == 9007199254740993
    assert coder.decode(",1.5,2")["company"].tolist() == []
    with pytest.raises(FeatureSpecError, match="column 'trips' value 'x' is not int64"):
        coder.decode("a,1.5,x")
    multi = tft.coders.CsvCoder(
        ["company", "fare", "trips"],
        scalar_spec,
        secondary_delimiter="|",
        multivalent_columns=["company"],
    )
    assert multi.decode("a|b,1,2")["company"].tolist() == [b"a", b"b"]
    assert multi.encode({"fare": 1.0, "trips": 2, "company": ["a", "b"]}) == "a|b,1.0,2"

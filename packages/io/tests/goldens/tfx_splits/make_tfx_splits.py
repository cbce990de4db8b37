"""Record which split TFX 1.16's CsvExampleGen puts each row in (run with the TFX anchor venv).

    /tmp/tfx-anchor/bin/python packages/io/tests/goldens/tfx_splits/make_tfx_splits.py

Writes `data.csv` (nulls, negative and large ints, floats, unicode, quoted commas, an upper-case
name that sorts first; no all-empty column: TFX gives it no type, headwater.io types it string)
and `splits.json`: for each output config, the row ids TFX sent to each split. Also
`records.tfrecord.gz` (tf.Examples with features in varying order) and `import_splits.json`: the
ids TFX's ImportExampleGen sent to each split (it hashes each record's raw bytes).
`test_tfx_splits.py` checks that Headwater assigns the same rows.
"""

import glob
import json
import os
import random
import tempfile

import tensorflow as tf
from google.protobuf import json_format
from tfx.components.example_gen.csv_example_gen import executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = 400


def _csv() -> str:
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "délta", "ε", "with, comma", 'say "hi"', ""]
    lines = ["id,Zone,amount,count,user,label"]
    for i in range(ROWS):
        number = round(rng.uniform(-1e4, 1e4), rng.randint(0, 6))
        amount = "" if rng.random() < 0.1 else repr(number)
        choices = [-1, 0, 7, -(2**40), 2**62, rng.randint(-999, 999)]
        count = "" if rng.random() < 0.1 else str(rng.choice(choices))
        word = rng.choice(words)
        zone = rng.choice(words)
        user = f"u{rng.randint(0, 30)}"
        label = str(rng.randint(0, 1))

        def quote(s: str) -> str:
            return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s

        lines.append(",".join([str(i), quote(zone), amount, count, user if word else "", label]))
    return "\n".join(lines) + "\n"


def _run(input_dir: str, splits: dict, partition: str | None, gen=executor) -> dict:
    out = tempfile.mkdtemp()
    examples = standard_artifacts.Examples()
    examples.uri = out
    Split = example_gen_pb2.SplitConfig.Split
    split_config = example_gen_pb2.SplitConfig(
        splits=[Split(name=k, hash_buckets=v) for k, v in splits.items()]
    )
    if partition:
        split_config.partition_feature_name = partition
    props = {
        standard_component_specs.INPUT_BASE_KEY: input_dir,
        standard_component_specs.INPUT_CONFIG_KEY: json_format.MessageToJson(
            example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*")]
            )
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: json_format.MessageToJson(
            example_gen_pb2.Output(split_config=split_config)
        ),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    gen.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, props)
    result = {}
    for name in splits:
        ids = []
        for path in sorted(glob.glob(os.path.join(out, f"Split-{name}", "*"))):
            for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                example = tf.train.Example.FromString(record.numpy())
                ids.append(example.features.feature["id"].int64_list.value[0])
        result[name] = sorted(ids)
    return result


def main() -> None:
    text = _csv()
    with open(os.path.join(HERE, "data.csv"), "w", encoding="utf-8") as f:
        f.write(text)
    input_dir = tempfile.mkdtemp()
    with open(os.path.join(input_dir, "data.csv"), "w", encoding="utf-8") as f:
        f.write(text)
    cases = {
        "rows_2_1": ({"train": 2, "eval": 1}, None),
        "rows_3_5_2": ({"a": 3, "b": 5, "c": 2}, None),
        "user_7_3": ({"train": 7, "eval": 3}, "user"),
        "id_1_1": ({"train": 1, "eval": 1}, "id"),
    }
    golden = {}
    for case, (splits, partition) in cases.items():
        golden[case] = {
            "splits": splits,
            "partition_feature": partition,
            "ids": _run(input_dir, splits, partition),
        }
    _write_json("splits.json", golden)
    _write_json("import_splits.json", _import_cases())


def _write_json(name: str, cases: dict) -> None:
    with open(os.path.join(HERE, name), "w") as f:
        cases_text = (f" {json.dumps(k)}: {json.dumps(v)}" for k, v in cases.items())
        f.write("{\n" + ",\n".join(cases_text) + "\n}\n")


def _import_cases() -> dict:
    rng = random.Random(11)
    input_dir = tempfile.mkdtemp()
    path = os.path.join(HERE, "records.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(ROWS):
            features = {
                "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[rng.random()])),
                "tag": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"t%d" % (i % 5)])),
            }
            names = list(features)
            rng.shuffle(names)  # the raw bytes keep this order; TFX hashes them as they are
            example = tf.train.Example(
                features=tf.train.Features(feature={n: features[n] for n in names})
            )
            writer.write(example.SerializeToString())
    with open(path, "rb") as src, open(os.path.join(input_dir, "records.tfrecord.gz"), "wb") as dst:
        dst.write(src.read())
    cases = {
        "records_2_1": ({"train": 2, "eval": 1}, None),
        "tag_1_1": ({"train": 1, "eval": 1}, "tag"),
    }
    return {
        case: {
            "splits": splits,
            "partition_feature": partition,
            "ids": _run(input_dir, splits, partition, import_executor),
        }
        for case, (splits, partition) in cases.items()
    }


if __name__ == "__main__":
    main()

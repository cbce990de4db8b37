"""Record TFDV 1.16's statistics and anomalies for small cases (run with the TFX anchor venv).

    /tmp/tfx-anchor/bin/python packages/data-validation/tests/goldens/tfdv/make_tfdv_goldens.py

Each case directory holds TFDV's binary `stats.pb` (and `previous.pb` / `serving.pb`), the
`schema.pbtxt` validated against, and TFDV's `anomalies.pbtxt`. `test_anomalies_tfdv.py`
checks that Headwater finds the same anomalies, with the same texts, on TFDV's own statistics.
"""

import os

import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = pd.DataFrame(
    {
        "i": [1, 2, 3, 4, 5, 6],
        "b": [0, 1, 0, 1, 1, 0],
        "f": [1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
        "s": ["a", "b", "a", "c", "b", "a"],
        "label": [0, 1, 0, 1, 0, 1],
    }
)
STATS = tfdv.generate_statistics_from_dataframe(BASE)
SCHEMA = tfdv.infer_schema(STATS)


def with_(**cols):
    df = BASE.copy()
    for k, v in cols.items():
        if v is None:
            df = df.drop(columns=[k])
        else:
            df[k] = v
    return df


def edited(fn):
    s = schema_pb2.Schema()
    s.CopyFrom(SCHEMA)
    fn(s)
    return s


def feat(s, name):
    return tfdv.get_feature(s, name)


SHIFTED = with_(s=["a", "a", "a", "a", "b", "c"], f=[3.0, 3.5, 4.0, 4.5, 5.0, 5.5])
CASES = {
    "new_column": (with_(new=[1] * 6), SCHEMA, {}),
    "missing_column": (with_(f=None), SCHEMA, {}),
    "string_domain": (with_(s=["a", "z", "a", "q", "b", "a"]), SCHEMA, {}),
    "int_to_float": (with_(i=[1.5, 2, 3, 4, 5, 6]), SCHEMA, {}),
    "int_to_string": (with_(i=["x", "y"] * 3), SCHEMA, {}),
    "string_to_int": (with_(s=[1, 2, 3, 1, 2, 3]), SCHEMA, {}),
    "bool_big": (with_(b=[0, 1, 2, 1, 1, 0]), SCHEMA, {}),
    "bool_small": (with_(b=[0, 1, -1, 1, 1, 0]), SCHEMA, {}),
    "float_domain_inf": (
        with_(f=[1.5, np.inf, 2.5, 3, 3.5, 4]),
        edited(
            lambda s: (
                setattr(feat(s, "f").float_domain, "disallow_inf", True),
                setattr(feat(s, "f").float_domain, "min", 2.0),
                setattr(feat(s, "f").float_domain, "max", 3.5),
            )
        ),
        {},
    ),
    "int_domain": (
        BASE,
        edited(
            lambda s: (
                setattr(feat(s, "i").int_domain, "min", 2),
                setattr(feat(s, "i").int_domain, "max", 5),
            )
        ),
        {},
    ),
    "unique": (
        BASE,
        edited(
            lambda s: (
                setattr(feat(s, "s").unique_constraints, "min", 4),
                setattr(feat(s, "i").unique_constraints, "max", 2),
            )
        ),
        {},
    ),
    "min_examples": (
        BASE,
        edited(lambda s: setattr(s.dataset_constraints, "min_examples_count", 10)),
        {},
    ),
    "max_examples": (
        BASE,
        edited(lambda s: setattr(s.dataset_constraints, "max_examples_count", 3)),
        {},
    ),
    "presence_count": (BASE, edited(lambda s: setattr(feat(s, "i").presence, "min_count", 10)), {}),
    "value_count_low": (
        BASE,
        edited(
            lambda s: (
                feat(s, "i").ClearField("shape"),
                setattr(feat(s, "i").value_count, "min", 2),
                setattr(feat(s, "i").value_count, "max", 3),
            )
        ),
        {},
    ),
    "value_count_invalid": (
        BASE,
        edited(
            lambda s: (
                feat(s, "i").ClearField("shape"),
                setattr(feat(s, "i").value_count, "min", 3),
                setattr(feat(s, "i").value_count, "max", 1),
            )
        ),
        {},
    ),
    "shape_dropped": (with_(i=[[1, 2], [1], [3], [4], [5], [6]]), SCHEMA, {}),
    "int_domain_on_string": (
        BASE,
        edited(lambda s: setattr(feat(s, "s").int_domain, "min", 0)),
        {},
    ),
    "domain_invalid_for_type": (
        BASE,
        edited(lambda s: setattr(feat(s, "f").int_domain, "min", 0)),
        {},
    ),
    "missing_type": (BASE, edited(lambda s: feat(s, "i").ClearField("type")), {}),
    "ghost_feature": (
        BASE,
        edited(
            lambda s: setattr(
                s.feature.add(name="ghost", type=schema_pb2.INT).presence, "min_count", 1
            )
        ),
        {},
    ),
    "environment_serving_label": (
        BASE,
        edited(
            lambda s: (
                s.default_environment.extend(["TRAINING", "SERVING"]),
                feat(s, "label").not_in_environment.append("SERVING"),
            )
        ),
        {"environment": "SERVING"},
    ),
    "environment_training_no_label": (
        with_(label=None),
        edited(
            lambda s: (
                s.default_environment.extend(["TRAINING", "SERVING"]),
                feat(s, "label").not_in_environment.append("SERVING"),
            )
        ),
        {"environment": "TRAINING"},
    ),
    "drift": (
        SHIFTED,
        edited(
            lambda s: (
                setattr(feat(s, "s").drift_comparator.infinity_norm, "threshold", 0.01),
                setattr(feat(s, "f").drift_comparator.jensen_shannon_divergence, "threshold", 0.01),
            )
        ),
        {"previous_statistics": STATS},
    ),
    "skew": (
        SHIFTED,
        edited(lambda s: setattr(feat(s, "s").skew_comparator.infinity_norm, "threshold", 0.01)),
        {"serving_statistics": STATS},
    ),
    "num_examples_drift": (
        BASE.iloc[:3],
        edited(
            lambda s: (
                setattr(
                    s.dataset_constraints.num_examples_drift_comparator,
                    "min_fraction_threshold",
                    0.9,
                ),
            )
        ),
        {"previous_statistics": STATS},
    ),
}

for name, (frame, schema, kwargs) in CASES.items():
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    stats = tfdv.generate_statistics_from_dataframe(frame)
    with open(os.path.join(out, "stats.pb"), "wb") as f:
        f.write(stats.SerializeToString())
    for key, file in (("previous_statistics", "previous.pb"), ("serving_statistics", "serving.pb")):
        if key in kwargs:
            with open(os.path.join(out, file), "wb") as f:
                f.write(kwargs[key].SerializeToString())
    tfdv.write_schema_text(schema, os.path.join(out, "schema.pbtxt"))
    anomalies = tfdv.validate_statistics(stats, schema, **kwargs)
    anomalies.ClearField("baseline")
    with open(os.path.join(out, "anomalies.pbtxt"), "w") as f:
        f.write(text_format.MessageToString(anomalies))
    with open(os.path.join(out, "args.txt"), "w") as f:
        f.write(kwargs.get("environment", "") + "\n")
    print(name, len(anomalies.anomaly_info), anomalies.HasField("dataset_anomaly_info"))

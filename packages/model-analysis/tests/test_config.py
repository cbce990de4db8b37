"""EvalConfig: typed, validated, loadable from JSON/YAML in TFMA's names (and its camelCase)."""

from __future__ import annotations

import json

import pytest

import headwater.model_analysis as ma

YAML = """
model_specs:
  - name: candidate
    label_key: big_tipper
    signature_name: serving_default
  - name: baseline
    label_key: big_tipper
    is_baseline: true
slicing_specs:
  - {}
  - feature_keys: [payment_type]
  - feature_keys: [payment_type, pickup_hour]
  - feature_values: {payment_type: Cash}
metrics_specs:
  - metrics:
      - class_name: ExampleCount
      - class_name: AUC
        threshold:
          value_threshold: {lower_bound: 0.6}
          change_threshold: {direction: HIGHER_IS_BETTER, absolute: -1.0e-10}
      - class_name: Precision
        config: {thresholds: [0.3, 0.5]}
    thresholds:
      precision@0.5: {value_threshold: {lower_bound: 0.1, upper_bound: 1.0}}
options:
  compute_confidence_intervals: true
  min_slice_size: 10
"""

# What TFX writes with json_format.MessageToJson: camelCase, wrapper values, JSON-string config.
TFX_JSON = {
    "modelSpecs": [{"signatureName": "serving_default", "labelKey": "species"}],
    "slicingSpecs": [{}, {"featureKeys": ["island"]}],
    "metricsSpecs": [
        {
            "metrics": [
                {
                    "className": "SparseCategoricalAccuracy",
                    "threshold": {
                        "valueThreshold": {"lowerBound": {"value": 0.6}},
                        "changeThreshold": {
                            "direction": "HIGHER_IS_BETTER",
                            "absolute": {"value": -1e-10},
                        },
                    },
                },
                {"className": "Precision", "config": '{"top_k": 2}'},
            ]
        }
    ],
    "options": {"minSliceSize": {"value": 5}},
}


def test_yaml_loads_into_typed_frozen_objects():
    config = ma.EvalConfig.from_yaml(YAML)
    assert config.candidate.name == "candidate"
    assert config.baseline is not None
    assert config.baseline.name == "baseline"
    assert config.slicing_specs[0].is_overall
    assert config.slicing_specs[2].feature_keys == ("payment_type", "pickup_hour")
    assert config.slicing_specs[3].feature_values == {"payment_type": "Cash"}
    auc = config.metrics_specs[0].metrics[1]
    assert auc.threshold is not None
    assert auc.threshold.value_threshold == ma.GenericValueThreshold(lower_bound=0.6)
    change = auc.threshold.change_threshold
    assert change is not None
    assert change.direction is ma.MetricDirection.HIGHER_IS_BETTER
    assert config.metrics_specs[0].metrics[2].config == {"thresholds": [0.3, 0.5]}
    assert config.options.compute_confidence_intervals
    assert config.options.min_slice_size == 10
    with pytest.raises(AttributeError):
        config.options = ma.Options()  # type: ignore[misc]


def test_json_round_trip_is_identity():
    config = ma.EvalConfig.from_yaml(YAML)
    assert ma.EvalConfig.from_json(config.to_json()) == config


def test_tfx_camel_case_json_with_wrappers_loads(tmp_path):
    path = tmp_path / "eval_config.json"
    path.write_text(json.dumps(TFX_JSON))
    config = ma.load_eval_config(path)
    assert config.candidate.label_key == "species"
    assert config.slicing_specs[1].feature_keys == ("island",)
    threshold = config.metrics_specs[0].metrics[0].threshold
    assert threshold is not None
    assert threshold.value_threshold is not None
    assert threshold.value_threshold.lower_bound == 0.6
    assert config.metrics_specs[0].metrics[1].config == {"top_k": 2}
    assert config.options.min_slice_size == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model_specs": [{"labelKey": 3}]}, r"model_specs\[0\].label_key: expected a string"),
        ({"slicing_specs": [{"feature_kees": ["a"]}]}, "unknown field 'feature_kees'"),
        ({"options": {"min_slice_size": 0}}, "min_slice_size must be >= 1"),
        (
            {
                "model_specs": [
                    {"name": "a", "is_baseline": True},
                    {"name": "b", "is_baseline": True},
                ]
            },
            "more than one baseline",
        ),
        (
            {"metrics_specs": [{"metrics": [{"class_name": "AUC", "threshold": {}}]}]},
            "needs value_threshold or change_threshold",
        ),
        (
            {
                "metrics_specs": [
                    {
                        "metrics": [
                            {
                                "class_name": "AUC",
                                "threshold": {
                                    "change_threshold": {"direction": "UP", "absolute": 0}
                                },
                            }
                        ]
                    }
                ]
            },
            "expected one of",
        ),
    ],
)
def test_bad_config_names_the_field(data, message):
    with pytest.raises(ma.EvalConfigError, match=message):
        ma.EvalConfig.from_dict(data)


def test_errors_are_headwater_errors_and_value_errors():
    from headwater.io import HeadwaterError

    assert issubclass(ma.EvalConfigError, HeadwaterError)
    assert issubclass(ma.EvalConfigError, ValueError)
    assert issubclass(ma.EvalInputError, ValueError)


def test_missing_config_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="eval config file not found"):
        ma.load_eval_config(tmp_path / "nope.yaml")


def test_resolve_model_specs_adds_or_drops_the_baseline():
    config = ma.EvalConfig(model_specs=(ma.ModelSpec(label_key="y"),))
    with_base = ma.resolve_model_specs(config, has_baseline=True)
    assert [(m.name, m.is_baseline) for m in with_base.model_specs] == [
        ("candidate", False),
        ("baseline", True),
    ]
    assert all(m.label_key == "y" for m in with_base.model_specs)
    assert ma.resolve_model_specs(with_base, has_baseline=False).model_specs == (
        ma.ModelSpec(name="candidate", label_key="y"),
    )
    assert ma.resolve_model_specs(config, has_baseline=False) is config


def test_as_eval_config_accepts_objects_dicts_text_and_paths(tmp_path):
    config = ma.EvalConfig.from_yaml(YAML)
    path = tmp_path / "config.yaml"
    path.write_text(YAML)
    for value in (config, config.to_dict(), config.to_json(), YAML, str(path), path):
        assert ma.as_eval_config(value) == config
    with pytest.raises(ma.EvalConfigError, match="eval_config is required"):
        ma.as_eval_config(None)

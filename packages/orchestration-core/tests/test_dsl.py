"""Component declarations and wiring errors, reported when the pipeline is built."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from headwater.orchestration import (
    Channel,
    Examples,
    ExampleStatistics,
    InputArtifact,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    Schema,
    WiringError,
    component,
)


@component
def Gen(examples: OutputArtifact[Examples], rows: Parameter[int] = 10) -> None:
    """Writes nothing."""


@component
def Stats(
    examples: InputArtifact[Examples],
    statistics: OutputArtifact[ExampleStatistics],
    schema: InputArtifact[Schema] | None = None,
    exclude_splits: Parameter[Sequence[str]] = (),
    ratio: Parameter[float] = 0.5,
) -> None:
    """Writes nothing."""


@component
def Train(examples: InputArtifact[Examples], model: OutputArtifact[Model]) -> None:
    """Writes nothing."""


def test_spec_lists_inputs_outputs_and_parameters():
    spec = Stats.spec
    assert spec.name == "Stats"
    assert {k: (v.type, v.optional) for k, v in spec.inputs.items()} == {
        "examples": (Examples, False),
        "schema": (Schema, True),
    }
    assert spec.outputs == {"statistics": ExampleStatistics}
    assert spec.parameters["exclude_splits"].default == ()
    assert not spec.parameters["ratio"].required


def test_node_binds_channels_and_defaults():
    gen = Gen(rows=5)
    stats = Stats(examples=gen.outputs["examples"], ratio=1)
    assert stats.inputs["examples"].producer is gen
    assert stats.parameters == {"exclude_splits": (), "ratio": 1}
    assert stats.outputs.statistics.type is ExampleStatistics
    assert gen.parameters == {"rows": 5}


def test_unknown_parameter_names_component_and_field():
    with pytest.raises(WiringError, match=r"Gen: unknown parameter 'row'"):
        Gen(row=5)


def test_wrong_artifact_type_names_component_and_field():
    train = Train(examples=Gen().outputs["examples"])
    with pytest.raises(WiringError, match=r"Stats: input 'examples' expects Examples, got Model"):
        Stats(examples=train.outputs["model"])


def test_missing_required_input_is_reported():
    with pytest.raises(WiringError, match=r"Stats: required input 'examples' \(Examples\)"):
        Stats()


def test_parameter_type_is_checked():
    with pytest.raises(WiringError, match=r"Gen: parameter 'rows' expects int, got str"):
        Gen(rows="ten")
    with pytest.raises(WiringError, match=r"Stats: parameter 'exclude_splits'"):
        Stats(examples=Gen().outputs["examples"], exclude_splits="train")


def test_passing_an_output_as_argument_is_reported():
    with pytest.raises(WiringError, match=r"'examples' is an output"):
        Gen(examples=None)


def test_channel_where_parameter_expected_is_reported():
    gen = Gen()
    with pytest.raises(WiringError, match=r"'ratio' is a parameter, not an input"):
        Stats(examples=gen.outputs["examples"], ratio=gen.outputs["examples"])


def test_unannotated_function_parameter_is_refused():
    def Bad(x, model: OutputArtifact[Model]) -> None:  # type: ignore[no-untyped-def]
        """No annotation on x."""

    with pytest.raises(WiringError, match=r"Bad: parameter 'x' needs an annotation"):
        component(Bad)


def test_cycle_is_reported_with_component_names():
    gen = Gen()
    a = Stats(examples=gen.outputs["examples"]).with_id("A")
    b = Train(examples=gen.outputs["examples"]).with_id("B")
    # Rewire by hand into a cycle A -> B -> A (not possible through calls alone).
    a.inputs["examples"] = Channel(Examples, b, "model")
    b.inputs["examples"] = Channel(Examples, a, "statistics")
    with pytest.raises(WiringError, match=r"cycle between components A <- B <- A"):
        Pipeline("cyc", "/tmp/unused", [a, b])


def test_duplicate_node_ids_are_reported():
    gen = Gen()
    with pytest.raises(WiringError, match=r"two nodes have id 'Stats'"):
        Pipeline(
            "dup",
            "/tmp/unused",
            [Stats(examples=gen.outputs["examples"]), Stats(examples=gen.outputs["examples"])],
        )


def test_pipeline_orders_nodes_and_adds_upstream():
    gen = Gen()
    stats = Stats(examples=gen.outputs["examples"])
    train = Train(examples=gen.outputs["examples"])
    pipeline = Pipeline("order", "/tmp/unused", [train, stats])
    ids = [n.id for n in pipeline.components]
    assert ids.index("Gen") < ids.index("Train")
    assert ids.index("Gen") < ids.index("Stats")
    assert sorted(ids) == ["Gen", "Stats", "Train"]


def test_output_lookup_error_lists_outputs():
    with pytest.raises(KeyError, match=r"Gen has no output 'stats'.*\['examples'\]"):
        Gen().outputs["stats"]

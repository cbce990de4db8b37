"""Artifact types with TFX's names, properties and on-disk layouts, and their runtime objects.

An artifact class is both the type a component declares (`InputArtifact[Examples]`) and the
object its function receives at run time: a directory `uri` plus properties recorded in ML
Metadata. Output artifacts point at a temporary directory that the runner renames when the
component succeeds, so helpers here only ever write inside `uri`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from headwater.io.paths import safe_path_component
from headwater.orchestration.example_files import (
    FORMAT_PARQUET,
    FORMAT_TF_EXAMPLE,
    ShardedExampleWriter,
    data_files,
    read_example_files,
)

if TYPE_CHECKING:
    import pyarrow as pa

PropertyValue = int | float | str

INT = "INT"
DOUBLE = "DOUBLE"
STRING = "STRING"

_SPAN = {"span": INT}
_SPLIT_NAMES = {"split_names": STRING}


class Artifact:
    """An artifact: a directory `uri` and typed properties recorded in ML Metadata."""

    TYPE_NAME: ClassVar[str] = "Artifact"
    PROPERTIES: ClassVar[Mapping[str, str]] = {}
    BASE_TYPE: ClassVar[str | None] = None
    """MLMD system base type (DATASET, MODEL, STATISTICS) as TFX annotates it."""

    def __init__(
        self,
        uri: str = "",
        *,
        id: int | None = None,
        properties: Mapping[str, PropertyValue] | None = None,
        custom_properties: Mapping[str, PropertyValue] | None = None,
        state: str = "LIVE",
    ) -> None:
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "properties", dict(properties or {}))
        object.__setattr__(self, "custom_properties", dict(custom_properties or {}))
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "is_output", False)
        for name in self.properties:
            self._check_property(name)

    uri: str
    id: int | None
    properties: dict[str, PropertyValue]
    custom_properties: dict[str, PropertyValue]
    state: str
    is_output: bool

    @classmethod
    def _check_property(cls, name: str) -> None:
        if name not in cls.PROPERTIES:
            known = ", ".join(sorted(cls.PROPERTIES)) or "none"
            raise AttributeError(
                f"{cls.TYPE_NAME} has no property {name!r} (its properties: {known})"
            )

    def __getattr__(self, name: str) -> Any:
        props = type(self).PROPERTIES
        if name in props:
            return self.properties.get(name)
        raise AttributeError(f"{type(self).TYPE_NAME} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).PROPERTIES:
            self.properties[name] = value
        elif name in ("uri", "id", "state", "is_output"):
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(
                f"{type(self).TYPE_NAME} has no property {name!r}; "
                "use custom_properties[...] for anything else"
            )

    def __repr__(self) -> str:
        return f"{type(self).TYPE_NAME}(id={self.id}, uri={self.uri!r})"

    # -- splits ---------------------------------------------------------------------------
    @property
    def split_name_list(self) -> list[str]:
        """Split names decoded from the JSON `split_names` property (TFX's encoding)."""
        raw = self.properties.get("split_names")
        if not raw:
            return []
        return list(json.loads(str(raw)))

    def _add_split_name(self, name: str) -> None:
        if "split_names" not in type(self).PROPERTIES:
            return
        names = self.split_name_list
        if name not in names:
            names.append(name)
            self.properties["split_names"] = json.dumps(names)

    def split_uri(self, name: str) -> str:
        """`<uri>/Split-<name>`; created (and recorded in split_names) on output artifacts.

        UnsafePathError when `name` would leave the artifact's directory (`..`, `/`).
        """
        path = _split_path(self.uri, name)
        if self.is_output:
            os.makedirs(path, exist_ok=True)
            self._add_split_name(name)
        return path


class Examples(Artifact):
    """Examples in `Split-<name>/`: TFRecord of tf.Example (gzip) or Parquet files."""

    TYPE_NAME = "Examples"
    PROPERTIES: ClassVar[Mapping[str, str]] = {"span": INT, "version": INT, **_SPLIT_NAMES}
    BASE_TYPE = "DATASET"

    @property
    def payload_format(self) -> str:
        """FORMAT_TF_EXAMPLE (TFX's default) or FORMAT_PARQUET, from the custom property."""
        return str(self.custom_properties.get("payload_format", FORMAT_TF_EXAMPLE))

    def splits(self, *, exclude: Iterable[str] = ()) -> list[Split]:
        """The recorded splits, in split_names order, minus `exclude`."""
        skip = set(exclude)
        names = self.split_name_list or _split_dirs(self.uri)
        return [
            Split(name=name, uri=_split_path(self.uri, name)) for name in names if name not in skip
        ]

    def split(self, name: str) -> Split:
        """One split by name; KeyError naming the splits there are."""
        for split in self.splits():
            if split.name == name:
                return split
        raise KeyError(f"{self!r} has no split {name!r} (it has {self.split_name_list})")

    def write_split(
        self,
        name: str,
        batches: Iterable[pa.RecordBatch],
        *,
        payload_format: str | None = None,
    ) -> list[str]:
        """Write `batches` as split `name` in TFX's file layout; returns the files written."""
        fmt = payload_format or self.payload_format
        self.custom_properties["payload_format"] = fmt
        writer = ShardedExampleWriter(self.split_uri(name), fmt)
        for batch in batches:
            writer.add(batch)
        return writer.close()


@dataclass(frozen=True)
class Split:
    """One split of an Examples artifact: its name, directory and data files."""

    name: str
    uri: str

    @property
    def files(self) -> list[str]:
        """Data files of the split, sorted, hidden files left out."""
        return data_files(self.uri)

    def read_batches(
        self, *, batch_size: int = 65536, schema: pa.Schema | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Arrow RecordBatches of the split, whatever its payload (tf.Example or Parquet)."""
        return read_example_files(self.files, batch_size=batch_size, schema=schema)


def _split_path(uri: str, name: str) -> str:
    """`<uri>/Split-<name>`, refusing a split name that would leave `uri`."""
    return os.path.join(uri, f"Split-{safe_path_component(name, what='split name')}")


def _split_dirs(uri: str) -> list[str]:
    if not os.path.isdir(uri):
        return []
    return sorted(d[len("Split-") :] for d in os.listdir(uri) if d.startswith("Split-"))


class _ProtoSplitArtifact(Artifact):
    """An artifact holding one binary proto per split (statistics, anomalies)."""

    FILE_NAME: ClassVar[str] = ""

    def write_split(self, name: str, proto: Any) -> str:
        """Write `proto` (binary) to `Split-<name>/<FILE_NAME>` as TFX does."""
        path = os.path.join(self.split_uri(name), self.FILE_NAME)
        with open(path, "wb") as f:
            f.write(proto.SerializeToString())
        return path

    def split_file(self, name: str) -> str:
        """Path of the proto file for split `name`."""
        return os.path.join(_split_path(self.uri, name), self.FILE_NAME)

    def read_split_bytes(self, name: str) -> bytes:
        """Raw bytes of split `name`'s proto file."""
        path = self.split_file(name)
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{self!r} has no split {name!r}: {path} is missing "
                f"(split_names: {self.split_name_list})"
            ) from exc


class ExampleStatistics(_ProtoSplitArtifact):
    """Per-split `Split-<name>/FeatureStats.pb` (a binary DatasetFeatureStatisticsList)."""

    TYPE_NAME = "ExampleStatistics"
    PROPERTIES: ClassVar[Mapping[str, str]] = {**_SPAN, **_SPLIT_NAMES}
    BASE_TYPE = "STATISTICS"
    FILE_NAME = "FeatureStats.pb"

    def read_split(self, name: str) -> Any:
        """The DatasetFeatureStatisticsList of split `name`."""
        from tensorflow_metadata.proto.v0 import statistics_pb2

        return statistics_pb2.DatasetFeatureStatisticsList.FromString(self.read_split_bytes(name))


class ExampleAnomalies(_ProtoSplitArtifact):
    """Per-split `Split-<name>/SchemaDiff.pb` (a binary Anomalies proto)."""

    TYPE_NAME = "ExampleAnomalies"
    PROPERTIES: ClassVar[Mapping[str, str]] = {**_SPAN, **_SPLIT_NAMES}
    FILE_NAME = "SchemaDiff.pb"

    def read_split(self, name: str) -> Any:
        """The Anomalies proto of split `name`."""
        from tensorflow_metadata.proto.v0 import anomalies_pb2

        return anomalies_pb2.Anomalies.FromString(self.read_split_bytes(name))


class Schema(Artifact):
    """`schema.pbtxt`: a tensorflow-metadata Schema in text format."""

    TYPE_NAME = "Schema"
    FILE_NAME: ClassVar[str] = "schema.pbtxt"

    @property
    def file(self) -> str:
        """Path of `schema.pbtxt`."""
        return os.path.join(self.uri, self.FILE_NAME)

    def write(self, schema: Any) -> str:
        """Write a Schema proto as `schema.pbtxt` (text format, as TFX's SchemaGen)."""
        from google.protobuf import text_format

        os.makedirs(self.uri, exist_ok=True)
        with open(self.file, "w") as f:
            f.write(text_format.MessageToString(schema))
        return self.file

    def read(self) -> Any:
        """The Schema proto from `schema.pbtxt` (or the one .pbtxt file in `uri`)."""
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        path = self.file
        if not os.path.exists(path):
            found = [f for f in data_files(self.uri) if f.endswith(".pbtxt")]
            if len(found) != 1:
                raise FileNotFoundError(f"{self!r}: expected {path}, found {found}")
            path = found[0]
        with open(path) as f:
            return text_format.Parse(f.read(), schema_pb2.Schema())


class TransformGraph(Artifact):
    """A transform graph: `transform_fn/` SavedModel and `transformed_metadata/`."""

    TYPE_NAME = "TransformGraph"


class TransformCache(Artifact):
    """Analyzer cache of a Transform run."""

    TYPE_NAME = "TransformCache"


class Model(Artifact):
    """A trained model; the serving SavedModel is under `Format-Serving/`."""

    TYPE_NAME = "Model"
    BASE_TYPE = "MODEL"


class ModelRun(Artifact):
    """Training logs (TensorBoard event files) of a Trainer run."""

    TYPE_NAME = "ModelRun"


class HyperParameters(Artifact):
    """Best hyperparameters found by a Tuner (`best_hyperparameters.txt`)."""

    TYPE_NAME = "HyperParameters"


class TunerResults(Artifact):
    """All trials of a Tuner run."""

    TYPE_NAME = "TunerResults"


class ModelEvaluation(Artifact):
    """Evaluation results of a model (metrics per slice, plots, validations)."""

    TYPE_NAME = "ModelEvaluation"


class ModelBlessing(Artifact):
    """`BLESSED` or `NOT_BLESSED` marker file; custom property `blessed` is 1 or 0."""

    TYPE_NAME = "ModelBlessing"


class InfraBlessing(Artifact):
    """`INFRA_BLESSED` or `INFRA_NOT_BLESSED` marker file from an infra validation."""

    TYPE_NAME = "InfraBlessing"


class PushedModel(Artifact):
    """A pushed model; custom properties `pushed`, `pushed_destination`, `pushed_version`."""

    TYPE_NAME = "PushedModel"
    BASE_TYPE = "MODEL"
    NOT_PUSHED_FILE: ClassVar[str] = "NOT_PUSHED"

    def not_pushed_reason(self) -> str | None:
        """Why the model was not pushed (custom property `pushed` is 0), or None if it was.

        The reason comes from a custom property `reason` if set, else from the `NOT_PUSHED`
        file the Pusher writes, else it is unknown.
        """
        if self.custom_properties.get("pushed") != 0:
            return None
        reason = self.custom_properties.get("reason")
        if reason:
            return str(reason)
        try:
            with open(os.path.join(self.uri, self.NOT_PUSHED_FILE)) as f:
                text = f.read().strip()
        except OSError:
            text = ""
        return text or "no reason recorded"


class InferenceResult(Artifact):
    """PredictionLog records from batch inference."""

    TYPE_NAME = "InferenceResult"


STANDARD_TYPES: tuple[type[Artifact], ...] = (
    Examples,
    ExampleStatistics,
    Schema,
    ExampleAnomalies,
    TransformGraph,
    TransformCache,
    Model,
    ModelRun,
    HyperParameters,
    TunerResults,
    ModelEvaluation,
    ModelBlessing,
    InfraBlessing,
    PushedModel,
    InferenceResult,
)

_TYPES_BY_NAME: dict[str, type[Artifact]] = {t.TYPE_NAME: t for t in STANDARD_TYPES}


def artifact_class(type_name: str) -> type[Artifact]:
    """The artifact class registered under `type_name` (a plain Artifact subclass if unknown)."""
    cls = _TYPES_BY_NAME.get(type_name)
    if cls is None:
        cls = type(type_name, (Artifact,), {"TYPE_NAME": type_name})
        _TYPES_BY_NAME[type_name] = cls
    return cls


def register_artifact_type(cls: type[Artifact]) -> type[Artifact]:
    """Register a user artifact class so artifacts read back from MLMD get that class."""
    _TYPES_BY_NAME[cls.TYPE_NAME] = cls
    return cls


__all__ = [
    "FORMAT_PARQUET",
    "FORMAT_TF_EXAMPLE",
    "STANDARD_TYPES",
    "Artifact",
    "ExampleAnomalies",
    "ExampleStatistics",
    "Examples",
    "HyperParameters",
    "InferenceResult",
    "InfraBlessing",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "ModelRun",
    "PushedModel",
    "Schema",
    "Split",
    "TransformCache",
    "TransformGraph",
    "TunerResults",
    "artifact_class",
    "register_artifact_type",
]

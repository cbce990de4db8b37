"""Importer: bring an external URI into the pipeline as an artifact of a given type.

    schema = Importer(source_uri="schemas/v3", artifact_type=Schema).with_id("import_schema")
    ExampleValidator(statistics=..., schema=schema.outputs["result"])

Without `reimport`, an artifact already registered for that URI and type is reused (as TFX).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwater.orchestration.artifacts import Artifact, PropertyValue
from headwater.orchestration.dsl import Node
from headwater.orchestration.errors import WiringError

if TYPE_CHECKING:
    from headwater.orchestration.metadata import MetadataStore
    from headwater.orchestration.runner import NodeResult

OUTPUT_KEY = "result"


class Importer(Node):
    """A node whose one output, `result`, is an artifact at `source_uri`."""

    def __init__(
        self,
        source_uri: str,
        artifact_type: type[Artifact],
        *,
        reimport: bool = False,
        properties: Mapping[str, PropertyValue] | None = None,
        custom_properties: Mapping[str, PropertyValue] | None = None,
    ) -> None:
        if not (isinstance(artifact_type, type) and issubclass(artifact_type, Artifact)):
            raise WiringError(
                f"Importer: artifact_type must be an Artifact class, got {artifact_type!r}"
            )
        for name in properties or {}:
            if name not in artifact_type.PROPERTIES:
                raise WiringError(
                    f"Importer: {artifact_type.TYPE_NAME} has no property {name!r} "
                    f"(its properties: {sorted(artifact_type.PROPERTIES)})"
                )
        super().__init__(
            "Importer",
            kind="importer",
            type_name="Importer",
            inputs={},
            parameters={"source_uri": source_uri, "reimport": reimport},
            outputs={OUTPUT_KEY: artifact_type},
        )
        self.artifact_type = artifact_type
        self.source_uri = source_uri
        self.reimport = reimport
        self.properties = dict(properties or {})
        self.custom_properties = dict(custom_properties or {})

    def execute(
        self,
        store: MetadataStore,
        pipeline_ctx: Any,
        contexts: Sequence[Any],
        inputs: Mapping[str, list[Artifact]],
    ) -> NodeResult:
        """Register (or reuse) the artifact and record a COMPLETE execution producing it."""
        from headwater.orchestration.runner import NodeResult

        if "://" not in self.source_uri and not os.path.exists(self.source_uri):
            raise FileNotFoundError(
                f"{self.id}: source_uri {self.source_uri!r} does not exist "
                f"(importing a {self.artifact_type.TYPE_NAME})"
            )
        artifact = None if self.reimport else self._existing(store)
        if artifact is None:
            artifact = self.artifact_type(
                self.source_uri,
                properties=self.properties,
                custom_properties=self.custom_properties,
            )
        execution_id = store.put_execution(
            type_name="Importer",
            state="COMPLETE",
            contexts=contexts,
            properties=self.parameters,
            outputs={OUTPUT_KEY: [artifact]},
        )
        return NodeResult(self.id, "COMPLETE", execution_id, 0.0, {OUTPUT_KEY: [artifact]})

    def _existing(self, store: MetadataStore) -> Artifact | None:
        type_id = store.artifact_type_id(self.artifact_type)
        found = [
            a for a in store.store.get_artifacts_by_uri(self.source_uri) if a.type_id == type_id
        ]
        if not found:
            return None
        return store.from_proto(max(found, key=lambda a: a.id), self.artifact_type.TYPE_NAME)

"""ImportSchemaGen: a user's schema file as a Schema artifact (checked, then copied)."""

from __future__ import annotations

from headwater.orchestration.artifacts import Schema
from headwater.orchestration.dsl import OutputArtifact, Parameter, component


@component
def ImportSchemaGen(schema_file: Parameter[str], schema: OutputArtifact[Schema]) -> None:
    """Copy `schema_file` (a text Schema proto) to `schema.pbtxt`, after checking it parses.

    A binary Schema proto is accepted too and written as text.
    """
    import shutil

    import headwater.data_validation as dv

    parsed = dv.load_schema(schema_file)  # raises SchemaError naming the file and line
    try:
        dv.load_schema_text(schema_file)
    except dv.SchemaError:
        schema.write(parsed)  # binary input: TFX's artifact holds text
        return
    shutil.copyfile(schema_file, schema.file)

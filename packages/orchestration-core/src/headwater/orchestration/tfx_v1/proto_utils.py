"""`tfx.utils.proto_utils.proto_to_json` for the messages a TFX pipeline file builds."""

from __future__ import annotations

import json
from typing import Any

from headwater.orchestration.tfx_v1._message import Message


def proto_to_json(message: Any) -> str:
    """JSON of a message, sorted keys and proto field names (as TFX's `proto_to_json`)."""
    if isinstance(message, Message):
        return json.dumps(message.to_dict(), sort_keys=True, indent=2)
    from google.protobuf import json_format

    return json_format.MessageToJson(message, sort_keys=True, preserving_proto_field_name=True)


__all__ = ["proto_to_json"]

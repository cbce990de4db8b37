"""tensorflow.serving.Input ⇄ serialized tf.Examples, shared by gRPC Classify/Regress and warm-up.

TF Serving merges an ExampleListWithContext's context features into every example before the
signature parses them; this does the same, so both list forms give the model identical bytes.
"""

from __future__ import annotations

from typing import Any

from headwater.model_server.errors import ServingError

__all__ = ["serialized_examples"]


def serialized_examples(input_proto: Any) -> list[bytes]:
    """The serialized tf.Examples a tensorflow.serving.Input holds (context merged in)."""
    which = input_proto.WhichOneof("kind")
    if which == "example_list":
        return [e.SerializeToString() for e in input_proto.example_list.examples]
    if which == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        # Concatenated serialized messages merge: context features first, the example's win.
        return [context + e.SerializeToString() for e in with_context.examples]
    raise ServingError("INVALID_ARGUMENT", "Invalid argument: Input is empty.")

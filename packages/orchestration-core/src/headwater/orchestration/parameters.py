"""Parameters as ML Metadata values and as stable JSON for cache keys: the one generic place.

Dataclasses become dicts, protos text format, callables `module:qualname` (their module file's
contents go into the cache key, so editing user code invalidates the cache).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import inspect
import json
import os
from collections.abc import Mapping
from typing import Any


def to_jsonable(value: Any) -> Any:
    """A JSON-serializable, deterministic form of a parameter value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "__dataclass__": type(value).__qualname__,
            **{f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if hasattr(value, "SerializeToString") and hasattr(value, "DESCRIPTOR"):
        from google.protobuf import text_format

        return {"__proto__": value.DESCRIPTOR.full_name, "text": text_format.MessageToString(value)}
    if callable(value):
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', repr(value))}"
    text = repr(value)
    if " at 0x" in text:  # a default repr holds a memory address: not stable across runs
        return f"{type(value).__module__}.{type(value).__qualname__}"
    return text


def to_json(value: Any) -> str:
    """Canonical JSON of a parameter value (sorted keys, no spaces)."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"))


def _module_folder_fingerprint(module_file: str) -> str:
    """sha256 of a module file and every `.py` beside it (its importable siblings, which TFX
    packages with it), so editing a sibling such as `penguin_utils_base.py` busts the cache."""
    folder = os.path.dirname(os.path.abspath(module_file))
    digest = hashlib.sha256(os.path.basename(module_file).encode())
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".py") and os.path.isfile(path):
            digest.update(name.encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def code_fingerprints(value: Any) -> list[str]:
    """sha256 of user code a parameter points at: a callable's module file, or a `.py` path
    (with the `.py` files beside it)."""
    paths: list[str] = []
    if callable(value) and not isinstance(value, type):
        try:
            path = inspect.getsourcefile(value)
        except TypeError:
            path = None
        if path:
            paths.append(path)
    elif isinstance(value, str) and value.endswith(".py") and os.path.isfile(value):
        return [_module_folder_fingerprint(value)]
    elif isinstance(value, Mapping):
        return [fp for v in value.values() for fp in code_fingerprints(v)]
    elif isinstance(value, list | tuple):
        return [fp for v in value for fp in code_fingerprints(v)]
    out = []
    for path in paths:
        with open(path, "rb") as f:
            out.append(hashlib.sha256(f.read()).hexdigest())
    return out

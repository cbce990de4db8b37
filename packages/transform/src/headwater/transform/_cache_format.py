"""The analyzer cache's file format: accumulators as data only, never as code.

A cache file is an uncompressed `.npz` archive (a zip of `.npy` arrays, read with
`allow_pickle=False`): a `__manifest__` member holds UTF-8 JSON describing the accumulator's
structure (lists, tuples, dicts, numbers, strings, None, quantile summaries), and each array
leaf is its own member; an Arrow table leaf is an Arrow IPC stream stored as a uint8 array.
Reading one builds only those types: a file that is not such an archive (a pickle, say), or that
holds anything else, is refused with AnalyzerCacheError and nothing in it is run.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np
import pyarrow as pa

from headwater.transform.errors import AnalyzerCacheError
from headwater.transform.quantiles import Summary

FORMAT = "headwater-analyzer-cache/1"
"""The `format` field of a cache file's manifest."""
MANIFEST = "__manifest__"
_ZIP_MAGIC = b"PK\x03\x04"
_SUMMARY_FIELDS = ("values", "weights", "rmin", "rmax")


class _Writer:
    """Turn an accumulator into a JSON-able tree plus named arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, value: np.ndarray) -> str:
        if value.dtype.hasobject:
            raise AnalyzerCacheError(
                f"analyzer cache: cannot store an object array (dtype {value.dtype}); "
                "accumulators must be numeric arrays, Arrow tables or plain values"
            )
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value
        return name

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, np.generic):  # before float: np.float64 is a float too
            return {"t": "scalar", "ref": self._array(np.asarray(value))}
        if isinstance(value, bool):
            return {"t": "bool", "v": value}
        if isinstance(value, int):
            return {"t": "int", "v": value}
        if isinstance(value, float):
            return {"t": "float", "v": repr(float(value))}
        if isinstance(value, str):
            return {"t": "str", "v": value}
        if isinstance(value, np.ndarray):
            return {"t": "array", "ref": self._array(value)}
        if isinstance(value, pa.Table):
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, value.schema) as writer:
                writer.write_table(value)
            return {"t": "table", "ref": self._array(np.frombuffer(sink.getvalue(), np.uint8))}
        if isinstance(value, Summary):
            fields = {f: self._array(np.asarray(getattr(value, f))) for f in _SUMMARY_FIELDS}
            return {"t": "summary", "refs": fields, "total": repr(float(value.total))}
        if isinstance(value, list | tuple):
            kind = "list" if isinstance(value, list) else "tuple"
            return {"t": kind, "v": [self.encode(v) for v in value]}
        if isinstance(value, dict):
            return {"t": "dict", "v": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        raise AnalyzerCacheError(
            f"analyzer cache: cannot store a {type(value).__name__} in an accumulator; "
            "expected numbers, strings, None, numpy arrays, Arrow tables, quantile summaries, "
            "or lists, tuples and dicts of those"
        )


def write_accumulators(acc: Any, path: str) -> None:
    """Write `acc` to `path` atomically (temporary file, then rename) in the data-only format."""
    writer = _Writer()
    tree = writer.encode(acc)
    manifest = json.dumps({"format": FORMAT, "tree": tree}).encode()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **{MANIFEST: np.frombuffer(manifest, np.uint8)}, **writer.arrays)
    os.replace(tmp, path)


class _Reader:
    """Rebuild an accumulator from a manifest tree and an open archive, allowing only data."""

    def __init__(self, path: str, archive: Any) -> None:
        self.path = path
        self.archive = archive

    def _bad(self, what: str) -> AnalyzerCacheError:
        return AnalyzerCacheError(f"{self.path}: not a valid Headwater analyzer cache: {what}")

    def _array(self, ref: Any) -> np.ndarray:
        if not isinstance(ref, str) or ref == MANIFEST or ref not in self.archive.files:
            raise self._bad(f"array {ref!r} missing")
        try:
            return np.asarray(self.archive[ref])
        except ValueError as exc:  # an object array: numpy refuses to unpickle it
            raise self._bad(f"array {ref!r} is not plain data ({exc})") from exc

    def decode(self, node: Any) -> Any:
        if node is None:
            return None
        if not isinstance(node, dict) or "t" not in node:
            raise self._bad(f"unexpected manifest entry {str(node)[:80]!r}")
        kind = node["t"]
        if kind in ("bool", "int", "str"):
            value = node.get("v")
            if type(value) is not {"bool": bool, "int": int, "str": str}[kind]:
                raise self._bad(f"{kind} entry holds {type(value).__name__}")
            return value
        if kind == "float":
            return float(str(node.get("v")))
        if kind == "array":
            return self._array(node.get("ref"))
        if kind == "scalar":
            return self._array(node.get("ref"))[()]
        if kind == "table":
            data = self._array(node.get("ref"))
            if data.dtype != np.uint8:
                raise self._bad("table entry is not a byte array")
            try:
                return pa.ipc.open_stream(pa.py_buffer(data.tobytes())).read_all()
            except pa.ArrowInvalid as exc:
                raise self._bad(f"table entry is not an Arrow IPC stream ({exc})") from exc
        if kind == "summary":
            refs = node.get("refs")
            if not isinstance(refs, dict) or set(refs) != set(_SUMMARY_FIELDS):
                raise self._bad("quantile summary entry without its four arrays")
            values, weights, rmin, rmax = (self._array(refs[f]) for f in _SUMMARY_FIELDS)
            return Summary(values, weights, rmin, rmax, float(str(node.get("total"))))
        if kind in ("list", "tuple", "dict"):
            items = node.get("v")
            if not isinstance(items, list):
                raise self._bad(f"{kind} entry without items")
            if kind == "dict":
                if not all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                    raise self._bad("dict entry whose items are not pairs")
                try:
                    return {self.decode(k): self.decode(v) for k, v in items}
                except TypeError as exc:  # an unhashable key
                    raise self._bad(f"dict entry with a bad key ({exc})") from exc
            decoded = [self.decode(v) for v in items]
            return decoded if kind == "list" else tuple(decoded)
        raise self._bad(f"unknown entry type {str(kind)[:40]!r}")


def read_accumulators(path: str) -> Any:
    """The accumulator stored at `path`; AnalyzerCacheError for anything but this format."""
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if head != _ZIP_MAGIC:
        kind = "a Python pickle" if head[:1] == b"\x80" else f"starts with {head!r}"
        raise AnalyzerCacheError(
            f"{path}: not a Headwater analyzer cache ({kind}); cache files are .npz archives "
            f"read as data only ({FORMAT}), never unpickled. Delete the file, or run without "
            "the analyzer cache, to recompute it"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            if MANIFEST not in archive.files:
                raise AnalyzerCacheError(f"{path}: not a Headwater analyzer cache: no manifest")
            try:
                manifest = json.loads(np.asarray(archive[MANIFEST]).tobytes().decode())
            except (ValueError, UnicodeDecodeError) as exc:
                raise AnalyzerCacheError(f"{path}: unreadable cache manifest ({exc})") from exc
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                found = manifest.get("format") if isinstance(manifest, dict) else None
                raise AnalyzerCacheError(
                    f"{path}: analyzer cache format {found!r}, expected {FORMAT!r}"
                )
            return _Reader(path, archive).decode(manifest.get("tree"))
    except RecursionError as exc:
        raise AnalyzerCacheError(f"{path}: analyzer cache manifest nested too deeply") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise AnalyzerCacheError(f"{path}: damaged analyzer cache archive ({exc})") from exc

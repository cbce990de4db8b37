"""What ExampleGen components share: input/output/range configs, span resolution, writing.

Input patterns are relative to `input_base` and may hold `{SPAN}`, `{VERSION}` or a date
`{YYYY}{MM}{DD}` (span = days since 1970-01-01, as TFX). The latest span (and its latest
version) is taken unless a `RangeConfig` asks for spans. One input split is hash-split by the
output config's bucket ratios (optionally on a partition feature); named input splits are
kept as they are.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.io.paths import safe_path_component
from headwater.orchestration.example_files import (
    FORMAT_PARQUET,
    FORMAT_TF_EXAMPLE,
    ShardedExampleWriter,
    check_payload_format,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.orchestration.artifacts import Examples

SINGLE_SPLIT = "single_split"
_EPOCH = datetime.date(1970, 1, 1)


@dataclass(frozen=True, kw_only=True)
class InputConfig:
    """Input split name -> file pattern relative to `input_base` (TFX default: all files)."""

    splits: Mapping[str, str] = field(default_factory=lambda: {SINGLE_SPLIT: "*"})

    def __post_init__(self) -> None:
        if not self.splits:
            raise ValueError("InputConfig.splits must name at least one split")
        for name, pattern in self.splits.items():
            if not name or not pattern:
                raise ValueError(f"InputConfig split {name!r} needs a name and a pattern")
            safe_path_component(name, what="InputConfig split name")


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Output split name -> hash buckets (TFX default train:2, eval:1), optional partition key."""

    splits: Mapping[str, int] = field(default_factory=lambda: {"train": 2, "eval": 1})
    partition_feature: str | None = None

    def __post_init__(self) -> None:
        if not self.splits or any(int(v) <= 0 for v in self.splits.values()):
            raise ValueError(f"OutputConfig.splits needs positive bucket counts, got {self.splits}")
        for name in self.splits:
            safe_path_component(name, what="OutputConfig split name")


@dataclass(frozen=True, kw_only=True)
class RangeConfig:
    """Inclusive span range to read instead of the latest span."""

    start_span: int
    end_span: int

    def __post_init__(self) -> None:
        if self.start_span > self.end_span:
            raise ValueError(
                f"RangeConfig: start_span {self.start_span} > end_span {self.end_span}"
            )


def as_input_config(value: InputConfig | Mapping[str, str] | str | None) -> InputConfig:
    """An InputConfig from a config, a split->pattern mapping, one pattern, or None."""
    if value is None:
        return InputConfig()
    if isinstance(value, InputConfig):
        return value
    if isinstance(value, str):
        return InputConfig(splits={SINGLE_SPLIT: value})
    return InputConfig(splits=dict(value))


def as_output_config(value: OutputConfig | Mapping[str, int] | None) -> OutputConfig:
    """An OutputConfig from a config, a split->buckets mapping, or None."""
    if value is None:
        return OutputConfig()
    if isinstance(value, OutputConfig):
        return value
    return OutputConfig(splits=dict(value))


@dataclass(frozen=True)
class ResolvedInput:
    """The files of each input split, and the span / version they came from."""

    span: int
    version: int | None
    files: dict[str, list[str]]

    def fingerprint(self) -> str:
        """Names, sizes and modification times of every file (changes bust the cache)."""
        digest = hashlib.sha256(f"{self.span}:{self.version}".encode())
        for name, paths in sorted(self.files.items()):
            for path in paths:
                st = os.stat(path)
                digest.update(f"{name}:{path}:{st.st_size}:{st.st_mtime_ns}".encode())
        return digest.hexdigest()


_TOKEN = re.compile(r"\{(SPAN|VERSION|YYYY|MM|DD)\}")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts, pos = [], 0
    for m in _TOKEN.finditer(pattern):
        parts.append(_glob_to_regex(pattern[pos : m.start()]))
        width = {"YYYY": 4, "MM": 2, "DD": 2}.get(m.group(1))
        digits = rf"\d{{{width}}}" if width else r"\d+"
        parts.append(f"(?P<{m.group(1)}>{digits})")
        pos = m.end()
    parts.append(_glob_to_regex(pattern[pos:]))
    return re.compile("".join(parts) + r"\Z")


def _glob_to_regex(text: str) -> str:
    out = []
    for ch in text:
        out.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
    return "".join(out)


def resolve_input(
    input_base: str, input_config: InputConfig, range_config: RangeConfig | None = None
) -> ResolvedInput:
    """Files per split for the latest span (or the range), checking splits agree on spans."""
    from headwater.io.errors import InputError, InputNotFoundError

    per_split: dict[str, dict[int, dict[int | None, list[str]]]] = {}
    uses_version = False
    for name, pattern in input_config.splits.items():
        full = os.path.join(input_base, pattern)
        regex = _pattern_regex(full)
        uses_version = uses_version or "{VERSION}" in pattern
        found: dict[int, dict[int | None, list[str]]] = {}
        for path in glob.glob(_TOKEN.sub("*", full)):
            if not os.path.isfile(path) or os.path.basename(path).startswith((".", "_")):
                continue
            m = regex.match(path)
            if m is None:
                continue
            span, file_version = _span_version(m.groupdict(), path)
            found.setdefault(span, {}).setdefault(file_version, []).append(path)
        if not found:
            raise InputNotFoundError(
                f"input split {name!r}: no file matches pattern {pattern!r} under {input_base}",
                path=full,
            )
        per_split[name] = found
    spans_by_split = {name: sorted(found) for name, found in per_split.items()}
    if range_config is None:
        latest = {name: spans[-1] for name, spans in spans_by_split.items()}
        if len(set(latest.values())) > 1:
            raise InputError(f"input splits disagree on the latest span: {latest}", path=input_base)
        wanted = [next(iter(latest.values()))]
    else:
        wanted = list(range(range_config.start_span, range_config.end_span + 1))
        for name, spans in spans_by_split.items():
            missing = [s for s in wanted if s not in spans]
            if missing:
                raise InputNotFoundError(
                    f"input split {name!r} has no files for span(s) {missing} "
                    f"(spans found: {spans})",
                    path=os.path.join(input_base, input_config.splits[name]),
                )
    files: dict[str, list[str]] = {}
    version: int | None = None
    for name, found in per_split.items():
        paths: list[str] = []
        for span in wanted:
            versions = found[span]
            best = max(versions, key=lambda v: -1 if v is None else v)
            version = best
            paths.extend(sorted(versions[best]))
        files[name] = paths
    return ResolvedInput(span=wanted[-1], version=version if uses_version else None, files=files)


def _span_version(groups: Mapping[str, str | None], path: str) -> tuple[int, int | None]:
    from headwater.io.errors import InputError

    raw_version = groups.get("VERSION")
    version = int(raw_version) if raw_version else None
    if groups.get("SPAN"):
        return int(str(groups["SPAN"])), version
    if groups.get("YYYY"):
        try:
            day = datetime.date(
                int(str(groups["YYYY"])), int(str(groups["MM"])), int(str(groups["DD"]))
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"not a valid date in file name: {exc}", path=path) from exc
        return (day - _EPOCH).days, version
    return 0, version


ReadParts = Callable[[str, Mapping[str, int]], Iterator[Mapping[str, "pa.RecordBatch"]]]
"""Reads one file already split by ratios (ImportExampleGen: TFX hashes each parsed record)."""


def write_examples(
    examples: Examples,
    resolved: ResolvedInput,
    read: Callable[[str], Iterator[pa.RecordBatch]],
    *,
    output_config: OutputConfig | Mapping[str, int] | None,
    payload_format: str,
    read_parts: ReadParts | None = None,
) -> dict[str, int]:
    """Read every input file, split, write `examples`' splits; returns rows per split.

    A hash split uses `read_parts` when given and no partition feature is set, else
    `assign_splits` on the batches `read` yields.
    """
    check_payload_format(payload_format)
    output_split_names(resolved, output_config)  # checks the configs agree
    writers: dict[str, ShardedExampleWriter] = {}

    def writer(name: str) -> ShardedExampleWriter:
        if name not in writers:
            writers[name] = ShardedExampleWriter(examples.split_uri(name), payload_format)
        return writers[name]

    try:
        _split_into(writer, resolved, read, output_config, read_parts)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    rows = {}
    for name, w in writers.items():
        w.close()
        rows[name] = w.num_rows
    record_properties(examples, resolved, list(writers), payload_format)
    return rows


def output_split_names(
    resolved: ResolvedInput, output_config: OutputConfig | Mapping[str, int] | None
) -> list[str]:
    """Names of the output splits: the hash buckets' for one input split, else the inputs'."""
    input_splits = list(resolved.files)
    if len(input_splits) > 1:
        if output_config is not None:
            raise ValueError(
                f"input has named splits {input_splits}; output_config (hash split) applies "
                "only to one input split — leave it out"
            )
        return input_splits
    return list(as_output_config(output_config).splits)


def record_properties(
    examples: Examples, resolved: ResolvedInput, split_names: list[str], payload_format: str
) -> None:
    """split_names / span / version and TFX's custom properties on the Examples artifact."""
    examples.properties["split_names"] = json.dumps(split_names)
    examples.properties["span"] = resolved.span
    if resolved.version is not None:
        examples.properties["version"] = resolved.version
    examples.custom_properties["payload_format"] = payload_format
    examples.custom_properties["file_format"] = (
        "parquet" if payload_format == FORMAT_PARQUET else "tfrecords_gzip"
    )
    examples.custom_properties["input_fingerprint"] = resolved.fingerprint()


def _split_into(
    writer: Callable[[str], ShardedExampleWriter],
    resolved: ResolvedInput,
    read: Callable[[str], Iterator[pa.RecordBatch]],
    output_config: OutputConfig | Mapping[str, int] | None,
    read_parts: ReadParts | None,
) -> None:
    import headwater.io as hio

    input_splits = list(resolved.files)
    if len(input_splits) == 1:
        out = as_output_config(output_config)
        ratios = {k: int(v) for k, v in out.splits.items()}
        for name in ratios:
            writer(name)
        if read_parts is not None and out.partition_feature is None:
            for path in resolved.files[input_splits[0]]:
                for parts in read_parts(path, ratios):
                    for name, part in parts.items():
                        writer(name).add(part)
            return
        for batch in _read_all(resolved.files[input_splits[0]], read):
            check_partition_feature(batch, out.partition_feature)
            for name, part in hio.assign_splits(batch, ratios, key=out.partition_feature).items():
                writer(name).add(part)
    else:
        for name, paths in resolved.files.items():
            w = writer(name)
            for batch in _read_all(paths, read):
                w.add(batch)


def _read_all(
    paths: Iterable[str], read: Callable[[str], Iterator[pa.RecordBatch]]
) -> Iterator[pa.RecordBatch]:
    for path in paths:
        yield from read(path)


def check_partition_feature(batch: pa.RecordBatch, feature: str | None) -> None:
    if feature is not None and feature not in batch.schema.names:
        raise KeyError(
            f"OutputConfig.partition_feature {feature!r} is not a column "
            f"(columns: {batch.schema.names})"
        )


def input_fingerprint(
    parameters: Mapping[str, Any],
) -> str:
    """Cache fingerprint of an ExampleGen: the resolved input files' names, sizes and times."""
    resolved = resolve_input(
        str(parameters["input_base"]),
        as_input_config(parameters.get("input_config")),
        parameters.get("range_config"),
    )
    return resolved.fingerprint()


__all__ = [
    "FORMAT_PARQUET",
    "FORMAT_TF_EXAMPLE",
    "InputConfig",
    "OutputConfig",
    "RangeConfig",
    "ResolvedInput",
    "as_input_config",
    "as_output_config",
    "input_fingerprint",
    "output_split_names",
    "record_properties",
    "resolve_input",
    "write_examples",
]

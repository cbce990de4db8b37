"""`tft.coders`: TFT's ExampleProtoCoder and CsvCoder, for Beam code around a preprocessing_fn.

Both read a schema (a tensorflow-metadata Schema, DatasetMetadata or feature-spec dict) and
move one instance, a dict of feature name -> value, to and from a serialized tf.Example or a
CSV line. Dense features of shape [] decode to a scalar, others to a 1-D numpy array; strings
are bytes.

Example:
    coder = tft.coders.ExampleProtoCoder(raw_metadata.schema)
    examples = instances | beam.Map(coder.encode)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from headwater.transform.errors import FeatureSpecError
from headwater.transform.features import feature_spec

_NUMPY = {"int64": np.int64, "float32": np.float32, "string": object}


class _Feature:
    """One feature's kind (int64 / float32 / string), dense size (None if varlen) and shape."""

    def __init__(self, name: str, spec: Any) -> None:
        import tensorflow as tf

        self.name = name
        dtype = spec.dtype
        self.kind = "string" if dtype == tf.string else "int64" if dtype.is_integer else "float32"
        if isinstance(spec, tf.io.FixedLenFeature):
            self.shape: list[int] | None = [int(d) for d in spec.shape]
            self.size: int | None = int(np.prod(self.shape)) if self.shape else 1
        elif isinstance(spec, tf.io.VarLenFeature):
            self.shape, self.size = None, None
        else:
            raise FeatureSpecError(f"feature {name!r}: coders take Fixed/VarLenFeature only")

    def values(self, value: Any) -> list[Any]:
        """The flat values of one instance's value, checked against the dense size."""
        if value is None:
            flat: list[Any] = []
        elif isinstance(value, str | bytes) or np.ndim(value) == 0:
            flat = [value]
        else:
            flat = list(np.asarray(value, dtype=object).ravel())
        if self.size is not None and len(flat) != self.size:
            raise FeatureSpecError(
                f"feature {self.name!r} is dense with {self.size} value(s), got {len(flat)}"
            )
        if self.kind == "string":
            return [v.encode() if isinstance(v, str) else bytes(v) for v in flat]
        return [int(v) if self.kind == "int64" else float(v) for v in flat]

    def decoded(self, flat: Sequence[Any]) -> Any:
        """The decoded value: a scalar for shape [], else a numpy array (reshaped if dense)."""
        if self.size is not None and len(flat) != self.size:
            raise FeatureSpecError(
                f"feature {self.name!r} is dense with {self.size} value(s), found {len(flat)}"
            )
        array = np.asarray(list(flat), dtype=_NUMPY[self.kind])
        if self.shape == []:
            return array[0]
        return array.reshape(self.shape) if self.shape is not None else array


def _features(schema: Any) -> list[_Feature]:
    spec = feature_spec(getattr(schema, "schema", schema))
    return [_Feature(name, spec[name]) for name in sorted(spec)]


class ExampleProtoCoder:
    """Instances (dicts) to and from tf.Example protos, serialized unless `serialized=False`."""

    def __init__(self, schema: Any, serialized: bool = True) -> None:
        self._features = _features(schema)
        self._serialized = serialized

    def encode(self, instance: Mapping[str, Any]) -> Any:
        """A tf.Example (serialized bytes by default) of `instance`."""
        import tensorflow as tf

        example = tf.train.Example()
        for f in self._features:
            if f.name not in instance and f.size is not None:
                raise FeatureSpecError(f"instance has no value for dense feature {f.name!r}")
            values = f.values(instance.get(f.name))
            feature = example.features.feature[f.name]
            if f.kind == "string":
                feature.bytes_list.value.extend(values)
            elif f.kind == "int64":
                feature.int64_list.value.extend(values)
            else:
                feature.float_list.value.extend(values)
        return example.SerializeToString() if self._serialized else example

    def decode(self, example: Any) -> dict[str, Any]:
        """The instance of a tf.Example (bytes or proto)."""
        import tensorflow as tf

        if isinstance(example, bytes):
            example = tf.train.Example.FromString(example)
        out: dict[str, Any] = {}
        for f in self._features:
            found = example.features.feature.get(f.name)
            if found is None:
                if f.size is not None:
                    raise FeatureSpecError(f"example has no value for dense feature {f.name!r}")
                flat: Sequence[Any] = []
            else:
                kind = found.WhichOneof("kind")
                flat = list(getattr(found, kind).value) if kind else []
            out[f.name] = f.decoded(flat)
        return out


class CsvCoder:
    """Instances (dicts) to and from CSV lines with columns `column_names`.

    A varlen column holds one value or none; with `secondary_delimiter`, the columns named in
    `multivalent_columns` hold several values split by it.
    """

    def __init__(
        self,
        column_names: Sequence[str],
        schema: Any,
        delimiter: str = ",",
        secondary_delimiter: str | None = None,
        multivalent_columns: Sequence[str] | None = None,
    ) -> None:
        self._columns = list(column_names)
        by_name = {f.name: f for f in _features(schema)}
        missing = sorted(set(by_name) - set(self._columns))
        if missing:
            raise FeatureSpecError(f"CsvCoder: schema features {missing} are not columns")
        self._features = [by_name.get(name) for name in self._columns]
        self._delimiter = delimiter
        self._secondary = secondary_delimiter
        self._multivalent = set(multivalent_columns or ())
        if self._multivalent and secondary_delimiter is None:
            raise ValueError("CsvCoder: multivalent_columns need a secondary_delimiter")

    def encode(self, instance: Mapping[str, Any]) -> str:
        """One CSV line (no line end) of `instance`."""
        cells = []
        for name, f in zip(self._columns, self._features, strict=True):
            if f is None:
                cells.append("")
                continue
            values = [
                v.decode() if isinstance(v, bytes) else repr(v) if isinstance(v, float) else str(v)
                for v in f.values(instance.get(name))
            ]
            if len(values) > 1 and name not in self._multivalent:
                raise FeatureSpecError(
                    f"CsvCoder: column {name!r} has {len(values)} values; name it in "
                    "multivalent_columns"
                )
            cells.append((self._secondary or "").join(values))
        out = io.StringIO()
        csv.writer(out, delimiter=self._delimiter, lineterminator="").writerow(cells)
        return out.getvalue()

    def decode(self, csv_line: str | bytes) -> dict[str, Any]:
        """The instance of one CSV line."""
        text = csv_line.decode() if isinstance(csv_line, bytes) else csv_line
        (cells,) = list(csv.reader([text], delimiter=self._delimiter))
        if len(cells) != len(self._columns):
            raise FeatureSpecError(
                f"CsvCoder: expected {len(self._columns)} columns {self._columns}, "
                f"got {len(cells)} in {text!r:.120}"
            )
        out: dict[str, Any] = {}
        for name, f, cell in zip(self._columns, self._features, cells, strict=True):
            if f is None:
                continue
            if cell == "":
                raw: list[str] = []
            elif name in self._multivalent and self._secondary is not None:
                raw = cell.split(self._secondary)
            else:
                raw = [cell]
            try:
                parse = {"string": str, "int64": int, "float32": float}[f.kind]
                flat = f.values([parse(v) for v in raw])
            except ValueError as exc:
                raise FeatureSpecError(
                    f"CsvCoder: column {name!r} value {cell!r} is not {f.kind}"
                ) from exc
            out[name] = f.decoded(flat)
        return out


__all__ = ["CsvCoder", "ExampleProtoCoder"]

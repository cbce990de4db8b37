"""Validate examples row by row against a schema, returning the anomalous examples themselves.

`validate_statistics` says *that* 0.1% of `trip_miles` are not numbers; these functions say
*which* rows: each `AnomalousExample` names the file, the row, the feature, the anomaly
type, the offending value and the whole example. Checks run on whole Arrow columns
(pyarrow.compute / numpy), batch by batch, reading through `headwater.io`:

* a missing value where the schema requires one in every example (min_fraction 1 or a shape);
* too few / too many values (value_count, shape);
* a value of the wrong type (e.g. "unknown" in a FLOAT column of a CSV);
* a string outside the string domain; a non-boolean in a bool domain;
* a number outside an int / float domain, NaN or infinity where disallowed;
* whole columns: new columns, and required columns absent from a file.

Example:
    result = validate_examples_in_csv("data/*.csv", schema)
    for example in result.examples:
        print(example.path, example.row, example.feature, example.value)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from headwater.data_validation.schema import in_environment, is_deprecated, is_required
from headwater.data_validation.schema_errors import SchemaError
from headwater.io import InputError, read_csv, read_tfrecord, resolve_files

__all__ = [
    "AnomalousExample",
    "ExampleValidationResult",
    "validate_examples",
    "validate_examples_in_csv",
    "validate_examples_in_tfrecord",
]

T = anomalies_pb2.AnomalyInfo
_INT_TEXT = r"^\s*[-+]?\d+\s*$"
_FLOAT_TEXT = r"^\s*[-+]?((\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?|inf|infinity|nan)\s*$"
_CSV_TYPES = {schema_pb2.INT: pa.int64(), schema_pb2.FLOAT: pa.float64()}
_SHORT = {
    T.FEATURE_TYPE_LOW_FRACTION_PRESENT: "Missing value",
    T.FEATURE_TYPE_LOW_NUMBER_VALUES: "Missing values",
    T.FEATURE_TYPE_HIGH_NUMBER_VALUES: "Superfluous values",
    T.INVALID_FEATURE_SHAPE: "Wrong number of values for the shape",
    T.UNEXPECTED_DATA_TYPE: "Unexpected data type",
    T.ENUM_TYPE_UNEXPECTED_STRING_VALUES: "Unexpected string values",
    T.BOOL_TYPE_BIG_INT: "Non-boolean values",
    T.BOOL_TYPE_SMALL_INT: "Non-boolean values",
    T.BOOL_TYPE_UNEXPECTED_STRING: "Non-boolean values",
    T.INT_TYPE_SMALL_INT: "Out-of-range values",
    T.INT_TYPE_BIG_INT: "Out-of-range values",
    T.FLOAT_TYPE_SMALL_FLOAT: "Out-of-range values",
    T.FLOAT_TYPE_BIG_FLOAT: "Out-of-range values",
    T.FLOAT_TYPE_HAS_NAN: "Invalid values",
    T.FLOAT_TYPE_HAS_INF: "Invalid values",
    T.SCHEMA_NEW_COLUMN: "New column",
    T.SCHEMA_MISSING_COLUMN: "Column dropped",
}


@dataclass(frozen=True)
class AnomalousExample:
    """One example that breaks the schema, and how."""

    path: str
    row: int
    """0-based example index within the file (a CSV's data row: line row + 2 with a header)."""
    feature: str
    anomaly_type: int
    """An AnomalyInfo.Type, e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES."""
    value: str
    """The offending value(s) as text ('' for a missing value)."""
    example: dict[str, object] = field(repr=False, compare=False)
    """Every column of the example."""

    @property
    def anomaly_name(self) -> str:
        """The anomaly type's name."""
        return str(T.Type.Name(self.anomaly_type))


@dataclass(frozen=True)
class ExampleValidationResult:
    """Anomalies with their counts, and the first anomalous examples of each (feature, type)."""

    anomalies: anomalies_pb2.Anomalies
    examples: tuple[AnomalousExample, ...]
    counts: dict[tuple[str, int], int]
    """Anomalous examples per (feature, anomaly type); examples lists at most the first few."""
    num_examples: int

    def rows(self) -> list[tuple[str, int]]:
        """The (file, row) of every listed anomalous example, sorted, each once."""
        return sorted({(e.path, e.row) for e in self.examples})

    def _repr_html_(self) -> str:
        from headwater.data_validation.anomalies_view import visualize_anomalies

        return visualize_anomalies(self)._repr_html_()


def validate_examples_in_csv(
    data_location: str | os.PathLike[str],
    schema: schema_pb2.Schema,
    *,
    environment: str | None = None,
    column_names: list[str] | None = None,
    max_examples_per_anomaly: int = 10,
    batch_size: int = 65536,
) -> ExampleValidationResult:
    """Check every row of the CSV file(s) at `data_location`.

    Each file is read with the schema's types (INT → int64, FLOAT → float64, else text); a
    file where a value does not parse is read again with every schema column as text, so the
    rows that do not parse are found and named.
    """
    text = {f.name: pa.string() for f in schema.feature}
    typed = {f.name: _CSV_TYPES.get(f.type, pa.string()) for f in schema.feature}

    def batches(path: str) -> Iterable[pa.RecordBatch]:
        try:
            return list(
                read_csv(path, batch_size=batch_size, column_names=column_names, column_types=typed)
            )
        except InputError:
            return read_csv(
                path, batch_size=batch_size, column_names=column_names, column_types=text
            )

    return validate_examples(
        ((path, batches(path)) for path in resolve_files(data_location)),
        schema,
        environment=environment,
        max_examples_per_anomaly=max_examples_per_anomaly,
    )


def validate_examples_in_tfrecord(
    data_location: str | os.PathLike[str],
    schema: schema_pb2.Schema,
    *,
    environment: str | None = None,
    max_examples_per_anomaly: int = 10,
    batch_size: int = 65536,
) -> ExampleValidationResult:
    """Check every tf.Example of the TFRecord file(s) at `data_location` (gzip or plain)."""
    return validate_examples(
        (
            (path, iter(read_tfrecord(path, batch_size=batch_size)))
            for path in resolve_files(data_location)
        ),
        schema,
        environment=environment,
        max_examples_per_anomaly=max_examples_per_anomaly,
    )


def validate_examples(
    files: Iterable[tuple[str, Iterable[pa.RecordBatch]]],
    schema: schema_pb2.Schema,
    *,
    environment: str | None = None,
    max_examples_per_anomaly: int = 10,
) -> ExampleValidationResult:
    """Check batches of examples, given as (file name, batches) pairs, against `schema`."""
    if max_examples_per_anomaly < 0:
        raise ValueError(f"max_examples_per_anomaly must be >= 0, got {max_examples_per_anomaly}")
    checker = _Checker(schema, environment, max_examples_per_anomaly)
    for path, batches in files:
        seen_columns: set[str] = set()
        row = 0
        for batch in batches:
            seen_columns.update(batch.schema.names)
            checker.check_batch(path, row, batch)
            row += batch.num_rows
        checker.check_columns(path, seen_columns, row)
    return checker.result()


class _Checker:
    def __init__(self, schema: schema_pb2.Schema, environment: str | None, limit: int) -> None:
        self.schema = schema
        self.environment = environment
        self.limit = limit
        self.features = [
            f
            for f in schema.feature
            if f.name and not is_deprecated(f) and in_environment(schema, f, environment)
        ]
        self.known = {f.name for f in schema.feature}
        self.domains = {d.name: set(d.value) for d in schema.string_domain}
        self.counts: dict[tuple[str, int], int] = {}
        self.examples: list[AnomalousExample] = []
        self.num_examples = 0

    def _report(
        self,
        path: str,
        base: int,
        batch: pa.RecordBatch,
        feature: str,
        anomaly_type: int,
        rows: np.ndarray,
        values: list[str] | None = None,
    ) -> None:
        if rows.size == 0:
            return
        key = (feature, anomaly_type)
        already = self.counts.get(key, 0)
        self.counts[key] = already + int(rows.size)
        room = max(self.limit - already, 0)
        for i, row in enumerate(rows[:room].tolist()):
            self.examples.append(
                AnomalousExample(
                    path,
                    base + row,
                    feature,
                    anomaly_type,
                    values[i] if values is not None else "",
                    batch.slice(row, 1).to_pylist()[0],
                )
            )

    def check_columns(self, path: str, columns: set[str], num_rows: int) -> None:
        """Whole-column anomalies of one file: new columns, required columns absent."""
        self.num_examples += num_rows
        for name in sorted(columns - self.known):
            self.counts[(name, T.SCHEMA_NEW_COLUMN)] = (
                self.counts.get((name, T.SCHEMA_NEW_COLUMN), 0) + num_rows
            )
        for feature in self.features:
            if feature.name not in columns and is_required(self.schema, feature, self.environment):
                key = (feature.name, T.SCHEMA_MISSING_COLUMN)
                self.counts[key] = self.counts.get(key, 0) + num_rows

    def check_batch(self, path: str, base: int, batch: pa.RecordBatch) -> None:
        """Every row-level check of one batch."""
        for feature in self.features:
            index = batch.schema.get_field_index(feature.name)
            if index < 0:
                continue
            self._check_column(path, base, batch, feature, batch.column(index))

    def _check_column(
        self,
        path: str,
        base: int,
        batch: pa.RecordBatch,
        feature: schema_pb2.Feature,
        column: pa.Array,
    ) -> None:
        name = feature.name
        report = self._report
        is_list = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
        missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if is_list:
            lengths = np.asarray(
                pc.fill_null(pc.list_value_length(column), 0).to_numpy(), dtype=np.int64
            )
            values = pc.list_flatten(column)
            parents = np.asarray(pc.list_parent_indices(column).to_numpy(), dtype=np.int64)
        else:
            lengths = np.where(missing, 0, 1)
            values = column.filter(pc.invert(column.is_null()))
            parents = np.nonzero(~missing)[0]
        if feature.presence.min_fraction >= 1.0 or feature.HasField("shape"):
            report(
                path, base, batch, name, T.FEATURE_TYPE_LOW_FRACTION_PRESENT, np.nonzero(missing)[0]
            )
        present = ~missing
        if feature.HasField("shape"):
            size = int(np.prod([d.size for d in feature.shape.dim]))
            bad = np.nonzero(present & (lengths != size))[0]
            report(path, base, batch, name, T.INVALID_FEATURE_SHAPE, bad, _texts(column, bad))
        elif feature.HasField("value_count"):
            vc = feature.value_count
            if vc.HasField("min"):
                bad = np.nonzero(present & (lengths < vc.min))[0]
                report(
                    path,
                    base,
                    batch,
                    name,
                    T.FEATURE_TYPE_LOW_NUMBER_VALUES,
                    bad,
                    _texts(column, bad),
                )
            if vc.HasField("max"):
                bad = np.nonzero(present & (lengths > vc.max))[0]
                report(
                    path,
                    base,
                    batch,
                    name,
                    T.FEATURE_TYPE_HIGH_NUMBER_VALUES,
                    bad,
                    _texts(column, bad),
                )
        numbers = self._typed_values(path, base, batch, feature, values, parents)
        if numbers is not None:
            self._check_numbers(path, base, batch, feature, *numbers)
        elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            self._check_strings(path, base, batch, feature, values, parents)

    def _typed_values(
        self,
        path: str,
        base: int,
        batch: pa.RecordBatch,
        feature: schema_pb2.Feature,
        values: pa.Array,
        parents: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Numeric values (and their rows) of an INT / FLOAT feature; wrong-type rows reported."""
        if feature.type not in (schema_pb2.INT, schema_pb2.FLOAT):
            numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
            if numeric and feature.type == schema_pb2.BYTES:
                rows = np.unique(parents)
                texts = _first_values(values, parents, rows)
                self._report(path, base, batch, feature.name, T.UNEXPECTED_DATA_TYPE, rows, texts)
            return None
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            target = pa.int64() if feature.type == schema_pb2.INT else pa.float64()
            try:  # fast path: a clean column parses at once
                parsed = pc.cast(pc.cast(values, target), pa.float64())
                return np.asarray(parsed.to_numpy(), dtype=np.float64), parents
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # find the rows that do not parse
            pattern = _INT_TEXT if feature.type == schema_pb2.INT else _FLOAT_TEXT
            ok = pc.fill_null(pc.match_substring_regex(values, pattern, ignore_case=True), False)
            ok_np = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
            if not ok_np.all():
                bad = np.nonzero(~ok_np)[0]
                rows, first = np.unique(parents[bad], return_index=True)
                texts = [str(values[int(bad[i])].as_py()) for i in first]
                self._report(path, base, batch, feature.name, T.UNEXPECTED_DATA_TYPE, rows, texts)
            good = pc.utf8_trim_whitespace(values.filter(ok))
            numeric = np.asarray(pc.cast(good, pa.float64()).to_numpy(), dtype=np.float64)
            return numeric, parents[ok_np]
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            numeric = np.asarray(
                pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
            if feature.type == schema_pb2.INT and pa.types.is_floating(values.type):
                frac = np.isfinite(numeric) & (numeric != np.floor(numeric))
                bad = np.nonzero(~np.isfinite(numeric) | frac)[0]
                rows, first = np.unique(parents[bad], return_index=True)
                self._report(
                    path,
                    base,
                    batch,
                    feature.name,
                    T.UNEXPECTED_DATA_TYPE,
                    rows,
                    [repr(float(numeric[bad[i]])) for i in first],
                )
            return numeric, parents
        rows = np.unique(parents)
        self._report(
            path,
            base,
            batch,
            feature.name,
            T.UNEXPECTED_DATA_TYPE,
            rows,
            _first_values(values, parents, rows),
        )
        return None

    def _check_numbers(
        self,
        path: str,
        base: int,
        batch: pa.RecordBatch,
        feature: schema_pb2.Feature,
        numbers: np.ndarray,
        parents: np.ndarray,
    ) -> None:
        name = feature.name

        def report(anomaly_type: int, mask: np.ndarray) -> None:
            rows, first = np.unique(parents[mask], return_index=True)
            shown = numbers[mask][first]
            texts = [f"{v:g}" for v in shown.tolist()]
            self._report(path, base, batch, name, anomaly_type, rows, texts)

        kind = feature.WhichOneof("domain_info")
        if kind == "bool_domain" and feature.type == schema_pb2.INT:
            report(T.BOOL_TYPE_BIG_INT, numbers > 1)
            report(T.BOOL_TYPE_SMALL_INT, numbers < 0)
        elif kind == "int_domain":
            dom = feature.int_domain
            if dom.HasField("min"):
                report(T.INT_TYPE_SMALL_INT, numbers < dom.min)
            if dom.HasField("max"):
                report(T.INT_TYPE_BIG_INT, numbers > dom.max)
        elif kind == "float_domain":
            dom = feature.float_domain
            if dom.HasField("min"):
                report(T.FLOAT_TYPE_SMALL_FLOAT, numbers < dom.min)
            if dom.HasField("max"):
                report(T.FLOAT_TYPE_BIG_FLOAT, numbers > dom.max)
            if dom.disallow_nan:
                report(T.FLOAT_TYPE_HAS_NAN, np.isnan(numbers))
            if dom.disallow_inf:
                report(T.FLOAT_TYPE_HAS_INF, np.isinf(numbers))

    def _check_strings(
        self,
        path: str,
        base: int,
        batch: pa.RecordBatch,
        feature: schema_pb2.Feature,
        values: pa.Array,
        parents: np.ndarray,
    ) -> None:
        kind = feature.WhichOneof("domain_info")
        if kind == "domain":
            if feature.domain not in self.domains:
                raise SchemaError(
                    f"feature {feature.name!r} refers to string domain {feature.domain!r}, "
                    "which the schema does not define"
                )
            allowed, anomaly_type = (
                self.domains[feature.domain],
                T.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
            )
        elif kind == "string_domain":
            allowed = set(feature.string_domain.value)
            anomaly_type = T.ENUM_TYPE_UNEXPECTED_STRING_VALUES
        elif kind == "bool_domain":
            bd = feature.bool_domain
            allowed = {
                v
                for v, has in (
                    (bd.true_value, bd.HasField("true_value")),
                    (bd.false_value, bd.HasField("false_value")),
                )
                if has
            }
            anomaly_type = T.BOOL_TYPE_UNEXPECTED_STRING
        else:
            return
        inside = pc.is_in(values, value_set=pa.array(sorted(allowed), type=values.type))
        bad = np.nonzero(~np.asarray(inside.to_numpy(zero_copy_only=False), dtype=bool))[0]
        rows, first = np.unique(parents[bad], return_index=True)
        texts = [str(values[int(bad[i])].as_py()) for i in first]
        self._report(path, base, batch, feature.name, anomaly_type, rows, texts)

    def result(self) -> ExampleValidationResult:
        anomalies = anomalies_pb2.Anomalies()
        anomalies.baseline.CopyFrom(self.schema)
        anomalies.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
        by_feature: dict[str, list[tuple[int, int]]] = {}
        for (name, anomaly_type), count in self.counts.items():
            by_feature.setdefault(name, []).append((anomaly_type, count))
        for name, found in by_feature.items():
            info = anomalies.anomaly_info[name]
            info.path.step.append(name)
            info.severity = T.ERROR
            texts = []
            for anomaly_type, count in sorted(found):
                rows = [
                    f"{os.path.basename(e.path)} row {e.row}: {e.value!r}"
                    for e in self.examples
                    if e.feature == name and e.anomaly_type == anomaly_type
                ][:3]
                share = 100.0 * count / self.num_examples if self.num_examples else 0.0
                text = f"{count} examples ({share:.3g}%)"
                if rows:
                    text += f", e.g. {'; '.join(rows)}"
                short = _SHORT.get(anomaly_type, "Anomalous values")
                info.reason.add(type=anomaly_type, short_description=short, description=text + ".")
                texts.append(f"{short}: {text}.")
            info.short_description = (
                info.reason[0].short_description if len(info.reason) == 1 else "Multiple errors"
            )
            info.description = " ".join(texts)
        self.examples.sort(key=lambda e: (e.path, e.row, e.feature))
        return ExampleValidationResult(
            anomalies, tuple(self.examples), dict(self.counts), self.num_examples
        )


def _texts(column: pa.Array, rows: np.ndarray) -> list[str]:
    return [str(column[int(r)].as_py()) for r in rows[:1000]]


def _first_values(values: pa.Array, parents: np.ndarray, rows: np.ndarray) -> list[str]:
    first = np.searchsorted(parents, rows)
    return [str(values[int(i)].as_py()) for i in first]

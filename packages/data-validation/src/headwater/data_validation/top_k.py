"""Mergeable value counts: exact top values and unique count while small, sketches beyond.

`ValueCounter` keeps exact (value, count, weight) rows, grouped with Arrow, until a feature
holds more than `exact_limit` distinct values. Then it switches, for good, to a Misra-Gries
summary of `capacity` values (each count is under-estimated by at most n / (capacity + 1),
so the top values are right whenever they stand that far apart) and a HyperLogLog of
2**14 registers for the unique count (about 0.8% relative standard error). Exact counts,
and HyperLogLog registers, do not depend on batching or merge order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.data_validation._arrow_numpy import from_numpy, to_numpy

__all__ = ["ValueCounter", "hash_values"]

_HLL_PRECISION = 14
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread 64-bit hash of 64-bit integers."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def hash_values(values: pa.Array) -> np.ndarray:
    """Deterministic 64-bit hashes of an Arrow array of numbers or strings, vectorized."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        as_float = to_numpy(values.cast(pa.float64()))
        return _mix64(as_float.view(np.uint64))
    binary = values.cast(pa.large_binary()) if not pa.types.is_large_binary(values.type) else values
    lengths = to_numpy(pc.binary_length(binary)).astype(np.int64)
    offsets_buffer, data_buffer = binary.buffers()[1], binary.buffers()[2]
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        binary.offset : binary.offset + len(binary) + 1
    ]
    total = int(lengths.sum())
    hashes = _mix64(lengths.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    if total == 0:
        return hashes
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]].astype(np.uint64)
    starts = offsets[:-1] - offsets[0]
    position = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    with np.errstate(over="ignore"):
        weighted = (data + np.uint64(1)) * _mix64(position.astype(np.uint64) + np.uint64(1))
        nonempty = lengths > 0
        sums = np.add.reduceat(weighted, starts[nonempty]) if nonempty.any() else weighted[:0]
        hashes[nonempty] = _mix64(hashes[nonempty] ^ sums)
    return hashes


def _hll_update(registers: np.ndarray, hashes: np.ndarray) -> None:
    index = (hashes >> np.uint64(64 - _HLL_PRECISION)).astype(np.int64)
    rest = (hashes << np.uint64(_HLL_PRECISION)) | np.uint64(1 << (_HLL_PRECISION - 1))
    # Leading zeros of `rest` + 1, computed with float exponent (exact for uint64 > 0).
    rank = (64 - np.floor(np.log2(rest.astype(np.float64))).astype(np.int64)).astype(np.uint8)
    np.maximum.at(registers, index, rank)


def _hll_estimate(registers: np.ndarray) -> int:
    m = float(registers.size)
    alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / float(np.sum(np.power(2.0, -registers.astype(np.float64))))
    zeros = int(np.count_nonzero(registers == 0))
    if raw <= 2.5 * m and zeros:
        return round(m * np.log(m / zeros))
    return round(raw)


@dataclass(slots=True)
class ValueCounter:
    """Counts (and sums weights of) the values of one feature; mergeable."""

    exact_limit: int = 1 << 17
    capacity: int = 4096
    table: pa.Table | None = None
    registers: np.ndarray | None = None
    error: float = field(default=0.0)

    @property
    def is_exact(self) -> bool:
        """Whether counts and the unique count are exact."""
        return self.registers is None

    def add(self, values: pa.Array, weights: np.ndarray | None = None) -> None:
        """Adds flat non-null values (and per-value weights when weighted)."""
        if len(values) == 0:
            return
        if weights is None:
            counted = values.value_counts()
            part = pa.table(
                {
                    "value": counted.field("values"),
                    "count": counted.field("counts"),
                }
            )
        else:
            part = _group_by_value(
                pa.table({"value": values, "weight": from_numpy(weights.astype(np.float64))}),
                [("weight", "count"), ("weight", "sum")],
            )
            part = pa.table(
                {
                    "value": part.column("value"),
                    "count": part.column("weight_count"),
                    "weight": part.column("weight_sum"),
                }
            )
        self._merge_table(part, None)

    def merge(self, other: ValueCounter) -> None:
        """Folds `other` into this counter."""
        if other.table is None:
            return
        self._merge_table(other.table, other.registers)
        self.error += other.error

    def _merge_table(self, part: pa.Table, registers: np.ndarray | None) -> None:
        if self.table is None:
            merged = part
        else:
            merged = pa.concat_tables([self.table, part.cast(self.table.schema)])
            aggregations = [("count", "sum")]
            names = ["value", "count"]
            if "weight" in merged.column_names:
                aggregations.append(("weight", "sum"))
                names.append("weight")
            merged = _group_by_value(merged, aggregations)
            merged = pa.table(
                {name: merged.column(name if name == "value" else f"{name}_sum") for name in names}
            )
        if (
            registers is not None
            or self.registers is not None
            or merged.num_rows > self.exact_limit
        ):
            if self.registers is None:
                self._start_sketch(merged)
            else:
                _hll_update(self.registers, hash_values(part.column("value").combine_chunks()))
            assert self.registers is not None
            if registers is not None:
                np.maximum(self.registers, registers, out=self.registers)
            merged = self._prune(merged)
        self.table = merged

    def _start_sketch(self, table: pa.Table) -> None:
        self.registers = np.zeros(1 << _HLL_PRECISION, dtype=np.uint8)
        _hll_update(self.registers, hash_values(table.column("value").combine_chunks()))

    def _prune(self, table: pa.Table) -> pa.Table:
        """Misra-Gries: keep `capacity` values, lowering all counts by the next one's count."""
        if table.num_rows <= self.capacity:
            return table
        counts = to_numpy(table.column("count"))
        order = np.argsort(-counts, kind="stable")
        threshold = counts[order[self.capacity]]
        self.error += float(threshold)
        keep = np.sort(order[: self.capacity])
        new_counts = counts[keep] - threshold
        positive = new_counts > 0
        kept = table.take(from_numpy(keep[positive]))
        count = from_numpy(new_counts[positive].astype(np.int64, copy=False))
        return kept.set_column(kept.schema.get_field_index("count"), "count", count)

    def unique(self) -> int:
        """Distinct values seen (exact, or a HyperLogLog estimate beyond `exact_limit`)."""
        if self.table is None:
            return 0
        if self.registers is None:
            return self.table.num_rows
        return _hll_estimate(self.registers)

    def top(self, k: int, by_weight: bool = False) -> list[tuple[object, float]]:
        """The k most frequent values, ties broken by the larger value first (as TFDV)."""
        if self.table is None or k <= 0:
            return []
        column = "weight" if by_weight else "count"
        counts = to_numpy(self.table.column(column))
        candidates = np.argsort(-counts, kind="stable")
        if candidates.size > k:
            cutoff = counts[candidates[k - 1]]
            candidates = candidates[counts[candidates] >= cutoff]
        values = self.table.column("value").take(from_numpy(candidates)).to_pylist()
        ranked = sorted(
            zip(values, counts[candidates].tolist(), strict=True),
            key=lambda pair: (pair[1], _sort_key(pair[0])),
            reverse=True,
        )
        return [(value, float(count)) for value, count in ranked[:k]]


def _group_by_value(table: pa.Table, aggregations: list[tuple[str, str]]) -> pa.Table:
    """`table.group_by("value", use_threads=False).aggregate(aggregations)`, the same plan.

    Built on pyarrow._acero directly: `Table.group_by` goes through the pyarrow.acero module,
    which imports pyarrow.dataset, which imports pandas (a quarter of a second on first use).
    """
    try:
        from pyarrow._acero import AggregateNodeOptions, Declaration, TableSourceNodeOptions
    except ImportError:  # pragma: no cover - a pyarrow built without acero fails either way
        return table.group_by("value", use_threads=False).aggregate(aggregations)
    specs = [([column], f"hash_{func}", None, f"{column}_{func}") for column, func in aggregations]
    plan = Declaration.from_sequence(
        [
            Declaration("table_source", TableSourceNodeOptions(table)),
            Declaration("aggregate", AggregateNodeOptions(specs, keys=["value"])),
        ]
    )
    return plan.to_table(use_threads=False)


def _sort_key(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return value

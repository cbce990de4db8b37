"""Parity of a converted model with its SavedModel: same examples in, outputs within a tolerance.

The SavedModel side runs through headwater.io's model seam (`SavedModelHandler`,
`signature_feeds`), the same way model-analysis and the bulk inferrer run it; the converted
side (LiteRT, TensorFlow.js in Node) gets the very same numpy feeds. A converted model is
published only when every output element satisfies |converted - saved| <= atol + rtol * |saved|.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from headwater.pusher.filesystem import PushError

__all__ = [
    "ConversionError",
    "Parity",
    "ParityError",
    "Tolerance",
    "compare_outputs",
    "reference_outputs",
]


class ConversionError(PushError, ValueError):
    """A model that cannot be converted to a target format (unsupported op, bad signature)."""


class ParityError(PushError, ValueError):
    """A converted model whose outputs differ from the SavedModel's beyond the tolerance."""

    def __init__(self, message: str, parity: Parity) -> None:
        super().__init__(message)
        self.parity = parity


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    """Allowed difference per output element: atol + rtol * |SavedModel output|."""

    atol: float = 1e-4
    rtol: float = 1e-4

    def __post_init__(self) -> None:
        if self.atol < 0 or self.rtol < 0:
            raise ValueError(f"tolerance must be >= 0, got atol={self.atol} rtol={self.rtol}")


@dataclass(frozen=True, kw_only=True)
class Parity:
    """How close a converted model came to its SavedModel on `examples` examples."""

    examples: int
    max_abs_diff: float
    max_rel_diff: float
    worst_output: str
    tolerance: Tolerance
    passed: bool

    def describe(self) -> str:
        """One line with the numbers: what was compared and how far apart it was."""
        verdict = "within" if self.passed else "beyond"
        return (
            f"{self.examples} examples, max |diff| {self.max_abs_diff:.3g} "
            f"(relative {self.max_rel_diff:.3g}) on output {self.worst_output!r}, {verdict} "
            f"tolerance atol={self.tolerance.atol:g} rtol={self.tolerance.rtol:g}"
        )


def reference_outputs(
    saved_model_dir: str, signature_name: str, batch: pa.RecordBatch
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The feeds built from `batch` for `signature_name` and the SavedModel's outputs on them."""
    from headwater.io import signature_feeds
    from headwater.io.saved_model import SavedModelHandler

    model = SavedModelHandler(saved_model_dir, signature_names=(signature_name,)).load_model()
    spec = model.signatures[signature_name]
    feeds = signature_feeds(spec, batch, model=saved_model_dir)
    return feeds, model.run(signature_name, feeds)


def compare_outputs(
    expected: Mapping[str, np.ndarray],
    actual: Mapping[str, np.ndarray],
    tolerance: Tolerance,
    *,
    what: str,
) -> Parity:
    """Parity of `actual` against `expected`; ParityError when outputs are missing or misshapen."""
    examples = 0
    worst = ("", 0.0, 0.0)
    passed = True
    for name, want in sorted(expected.items()):
        got = actual.get(name)
        if got is None:
            raise ParityError(
                f"{what}: output {name!r} missing; outputs are {sorted(actual)}",
                Parity(
                    examples=0,
                    max_abs_diff=float("inf"),
                    max_rel_diff=float("inf"),
                    worst_output=name,
                    tolerance=tolerance,
                    passed=False,
                ),
            )
        want = np.asarray(want, dtype=np.float64)
        got = (
            np.asarray(got, dtype=np.float64).reshape(want.shape) if got.size == want.size else got
        )
        if np.shape(got) != want.shape:
            raise ParityError(
                f"{what}: output {name!r} has shape {np.shape(got)}, expected {want.shape}",
                Parity(
                    examples=0,
                    max_abs_diff=float("inf"),
                    max_rel_diff=float("inf"),
                    worst_output=name,
                    tolerance=tolerance,
                    passed=False,
                ),
            )
        examples = max(examples, want.shape[0] if want.ndim else 1)
        diff = np.abs(got - want)
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN never passes
        passed = passed and bool(np.all(diff <= tolerance.atol + tolerance.rtol * np.abs(want)))
        worst_abs = float(diff.max(initial=0.0))
        worst_rel = float((diff / np.maximum(np.abs(want), 1e-12)).max(initial=0.0))
        if worst_abs >= worst[1]:
            worst = (name, worst_abs, worst_rel)
    return Parity(
        examples=examples,
        max_abs_diff=worst[1],
        max_rel_diff=worst[2],
        worst_output=worst[0],
        tolerance=tolerance,
        passed=passed,
    )

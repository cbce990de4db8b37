"""The serving operations both front ends call: resolve the model, check, run, shape results.

gRPC and REST differ only in how they decode requests and encode answers; what a request means
(which version, which signature, what is checked, what an error says) lives here once, so the
two protocols cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from headwater.io.model_seam import SignatureSpec
from headwater.model_server.errors import ServingError
from headwater.model_server.manager import ModelManager, VersionStatus
from headwater.model_server.metrics import ServerMetrics
from headwater.model_server.operations import (
    ClassifyResult,
    check_inputs,
    classify_outputs,
    examples_feed,
    find_signature,
    regress_outputs,
)
from headwater.model_server.runner import ModelRunner

__all__ = ["ModelRef", "ServingCore"]


@dataclass(frozen=True)
class ModelRef:
    """Which model a request names: TF Serving's ModelSpec (version or label, not both)."""

    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec: the model name is empty")
        if self.version is not None and self.label:
            raise ServingError(
                "INVALID_ARGUMENT", "A request may name a version or a version label, not both"
            )


class ServingCore:
    """Predict, classify, regress, metadata and status over a ModelManager and a ModelRunner."""

    def __init__(self, manager: ModelManager, runner: ModelRunner, metrics: ServerMetrics) -> None:
        self.manager = manager
        self.runner = runner
        self.metrics = metrics

    async def predict(
        self,
        ref: ModelRef,
        feeds: Mapping[str, np.ndarray] | Callable[[SignatureSpec], Mapping[str, np.ndarray]],
        output_filter: Sequence[str] = (),
    ) -> tuple[int, SignatureSpec, dict[str, np.ndarray]]:
        """(version, signature, outputs) of one Predict request.

        `feeds` may be a function of the resolved signature (REST decodes JSON by its dtypes).
        """
        version, model = self.manager.resolve(ref.name, ref.version, ref.label)
        spec = find_signature(model, ref.signature_name, model_name=ref.name)
        checked = check_inputs(spec, feeds(spec) if callable(feeds) else feeds)
        unknown = [o for o in output_filter if o not in spec.outputs]
        if unknown:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"output tensor alias not found in signature {spec.name!r}: {', '.join(unknown)}. "
                f"Outputs expected to be in the set {{{', '.join(sorted(spec.outputs))}}}.",
            )
        outputs = await self.runner.run(ref.name, model, spec, checked)
        if output_filter:
            outputs = {k: outputs[k] for k in output_filter}
        return version, spec, outputs

    async def _examples(
        self, ref: ModelRef, examples: Sequence[bytes], api: str
    ) -> tuple[int, SignatureSpec, dict[str, np.ndarray]]:
        version, model = self.manager.resolve(ref.name, ref.version, ref.label)
        spec = find_signature(model, ref.signature_name, model_name=ref.name)
        feeds = examples_feed(spec, examples, api=api)
        outputs = await self.runner.run(ref.name, model, spec, feeds)
        return version, spec, outputs

    async def classify(
        self, ref: ModelRef, examples: Sequence[bytes]
    ) -> tuple[int, SignatureSpec, ClassifyResult]:
        """(version, signature, per-example (label, score) lists) of one Classify request."""
        version, spec, outputs = await self._examples(ref, examples, "classify")
        return version, spec, classify_outputs(spec, outputs, len(examples))

    async def regress(
        self, ref: ModelRef, examples: Sequence[bytes]
    ) -> tuple[int, SignatureSpec, list[float]]:
        """(version, signature, one value per example) of one Regress request."""
        version, spec, outputs = await self._examples(ref, examples, "regress")
        return version, spec, regress_outputs(spec, outputs, len(examples))

    def metadata(self, ref: ModelRef) -> tuple[int, Mapping[str, SignatureSpec]]:
        """(version, signatures) of the version a GetModelMetadata request names."""
        version, model = self.manager.resolve(ref.name, ref.version, ref.label)
        return version, model.signatures

    def status(self, ref: ModelRef) -> list[VersionStatus]:
        """GetModelStatus: the versions' states (all known, or the one named)."""
        return self.manager.statuses(ref.name, ref.version, ref.label)

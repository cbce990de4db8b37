"""Synthetic warm-up runs every signature once, so no first request pays for tracing it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from headwater.io import SavedModelHandler, SignatureSpec
from headwater.model_server.warmup import warm_up


class _Recording:
    """A real loaded SavedModel that notes which signatures ran (the seam's LoadedModel)."""

    def __init__(self, model) -> None:
        self._model = model
        self.ran: list[str] = []

    @property
    def path(self) -> str:
        return self._model.path

    @property
    def signatures(self) -> Mapping[str, SignatureSpec]:
        return self._model.signatures

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.ran.append(signature_name)
        return self._model.run(signature_name, inputs)


def test_every_signature_runs_once_default_first(templates):
    model = _Recording(SavedModelHandler(templates[1]).load_model())
    assert warm_up(model, templates[1]) == 4
    assert model.ran == ["serving_default", "classify", "double", "regress"]

"""A real Beam runner for tests: Beam's FnApiRunner that notes which node ran with which options.

Named by its dotted path (`--runner=beam_recording_runner.RecordingRunner`, the tests directory
on sys.path), it counts as a non-local runner for Headwater, so no in-memory shortcut is taken.
"""

from __future__ import annotations

from typing import Any

from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from headwater.orchestration.context import current_context

SEEN: list[tuple[str, dict[str, Any], bytes]] = []
"""(node id, the pipeline's options, its serialized runner-API proto) for every run, in order."""


class RecordingRunner(FnApiRunner):  # type: ignore[misc]
    """Runs the pipeline in process, after recording the running node, its options and the
    pipeline as a portable runner receives it (every DoFn and CombineFn pickled)."""

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        ctx = current_context()
        proto = pipeline.to_runner_api().SerializeToString()
        SEEN.append((ctx.node_id if ctx else "", options.get_all_options(), proto))
        return super().run_pipeline(pipeline, options)

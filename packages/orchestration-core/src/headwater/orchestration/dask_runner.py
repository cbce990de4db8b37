"""Beam's DaskRunner, fixed to run every branch of a pipeline and to release its Dask client.

`--runner=DaskRunner` in a pipeline's beam_pipeline_args selects this runner (`beam_pipeline`
maps the name). Beam 2.77's own DaskRunner computes only the last leaf of the translated graph:
a pipeline that writes several outputs (ExampleGen's splits, StatisticsGen's per-split files,
Transform's graph and examples) silently loses all but one of its writes. It also leaves the
`distributed.Client` it opens connected after the job, and every task reading a side input
recomputes the side input's whole upstream inside the worker (Transform's analysis, once per
partition, with its saves racing). This subclass computes each side input once, on the cluster,
before the tasks that read it; computes every leaf; waits for all of them; then closes the
client. Without `--dask_client_address` (or
`--dask_scheduler_file`) it starts a LocalCluster bound to 127.0.0.1 for the one job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunnerResult
from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner
from apache_beam.runners.dask.overrides import dask_overrides
from apache_beam.runners.runner import PipelineState


@dataclasses.dataclass
class DaskJobResult(DaskRunnerResult):
    """A Dask job's result: waiting for it raises a worker's error, then releases the client."""

    cluster: Any = None

    def wait_until_finish(self, duration: float | None = None) -> str:
        """Wait for every leaf; close the client (and a cluster started for the job) after."""
        try:
            return str(super().wait_until_finish(duration))
        finally:
            if self.state != PipelineState.RUNNING:
                self._release()

    def cancel(self) -> str:
        """Cancel the job's futures and release the client."""
        try:
            return str(super().cancel())
        finally:
            self._release()

    def _release(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class _SideInputsFirst(PipelineVisitor):
    """Wraps Beam's Dask bag visitor: a side input's bag is computed on the cluster as soon as
    it is built and replaced by its values, so readers share one result instead of recomputing."""

    def __init__(self, inner: Any, side_producers: set[Any], client: Any) -> None:
        self.inner = inner
        self.side_producers = side_producers
        self.client = client

    def visit_transform(self, node: Any) -> None:
        """Translate `node`; materialize its output now if a side input reads it."""
        import dask.bag as db

        self.inner.visit_transform(node)
        if node in self.side_producers:
            values = self.client.compute(self.inner.bags[node]).result()
            self.inner.bags[node] = db.from_sequence(list(values), npartitions=1)


class _SideInputProducers(PipelineVisitor):
    """Collects the transforms whose output some transform reads as a side input."""

    def __init__(self) -> None:
        self.producers: set[Any] = set()

    def visit_transform(self, node: Any) -> None:
        """Note the producers of `node`'s side inputs."""
        self.producers.update(si.pvalue.producer for si in node.side_inputs)


def _leaves(visitor: Any) -> list[Any]:
    """The bags of transforms whose output no other transform reads (every sink, every branch)."""
    consumed: set[Any] = set()
    for node in visitor.bags:
        consumed.update(v.producer for v in node.inputs if getattr(v, "producer", None))
        consumed.update(si.pvalue.producer for si in node.side_inputs)
    return [bag for node, bag in visitor.bags.items() if node not in consumed]


class DaskRunner(BeamDaskRunner):
    """Runs a pipeline on a Dask cluster: every branch computed, the client closed after.

    Example:
        beam_pipeline_args=["--runner=DaskRunner", "--dask_client_address=tcp://127.0.0.1:8786"]
    """

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> DaskJobResult:
        """Translate `pipeline` into Dask bags and submit all of its leaves at once."""
        import dask
        import dask.distributed as ddist

        dask_options = options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        cluster = None
        if not dask_options.get("address") and not dask_options.get("scheduler_file"):
            cluster = ddist.LocalCluster(host="127.0.0.1", dashboard_address=None)
            dask_options["address"] = cluster
        client = ddist.Client(**dask_options)
        try:
            pipeline.replace_all(dask_overrides())
            side = _SideInputProducers()
            pipeline.visit(side)
            visitor = self.to_dask_bag_visitor(bag_kwargs)
            pipeline.visit(_SideInputsFirst(visitor, side.producers, client))
            graphs = dask.optimize(*_leaves(visitor))
            futures = client.compute(list(graphs))
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        return DaskJobResult(client, futures, cluster)

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

Two translations differ from Beam's to keep a worker's memory independent of the input size: a
CombinePerKey (so CombineGlobally) is lifted, each partition folding its values into one
accumulator before the GroupByKey (Beam's translation groups every value of a key, so every
RecordBatch of StatisticsGen's or Transform's input, on one worker); and a Create puts one value
per partition (up to 256 partitions) unless `--dask_npartitions` / `--dask_partition_size` say
otherwise (Beam's default puts up to 128 values, so every file of a reader, in one partition).
"""

from __future__ import annotations

import dataclasses
import traceback
from typing import Any

from apache_beam import DoFn
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor, PTransformOverride
from apache_beam.runners.common import (
    DoFnContext,
    DoFnInvoker,
    DoFnSignature,
    Receiver,
    _OutputHandler,
)
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunnerResult
from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner
from apache_beam.runners.dask.overrides import _Create as _BeamCreate
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


class _Collect(Receiver):
    """Receives one output tag's values of a bundle as (tag, value) pairs (windows dropped,
    as Beam's Dask translation does: global windows only)."""

    def __init__(self, tag: str | None, out: list[tuple[str | None, Any]]) -> None:
        self.tag = tag
        self.out = out

    def receive(self, windowed_value: Any) -> None:
        """Keep the value of `windowed_value` under this receiver's tag."""
        self.out.append((self.tag, windowed_value.value))


class _Receivers(dict[str | None, _Collect]):
    """A receiver per output tag, made on first use."""

    def __init__(self, out: list[tuple[str | None, Any]]) -> None:
        super().__init__()
        self.out = out

    def __missing__(self, tag: str | None) -> _Collect:
        receiver = self[tag] = _Collect(tag, self.out)
        return receiver


def _augmented(exc: Exception, label: str) -> Exception:
    """`exc` of the same type (when it can be rebuilt) naming the Beam transform it came from
    and the line that raised it (Dask sends the exception back without its `__cause__`)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f'; raised at File "{frames[-1].filename}", line {frames[-1].lineno}' if frames else ""
    message = f"{exc} [while running {label!r} on a Dask worker{where}]"
    try:
        return type(exc)(message)
    except Exception:  # an exception type whose constructor takes other arguments
        return RuntimeError(f"{type(exc).__name__}: {message}")


def _run_bundle(
    items: Any,
    fn_payload: bytes,
    label: str,
    window_fn: Any,
    side_inputs: Any,
    args: Any,
    kwargs: Any,
) -> list[tuple[str | None, Any]]:
    """One Dask partition as one Beam bundle: setup, start, every element, finish, teardown;
    returns every output (finish_bundle's included) with its tag. The DoFn comes pickled by
    Beam's pickler (as a portable runner receives it: code keeps its file names)."""
    from apache_beam.internal import pickler

    fn = pickler.loads(fn_payload)
    out: list[tuple[str | None, Any]] = []
    receivers = _Receivers(out)
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn),
        handler,
        context=DoFnContext(label, state=None),
        side_inputs=side_inputs,
        input_args=args,
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    try:
        invoker.invoke_setup()
        invoker.invoke_start_bundle()
        for item in items:
            invoker.invoke_process(item)
        invoker.invoke_finish_bundle()
        invoker.invoke_teardown()
    except Exception as exc:
        raise _augmented(exc, label) from exc
    return out


def _par_do(node: Any, bag: Any, side_inputs: Any) -> Any:
    """A ParDo over `bag`: a bag of (tag, value) for every output of every bundle."""
    from apache_beam.internal import pickler
    from apache_beam.runners.dask.transform_evaluator import get_windowed_value

    args, kwargs = node.transform.raw_side_inputs
    main = next(iter(node.main_inputs.values()))
    window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
    return bag.map(get_windowed_value, window_fn).map_partitions(
        _run_bundle,
        pickler.dumps(node.transform.fn),
        node.full_label,
        window_fn,
        side_inputs,
        list(args),
        kwargs,
    )


def _only(pairs: Any, tag: str | None) -> Any:
    return [value for t, value in pairs if t == tag]


class _BagBuilder(PipelineVisitor):
    """Translates each primitive transform into Dask bags, one bag per PCollection (each
    output tag of a multi-output ParDo its own), and computes a side input's bag on the cluster
    as soon as it is built so that every reader shares one result."""

    def __init__(self, bag_kwargs: dict[str, Any], side_pvalues: set[Any], client: Any) -> None:
        self.bag_kwargs = bag_kwargs
        self.side_pvalues = side_pvalues
        self.client = client
        self.bags: dict[Any, Any] = {}
        self.consumed: set[Any] = set()

    def visit_transform(self, node: Any) -> None:
        """Build the bags of `node`'s outputs from its inputs' bags."""
        import apache_beam as beam
        import dask.bag as db
        from apache_beam import pvalue
        from apache_beam.runners.dask.transform_evaluator import (
            TRANSLATIONS,
            DaskBagWindowedIterator,
            Flatten,
            NoOp,
        )
        from apache_beam.transforms.sideinputs import SideInputMap

        inputs = [None if isinstance(v, pvalue.PBegin) else self.bags.get(v) for v in node.inputs]
        self.consumed.update(node.inputs)
        side: list[Any] = []
        make_map: Any = SideInputMap
        make_iterator: Any = DaskBagWindowedIterator
        for si in node.side_inputs:
            self.consumed.add(si.pvalue)
            side.append(
                make_map(
                    type(si),
                    si._view_options(),
                    make_iterator(self.bags.get(si.pvalue), si._window_mapping_fn),
                )
            )
        if type(node.transform) is beam.ParDo:  # subclasses (GroupAlsoByWindow) are NoOps
            pairs = _par_do(node, inputs[0], side or None)
            outputs = {tag: pairs.map_partitions(_only, tag) for tag in node.outputs}
        elif type(node.transform) is _BeamCreate:
            outputs = dict.fromkeys(node.outputs, _create_bag(node, self.bag_kwargs))
        else:
            op_class: Any = TRANSLATIONS.get(type(node.transform), NoOp)
            op = op_class(node, bag_kwargs=self.bag_kwargs)
            single: Any = inputs[0] if len(inputs) == 1 and op_class is not Flatten else inputs
            result = op.apply(input_bag=single, side_inputs=side or None)
            outputs = dict.fromkeys(node.outputs, result)
        for tag, bag in outputs.items():
            pcoll = node.outputs[tag]
            if pcoll in self.side_pvalues and bag is not None:
                values = self.client.compute(bag).result()
                bag = db.from_sequence(list(values), npartitions=1)
            self.bags[pcoll] = bag

    def leaves(self) -> list[Any]:
        """The bags no transform reads: every sink, every branch."""
        return [b for v, b in self.bags.items() if v not in self.consumed and b is not None]


class _SidePValues(PipelineVisitor):
    """Collects the PCollections some transform reads as a side input."""

    def __init__(self) -> None:
        self.pvalues: set[Any] = set()

    def visit_transform(self, node: Any) -> None:
        """Note `node`'s side inputs."""
        self.pvalues.update(si.pvalue for si in node.side_inputs)


class _LiftCombines(PTransformOverride):
    """CombinePerKey (CombineGlobally's core) as a per-bundle partial combine, a GroupByKey of
    the partial accumulators and a merge, as the FnApiRunner lifts it. Beam's Dask translation
    has no combiner lifting: its GroupByKey would gather every input value of a key (every
    RecordBatch, for StatisticsGen and Transform's analysis) into one worker's memory."""

    def matches(self, applied_ptransform: Any) -> bool:
        """A CombinePerKey in the global window."""
        from apache_beam.transforms.core import CombinePerKey

        return isinstance(applied_ptransform.transform, CombinePerKey) and bool(
            applied_ptransform.inputs[0].windowing.is_default()
        )

    def get_replacement_transform_for_applied_ptransform(self, applied_ptransform: Any) -> Any:
        """Beam's `LiftedCombinePerKey` of the same CombineFn and side inputs."""
        from apache_beam.transforms.combiners import LiftedCombinePerKey

        transform = applied_ptransform.transform
        try:
            return LiftedCombinePerKey(transform.fn, transform.args, transform.kwargs)
        except NotImplementedError:  # 10 or more side-input arguments: left unlifted
            return transform


_MAX_CREATE_PARTITIONS = 256


def _create_bag(node: Any, bag_kwargs: dict[str, Any]) -> Any:
    """A Create's values as a bag of one value per partition (at most 256 partitions), unless
    `--dask_npartitions` or `--dask_partition_size` say otherwise. Beam's default (128 values
    per partition) puts every input file of a reader in one partition: one task on one worker
    reads them all."""
    import dask.bag as db
    from apache_beam.runners.dask.transform_evaluator import Create

    items = node.transform.values
    if bag_kwargs.get("npartitions") or bag_kwargs.get("partition_size") or not items:
        return Create(node, bag_kwargs=bag_kwargs).apply(input_bag=None)
    return db.from_sequence(items, npartitions=min(len(items), _MAX_CREATE_PARTITIONS))


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
            pipeline.replace_all([_LiftCombines(), *dask_overrides()])
            side = _SidePValues()
            pipeline.visit(side)
            builder = _BagBuilder(bag_kwargs, side.pvalues, client)
            pipeline.visit(builder)
            graphs = dask.optimize(*builder.leaves())
            futures = client.compute(list(graphs))
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        return DaskJobResult(client, futures, cluster)

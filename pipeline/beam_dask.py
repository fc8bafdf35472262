"""Beam's Dask runner (apache-beam 2.77.0, pinned), fixed where it is wrong for graphs like ours.

``apache_beam.runners.dask.dask_runner.DaskRunner`` translates a Beam graph into ``dask.bag``
operations. In 2.77.0 its translation is wrong in ways that break any graph with multi-output
ParDos, bundle-level outputs or several sinks (the upstream bugs, each fixed here):

1. **Tagged outputs are mixed** (``transform_evaluator.ParDo``): a ParDo's main and tagged outputs
   all go into one bag, and every consumer of ``with_outputs(...)[tag]`` receives all of them (main
   values bare, tagged ones still wrapped in ``WindowedValue``). First symptom on our graph:
   ``AttributeError: 'str' object has no attribute 'get'``; after that, ``KeyError: 'source_id'``.
2. **``finish_bundle`` outputs are lost**: a bundle's results are collected before
   ``finish_bundle`` runs, so whatever it emits (our shard writers' shard infos) never arrives.
3. **DoFn set up and torn down for every partition**: ``setup()`` (presidio/spaCy, fasttext …)
   runs per bundle instead of once per worker.
4. **Only the last transform's bag is computed** (``DaskRunner.run_pipeline``): other sinks are
   silently not run, and the last bag's whole contents are gathered to the client.
5. **Unknown transforms become identities** (``NoOp``): e.g. ``Reshuffle`` keeps one partition
   (no parallelism), ``beam.io.Read`` yields ``None``; nothing says so.
6. **Side inputs are computed inside the consuming task** (``DaskBagWindowedIterator`` calls
   ``list(bag)`` on a worker, which recomputes the upstream graph with a local scheduler).
7. ``--runner DaskRunner`` is not a registered short name.

The runner :func:`make_runner` returns is Beam's with its graph translation replaced: each PCollection is
a bag; a ParDo is one task per partition (bundle) returning its outputs by tag, each consumer
selecting its tag; the DoFn is unpickled and set up once per worker thread; side inputs are
computed as dependencies of the consuming tasks; ``GroupByKey`` is ``Bag.groupby`` (dask's task
shuffle); ``Reshuffle`` repartitions over the cluster's threads; every unconsumed PCollection is a
sink and only counts travel back to the client. Only the global window is supported (what this
pipeline uses); any other windowing or an unknown primitive is refused with one clear error.

The fixes are used only when the run's runner is the Dask runner (:func:`make_runner`) and only on
the Beam version they were written against; another version gets Beam's runner as shipped, with a
warning (it may have been fixed upstream). The local runner's memory patches
(:mod:`pipeline.beam_memory`) are not applied on Dask workers.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.internal import pickler
from apache_beam.runners.common import DoFnRunner, Receiver
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline import progress

_LOG = logging.getLogger(__name__)

BEAM_VERSION = "2.77.0"  # the pin in pyproject.toml; the translation below replaces this version's
RUNNER_NAMES = {"DaskRunner", "dask", "apache_beam.runners.dask.dask_runner.DaskRunner"}
_GLOBAL = (GlobalWindow(),)


def is_dask_runner(name: str | None) -> bool:
    return name in RUNNER_NAMES


def make_runner():
    """The runner object for ``--runner DaskRunner``: ours on Beam 2.77.0, Beam's on any other."""
    try:
        import distributed  # noqa: F401 - first: Beam's module fails obscurely without it
        from apache_beam.runners.dask import dask_runner
    except ImportError as exc:
        raise ImportError(f"the Dask runner needs the dask extra: pip install -e '.[dask]' ({exc})") from None
    if beam.__version__ != BEAM_VERSION:
        _LOG.warning("apache-beam %s is not %s: Beam's DaskRunner used as shipped (pipeline.beam_dask)", beam.__version__, BEAM_VERSION)
        return dask_runner.DaskRunner()
    return _fixed_runner_class()()


def _windowed(value) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, _GLOBAL)


class _ListReceiver(Receiver):
    def __init__(self):
        self.values: list = []

    def receive(self, windowed_value) -> None:
        self.values.append(windowed_value.value)


class _Receivers(dict):
    """tag → receiver, made on first use (``None`` is the main output)."""

    def __missing__(self, tag):
        receiver = self[tag] = _ListReceiver()
        return receiver

    def take(self) -> dict:
        out = {tag: r.values for tag, r in self.items() if r.values}
        for r in self.values():
            r.values = []
        return out


@dataclass
class _ParDoSpec:
    """What a task needs to run one bundle of a ParDo (pickled once, at translation)."""

    label: str
    fn: beam.DoFn
    args: list
    kwargs: dict
    windowing: object
    side_views: list = field(default_factory=list)  # (view class, view options) per side input


# (ParDo uid, thread) → (DoFnRunner, receivers): each worker thread unpickles and sets up a DoFn once,
# as Beam's own workers reuse a DoFn instance across bundles. A uid is "<run token>:<n>"; a worker
# outlives runs, so the DoFns of a run idle for IDLE_RUN_SECONDS are torn down when another run's
# DoFn is set up (their models would otherwise stay in the worker for good).
_SET_UP: dict[tuple[str, int], tuple[DoFnRunner, _Receivers]] = {}
_LAST_USED: dict[str, float] = {}
IDLE_RUN_SECONDS = 60.0


def _evict_idle_runs(current: str) -> None:
    now = time.monotonic()
    idle = {run for run, used in _LAST_USED.items() if run != current and now - used > IDLE_RUN_SECONDS}
    for key in [k for k in _SET_UP if k[0].split(":", 1)[0] in idle]:
        runner, _ = _SET_UP.pop(key)
        try:
            runner.teardown()
        except Exception:  # noqa: BLE001 - a DoFn failing its teardown must not fail another run's bundle
            _LOG.warning("teardown of an idle run's DoFn failed", exc_info=True)
    for run in idle:
        _LAST_USED.pop(run, None)


def _runner_for(uid: str, blob: bytes, side_values) -> tuple[DoFnRunner, _Receivers, bool]:
    key = (uid, threading.get_ident())
    run = uid.split(":", 1)[0]
    _LAST_USED[run] = time.monotonic()
    if not side_values and key in _SET_UP:
        return (*_SET_UP[key], True)
    _evict_idle_runs(run)
    spec: _ParDoSpec = pickler.loads(blob)
    side_inputs = [
        SideInputMap(view, options, [_windowed(v) for v in values])
        for (view, options), values in zip(spec.side_views, side_values)
    ]
    receivers = _Receivers()
    runner = DoFnRunner(spec.fn, spec.args, spec.kwargs, side_inputs, spec.windowing, tagged_receivers=receivers, step_name=spec.label)
    runner.setup()
    if side_values:  # values differ per run: set up for this bundle only
        return runner, receivers, False
    _SET_UP[key] = (runner, receivers)
    return runner, receivers, True


def _run_bundle(items, uid: str, blob: bytes, progress_dir: str | None, *side_values) -> list[dict]:
    """One partition = one bundle: start, process every element, finish (its outputs included).
    Returns ``[{tag: [values]}]`` (one element, so the partition survives dask's handling as is).
    ``progress_dir`` is the launcher's progress folder: workers a cluster started on their own do
    not inherit its environment, so the task carries it (pipeline/progress.py)."""
    if progress_dir and os.environ.get(progress.ENV_DIR) != progress_dir:
        os.environ[progress.ENV_DIR] = progress_dir
    runner, receivers, cached = _runner_for(uid, blob, side_values)
    try:
        runner.start()
        for item in items:
            runner.process(_windowed(item))
        runner.finish()
    except BaseException:
        _SET_UP.pop((uid, threading.get_ident()), None)  # a failed bundle's DoFn is not reused
        receivers.take()
        raise
    out = receivers.take()
    if not cached:
        runner.teardown()
    return [out]


def _select(parts, tag) -> list:
    return [v for part in parts for v in part.get(tag, ())]


def _first(kv):
    return kv[0]


def _grouped(kv) -> tuple:
    key, pairs = kv
    return key, [v for _, v in pairs]


def _concat(lists) -> list:
    return list(itertools.chain.from_iterable(lists))


class _Translator(beam.pipeline.PipelineVisitor):
    """PCollection → dask bag, leaf transform by leaf transform."""

    def __init__(self, parallelism: int):
        from apache_beam.runners.dask.overrides import _Create, _Reshuffle

        self._create, self._reshuffle = _Create, _Reshuffle
        self.parallelism = parallelism
        self.bags: dict = {}  # PCollection → bag
        self.consumed: set = set()
        self._run_token = uuid.uuid4().hex
        self._pardos = itertools.count()

    def _input(self, applied):
        mains = [p for p in applied.main_inputs.values() if not isinstance(p, beam.pvalue.PBegin)]
        self.consumed.update(id(p) for p in mains)
        return [self.bags[p] for p in mains]

    def visit_transform(self, applied) -> None:
        import dask.bag as db

        transform = applied.transform
        for pcoll in applied.outputs.values():
            windowfn = getattr(getattr(pcoll, "windowing", None), "windowfn", GlobalWindows())
            if not isinstance(windowfn, GlobalWindows):
                raise NotImplementedError(f"Dask runner: {applied.full_label} uses {type(windowfn).__name__}; only the global window is supported")
        inputs = self._input(applied)
        outputs = applied.outputs
        if isinstance(transform, self._create):
            values = list(transform.values)
            bag = db.from_sequence(values, npartitions=max(1, min(len(values), self.parallelism)))
        elif isinstance(transform, beam.Impulse):
            bag = db.from_sequence([b""], npartitions=1)
        elif isinstance(transform, self._reshuffle):
            bag = inputs[0].repartition(npartitions=self.parallelism) if inputs[0].npartitions < self.parallelism else inputs[0]
        elif type(transform) is beam.Flatten:
            bag = db.concat(inputs) if inputs else db.from_sequence([], npartitions=1)
            if bag.npartitions > self.parallelism:  # concat adds partitions up: keep the task count flat
                bag = bag.repartition(npartitions=self.parallelism)
        elif type(transform) is beam.GroupByKey:
            bag = inputs[0].groupby(_first, npartitions=self.parallelism).map(_grouped)
        elif isinstance(transform, beam.ParDo):
            self._pardo(applied, inputs[0])
            return
        else:
            raise NotImplementedError(f"Dask runner: transform {applied.full_label} ({type(transform).__name__}) is not supported")
        for pcoll in outputs.values():
            self.bags[pcoll] = bag

    def _pardo(self, applied, main) -> None:
        transform = applied.transform
        sides = []
        for si in transform.side_inputs:
            self.consumed.add(id(si.pvalue))
            # Unoptimised: an optimised to_delayed() fuses the upstream tasks under new keys, so the
            # side input's producers (the input reading, say) would run a second time.
            sides.append(self.bags[si.pvalue].reduction(list, _concat).to_delayed(optimize_graph=False))
        spec = _ParDoSpec(
            label=applied.full_label,
            fn=transform.fn,
            args=list(transform.args or []),
            kwargs=dict(transform.kwargs or {}),
            windowing=applied.main_inputs[next(iter(applied.main_inputs))].windowing,
            side_views=[(type(si), si._view_options()) for si in transform.side_inputs],  # noqa: SLF001 - as Beam's runners do
        )
        uid = f"{self._run_token}:{next(self._pardos)}"
        bundles = main.map_partitions(_run_bundle, uid, pickler.dumps(spec), os.environ.get(progress.ENV_DIR), *sides)
        for tag, pcoll in applied.outputs.items():
            self.bags[pcoll] = bundles.map_partitions(_select, None if tag == "None" else tag)

    def sinks(self) -> list:
        """Every PCollection no transform consumes, as a count (only counts reach the client)."""
        return [bag.count() for pcoll, bag in self.bags.items() if id(pcoll) not in self.consumed]


@dataclass
class DaskResult(PipelineResult):
    client: object
    futures: list

    def __post_init__(self):
        super().__init__(PipelineState.RUNNING)

    def wait_until_finish(self, duration=None) -> str:
        from distributed import wait

        try:
            if duration is not None:
                done, _ = wait(self.futures, timeout=duration / 1000)
                if len(done) < len(self.futures):
                    return self._state
            self.client.gather(self.futures)  # raises a worker's exception here
            self._state = PipelineState.DONE
        except BaseException:
            self._state = PipelineState.FAILED
            raise
        finally:
            if self._state != PipelineState.RUNNING:
                self.client.close()
        return self._state

    def cancel(self) -> str:
        self.client.cancel(self.futures)
        self.client.close()
        self._state = PipelineState.CANCELLED
        return self._state

    def metrics(self):
        raise NotImplementedError("the Dask runner reports no Beam metrics")


def _fixed_runner_class():
    """Beam's DaskRunner with the translation of this module. Built on first use: Beam's runner
    module imports dask, which only the ``dask`` extra installs (this module must import without it)."""
    global _FIXED
    if _FIXED is not None:
        return _FIXED
    import distributed
    from apache_beam.runners.dask.dask_runner import DaskOptions
    from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner
    from apache_beam.runners.dask.overrides import dask_overrides

    class DaskRunner(BeamDaskRunner):
        """Beam's DaskRunner with the graph translation of :mod:`pipeline.beam_dask`."""

        def run_pipeline(self, pipeline, options):
            dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
            bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)  # noqa: SLF001 - Beam's own parsing
            if bag_kwargs.get("partition_size"):
                raise ValueError("--dask_partition_size is not supported by this runner; use --dask_npartitions")
            client = distributed.Client(**dask_options)
            try:
                parallelism = bag_kwargs.get("npartitions") or 2 * max(1, sum(client.nthreads().values()))
                # Create and Reshuffle become bag partitioning; GroupByKey and Flatten are translated
                # here directly (Beam's GroupByKey override leaves a ParDo it then drops as a no-op).
                pipeline.replace_all([o for o in dask_overrides() if type(o).__name__ in ("CreateOverride", "ReshuffleOverride")])
                translator = _Translator(parallelism)
                pipeline.visit(translator)
                futures = client.compute(translator.sinks())
            except BaseException:
                client.close()
                raise
            return DaskResult(client, list(futures))

    _FIXED = DaskRunner
    return _FIXED


_FIXED = None

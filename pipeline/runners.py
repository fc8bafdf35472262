"""Runner selection. The default DirectRunner path never downloads anything.

Beam 2.77's ``DirectRunner`` first tries the Prism runner, which fetches a binary from the internet.
For the default (or an explicit ``DirectRunner``) we go straight to the in-process FnApiRunner —
exactly what DirectRunner falls back to — honouring ``--direct_num_workers`` and
``--direct_running_mode`` (in_memory, multi_threading, multi_processing). Every other runner name and
Beam option passes through to Beam unchanged.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

LOCAL_RUNNERS = {None, "", "DirectRunner", "direct", "FnApiRunner"}


class CachedViewOptions(PipelineOptions):
    """``PipelineOptions`` whose ``view_as(cls)`` builds each view once.

    Beam calls ``options.view_as(...)`` several times for every transform it applies, and each call
    re-creates an argparse parser over every registered options class: hundreds of calls for our
    graph, a large share of its construction time (figures: docs/benchmarks.md, "Process and
    runner tuning"). A view holds no state of its own — it reads and
    writes the shared ``_all_options`` dict — so handing out the same view again is the same as a
    new one. The cache is not pickled with the options.
    """

    def view_as(self, cls):
        cache = self.__dict__.get("_view_cache")
        if cache is None:
            cache = self.__dict__["_view_cache"] = {}
        view = cache.get(cls)
        if view is None:
            view = cache[cls] = super().view_as(cls)
        return view

    def __getstate__(self):
        state = super().__getstate__()
        if "_view_cache" in state:
            state = {k: v for k, v in state.items() if k != "_view_cache"}
        return state


def pipeline_options(beam_args) -> PipelineOptions:
    """The run's Beam options from its command-line arguments (see :class:`CachedViewOptions`)."""
    return CachedViewOptions(list(beam_args or []))


def make_runner(options: PipelineOptions):
    """A runner object for ``beam.Pipeline(runner=..., options=options)``."""
    name = options.view_as(StandardOptions).runner
    if name in LOCAL_RUNNERS:
        from pipeline.beam_memory import bound_worker_memory

        bound_worker_memory()  # its in-process workers share this process
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        return fn_runner.FnApiRunner(provision_info=provision_info)
    return name  # Beam resolves the name (DataflowRunner, PortableRunner, SparkRunner, FlinkRunner …)


def runner_name(options: PipelineOptions) -> str:
    name = options.view_as(StandardOptions).runner
    return "DirectRunner" if name in LOCAL_RUNNERS else str(name)


def local_pipeline(*beam_args: str) -> beam.Pipeline:
    """A pipeline on the offline local runner (tests and tools): ``with local_pipeline() as p: ...``."""
    options = pipeline_options(beam_args)
    return beam.Pipeline(runner=make_runner(options), options=options)

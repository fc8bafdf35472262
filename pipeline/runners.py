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

from pipeline.beam_import import is_local_runner


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
    from pipeline.beam_inspect import cache_introspection

    cache_introspection()  # the driver builds and translates the graph: every runner
    name = options.view_as(StandardOptions).runner
    if is_local_runner(name):
        from pipeline.beam_memory import bound_worker_memory

        bound_worker_memory()  # its in-process workers share this process
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        from pipeline.beam_worker import LocalRunner  # quiet worker processes in the multi-processing mode

        return LocalRunner(provision_info=provision_info)
    from pipeline import beam_dask

    if beam_dask.is_dask_runner(name):
        return beam_dask.make_runner()  # Beam's Dask runner with its translation fixed (pipeline/beam_dask.py)
    return name  # Beam resolves the name (DataflowRunner, PortableRunner, SparkRunner, FlinkRunner …)


def runner_name(options: PipelineOptions) -> str:
    name = options.view_as(StandardOptions).runner
    return "DirectRunner" if is_local_runner(name) else str(name)


def local_pipeline(*beam_args: str) -> beam.Pipeline:
    """A pipeline on the offline local runner (tests and tools): ``with local_pipeline() as p: ...``."""
    options = pipeline_options(beam_args)
    return beam.Pipeline(runner=make_runner(options), options=options)


# Runners whose job service publishes further options only when the job is submitted: options
# Beam's own classes do not define are passed on to it (with a warning) instead of refused.
JOB_SERVICE_RUNNERS = {"PortableRunner", "FlinkRunner", "SparkRunner", "PrismRunner"}


class BeamOptionError(ValueError):
    """A Beam option the runner does not know, or a value Beam's parser refuses."""


def _register_runner_options(runner: str | None) -> None:
    """Import the runner's module so its own options class (e.g. Dask's) is registered."""
    if is_local_runner(runner):
        return
    from apache_beam.runners.runner import _RUNNER_MAP
    from pipeline.beam_dask import RUNNER_NAMES as DASK_RUNNERS

    if runner in DASK_RUNNERS:
        try:
            import distributed  # noqa: F401 - first: Beam's module fails obscurely without it
            import apache_beam.runners.dask.dask_runner  # noqa: F401 - registers DaskOptions
        except ImportError:
            raise BeamOptionError(f"--runner {runner} needs the dask extra: pip install -e '.[dask]'") from None
        return

    path = _RUNNER_MAP.get(runner.lower(), _RUNNER_MAP.get(runner.lower() + "runner", runner))
    if "." in path:
        import importlib

        try:
            importlib.import_module(path.rsplit(".", 1)[0])
        except Exception:  # noqa: BLE001 - a runner whose extras are missing fails later with Beam's own message
            pass


def beam_option_parser():
    """Beam's argument parser over every registered ``PipelineOptions`` class (what
    ``PipelineOptions.get_all_options`` builds), raising :class:`BeamOptionError` instead of
    printing Beam's usage and exiting."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    class _Parser(_BeamArgumentParser):
        def error(self, message):
            raise BeamOptionError(message)

    parser = _Parser(allow_abbrev=False, add_help=False)
    seen: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - the way Beam builds its own parser
    return parser


def unknown_beam_args(beam_args: list[str]) -> tuple[list[str], list[str]]:
    """``(unknown, valid_option_names)``: the arguments no registered Beam options class (nor the
    chosen runner's) accepts, and every ``--name`` Beam knows. A value Beam's parser refuses
    (``--direct_num_workers=abc``) raises :class:`BeamOptionError` with argparse's one-line message."""
    runner = None
    for i, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
    _register_runner_options(runner)
    parser = beam_option_parser()
    _, unknown = parser.parse_known_args(list(beam_args))
    names = sorted(s for s in parser._option_string_actions if s.startswith("--"))  # noqa: SLF001
    return unknown, names

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


def make_runner(options: PipelineOptions):
    """A runner object for ``beam.Pipeline(runner=..., options=options)``."""
    name = options.view_as(StandardOptions).runner
    if name in LOCAL_RUNNERS:
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
    options = PipelineOptions(list(beam_args))
    return beam.Pipeline(runner=make_runner(options), options=options)

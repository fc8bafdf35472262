"""Bounded worker memory on Beam's local runner and SDK harness (apache-beam 2.77.0, pinned).

Two places where Beam 2.77.0 keeps memory in proportion to the data a worker handles, found by
profiling the dedup stage with memray (``benchmarks/bench_dedup.py``, 2 local SDK workers; the
figures are in docs/benchmarks.md, "Process and runner tuning"):

* **SDK harness, every portable runner** (:func:`release_bundle_output_buffers`). Each output of a
  bundle to the runner is encoded into a buffer that is flushed at 10 MB but keeps its capacity
  (up to 16 MB), and the finished bundle processor stays cached, idle, with that buffer, for 60 s.
  A pipeline with many stages (dedup's connected components run 4 transforms a round) holds one
  such buffer per stage output, so the idle buffers add up with the number of stages. The patch drops the
  stream when the bundle's outputs are closed (their bytes were already handed to the data
  channel), so the buffer is freed with it.
* **The local runner (FnApiRunner)** (:func:`stream_local_runner_inputs`). It sends a bundle's
  whole input to the worker as one data message: one byte string per worker for a grouped
  input, and all of a stage's chunks written into one buffer before being sent. The worker then
  held its whole share of the stage's input twice (the gRPC message and its bytes), growing with
  the corpus. The patch sends element-aligned messages of about
  :data:`INPUT_CHUNK_BYTES`, so the worker holds a few of them at a time whatever the corpus size
  (the Fn API's data channel already bounds its receive queue to 5 messages).

Both are behaviour-preserving: the same elements reach the same bundles in the same order, only
in more, smaller messages, or with a buffer freed sooner. They are applied only where they are
tested — the local runner (:data:`TESTED_RUNNERS`: in-process and ``multi_processing`` workers) —
and only on the Beam version they were written against: another version is left as it is, with a
warning, since these internals are not a public API. :func:`pipeline.runners.make_runner` applies
both for the local runner and sets ``CURATE_BEAM_PATCHES=1`` in the environment, which its local
SDK worker processes inherit; there :func:`pipeline.runtime.tune_process` (every worker's DoFn
setup) applies the first. Workers of every other runner (Dataflow, Spark, Flink, Dask, a portable
job server) never see that variable, so Beam stays as shipped there. ``CURATE_NO_BEAM_PATCHES=1``
leaves Beam as shipped everywhere.
"""
from __future__ import annotations

import logging
import os

_LOG = logging.getLogger(__name__)

BEAM_VERSION = "2.77.0"  # the pin in pyproject.toml; the patched internals are this version's
INPUT_CHUNK_BYTES = 4 << 20
DISABLE_ENV = "CURATE_NO_BEAM_PATCHES"  # =1: Beam as shipped (comparisons, or if a patch misbehaves)
ENABLE_ENV = "CURATE_BEAM_PATCHES"  # set to 1 by the local runner's launcher, inherited by its workers
TESTED_RUNNERS = {"DirectRunner"}  # pipeline.runners.runner_name of the runners the patches are tested on
_APPLIED: set[str] = set()


def _beam_matches() -> bool:
    """False, leaving Beam as shipped, for another Beam version or with ``CURATE_NO_BEAM_PATCHES=1``."""
    import apache_beam

    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return False
    if apache_beam.__version__ == BEAM_VERSION:
        return True
    _LOG.warning(
        "apache-beam %s is not %s: worker memory patches not applied (pipeline.beam_memory)",
        apache_beam.__version__,
        BEAM_VERSION,
    )
    return False


def release_bundle_output_buffers() -> bool:
    """After a bundle closes an output to the runner, forget the stream (and its buffer). Only in
    a process of the local runner (``CURATE_BEAM_PATCHES=1``, set by :func:`bound_worker_memory`)."""
    if "outputs" in _APPLIED:
        return True
    if os.environ.get(ENABLE_ENV) != "1" or not _beam_matches():
        return False
    from apache_beam.runners.worker import bundle_processor

    original_finish = bundle_processor.DataOutputOperation.finish

    def finish(self) -> None:
        original_finish(self)  # closes the stream: its last bytes go to the data channel
        self.output_stream = None  # a new one is set at the next bundle's start

    finish.__wrapped__ = original_finish
    bundle_processor.DataOutputOperation.finish = finish
    _APPLIED.add("outputs")
    return True


def stream_local_runner_inputs() -> bool:
    """The local runner sends each bundle's input in element-aligned messages of about
    :data:`INPUT_CHUNK_BYTES` (read at each use)."""
    if "inputs" in _APPLIED:
        return True
    if not _beam_matches():
        return False
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

    def send_input_to_worker(self, process_bundle_id, read_transform_id, byte_streams) -> None:
        # As BundleManager._send_input_to_worker, flushing a message whenever INPUT_CHUNK_BYTES are
        # buffered: every byte_stream holds whole elements, so each message does too.
        assert self._worker_handler is not None
        chunk_bytes = INPUT_CHUNK_BYTES
        data_out = self._worker_handler.data_conn.output_stream(process_bundle_id, read_transform_id)
        for byte_stream in byte_streams or []:
            data_out.write(byte_stream)
            if data_out.size() >= chunk_bytes:
                data_out.flush()
        data_out.close()

    original_partition = execution.GroupingBuffer.partition

    def partition(self, n: int):
        # As GroupingBuffer.partition, with each worker's share cut into ~INPUT_CHUNK_BYTES byte
        # strings at group boundaries instead of one byte string per worker.
        if self._grouped_output or not self._windowing.is_default():
            return original_partition(self, n)  # already cut, or windowed (not used here)
        from apache_beam.coders.coder_impl import create_OutputStream
        from apache_beam.transforms.window import GlobalWindow, GlobalWindows
        from apache_beam.utils import windowed_value

        in_global_window = GlobalWindows.windowed_value(
            None,
            timestamp=GlobalWindow().max_timestamp(),
            pane_info=windowed_value.PaneInfo(
                is_first=True,
                is_last=True,
                timing=windowed_value.PaneInfoTiming.ON_TIME,
                index=0,
                nonspeculative_index=0,
            ),
        ).with_value
        chunk_bytes = INPUT_CHUNK_BYTES
        coder_impl = self._post_grouped_coder.get_impl()
        key_coder_impl = self._key_coder.get_impl()
        chunks: list[list[bytes]] = [[] for _ in range(n)]
        streams = [create_OutputStream() for _ in range(n)]
        for idx, (encoded_key, values) in enumerate(self._table.items()):
            ix = idx % n
            coder_impl.encode_to_stream(in_global_window((key_coder_impl.decode(encoded_key), values)), streams[ix], True)
            if streams[ix].size() >= chunk_bytes:
                chunks[ix].append(streams[ix].get())
                streams[ix] = create_OutputStream()
        for ix, stream in enumerate(streams):
            if stream.size() or not chunks[ix]:
                chunks[ix].append(stream.get())
        self._grouped_output = chunks
        self._table.clear()
        return self._grouped_output

    partition.__wrapped__ = original_partition
    send_input_to_worker.__wrapped__ = fn_runner.BundleManager._send_input_to_worker
    fn_runner.BundleManager._send_input_to_worker = send_input_to_worker
    execution.GroupingBuffer.partition = partition
    _APPLIED.add("inputs")
    return True


def bound_worker_memory() -> None:
    """Both patches, here and (through ``CURATE_BEAM_PATCHES=1``) in the local SDK worker processes
    this process starts; idempotent. Called by :func:`pipeline.runners.make_runner` for the local
    runner only, whose in-process workers share the launching process."""
    os.environ[ENABLE_ENV] = "1"
    release_bundle_output_buffers()
    stream_local_runner_inputs()

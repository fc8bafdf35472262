"""Bounded worker memory (pipeline.beam_memory): the local runner sends a bundle's input in
bounded, element-aligned messages, and a finished bundle frees its output buffers — with the same
elements, in the same order, reaching the worker."""
from __future__ import annotations

import gc
import os
import random

import apache_beam as beam
import pytest
from apache_beam import coders
from apache_beam.coders.coder_impl import create_InputStream
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
from apache_beam.runners.worker import bundle_processor, data_plane
from apache_beam.transforms import core, window
from apache_beam.utils.windowed_value import WindowedValue

from pipeline import beam_memory
from pipeline.runners import local_pipeline

_PRE = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.BytesCoder()]))
_POST = coders.WindowedValueCoder(
    coders.TupleCoder([coders.StrUtf8Coder(), coders.IterableCoder(coders.BytesCoder())])
)


@pytest.fixture(autouse=True)
def _patched():
    beam_memory.bound_worker_memory()  # what make_runner does for the local runner
    assert beam_memory.stream_local_runner_inputs() and beam_memory.release_bundle_output_buffers()


def _decode_all(coder, data: bytes) -> list:
    """Every element of one message; raises if the message ends inside an element."""
    stream, impl, out = create_InputStream(data), coder.get_impl(), []
    while stream.size() > 0:
        out.append(impl.decode_from_stream(stream, True).value)
    return out


def _grouping_buffer(pairs) -> execution.GroupingBuffer:
    buf = execution.GroupingBuffer(_PRE, _POST, core.Windowing(window.GlobalWindows()))
    impl = _PRE.get_impl()
    buf.append(b"".join(impl.encode_nested(WindowedValue(kv, 0, [window.GlobalWindow()])) for kv in pairs))
    return buf


def _pairs(n_keys: int, per_key: int) -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    return [(f"k{rng.randrange(n_keys)}", rng.randbytes(rng.randrange(20, 400))) for _ in range(n_keys * per_key)]


def test_grouped_input_is_cut_into_bounded_messages_with_the_same_groups(monkeypatch):
    monkeypatch.setattr(beam_memory, "INPUT_CHUNK_BYTES", 16 << 10)
    pairs = _pairs(2_000, 8)  # ~3.3 MB of values
    ours = _grouping_buffer(pairs).partition(2)
    beams = execution.GroupingBuffer.partition.__wrapped__(_grouping_buffer(pairs), 2)
    for worker in range(2):
        assert len(beams[worker]) == 1  # Beam's own: the worker's whole share in one byte string
        assert len(ours[worker]) > 20
        # every chunk decodes alone (whole groups) and is at most one group past the bound
        chunks = [_decode_all(_POST, chunk) for chunk in ours[worker]]
        largest_group = max(len(_POST.get_impl().encode_nested(WindowedValue(g, 0, [window.GlobalWindow()]))) for c in chunks for g in c)
        assert max(map(len, ours[worker])) < (16 << 10) + largest_group
        got = [(k, list(v)) for c in chunks for k, v in c]
        want = [(k, list(v)) for k, v in _decode_all(_POST, beams[worker][0])]
        assert got == want  # same groups, same order, same worker


def test_an_empty_grouped_partition_still_yields_one_message():
    assert _grouping_buffer([("a", b"x")]).partition(3) == [[_grouping_buffer([("a", b"x")]).partition(1)[0][0]], [b""], [b""]]


class _DataConn:
    def __init__(self):
        self.messages: list[bytes] = []

    def output_stream(self, instruction_id, transform_id):
        return data_plane.SizeBasedBufferingClosableOutputStream(
            close_callback=self.messages.append, flush_callback=self.messages.append
        )


class _WorkerHandler:
    def __init__(self):
        self.data_conn = _DataConn()


def _sent_messages(byte_streams) -> list[bytes]:
    manager = fn_runner.BundleManager.__new__(fn_runner.BundleManager)
    manager._worker_handler = _WorkerHandler()
    manager._send_input_to_worker("bundle-1", "read", byte_streams)
    return manager._worker_handler.data_conn.messages


def test_a_bundles_input_goes_to_the_worker_in_bounded_messages(monkeypatch):
    monkeypatch.setattr(beam_memory, "INPUT_CHUNK_BYTES", 64 << 10)
    impl = coders.WindowedValueCoder(coders.BytesCoder()).get_impl()
    rng = random.Random(3)
    values = [rng.randbytes(rng.randrange(10, 3_000)) for _ in range(4_000)]
    # the upstream outputs as the runner holds them: element-aligned chunks of various sizes
    streams, i = [], 0
    while i < len(values):
        j = i + rng.randrange(1, 60)
        streams.append(b"".join(impl.encode_nested(WindowedValue(v, 0, [window.GlobalWindow()])) for v in values[i:j]))
        i = j
    messages = _sent_messages(streams)
    assert len(messages) > 50  # Beam's own sends one message of ~6 MB here
    assert max(map(len, messages)) < (64 << 10) + max(map(len, streams))
    assert b"".join(messages) == b"".join(streams)
    coder = coders.WindowedValueCoder(coders.BytesCoder())
    assert [v for m in messages for v in _decode_all(coder, m)] == values  # each message whole elements


_SEEN: list[list] = []
_EARLIER: set[int] = set()  # operations alive before the test's pipeline (other tests' leftovers)


def _live_output_operations():
    return [o for o in gc.get_objects() if type(o) is bundle_processor.DataOutputOperation]


def _streams_of_finished_bundles(element):
    """Runs in the last stage: every DataOutputOperation alive then that this pipeline created
    belongs to an earlier, finished bundle whose processor the worker keeps cached."""
    if not _SEEN:
        ops = [o for o in _live_output_operations() if id(o) not in _EARLIER]
        _SEEN.append([o.output_stream for o in ops])
    return element


def test_a_finished_bundle_keeps_no_output_buffer():
    _SEEN.clear()
    gc.collect()
    _EARLIER.clear()
    _EARLIER.update(id(o) for o in _live_output_operations())
    with local_pipeline() as p:
        (
            p
            | beam.Create(range(2_000))
            | beam.Map(lambda i: (i % 50, "x" * 500))
            | beam.GroupByKey()
            | beam.MapTuple(lambda k, vs: (k, len(list(vs))))
            | beam.Map(_streams_of_finished_bundles)
        )
    (streams,) = _SEEN
    assert streams, "no cached bundle processor found to check"
    assert streams == [None] * len(streams)


def test_patches_apply_once_on_the_pinned_beam_only(monkeypatch, caplog):
    first = bundle_processor.DataOutputOperation.finish
    assert beam_memory.release_bundle_output_buffers() and bundle_processor.DataOutputOperation.finish is first
    assert fn_runner.BundleManager._send_input_to_worker.__wrapped__ is not None
    import apache_beam

    monkeypatch.setattr(beam_memory, "_APPLIED", set())
    monkeypatch.setattr(apache_beam, "__version__", "9.9.9")
    assert beam_memory.stream_local_runner_inputs() is False
    assert "not applied" in caplog.text
    caplog.clear()
    monkeypatch.setattr(apache_beam, "__version__", beam_memory.BEAM_VERSION)
    monkeypatch.setenv(beam_memory.DISABLE_ENV, "1")
    assert beam_memory.release_bundle_output_buffers() is False  # switched off by the environment
    assert not caplog.text


_PROBE = """
import os, sys
from apache_beam.runners.worker import bundle_processor
from pipeline.runtime import tune_process
tune_process()
print(hasattr(bundle_processor.DataOutputOperation.finish, "__wrapped__"))
"""


@pytest.mark.parametrize("enabled, patched", [(None, "False"), ("1", "True")])
def test_a_worker_process_patches_beam_only_when_the_local_runner_launched_it(enabled, patched):
    """A fresh interpreter stands for a worker: a local multi_processing worker inherits
    CURATE_BEAM_PATCHES=1 from its launcher; a Dataflow, Spark, Flink or Dask worker never has it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in (beam_memory.ENABLE_ENV, beam_memory.DISABLE_ENV)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    if enabled:
        env[beam_memory.ENABLE_ENV] = enabled
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == patched


def test_only_the_local_runner_turns_the_patches_on(monkeypatch):
    from pipeline.runners import make_runner, pipeline_options

    monkeypatch.delenv(beam_memory.ENABLE_ENV, raising=False)
    assert make_runner(pipeline_options(["--runner=DataflowRunner"])) == "DataflowRunner"
    assert beam_memory.ENABLE_ENV not in os.environ
    make_runner(pipeline_options([]))
    assert os.environ[beam_memory.ENABLE_ENV] == "1"

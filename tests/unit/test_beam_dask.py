"""pipeline.beam_dask's bundle execution in this process (no cluster): a ParDo bundle returns its
outputs by tag, finish_bundle's included; a DoFn is set up once per thread and run, and the DoFns
of a run left idle are torn down when another run starts on the same worker."""
from __future__ import annotations

import apache_beam as beam
import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed: pip install -e '.[dask]'")

from apache_beam.internal import pickler  # noqa: E402
from apache_beam.transforms.core import Windowing  # noqa: E402
from apache_beam.transforms.window import GlobalWindow, GlobalWindows  # noqa: E402
from apache_beam.utils.timestamp import MIN_TIMESTAMP  # noqa: E402
from apache_beam.utils.windowed_value import WindowedValue  # noqa: E402

from pipeline import beam_dask  # noqa: E402

EVENTS: list[str] = []


class _Parity(beam.DoFn):
    def setup(self):
        EVENTS.append("setup")

    def start_bundle(self):
        self._n = 0

    def process(self, x):
        self._n += 1
        yield beam.pvalue.TaggedOutput("odd", x) if x % 2 else x

    def finish_bundle(self):
        yield WindowedValue(("seen", self._n), MIN_TIMESTAMP, [GlobalWindow()])

    def teardown(self):
        EVENTS.append("teardown")


def _blob() -> bytes:
    return pickler.dumps(beam_dask._ParDoSpec(label="parity", fn=_Parity(), args=[], kwargs={}, windowing=Windowing(GlobalWindows())))


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(beam_dask, "_SET_UP", {})
    monkeypatch.setattr(beam_dask, "_LAST_USED", {})
    EVENTS.clear()


def test_a_bundle_returns_each_tag_apart_with_finish_bundle_outputs():
    blob = _blob()
    (first,) = beam_dask._run_bundle(range(1, 6), "runA:0", blob, None)
    (second,) = beam_dask._run_bundle([10, 11], "runA:0", blob, None)
    assert first == {None: [2, 4, ("seen", 5)], "odd": [1, 3, 5]}
    assert second == {None: [10, ("seen", 2)], "odd": [11]}  # nothing of the first bundle left over
    assert EVENTS == ["setup"]  # set up once for both bundles, not torn down between them
    assert beam_dask._select([first, second], "odd") == [1, 3, 5, 11]


def test_an_idle_run_is_torn_down_when_another_run_sets_up(monkeypatch):
    beam_dask._run_bundle([1], "runA:0", _blob(), None)
    monkeypatch.setattr(beam_dask, "IDLE_RUN_SECONDS", 0.0)
    beam_dask._run_bundle([1], "runB:0", _blob(), None)
    assert EVENTS == ["setup", "teardown", "setup"]
    assert {key[0] for key in beam_dask._SET_UP} == {"runB:0"}


def test_a_failed_bundle_drops_its_dofn():
    with pytest.raises(TypeError):
        beam_dask._run_bundle([1, "x"], "runA:0", _blob(), None)  # "x" % 2 fails
    assert beam_dask._SET_UP == {}
    assert beam_dask._run_bundle([2], "runA:0", _blob(), None) == [{None: [2, ("seen", 1)]}]


def test_dask_runner_without_the_extra_is_a_usage_error_naming_it(monkeypatch):
    import sys

    from pipeline.runners import BeamOptionError, unknown_beam_args

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the dask extra were not installed
    with pytest.raises(BeamOptionError, match=r"needs the dask extra: pip install -e '\.\[dask\]'"):
        unknown_beam_args(["--runner=DaskRunner", "--dask_client_address=tcp://127.0.0.1:8786"])


def test_dask_options_are_known_with_the_runners_short_name():
    from pipeline.runners import unknown_beam_args

    unknown, names = unknown_beam_args(["--runner", "DaskRunner", "--dask_client_address=tcp://127.0.0.1:8786", "--dask_npartitions=8"])
    assert unknown == [] and "--dask_scheduler_file" in names

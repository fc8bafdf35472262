"""The memoized DoFn introspection (pipeline.beam_inspect) gives Beam's own answers (runs with it
installed are held to the pinned outputs by tests/golden)."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.transforms import core, userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.typehints import decorators

from pipeline import beam_inspect


@pytest.fixture(scope="module")
def cached():
    assert beam_inspect.cache_introspection()
    return userstate.get_dofn_specs, userstate.get_dofn_specs.__wrapped__


class _Counting(beam.DoFn):
    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, kv, count=beam.DoFn.StateParam(COUNT)):
        yield kv


class _Plain(beam.DoFn):
    def process(self, x, timestamp=beam.DoFn.TimestampParam):
        yield x


def test_specs_equal_to_beams_for_stateful_plain_and_callable_dofns(cached):
    specs, original = cached
    for dofn in (_Counting(), _Plain(), core.CallableWrapperDoFn(lambda x: [x]), _Counting()):
        assert specs(dofn) == original(dofn)
    state, timers = specs(_Counting())
    assert {s.name for s in state} == {"count"} and timers == set()
    assert specs(_Plain()) == (set(), set())


def test_callable_wrappers_are_inspected_each_time(cached):
    specs, _ = cached
    # the answer of a Map/FlatMap wrapper depends on the wrapped callable, not on the class
    first, second = core.CallableWrapperDoFn(lambda x: [x]), core.CallableWrapperDoFn(lambda x, y=1: [x])
    specs(first)
    assert core.get_function_arguments(second, "process")[0] == ["x", "y"]


def test_a_bound_method_on_the_instance_is_not_answered_from_the_class(cached):
    specs, original = cached
    plain = _Plain()
    specs(plain)
    patched = _Counting()
    plain.process = patched.process  # now the instance's process has state
    assert specs(plain) == original(plain)
    assert {s.name for s in specs(plain)[0]} == {"count"}


def test_signatures_equal_to_inspects_for_functions_methods_and_builtins(cached):
    import inspect

    def f(a, b=2, *rest, key=None):
        return a

    bound = _Plain().process
    for func in (f, bound, _Plain.process, len, str.upper):
        got = decorators.get_signature(func)
        assert got == decorators.get_signature.__wrapped__(func)
    assert list(decorators.get_signature(bound).parameters) == ["x", "timestamp"]  # self dropped
    assert decorators.get_signature(f) == inspect.signature(f)
    assert core.get_signature is decorators.get_signature  # the by-name imports are patched too

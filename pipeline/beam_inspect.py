"""Beam's DoFn introspection done once per function and per DoFn class (apache-beam 2.77.0, pinned).

Beam inspects a DoFn's methods again and again: ``userstate.get_dofn_specs`` walks ``dir(dofn)``
and builds a signature of every method each time it is asked whether a DoFn is stateful (when a
transform is applied, when the graph is translated, and for every bundle processor a worker
builds), and ``DoFnSignature`` re-reads the signatures of ``process``/``setup``/... for each. On a
graph of about a hundred DoFns this repeated ``inspect.signature`` work is a large share of the
start-up and of each worker's set-up. The answers cannot change while a process runs (they depend
on the functions' code and defaults), so :func:`cache_introspection` memoizes them:

* ``get_signature(f)`` for Python functions (by the function) and bound methods (by the function
  underneath: a bound method's signature is its function's without the first parameter);
  builtins and other callables are inspected as before;
* ``get_dofn_specs(dofn)`` by the DoFn's class, only for DoFns whose answer depends on nothing
  else: no ``_inspect_<method>`` hook (Beam's wrapper of a plain callable, ``Map``/``FlatMap``,
  answers from the wrapped callable) and no bound method stored on the instance.

A DoFn with state or timers gets the same specs objects back each time, as Beam's own code does
from the same method defaults. Applied only on the Beam version it was written against and not
with ``CURATE_NO_BEAM_PATCHES=1`` (see :mod:`pipeline.beam_memory`).
"""
from __future__ import annotations

import types
import weakref

_APPLIED = False


def _cached_get_signature(original):
    by_function: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    by_method: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_signature(func):
        if type(func) is types.FunctionType:
            cache, key = by_function, func
        elif type(func) is types.MethodType and type(func.__func__) is types.FunctionType:
            cache, key = by_method, func.__func__
        else:
            return original(func)
        signature = cache.get(key)
        if signature is None:
            signature = cache[key] = original(func)
        return signature

    get_signature.__wrapped__ = original
    return get_signature


def _cached_get_dofn_specs(original):
    by_class: dict[type, tuple] = {}
    per_instance: set[type] = set()  # classes answering from the wrapped callable (_inspect_*)

    def get_dofn_specs(dofn):
        cls = type(dofn)
        if cls in per_instance or any(isinstance(v, types.MethodType) for v in getattr(dofn, "__dict__", {}).values()):
            return original(dofn)
        specs = by_class.get(cls)
        if specs is None:
            if any(name.startswith("_inspect_") for name in dir(cls)):
                per_instance.add(cls)
                return original(dofn)
            specs = by_class[cls] = original(dofn)
        state, timers = specs
        return set(state), set(timers)  # fresh sets, as each call of Beam's own returns

    get_dofn_specs.__wrapped__ = original
    return get_dofn_specs


def cache_introspection() -> bool:
    """Install both caches in this process (idempotent); False when Beam is left as shipped."""
    global _APPLIED
    if _APPLIED:
        return True
    from pipeline.beam_memory import _beam_matches

    if not _beam_matches():
        return False
    from apache_beam.transforms import core, ptransform, userstate, util
    from apache_beam.typehints import decorators

    get_signature = _cached_get_signature(decorators.get_signature)
    for module in (decorators, core, ptransform, util):  # each imported the function by name
        module.get_signature = get_signature
    userstate.get_dofn_specs = _cached_get_dofn_specs(userstate.get_dofn_specs)
    _APPLIED = True
    return True

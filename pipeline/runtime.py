"""Process-level tuning applied once per worker process."""
from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading

_TUNED = False
_ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
_ARENA_ENV = "MALLOC_ARENA_MAX"
MALLOC_ARENAS = 1
_M_ARENA_MAX = -8  # glibc <malloc.h>


def limit_malloc_arenas() -> int | None:
    """Caps glibc's malloc arenas for this process and the processes it starts; returns the cap.

    Beam's SDK harness runs bundles on a pool of threads, and glibc gives each thread its own
    arena: freed memory of one stage's bundle stays in that thread's arena while the next stage
    runs on another thread, so a worker's RSS steps up with every stage (figures:
    docs/benchmarks.md, "Process and runner tuning"). ``MALLOC_ARENA_MAX`` set in the
    environment wins; local SDK worker processes inherit the variable (glibc reads it at start),
    the calling process gets it through ``mallopt`` (threads created from now on).
    """
    if not sys.platform.startswith("linux"):
        return None
    value = os.environ.setdefault(_ARENA_ENV, str(MALLOC_ARENAS))
    try:
        import ctypes

        cap = int(value)
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, cap)
        return cap
    except (OSError, ValueError, AttributeError):  # not glibc, or a malformed value: tuning only
        return None


def tune_process() -> None:
    """Once per process (driver and every worker DoFn's setup): malloc arenas, GC thresholds,
    Arrow's memory pool and the SDK harness's output buffers.

    * glibc malloc arenas are capped (:func:`limit_malloc_arenas`).
    * A finished bundle's output buffers are freed instead of staying with the cached bundle
      processor (:func:`pipeline.beam_memory.release_bundle_output_buffers`) — in processes of
      the local runner only, where that patch is tested.
    * The GC's generation-0 threshold goes up: a run allocates millions of short-lived, acyclic
      record dicts, and the default threshold (700) makes the cyclic collector rescan live batches
      constantly.
    * Arrow allocates from its jemalloc pool instead of the mimalloc default: shard buffers (up to
      ``shard_max_bytes`` of text per open shard) are filled and freed over and over, and mimalloc
      returns freed pages to the OS at once, so every shard faults its memory in again.
      ``ARROW_DEFAULT_MEMORY_POOL`` set in the environment wins; builds without jemalloc keep their
      default.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    limit_malloc_arenas()
    from pipeline.beam_memory import release_bundle_output_buffers

    release_bundle_output_buffers()
    gc.set_threshold(100_000, 50, 100)
    if not os.environ.get(_ARROW_POOL_ENV):
        try:
            import pyarrow as pa

            if "jemalloc" in pa.supported_memory_backends():
                pa.set_memory_pool(pa.jemalloc_memory_pool())
        except Exception:  # noqa: BLE001 - tuning only: the default pool works too
            pass


tune_gc = tune_process  # the earlier name, still used by stage DoFns


def exit_now(code: int):
    """End a finished CLI process at once: flush logging and stdio, then ``os._exit``.

    With Beam imported, the interpreter's own teardown (freeing every module and its objects)
    takes a noticeable time after the work is done; a finished run has closed every file it
    wrote (shards, manifest), so there is nothing left for that teardown to do. Used only by the
    console entry points, never by code that runs inside another process (tests, orchestrators).
    """
    import logging
    import os
    import sys

    try:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe must not turn success into a traceback
                pass
    finally:
        os._exit(code)


# The terminating signal `curate run` received, if any (see terminate()).
_TERMINATED: list[int] = []
# How deep the main thread is in sections a signal's exception must not cut (see interrupts_held()),
# and the exceptions held back meanwhile.
_HELD: list[None] = []
_DEFERRED: list[BaseException] = []


def interrupt(exc: BaseException) -> None:
    """Raise ``exc`` from a signal handler: now, or when the :func:`interrupts_held` section the main
    thread is in ends."""
    if _HELD:
        _DEFERRED.append(exc)
        return
    raise exc


def terminate(signum: int) -> None:
    """A terminating signal's handler: record it, then end the run as a failure (SystemExit).
    Python ignores an exception raised while an object is being finalised (a ``__del__``), so the
    raise alone can be lost and the run go on to commit; :func:`check_terminated` raises again
    from the points where a run must not go on."""
    _TERMINATED.append(signum)
    interrupt(SystemExit(128 + signum))


def check_terminated() -> None:
    """Raise the SystemExit of a terminating signal recorded by :func:`terminate`, if any."""
    if _TERMINATED:
        raise SystemExit(128 + _TERMINATED[0])


@contextlib.contextmanager
def interrupts_held():
    """A section of the main thread a signal's exception (SIGTERM's SystemExit, Ctrl-C's
    KeyboardInterrupt) must not cut in two: it is raised when the section ends. For hand-offs to a
    helper thread — an exception between ``executor.submit`` queueing a task and the caller holding
    its Future would let the caller clean up (close a file, a Parquet writer) under a task it does
    not know is queued."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers on the main thread only
        return
    _HELD.append(None)
    deferred: list[BaseException] = []
    try:
        yield
    finally:
        _HELD.pop()
        if not _HELD:  # an exception of the section itself wins (a SIGTERM stays recorded)
            deferred[:], _DEFERRED[:] = _DEFERRED, []
    if deferred:
        raise deferred[0]


def clear_terminated() -> None:
    """Forget a recorded signal (a new run in the same process: tests, orchestrators)."""
    _TERMINATED.clear()
    _DEFERRED.clear()

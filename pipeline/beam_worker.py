"""The local multi-processing runner's worker processes, quiet on the terminal.

``--direct_running_mode=multi_processing`` starts one Beam SDK worker process per worker, sharing the
driver's stderr and its terminal's process group. Beam's worker prints the traceback of every failed
bundle to stderr (the driver reports the same failure, in one line) and a terminal's Ctrl-C reaches
every worker, each printing a ``KeyboardInterrupt`` traceback. :class:`LocalRunner` starts its workers
with :func:`main` instead of Beam's own entry point: Ctrl-C ends a worker at once and silently (the
driver prints the one line and cleans up), and the worker's stderr goes to /dev/null unless
``$CURATE_WORKER_STDERR`` is set (``--log-level debug`` sets it). ``curate run`` starts the workers'
processes early, warm (pipeline/warm_workers.py); Beam's worker command then hands over to one.
"""
from __future__ import annotations

import os
import signal
import sys

_WARM_SLOTS = None  # the warm process (pipeline/warm_workers.py): [(slot, env FIFO, done FIFO)]
if __name__ == "__main__":  # a worker process
    signal.signal(signal.SIGINT, lambda *_: os._exit(128 + signal.SIGINT))
    if sys.argv[1:2] == ["--warm"]:
        from pipeline.warm_workers import open_slots

        _WARM_SLOTS = open_slots(sys.argv[2], int(sys.argv[3]))  # first: attachers find them listening
    else:
        from pipeline.warm_workers import attach

        attach()  # Beam's worker command: a warm process runs the worker if one is free (never returns)
    # Beam (and pyarrow's first conversion) without pandas
    from pipeline.beam_import import import_beam

    import_beam()
from apache_beam.options.pipeline_options import DirectOptions  # noqa: E402
from apache_beam.runners.portability.fn_api_runner import fn_runner  # noqa: E402
from apache_beam.transforms import environments  # noqa: E402

from pipeline import warm_workers  # noqa: E402

KEEP_STDERR_ENV = "CURATE_WORKER_STDERR"
PROFILE_ENV = "CURATE_WORKER_PROFILE"  # a folder: cProfile each worker into it (benchmarks/profile_scaling.py)
MULTI_PROCESSING = "multi_processing"


class LocalRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner; in the multi-processing mode its workers run :func:`main`."""

    def run_pipeline(self, pipeline, options):
        direct = options.view_as(DirectOptions)
        if direct.direct_running_mode != MULTI_PROCESSING:
            return super().run_pipeline(pipeline, options)
        # FnApiRunner picks Beam's worker command for this mode; with no mode it keeps ours.
        self._default_environment = environments.SubprocessSDKEnvironment.from_command_string(
            command_string=f"{sys.executable} -m pipeline.beam_worker")
        direct.direct_running_mode = None
        try:
            return super().run_pipeline(pipeline, options)
        finally:
            direct.direct_running_mode = MULTI_PROCESSING


def quiet_process() -> None:
    """Ctrl-C ends this process at once and silently; stderr to /dev/null unless kept."""
    signal.signal(signal.SIGINT, lambda *_: os._exit(128 + signal.SIGINT))
    if not os.environ.get(KEEP_STDERR_ENV):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - the process's stderr until it exits


def main() -> None:
    """A worker: Beam's worker command runs it cold; ``--warm FOLDER N MODULES ALIVE_FD [more]``
    (pipeline/warm_workers.py) imports MODULES first (and, with ``more``, the modules the launcher
    then sends on the alive pipe), forks a copy per slot after the first, then each waits for the
    environment of the worker Beam starts."""
    quiet_process()
    from apache_beam.runners.worker import sdk_worker_main

    from pipeline.beam_inspect import cache_introspection

    cache_introspection()  # each bundle processor this worker builds inspects every DoFn again
    done_fd = None
    if _WARM_SLOTS is not None:
        _import_all(sys.argv[4].split(","))
        alive_fd = int(sys.argv[5])
        if sys.argv[6:7] == [warm_workers.MORE_TO_COME]:
            more = warm_workers.read_more_modules(alive_fd)
            if more is None:
                warm_workers.leave([slot for slot, _env, _done in _WARM_SLOTS])
            _import_all(more)
        mine = warm_workers.fork_per_slot(_WARM_SLOTS)
        if mine is None:
            os._exit(0)
        slot, env_fd, done_fd = mine
        warm_workers.wait_for_environment(slot, env_fd, alive_fd)
        sys.argv[1:] = []

    profile_dir = os.environ.get(PROFILE_ENV)
    if profile_dir:
        _profile_to(profile_dir)
    sdk_worker_main.main(sys.argv)
    # The runner has closed the control channel: every bundle is done and its files are closed.
    # It now waits for this process to end, and the interpreter's own teardown (freeing every
    # stage's models and caches object by object) is work nobody needs: leave at once.
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if done_fd is not None:
        warm_workers.report_done(done_fd)
        warm_workers.wait_for_copies()
    os._exit(0)


def _import_all(modules: list[str]) -> None:
    """Import ``modules`` while the launcher builds the graph."""
    import importlib

    for name in filter(None, modules):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the stage that needs it fails with its own error, as cold
            pass


def _profile_to(folder: str, every: float = 0.01) -> None:
    """Sample this worker's thread stacks every ``every`` seconds (the SDK worker runs bundles on
    threads of its own, which cProfile does not follow); the counts of distinct stacks are rewritten
    to ``folder/worker-<pid>.stacks`` every few seconds, as the runner ends its workers without
    a chance to write on exit."""
    import collections
    import pickle
    import threading
    import time

    counts: collections.Counter = collections.Counter()
    path = os.path.join(folder, f"worker-{os.getpid()}.stacks")

    def sample():
        me = threading.get_ident()
        last = time.monotonic()
        while True:
            time.sleep(every)
            for ident, frame in sys._current_frames().items():  # noqa: SLF001 - a sampler's way in
                if ident == me:
                    continue
                stack = []
                while frame is not None:
                    stack.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_code.co_name}")
                    frame = frame.f_back
                counts[tuple(reversed(stack))] += 1
            if time.monotonic() - last > 2:
                last = time.monotonic()
                with open(path + ".tmp", "wb") as fh:
                    pickle.dump(dict(counts), fh)
                os.replace(path + ".tmp", path)

    threading.Thread(target=sample, daemon=True).start()


if __name__ == "__main__":
    main()

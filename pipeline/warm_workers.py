"""Local worker processes started before the launcher imports Beam and builds the graph.

With ``--direct_running_mode=multi_processing`` Beam starts its SDK worker processes only when the
job starts, after the launcher has imported Beam, built and translated the graph; each worker then
imports Beam and the stage modules itself, so both phases lie one after the other on the run's
critical path while a core sits idle. ``curate run`` calls :func:`start` as soon as it knows the
run is local with N worker processes, before it loads the config (which then tells, through
:meth:`WarmWorkers.import_also`, whether the PII engine's modules are wanted too): ONE process
``python -m pipeline.beam_worker --warm FOLDER N ...`` starts, listens on all N slots, imports what a worker needs (:func:`warm_modules`) while the
launcher works, and then forks N - 1 copies of itself (:func:`fork_per_slot`), one per remaining
slot: the imports are paid once, not once per worker, and the copies share their pages until
written.

When Beam later starts a worker (``python -m pipeline.beam_worker`` with the control and logging
addresses in its environment), that process (the "attacher", no Beam import) claims a free slot
(``mkdir SLOT/claimed``: atomic), writes its whole environment to the slot's ``env`` FIFO and
waits on the ``done`` FIFO; the warm process takes that environment as its own and runs Beam's
worker main exactly as a cold worker would. The attacher exits 0 when the warm process reports
``0`` on ``done`` and 1 when ``done`` ends without it (the warm process died), so Beam sees the
worker's end as before. No free slot (more workers than slots, a warm process that failed to
start or died) → the attacher runs the worker itself, cold. :meth:`WarmWorkers.close` ends the
processes no worker claimed and removes the slots.

Every warm process holds the read end of a pipe whose write end only the launcher holds: when the
launcher closes it (:meth:`WarmWorkers.close`) or dies, a warm process no worker claimed removes its
slot and exits on its own.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile

SLOTS_ENV = "CURATE_WARM_SLOTS"  # the folder of slots, for the attachers Beam starts
PID_FILE = "pid"  # in a slot: the process id of the warm process serving it
MORE_TO_COME = "more"  # the warm process's last argument when the launcher sends more modules (import_also)
CLAIMED_EXIT_SECONDS = 5.0  # how long close() lets a warm process that served a worker end by itself
_REAPER = None  # in the warm process that forked the others: the thread collecting them


def local_worker_count(beam_args: list[str]) -> int:
    """The number of worker processes the local runner will start for ``beam_args`` (after the
    profile is applied), or 0 when it starts none (in-process modes, other runners, a value not
    understood here: the workers then start cold)."""
    values: dict[str, str] = {}
    args = list(beam_args or [])
    for i, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        if not eq:
            value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        values[name] = value
    from pipeline.beam_import import is_local_runner

    if not is_local_runner(values.get("runner")):
        return 0
    if values.get("direct_running_mode") != "multi_processing":
        return 0
    try:
        workers = int(values.get("direct_num_workers") or 0)
    except ValueError:
        return 0
    if workers < 0:
        return 0
    return workers or (os.cpu_count() or 1)


def warm_modules(pii_enabled: bool = False) -> list[str]:
    """What a worker imports before its first record: Beam's worker, the graph's stage modules
    (unpickling the stages imports them), and the PII engine's modules when PII runs (the
    engine itself needs the run's config, which the worker learns only when it is claimed)."""
    names = ["pipeline.graph", "pipeline.io.sources", "pipeline.stages.transforms"]
    return names + pii_modules() if pii_enabled else names


def pii_modules() -> list[str]:
    """The PII engine's modules, which a worker imports only when the PII stage runs."""
    # pipeline.pii first: importing it defers spaCy's command-line modules (see its __init__)
    return ["pipeline.pii", "presidio_analyzer", "presidio_anonymizer", "pipeline.pii.engine",
            "pipeline.pii.recognizers", "pipeline.pii.fast", "pipeline.pii.prefilter", "pipeline.pii.suppress",
            "pipeline.pii.nlp"]


class WarmWorkers:
    """The warm processes of one run and their slots (see the module docstring)."""

    def __init__(self, folder: str, procs: list[subprocess.Popen], count: int, alive_fd: int):
        self.folder = folder
        self.procs = procs  # the one process started (it forks the others)
        self.count = count  # slots
        self.alive_fd: int | None = alive_fd  # write end of the launcher-alive pipe (None once closed)

    def pids(self) -> dict[int, int]:
        """Slot number → process id of the warm process listening on it, for those that have
        written theirs (tests, benchmarks)."""
        found = {}
        for k in range(self.count):
            try:
                with open(os.path.join(self.folder, str(k), PID_FILE), encoding="ascii") as fh:
                    found[k] = int(fh.read())
            except (OSError, ValueError):
                continue
        return found

    def import_also(self, modules: list[str]) -> None:
        """For a pool started with ``more_to_come``: the rest of what its workers import, once the
        launcher knows it; the warm process forks its copies after importing these too. Sent as one
        line on the launcher-alive pipe (a pipe's buffer holds it: this never blocks)."""
        if self.alive_fd is not None:
            try:
                _write_all(self.alive_fd, (",".join(modules) + "\n").encode())
            except OSError:  # the warm process is gone: its slots have no reader, workers run cold
                pass

    def close(self) -> None:
        """End the processes no worker claimed (and any left running), remove the slots."""
        if os.environ.get(SLOTS_ENV) == self.folder:
            del os.environ[SLOTS_ENV]
        if self.alive_fd is not None:
            os.close(self.alive_fd)  # unclaimed warm processes see the pipe end and leave
            self.alive_fd = None
        for k, proc in enumerate(self.procs):
            if proc.poll() is None and os.path.isdir(os.path.join(self.folder, str(k), "claimed")):
                try:  # it served a worker and is collecting its forked copies: let it end
                    proc.wait(timeout=CLAIMED_EXIT_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def start(count: int, modules: list[str], more_to_come: bool = False) -> WarmWorkers | None:
    """Start the warm processes of ``count`` slots importing ``modules`` (one process, which forks
    the others once imported); None when ``count`` < 2 (one worker gains nothing from overlapping)
    or the slots cannot be made. ``more_to_come``: the launcher does not know yet all a worker
    will import (its config is still loading); the warm process imports ``modules``, then waits for
    :meth:`WarmWorkers.import_also` before it forks."""
    if count < 2:
        return None
    from pipeline.runtime import limit_malloc_arenas

    limit_malloc_arenas()  # sets MALLOC_ARENA_MAX, which glibc reads only at a process's start
    try:
        folder = tempfile.mkdtemp(prefix="curate-warm-")
    except OSError:
        return None
    try:
        for k in range(count):
            slot = os.path.join(folder, str(k))
            os.mkdir(slot)
            os.mkfifo(os.path.join(slot, "env"))
            os.mkfifo(os.path.join(slot, "done"))
        alive_r, alive_w = os.pipe()
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    procs = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pipeline.beam_worker", "--warm", folder, str(count), ",".join(modules), str(alive_r),
             *([MORE_TO_COME] if more_to_come else [])],
            stdin=subprocess.DEVNULL, pass_fds=(alive_r,)))
    except OSError:
        pass
    finally:
        os.close(alive_r)
    os.environ[SLOTS_ENV] = folder
    return WarmWorkers(folder, procs, count, alive_w)


# --- the attacher (Beam's worker command) ------------------------------------------------------

def _claim(folder: str) -> str | None:
    """A slot no other attacher has claimed, now claimed by this one."""
    try:
        slots = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in slots:
        slot = os.path.join(folder, name)
        try:
            os.mkdir(os.path.join(slot, "claimed"))
        except OSError:
            continue
        return slot
    return None


def attach() -> None:
    """In Beam's worker command: hand this environment to a warm process and end as it ends
    (never returns); returns when there is no warm process to hand it to."""
    folder = os.environ.get(SLOTS_ENV)
    if not folder:
        return
    payload = json.dumps(dict(os.environ)).encode() + b"\n"
    while True:
        slot = _claim(folder)
        if slot is None:
            return
        try:  # no reader (the warm process died) → ENXIO, or EPIPE while writing: try the next slot
            fd = os.open(os.path.join(slot, "env"), os.O_WRONLY | os.O_NONBLOCK)
            try:
                os.set_blocking(fd, True)
                _write_all(fd, payload)  # a warm process still importing reads it later
            finally:
                os.close(fd)
        except OSError:
            continue
        break
    done = os.open(os.path.join(slot, "done"), os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(done, True)
    status = b""
    while True:
        chunk = os.read(done, 64)
        if not chunk:
            break
        status += chunk
    os._exit(0 if status == b"0" else 1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- the warm process --------------------------------------------------------------------------

def open_slots(folder: str, count: int) -> list[tuple[str, int, int]]:
    """In the warm process, first thing: ``(slot, env, done)`` of every slot, both FIFOs opened
    read-write (``env`` then never reports EOF while no attacher has written; ``done`` is held
    until the process serving the slot ends, which is the attacher's EOF)."""
    slots = []
    for k in range(count):
        slot = os.path.join(folder, str(k))
        try:
            slots.append((slot, os.open(os.path.join(slot, "env"), os.O_RDWR), os.open(os.path.join(slot, "done"), os.O_RDWR)))
        except OSError:  # no such slot: its attacher finds no reader and runs cold
            break
    return slots


def read_more_modules(alive_fd: int) -> list[str] | None:
    """In a warm process started with ``more_to_come``: the modules the launcher sends with
    :meth:`WarmWorkers.import_also` (one line on the alive pipe); None when the launcher closed the
    pipe (or died) first."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(alive_fd, 1 << 16)
        if not chunk:
            return None
        data += chunk
    return [name for name in data.decode().strip().split(",") if name]


def leave(slots: list[str]) -> None:
    """In a warm process the launcher no longer wants (it closed the alive pipe, or died): remove
    the slots it serves (attachers then find none and run cold) — and the slots' folder once
    empty: nobody else will — and exit."""
    for slot in slots:
        shutil.rmtree(slot, ignore_errors=True)
    if slots:
        try:
            os.rmdir(os.path.dirname(slots[0]))
        except OSError:  # another warm process's slot is still there
            pass
    os._exit(0)


def fork_per_slot(slots: list[tuple[str, int, int]]) -> tuple[str, int, int] | None:
    """In the warm process, once imported: fork one copy per slot after the first; each process
    (this one serves the first slot) keeps its own slot's FIFOs and closes the others', so an
    attacher of a slot nobody serves finds no reader. Returns this process's slot (None: none)."""
    mine = 0 if slots else None
    children = []
    for k in range(1, len(slots)):
        try:
            pid = os.fork()
        except OSError:  # the slots left have no reader: their attachers run cold
            break
        if pid == 0:
            mine, children = k, []
            break
        children.append(pid)
    for k, (_slot, env_fd, done_fd) in enumerate(slots):
        if k != mine:
            os.close(env_fd)
            os.close(done_fd)
    if children:
        _reap(children)
    if mine is None:
        return None
    slot = slots[mine]
    try:
        with open(os.path.join(slot[0], PID_FILE), "w", encoding="ascii") as fh:
            fh.write(str(os.getpid()))
    except OSError:
        pass
    return slot


def _reap(pids: list[int]) -> None:
    """Collect the forked copies as they end (no zombies while this process serves its worker)."""
    import threading

    global _REAPER

    def wait_all():
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass

    _REAPER = threading.Thread(target=wait_all, daemon=True, name="warm-reaper")
    _REAPER.start()


def wait_for_copies() -> None:
    """In the warm process that forked the others, once its own worker is done: wait until they
    have ended too, so the CPU time of every worker reaches the launcher's accounts of its
    children (``getrusage``, ``time``) through this process."""
    if _REAPER is not None:
        _REAPER.join()


def wait_for_environment(slot: str, env_fd: int, alive_fd: int) -> None:
    """In a warm process, once forked: block until an attacher sends its environment, and make it
    this process's own. Exits when the launcher closes (or, dying, drops) its end of the alive
    pipe first, removing its slot (and the slots' folder once empty: nobody else will)."""
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([env_fd, alive_fd], [], [])
        if env_fd in ready:
            data += os.read(env_fd, 1 << 16)
            continue
        if alive_fd in ready:
            leave([slot])
    os.close(env_fd)
    os.close(alive_fd)
    env = json.loads(data)
    os.environ.clear()
    os.environ.update(env)


def report_done(done_fd: int) -> None:
    """Tell the attacher its worker ended well, and close ``done``: the attacher exits now, even
    while this process still waits for its copies (:func:`wait_for_copies`)."""
    try:
        os.write(done_fd, b"0")
    except OSError:  # the attacher is gone (the runner ended it): nobody to tell
        pass
    os.close(done_fd)

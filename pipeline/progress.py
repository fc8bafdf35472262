"""Live progress of a run on stderr: counts published by whatever process does the work, rendered
by the driver.

Workers (the driver itself in the in-process mode, local worker processes in the multi-processing
mode, any runner's workers on this machine or a shared file system) call :func:`add` from their
DoFns: the counts stay in memory and a daemon thread rewrites one small JSON file per process
(atomically, at most every :data:`FLUSH_SECONDS`, only when something changed) in the folder named
by ``$CURATE_PROGRESS_DIR``. The driver sets that variable before the run (worker processes it starts
inherit it) and a :class:`ProgressMonitor` thread sums the files. Where no file appears (workers that
do not see the folder) it asks the runner's live Beam metrics (:data:`METRICS_NAMESPACE`, the same
counts); with neither, it stays silent and the run's final summary is all there is.

Only counts travel: records read, kept and dropped, input bytes read, the teacher's prompts and
their outcomes — never a record, an id or a path.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass

ENV_DIR = "CURATE_PROGRESS_DIR"
PROGRESS_DIR = "_progress"  # under the run's staging folder
FLUSH_SECONDS = 0.5  # how stale a worker's published counts may be
METRICS_NAMESPACE = "curation_pipeline.progress"  # the same counts as Beam counters, for runners that report them live

# Count names.
READ = "read"  # input records read (kept + dropped + quarantined at ingest, or passed on)
BYTES = "bytes"  # input bytes read, as stored (what the discovered file sizes add up to)
KEPT = "kept"  # records written as documents
DROPPED = "dropped"  # records dropped or quarantined by ingest or any stage
TEACHER_PROMPTS = "teacher_prompts"  # prompts handed to the teacher
TEACHER_DONE = "teacher_done"  # prompts answered with a completion
TEACHER_FAILED = "teacher_failed"  # prompts that ended without one
TEACHER_REQUESTS = "teacher_requests"  # HTTP requests sent, retries included
NAMES = (READ, BYTES, KEPT, DROPPED, TEACHER_PROMPTS, TEACHER_DONE, TEACHER_FAILED, TEACHER_REQUESTS)

_LOG = logging.getLogger("pipeline.progress")


# --- publishing (any process that runs DoFns) --------------------------------------------------

class _Publisher:
    """This process's counts for one progress folder, flushed to ``<folder>/<pid>-<token>.json``."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.dirty = False
        self._beam_counters: dict = {}
        if directory:
            self.path = os.path.join(directory, f"{self.pid}-{os.urandom(4).hex()}.json")
            threading.Thread(target=self._flush_loop, name="curate-progress", daemon=True).start()

    def add(self, name: str, n: int) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n
            self.dirty = True
        counter = self._beam_counters.get(name)
        if counter is None:
            from apache_beam.metrics import Metrics

            counter = self._beam_counters[name] = Metrics.counter(METRICS_NAMESPACE, name)
        counter.inc(n)  # a no-op outside a DoFn

    def _flush_loop(self) -> None:
        while os.environ.get(ENV_DIR) == self.directory:  # a later run in this process has its own folder
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if not self.dirty:
                return
            data, self.dirty = json.dumps(self.counts), False
        tmp = self.path + ".tmp"
        try:  # the folder is never created here: once the run has removed it, nothing is left behind
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(data)
            os.replace(tmp, self.path)
        except OSError:
            pass


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def add(name: str, n: int = 1) -> None:
    """Count ``n`` more of ``name`` (one of :data:`NAMES`) for this process. Cheap: call it per batch."""
    global _publisher
    pub = _publisher
    directory = os.environ.get(ENV_DIR)
    if pub is None or pub.directory != directory or pub.pid != os.getpid():
        with _publisher_lock:
            pub = _publisher
            if pub is None or pub.directory != directory or pub.pid != os.getpid():
                pub = _publisher = _Publisher(directory)
    pub.add(name, n)


def flush() -> None:
    """Write this process's counts now (the end of a teacher batch, a split, a test)."""
    pub = _publisher
    if pub is not None and pub.directory and pub.pid == os.getpid():
        pub.flush()


# --- reading and rendering (the driver) --------------------------------------------------------

def read_counts(directory: str) -> dict[str, int] | None:
    """The sum of every process's published counts in ``directory``; None when none published yet."""
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]
    except OSError:
        return None
    if not names:
        return None
    total: dict[str, int] = {}
    for name in names:
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                counts = json.load(fh)
        except (OSError, ValueError):
            continue  # removed meanwhile, or a file that is not ours
        if isinstance(counts, dict):
            for key, value in counts.items():
                if key in NAMES and isinstance(value, int):
                    total[key] = total.get(key, 0) + value
    return total


def metrics_counts(result) -> dict[str, int] | None:
    """The same counts from a running pipeline's Beam metrics, where the runner reports them live."""
    try:
        from apache_beam.metrics.metric import MetricsFilter

        counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - a runner without live metrics: no progress, not a failure
        return None
    total: dict[str, int] = {}
    for c in counters:
        value = c.attempted if c.attempted is not None else c.committed
        if c.key.metric.name in NAMES and isinstance(value, int):
            total[c.key.metric.name] = total.get(c.key.metric.name, 0) + value
    return total or None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class Snapshot:
    counts: dict[str, int]
    total_bytes: int | None  # the input's size as discovered; None when unknown
    bytes_per_second: float | None = None  # the reading rate so far (see ReadingRate); None before any

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    @property
    def reading(self) -> bool:
        return bool(self.total_bytes) and self.get(BYTES) < self.total_bytes

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until the input is read at the rate so far; None once read, or with no rate yet."""
        if not self.reading or not self.bytes_per_second:
            return None
        return (self.total_bytes - self.get(BYTES)) / self.bytes_per_second

    @property
    def teacher(self) -> tuple[int, int, int] | None:
        """(done, failed, pending) prompts, once the teacher got any."""
        prompts = self.get(TEACHER_PROMPTS)
        if not prompts:
            return None
        done, failed = self.get(TEACHER_DONE), self.get(TEACHER_FAILED)
        return done, failed, max(prompts - done - failed, 0)


class ReadingRate:
    """Input bytes per second, measured from the first bytes seen (worker start-up is not reading)
    to the last increase (a finished read keeps its rate instead of decaying while stages run)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: tuple[float, int] | None = None  # (time, bytes) when bytes were first seen
        self.last: tuple[float, int] | None = None  # when they last grew

    def observe(self, now: float, nbytes: int) -> float | None:
        if nbytes <= 0:
            return None
        if self.first is None:
            self.first = self.last = (now, nbytes)
        elif nbytes > self.last[1]:
            self.last = (now, nbytes)
        (t0, b0), (t1, b1) = self.first, self.last
        if t1 > t0 and b1 > b0:
            return (b1 - b0) / (t1 - t0)
        return b1 / (t1 - self.started) if t1 > self.started else None


def format_line(s: Snapshot) -> str:
    """One plain progress line (what a non-terminal stderr and ``--log-file`` get)."""
    read_mb = s.get(BYTES) / 1e6
    if s.total_bytes:
        size = f"{read_mb:.1f} of {s.total_bytes / 1e6:.1f} MB ({100.0 * min(s.get(BYTES), s.total_bytes) / s.total_bytes:.0f}%)"
    else:
        size = f"{read_mb:.1f} MB"
    line = f"progress: read {s.get(READ):,} records, {size}"
    if s.bytes_per_second:
        line += f", {s.bytes_per_second / 1e6:.1f} MB/s"
    eta = s.eta_seconds
    if eta is not None:
        line += f", ETA {_duration(eta)}"
    line += f"; kept {s.get(KEPT):,}, dropped {s.get(DROPPED):,}"
    if s.teacher:
        done, failed, pending = s.teacher
        line += f"; teacher: {done:,} done, {failed:,} failed, {pending:,} pending ({s.get(TEACHER_REQUESTS):,} requests)"
    return line


def _advance(bar, n: int) -> None:
    """Move a tqdm bar to ``n`` (its rate and ETA follow), or just redraw it."""
    if n > bar.n:
        bar.update(n - bar.n)
    else:
        bar.refresh()


class _Bars:
    """tqdm bars on a terminal: input bytes (rate and ETA by tqdm), and the teacher's prompts."""

    def __init__(self, stream, total_bytes: int | None) -> None:
        from tqdm import tqdm

        # tqdm hides every bar on a terminal that reports no size (a fresh pseudo-terminal: 0 x 0).
        try:
            size = os.get_terminal_size(stream.fileno())
            sized = size.columns > 0 and size.lines > 0
        except (OSError, ValueError, AttributeError):
            sized = False
        self._width = {"dynamic_ncols": True} if sized else {"ncols": 100, "nrows": 24}
        self._tqdm = tqdm
        self._stream = stream
        # Log lines meanwhile are written above the bars instead of through them.
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._redirect = logging_redirect_tqdm()
        self._redirect.__enter__()
        self.read = tqdm(total=total_bytes or None, unit="B", unit_scale=True, desc="read", file=stream,
                         mininterval=0, leave=True, **self._width)
        self.teacher = None

    def update(self, s: Snapshot) -> None:
        self.read.set_postfix_str(f"{s.get(READ):,} records, kept {s.get(KEPT):,}, dropped {s.get(DROPPED):,}", refresh=False)
        _advance(self.read, s.get(BYTES))
        if s.teacher:
            done, failed, pending = s.teacher
            if self.teacher is None:
                self.teacher = self._tqdm(total=s.get(TEACHER_PROMPTS), unit="prompt", desc="teacher", file=self._stream,
                                          mininterval=0, leave=True, **self._width)
            self.teacher.total = s.get(TEACHER_PROMPTS)
            self.teacher.set_postfix_str(f"{done:,} done, {failed:,} failed, {pending:,} pending", refresh=False)
            _advance(self.teacher, done + failed)

    def close(self) -> None:
        for bar in (self.read, self.teacher):
            if bar is not None:
                bar.close()
        self._redirect.__exit__(None, None, None)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class ProgressMonitor:
    """The driver's thread: every ``interval`` seconds, sums the published counts and renders them —
    tqdm bars when stderr is a terminal (refreshed every :data:`FLUSH_SECONDS`), else one INFO line
    on the ``pipeline.progress`` logger. Use as a context manager around the run."""

    def __init__(self, directory: str, total_bytes: int | None, interval: float, terminal: bool | None = None) -> None:
        self.directory = directory
        self.total_bytes = total_bytes
        self.interval = interval
        self.terminal = stderr_is_terminal() if terminal is None else terminal
        self.result = None  # the running pipeline's result, for runners that report metrics live
        self._rate = ReadingRate(time.monotonic())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: _Bars | None = None

    @staticmethod
    def wanted() -> bool:
        """Progress is INFO: ``--quiet`` or ``--log-level warning`` (or a library caller that set up
        no logging) silences it."""
        return _LOG.isEnabledFor(logging.INFO)

    def snapshot(self) -> Snapshot | None:
        """The counts so far; zeros while local workers start (none published yet); None when the
        runner's pipeline is running elsewhere and neither files nor live metrics report."""
        counts = read_counts(self.directory)
        if counts is None and self.result is not None:
            counts = metrics_counts(self.result)
            if counts is None:
                return None
        counts = counts or {}
        return Snapshot(counts, self.total_bytes, self._rate.observe(time.monotonic(), counts.get(BYTES, 0)))

    def render(self) -> None:
        s = self.snapshot()
        if s is None:
            return
        if self.terminal:
            if self._bars is None:
                self._bars = _Bars(sys.stderr, self.total_bytes)
            self._bars.update(s)
        else:
            _LOG.info("%s", format_line(s))

    def _loop(self) -> None:
        period = min(self.interval, FLUSH_SECONDS) if self.terminal else self.interval
        while not self._stop.wait(period):
            try:
                self.render()
            except Exception:  # noqa: BLE001 - progress must never fail a run
                _LOG.debug("progress rendering failed", exc_info=True)

    def __enter__(self) -> "ProgressMonitor":
        self._thread = threading.Thread(target=self._loop, name="curate-progress-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if exc[0] is None:  # a finished run: the last line (or the bars) shows every count
                self.render()
            if self._bars is not None:
                self._bars.close()
        except Exception:  # noqa: BLE001 - progress must never fail a run
            _LOG.debug("progress rendering failed", exc_info=True)

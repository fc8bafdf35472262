"""Math-Verify in a child process: the runner behind :class:`pipeline.trajectories.answers.AnswerMatcher`.

Math-Verify's timeouts use ``signal.alarm``, which raises off the main thread (its issues #42, #50,
#55), and Beam runs DoFns on worker threads; nor can a signal or a thread deadline stop a C-level
computation holding the GIL (issue #65). So ``parse`` and ``verify`` run with
``parsing_timeout=None`` / ``timeout_seconds=None`` in a child process (:class:`MathVerifyProcess`)
that is killed when our own limit passes: an overrun is :data:`TIMED_OUT`, never a hang.
"""
from __future__ import annotations

import functools
import logging
import threading
from typing import Sequence

_LOG = logging.getLogger(__name__)


def _mv():
    # Math-Verify logs the text it failed to parse at debug level: records must not reach logs.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)
    import math_verify

    return math_verify


@functools.lru_cache(maxsize=4096)
def _parse_gold(kind: str, gold: str):
    mv = _mv()
    config = [mv.ExprExtractionConfig()] if kind == "number" else [mv.LatexExtractionConfig()]
    return mv.parse(gold, config, parsing_timeout=None)


def _parse_prediction(pred: str, targets: Sequence[str]):
    mv = _mv()
    configs = {"latex": mv.LatexExtractionConfig(boxed_match_priority=0), "expr": mv.ExprExtractionConfig()}
    return mv.parse(pred, [configs[t] for t in targets], parsing_timeout=None)


def _math_verify(kind: str, gold: str, pred: str, targets: Sequence[str], options: dict) -> tuple[bool, str]:
    mv = _mv()
    g = _parse_gold(kind, gold)
    if not g:
        return False, "unparsed_reference"
    p = _parse_prediction(pred, targets)
    if not p:
        return False, "unparsed"
    return (True, "math_verify") if mv.verify(g, p, timeout_seconds=None, **options) else (False, "mismatch")


def _serve() -> None:
    """The child process: one JSON request per line on stdin, one JSON answer per line back."""
    import json
    import os
    import sys

    limit_mb = int(os.environ.get("CURATE_ANSWER_MEMORY_MB", "0"))
    if limit_mb > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr (discarded), never into the protocol
    sys.stdout = sys.stderr
    _math_verify("latex", "$1$", "$1$", ("latex", "expr"), {})  # import and build the parser first
    out.write('"ready"\n')
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req["op"] == "parse":
                got = [bool(_parse_prediction(req["pred"], req["targets"])), "parsed"]
            else:
                got = list(_math_verify(req["kind"], req["gold"], req["pred"], req["targets"], req["options"]))
        except Exception as exc:  # noqa: BLE001 - the type only: the message may quote the text
            got = [False, "error:" + type(exc).__name__]
        out.write(json.dumps(got) + "\n")
        out.flush()


TIMED_OUT = object()


class MathVerifyProcess:
    """Math-Verify in a child process, so a call that overruns can really be stopped.

    Its own timeouts use ``signal.alarm`` (main thread only), and neither a signal nor a thread
    deadline can interrupt a long C-level computation that holds the GIL — a power tower like
    ``5^{5^{5^{5^5}}}`` (Math-Verify issue #65). Here the call waits on a pipe with our own limit;
    on overrun the child is killed (the answer is rejected with ``timeout``) and a fresh child is
    started for the next call. The child has a memory limit (``CURATE_ANSWER_MEMORY_MB``, default
    2048) and its output is discarded. One child per worker process, shared by its threads.
    """

    def __init__(self, timeout_seconds: float = 2.0, start_timeout_seconds: float = 120.0) -> None:
        self.timeout = timeout_seconds
        self.start_timeout = start_timeout_seconds
        self._proc = None
        self._buf = b""
        self._lock = threading.Lock()
        self._owner = None
        self.kills = 0

    def _start(self) -> None:
        import os
        import subprocess
        import sys
        from pathlib import Path

        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("CURATE_ANSWER_MEMORY_MB", "2048")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from pipeline.trajectories.mathverify_process import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._buf = b""
        self._owner = os.getpid()
        if self._read_line(self.start_timeout) != "ready":
            self._kill()
            raise RuntimeError("the Math-Verify child process did not start")

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                pipe.close()
        self._proc = None

    def _read_line(self, timeout: float):
        import json
        import os
        import select
        import time

        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return TIMED_OUT
            chunk = os.read(fd, 65536)
            if not chunk:
                return TIMED_OUT  # the child died (memory limit, crash)
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def ensure_started(self) -> None:
        with self._lock:
            if self._proc is None:
                self._start()

    def call(self, request: dict):
        """The child's ``[ok, how]`` for one request, or :data:`TIMED_OUT` (the child was killed)."""
        import json

        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                self._start()
            try:
                self._proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._kill()
                return TIMED_OUT
            got = self._read_line(self.timeout)
            if got is TIMED_OUT:
                self.kills += 1
                self._kill()
                _LOG.warning("answer comparison exceeded %.1fs; Math-Verify child process restarted (%d so far)", self.timeout, self.kills)
            return got

    def close(self) -> None:
        import os

        with self._lock:
            if self._proc is not None and self._owner == os.getpid():  # a forked copy leaves it alone
                self._kill()


_PROCESSES: dict[tuple[int, float], MathVerifyProcess] = {}
_PROCESSES_LOCK = threading.Lock()


def shared_process(timeout_seconds: float) -> MathVerifyProcess:
    """The worker process's Math-Verify child for this time limit (a forked worker gets its own)."""
    import atexit
    import os

    key = (os.getpid(), float(timeout_seconds))
    with _PROCESSES_LOCK:
        proc = _PROCESSES.get(key)
        if proc is None:
            proc = _PROCESSES[key] = MathVerifyProcess(timeout_seconds)
            atexit.register(proc.close)
    proc.ensure_started()
    return proc

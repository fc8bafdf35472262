"""`curate run` and exceptions in other threads: Beam's threads watching local worker processes raise
when a terminal's Ctrl-C stops those workers, sometimes before the launcher's own SIGINT handler has
run. Those are consequences of the interrupt and print nothing; any other thread's exception still
reaches the process's thread-exception hook."""
from __future__ import annotations

import os
import signal
import threading
import time

import pipeline.run as run_module
from pipeline import cli


def _args(tmp_path) -> list[str]:
    docs = tmp_path / "in.jsonl"
    docs.write_text('{"id": "a", "text": "A short note."}\n', encoding="utf-8")
    return ["run", "--input", str(docs), "--output", str(tmp_path / "out"), "--quiet"]


def _failing_thread(message: str) -> threading.Thread:
    def fail():
        raise RuntimeError(message)

    thread = threading.Thread(target=fail, name="run_worker")
    thread.start()
    return thread


def _recording_hook(monkeypatch) -> list:
    """Stands for the process's thread-exception hook (Python's printer; pytest's during tests)."""
    seen: list = []
    monkeypatch.setattr(threading, "excepthook", lambda hook_args: seen.append(hook_args.exc_value))
    return seen


def test_a_thread_failing_just_before_the_interrupt_prints_nothing(tmp_path, monkeypatch, capsys):
    reported = _recording_hook(monkeypatch)
    threads = []

    def interrupted_run(*_args, **_kwargs):
        threads.append(_failing_thread("Worker subprocess exited with return code -2"))  # raises at once
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)  # the launcher's own SIGINT arrives after the thread failed
        time.sleep(10)
        raise AssertionError("not interrupted")

    monkeypatch.setattr(run_module, "run", interrupted_run)
    assert cli.main(_args(tmp_path)) == cli.EXIT_INTERRUPTED
    threads[0].join(timeout=10)
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["curate: interrupted"], err
    assert reported == []


def test_a_thread_failing_without_an_interrupt_is_still_reported(tmp_path, monkeypatch, capsys):
    reported = _recording_hook(monkeypatch)
    hook_before = threading.excepthook

    def failing_run(*_args, **_kwargs):
        _failing_thread("a watcher thread broke").join(timeout=10)
        raise RuntimeError("the run broke")

    monkeypatch.setattr(run_module, "run", failing_run)
    assert cli.main(_args(tmp_path)) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert [str(e) for e in reported] == ["a watcher thread broke"]  # after the grace period
    assert err.strip().splitlines()[-1].startswith("curate: run failed")
    assert threading.excepthook is hook_before  # restored for in-process callers

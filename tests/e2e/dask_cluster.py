"""A real dask.distributed cluster on 127.0.0.1: one `dask scheduler` and N `dask worker` processes,
started and stopped by the caller (tests/e2e/test_dask.py, benchmarks/bench_dask.py).

Workers run with ``--no-nanny`` so the process started here *is* the worker: killing it takes the
worker away for good (no nanny restarts it), the harder case for recovery. Workers import
``pipeline`` from this checkout (``PYTHONPATH``), as an installed package would be found on a real
cluster, and run in their own working directory, so a path relative to the launcher's cannot
resolve by accident.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam

from pipeline.beam_memory import DISABLE_ENV, ENABLE_ENV

REPO = Path(__file__).resolve().parents[2]


def _dask_command(role: str) -> list[str]:
    return [sys.executable, "-m", f"distributed.cli.dask_{role}"]


class DaskCluster:
    """``with DaskCluster(tmp_dir, workers=2) as cluster: cluster.address, cluster.worker_pids``."""

    def __init__(self, workdir: Path, workers: int = 2, threads: int = 1, startup_seconds: float = 120):
        self.workdir = Path(workdir)
        self.n_workers = workers
        self.threads = threads
        self.startup_seconds = startup_seconds
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        # A cluster starts from its own shell, not from a process that ran the local runner: an
        # earlier in-process local run of this test session leaves the local runner's switches
        # (CURATE_BEAM_PATCHES) in os.environ, and they must not reach the Dask workers.
        env = {k: v for k, v in os.environ.items() if k not in (ENABLE_ENV, DISABLE_ENV)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        with open(self.workdir / log, "wb") as fh:
            return subprocess.Popen(args, cwd=self.workdir, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> "DaskCluster":
        self.workdir.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.workdir / "scheduler.json"
        try:
            self.scheduler = self._spawn(
                [*_dask_command("scheduler"), "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                "scheduler.log",
            )
            deadline = time.monotonic() + self.startup_seconds
            while not scheduler_file.exists():
                if self.scheduler.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler.log')[-2000:]}")
                time.sleep(0.2)
            self.address = json.loads(scheduler_file.read_text())["address"]
            for i in range(self.n_workers):
                self.workers.append(self._spawn(
                    [*_dask_command("worker"), "--scheduler-file", str(scheduler_file), "--nthreads", str(self.threads),
                     "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"],
                    f"worker{i}.log",
                ))
            self.wait_for_workers(self.n_workers, deadline - time.monotonic())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_for_workers(self, n: int, timeout: float) -> None:
        from distributed import Client

        with Client(self.address, timeout=max(timeout, 1)) as client:
            client.wait_for_workers(n, timeout=max(timeout, 1))

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def kill_worker(self, index: int) -> None:
        """SIGKILL: the worker gets no chance to hand its data or tasks over."""
        os.kill(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


# --- DoFns of the runner tests' tiny graphs: here, not in the test module, so that workers can
# import them (pytest imports a test file under its bare name, which workers cannot)

class Collect(beam.DoFn):
    """Writes each element to its own file under ``folder`` (shared filesystem): what reached it."""

    def __init__(self, folder: str):
        self._folder = folder

    def process(self, element):
        import uuid

        # a value still wrapped in a WindowedValue (Beam's runner as shipped) is written unwrapped
        Path(self._folder, uuid.uuid4().hex).write_text(json.dumps(element, default=lambda o: o.value))


class BatchAtFinish(beam.DoFn):
    """Emits one element per bundle, from finish_bundle: the number of elements it saw."""

    def start_bundle(self):
        self._n = 0

    def process(self, element):
        self._n += 1

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.timestamp import MIN_TIMESTAMP
        from apache_beam.utils.windowed_value import WindowedValue

        yield WindowedValue(self._n, MIN_TIMESTAMP, [GlobalWindow()])


def collected(folder: Path) -> list:
    return sorted(json.loads(p.read_text()) for p in folder.iterdir())


def split_odd(x):
    yield beam.pvalue.TaggedOutput("odd", x) if x % 2 else x


def beam_patched(_):
    """Whether pipeline.beam_memory's output-buffer patch is on in this (worker) process, after
    the tuning every stage DoFn runs in its setup."""
    from apache_beam.runners.worker import bundle_processor

    from pipeline.runtime import tune_process

    tune_process()
    return hasattr(bundle_processor.DataOutputOperation.finish, "__wrapped__")

"""Local worker processes started warm (pipeline/warm_workers.py): ``curate run`` with two workers
is served by the processes it started before building the graph, writes what the in-process run
writes, and leaves no process or slot behind; a warm process that died is replaced by a cold worker;
warm processes end by themselves, and remove their slots, when their launcher dies."""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipeline import cli, warm_workers
from pipeline.config import load_config
from pipeline.run import run

from tests.e2e.test_runners import _canon, _rows, offline  # noqa: F401 - offline is a fixture
from tests.e2e.test_two_workers_one_file import TWO_WORKERS, lines

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("documents", "decisions", "quarantine")


@pytest.fixture
def inputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines("a", 50))
    (src / "b.jsonl.gz").write_bytes(gzip.compress(lines("b", 50)))
    return src


@pytest.fixture
def started(monkeypatch):
    """Every pool :func:`warm_workers.start` starts (the real one), to look at its processes: what
    served each slot, seen just before the pool is closed."""
    pools = []
    real_start = warm_workers.start

    def recording(count, modules, more_to_come=False):
        pool = real_start(count, modules, more_to_come)
        if pool is None:
            return None
        pool.seen_at_close = None
        real_close = pool.close

        def close():
            pids = pool.pids()
            claimed = [os.path.isdir(os.path.join(pool.folder, str(k), "claimed")) for k in range(pool.count)]
            pool.seen_at_close = (pids, claimed, [_running(pid) for pid in pids.values()])
            real_close()

        pool.close = close
        pools.append(pool)
        return pool

    monkeypatch.setattr(warm_workers, "start", recording)
    return pools


def test_curate_run_two_workers_is_served_warm_and_equals_one_worker(tmp_path, inputs, started, offline, monkeypatch):  # noqa: F811
    one = run(load_config(), [str(inputs)], str(tmp_path / "one"), [])
    monkeypatch.setenv("CURATE_WORKERS", "2")
    rc = cli.main(["run", "--input", str(inputs), "--output", str(tmp_path / "two"), "--profile", "local-mp", "--quiet"])
    assert rc == 0
    assert offline == []
    [pool] = started
    pids, claimed, running = pool.seen_at_close
    # one process started, a second forked from it: each served a slot (claimed) and ended by
    # itself before the pool was closed (close() kills only the unclaimed: -9)
    assert len(pool.procs) == 1 and [p.returncode for p in pool.procs] == [0]
    assert sorted(pids) == [0, 1] and pids[0] == pool.procs[0].pid and pids[1] != pids[0]
    assert claimed == [True, True] and running == [False, False]
    assert not os.path.exists(pool.folder) and warm_workers.SLOTS_ENV not in os.environ
    for table in TABLES:
        assert _canon(_rows(tmp_path / "two", table)) == _canon(_rows(Path(one.out), table)), table


def _forked(pool, timeout: float = 60.0) -> dict[int, int]:
    """The pool's slot → pid once every slot has its warm process (imports done, copies forked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = pool.pids()
        if len(pids) == pool.count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"warm processes not ready: {pool.pids()}")


def test_a_dead_warm_process_is_replaced_by_a_cold_worker(tmp_path, inputs, offline):  # noqa: F811
    cfg = load_config()
    one = run(cfg, [str(inputs)], str(tmp_path / "one"), [])
    pool = warm_workers.start(2, warm_workers.warm_modules(cfg.pii.enabled))
    try:
        pids = _forked(pool)
        # the process that forked the other dies: its copy still serves, the other worker runs cold
        pool.procs[0].kill()
        pool.procs[0].wait()
        assert _running(pids[1])
        two = run(cfg, [str(inputs)], str(tmp_path / "two"), list(TWO_WORKERS))
        assert not _running(pids[1])  # it served a worker and ended with it
        assert os.path.isdir(os.path.join(pool.folder, "1", "claimed"))
    finally:
        pool.close()
    assert [p.returncode for p in pool.procs] == [-signal.SIGKILL]
    for table in TABLES:
        assert _canon(_rows(Path(two.out), table)) == _canon(_rows(Path(one.out), table)), table


def test_warm_processes_end_when_their_launcher_dies():
    launcher = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "from pipeline import warm_workers\n"
         "pool = warm_workers.start(2, [])\n"
         "deadline = time.monotonic() + 60\n"
         "while len(pool.pids()) < 2 and time.monotonic() < deadline:\n"
         "    time.sleep(0.05)\n"
         "print(pool.folder, ' '.join(str(p) for p in pool.pids().values()), flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    folder, *pids = launcher.stdout.readline().decode().split()
    pids = [int(p) for p in pids]
    assert len(pids) == 2 and os.path.isdir(folder)
    launcher.kill()  # no close(): the warm processes must notice on their own
    launcher.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.2)
    assert not any(_running(pid) for pid in pids)
    assert not os.path.exists(folder)  # the last one out removed the slots


def test_a_warm_process_waiting_for_more_modules_forks_only_once_it_has_them():
    pool = warm_workers.start(2, ["json"], more_to_come=True)
    try:
        time.sleep(3)
        assert "_sqlite3" not in Path(f"/proc/{pool.procs[0].pid}/maps").read_text()  # ample for importing json: it waits for the launcher, not for an import
        assert pool.pids() == {} and pool.procs[0].poll() is None
        pool.import_also(["_sqlite3"])  # a C extension: its library shows in a process's memory map
        pids = _forked(pool)
        assert len(set(pids.values())) == 2
        # what it was sent, it imported before forking: the copy, forked from it, has it mapped too
        copy = psutil.Process(pids[1])
        assert copy.ppid() == pids[0]
        assert all("_sqlite3" in Path(f"/proc/{pid}/maps").read_text() for pid in pids.values())
    finally:
        pool.close()
    assert not os.path.exists(pool.folder)


def test_a_warm_process_whose_launcher_dies_before_sending_more_modules_removes_its_slots():
    launcher = subprocess.Popen(
        [sys.executable, "-c",
         "import time\n"
         "from pipeline import warm_workers\n"
         "pool = warm_workers.start(2, [], more_to_come=True)\n"
         "print(pool.folder, pool.procs[0].pid, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    folder, pid = launcher.stdout.readline().decode().split()
    time.sleep(1)
    assert _running(int(pid)) and os.path.isdir(folder)
    launcher.kill()  # never sends the modules, never closes the pool
    launcher.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_running(int(pid)) or os.path.exists(folder)):
        time.sleep(0.2)
    assert not _running(int(pid))
    assert not os.path.exists(folder)


def test_a_config_naming_gcs_closes_the_warm_workers_started_without_beams_gcp_clients(tmp_path, inputs, started, offline, monkeypatch):  # noqa: F811
    # The warm processes start before the config is read, importing Beam as a run on local paths
    # does (without the GCP clients); a config that names gs:// needs them: the workers start cold.
    from pipeline.beam_import import LOCAL_ONLY_ENV

    monkeypatch.setenv("CURATE_WORKERS", "2")
    monkeypatch.delenv(LOCAL_ONLY_ENV, raising=False)
    config = tmp_path / "gcs.yaml"
    config.write_text("langid:\n  allowed: ['*', 'gs://not-a-language']\n")
    rc = cli.main(["run", "--input", str(inputs), "--output", str(tmp_path / "out"), "--config", str(config),
                   "--profile", "local-mp", "--quiet"])
    assert rc == 0
    [pool] = started
    pids, claimed, _running_at_close = pool.seen_at_close
    assert claimed == [False, False]  # closed before Beam started any worker
    assert os.environ[LOCAL_ONLY_ENV] == "0"
    assert [p.returncode for p in pool.procs] != [None]
    assert not os.path.exists(pool.folder)
    assert _rows(tmp_path / "out", "documents")


def test_close_ends_unclaimed_warm_processes_and_removes_the_slots():
    pool = warm_workers.start(3, [])
    pids = _forked(pool)
    assert len(set(pids.values())) == 3
    pool.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(pid) for pid in pids.values()):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids.values())
    assert not os.path.exists(pool.folder)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("beam_args, expected", [
    (["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=3"], 3),
    (["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"], 2),
    (["--direct_running_mode=multi_processing", "--direct_num_workers=0"], os.cpu_count() or 1),
    (["--direct_running_mode=multi_threading", "--direct_num_workers=2"], 0),  # threads: no processes
    (["--direct_num_workers=2"], 0),  # in-memory mode
    (["--runner=DataflowRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"], 0),
    (["--direct_running_mode=multi_processing", "--direct_num_workers=two"], 0),  # Beam's parser reports it
])
def test_local_worker_count(beam_args, expected):
    assert warm_workers.local_worker_count(beam_args) == expected
    if expected:  # the pre-Beam parse agrees with the count the run itself takes from Beam's options
        from pipeline.run import read_workers
        from pipeline.runners import pipeline_options

        assert read_workers(pipeline_options(beam_args)) == expected

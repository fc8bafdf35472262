"""The run lock on an object store (gs://, s3://): claim, then look.

No object store runs here, so OUT lives on a Beam filesystem registered by this module under the
scheme ``locktest://``: Beam's own LocalFileSystem under a temporary folder, reached through Beam's
``FileSystems`` exactly as gs:// is (``is_remote`` is true for it, so the lock takes the object-store
path). What the protocol needs from the store — a finished write is listed by every later list —
holds for a local folder as it does for GCS and S3.
"""
from __future__ import annotations

import itertools
import json
import os
import socket
import threading

import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

from pipeline.io.manifest import LOCK
from pipeline.io.outdir import OutputBusy, RunLock, is_remote

SCHEME = "locktest"
_ROOT: dict[str, str] = {}  # the local folder behind locktest:// (set per test)


def _local(path: str) -> str:
    if not path.startswith(f"{SCHEME}://"):
        return path  # Beam's own calls inside a method (match → exists) already have the local path
    return os.path.join(_ROOT["root"], path[len(SCHEME) + 3 :])


def _remote(path: str) -> str:
    return f"{SCHEME}://" + os.path.relpath(path, _ROOT["root"])


class LockTestFileSystem(LocalFileSystem):
    """``locktest://X`` is ``<root>/X`` on the local disk (Beam finds a filesystem by its scheme)."""

    @classmethod
    def scheme(cls):
        return SCHEME

    def create(self, path, *args, **kwargs):
        return super().create(_local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(_local(path), *args, **kwargs)

    def exists(self, path):
        return super().exists(_local(path))

    def delete(self, paths):
        return super().delete([_local(p) for p in paths])

    def match(self, patterns, limits=None):
        if not any(p.startswith(f"{SCHEME}://") for p in patterns):
            return super().match(patterns, limits)  # Beam's own call inside delete: local paths
        results = super().match([_local(p) for p in patterns], limits)
        return [MatchResult(p, [FileMetadata(_remote(m.path), m.size_in_bytes, m.last_updated_in_seconds) for m in r.metadata_list])
                for p, r in zip(patterns, results)]


@pytest.fixture
def out(tmp_path):
    _ROOT["root"] = str(tmp_path)
    (tmp_path / "bucket" / "out").mkdir(parents=True)
    uri = f"{SCHEME}://bucket/out"
    assert is_remote(uri)
    return uri


def _names(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "bucket" / "out").iterdir())


def test_a_second_run_is_refused_until_the_first_releases(out, tmp_path):
    first = RunLock(out, "20261207T000000Z-00000001").acquire()
    [claim] = _names(tmp_path)
    assert claim.startswith(f"{LOCK}.20261207T000000Z-00000001.")
    holder = json.loads((tmp_path / "bucket" / "out" / claim).read_text())
    assert holder["pid"] == os.getpid() and holder["run_id"] == "20261207T000000Z-00000001"

    with pytest.raises(OutputBusy, match=rf"pid {os.getpid()} on .*delete {SCHEME}://bucket/out/{claim} if"):
        RunLock(out, "20261207T000000Z-00000002").acquire()
    assert _names(tmp_path) == [claim], "the refused run withdrew its claim"

    first.release()
    assert _names(tmp_path) == []
    second = RunLock(out, "20261207T000000Z-00000002").acquire()
    assert second.took_over is None
    second.release()
    assert _names(tmp_path) == []


# Every interleaving of two runs' steps (lower case: write the claim; upper case: list the claims,
# and withdraw when refused), each run's claim before its own look.
_ORDERS = sorted(o for o in set(itertools.permutations("aAbB")) if o.index("a") < o.index("A") and o.index("b") < o.index("B"))


@pytest.mark.parametrize("order", _ORDERS, ids="".join)
def test_two_runs_claiming_at_the_same_time_never_both_hold_it(out, tmp_path, order):
    locks = {"a": RunLock(out, "20261207T000000Z-0000000a"), "b": RunLock(out, "20261207T000000Z-0000000b")}
    held = set()
    for step in order:
        lock = locks[step.lower()]
        if step.islower():
            lock._claim_remote()
            continue
        try:
            lock._check_claims()
            held.add(step.lower())
        except OutputBusy:
            lock._withdraw()
    assert len(held) <= 1
    if order in (tuple("aAbB"), tuple("bBaA")):  # one run finished looking before the other claimed
        assert held == {order[0]}
    for name in held:
        locks[name].release()
    assert _names(tmp_path) == []


def test_many_runs_at_once_leave_at_most_one_holder(out, tmp_path):
    for round_ in range(15):
        start = threading.Barrier(6)
        holders, lock = [], threading.Lock()

        def contend(k: int) -> None:
            start.wait()
            try:
                got = RunLock(out, f"20261207T000000Z-{round_:04d}{k:04d}").acquire()
            except OutputBusy:
                return
            with lock:
                holders.append(got)

        threads = [threading.Thread(target=contend, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(holders) <= 1
        assert len(_names(tmp_path)) == len(holders), "every refused run withdrew its claim"
        for got in holders:
            got.release()


def _write(tmp_path, name: str, holder: dict | str) -> None:
    path = tmp_path / "bucket" / "out" / name
    path.write_text(holder if isinstance(holder, str) else json.dumps(holder))


def test_a_dead_runs_claim_on_this_host_is_taken_over(out, tmp_path):
    dead = {"pid": os.getpid(), "host": socket.gethostname(), "process_start": "1", "run_id": "old"}  # a reused pid
    _write(tmp_path, f"{LOCK}.old.0000", dead)
    lock = RunLock(out, "20261207T000000Z-00000003").acquire()
    assert lock.took_over["run_id"] == "old"
    [claim] = _names(tmp_path)
    assert claim.startswith(f"{LOCK}.20261207T000000Z-00000003."), "the dead run's claim is deleted"
    lock.release()


@pytest.mark.parametrize("name, holder", [
    (f"{LOCK}.other.0000", {"pid": 4711, "host": "another-host", "run_id": "other"}),  # never guessed dead
    (LOCK, {"pid": os.getpid(), "host": socket.gethostname(), "run_id": "older-curate"}),  # an older curate's lock, live
    (f"{LOCK}.broken.0000", "{not json"),  # unreadable: not known dead
])
def test_a_claim_not_known_dead_refuses_the_run(out, tmp_path, name, holder):
    _write(tmp_path, name, holder)
    with pytest.raises(OutputBusy, match=f"delete {SCHEME}://bucket/out/{name} if"):
        RunLock(out, "20261207T000000Z-00000004").acquire()
    assert _names(tmp_path) == [name]

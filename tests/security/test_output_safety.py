"""Attacks on `curate run --output/--overwrite`, as a hostile or careless user would try them.

Every case is a real `curate` subprocess; file trees are compared by content hash before and after.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.io.manifest import LOCK, STAGING
from .conftest import run_cli

STAGES_OFF = (
    "license: {enabled: false}\nlangid: {enabled: false}\nquality: {enabled: false}\n"
    "pii: {enabled: false}\ndedup: {enabled: false}\n"
)


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` → sha256 of its bytes (folders: "dir")."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = "dir" if path.is_dir() and not path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def release(root: Path) -> dict[str, str]:
    """The release part of an OUT tree (what readers see), without run machinery."""
    return {k: v for k, v in tree(root).items() if not k.startswith((STAGING, LOCK))}


def write_inputs(folder: Path, n: int = 6, tag: str = "garden") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"{tag}{i}", "text": f"Notes {i} on the {tag}: beans climb the fence by late June."}) for i in range(n)]
    (folder / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "off.yaml"
    path.write_text(STAGES_OFF, encoding="utf-8")
    return path


@pytest.fixture
def published(tmp_path, config):
    """An earlier curate release in tmp/out (from tmp/in)."""
    inp = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--quiet")
    assert res.code == 0, res.stderr
    assert run_cli("verify", out).code == 0
    return inp, out


def assert_refused(res, *words):
    assert res.code == 2, (res.code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("curate: "), res.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --- where OUT may be ------------------------------------------------------------------------
def test_output_equal_to_input_is_refused_and_input_untouched(tmp_path, config):
    inp = write_inputs(tmp_path / "in")
    before = tree(inp)
    res = run_cli("run", "--input", inp, "--output", inp, "--config", config, "--overwrite")
    assert_refused(res, "is the input")
    assert tree(inp) == before


def test_output_inside_input_is_refused_before_it_exists(tmp_path, config):
    inp = write_inputs(tmp_path / "in")
    before = tree(inp)
    res = run_cli("run", "--input", inp, "--output", inp / "curated", "--config", config)
    assert_refused(res, "inside the input")
    assert tree(inp) == before and not (inp / "curated").exists()


def test_output_above_input_is_refused_with_overwrite(tmp_path, config):
    inp = write_inputs(tmp_path / "data" / "raw")
    before = tree(tmp_path / "data")
    res = run_cli("run", "--input", inp, "--output", tmp_path / "data", "--config", config, "--overwrite")
    assert_refused(res, "holds the input")
    assert tree(tmp_path / "data") == before


def test_output_reached_through_a_symlink_is_compared_resolved(tmp_path, config):
    inp = write_inputs(tmp_path / "in")
    (tmp_path / "alias").symlink_to(inp, target_is_directory=True)
    before = tree(inp)
    res = run_cli("run", "--input", inp / "notes.jsonl", "--output", tmp_path / "alias", "--config", config, "--overwrite")
    assert_refused(res, "holds the input")
    assert tree(inp) == before


def test_input_glob_under_output_is_refused(tmp_path, config):
    inp = write_inputs(tmp_path / "out" / "incoming")
    before = tree(tmp_path / "out")
    res = run_cli("run", "--input", f"{inp}/*.jsonl", "--output", tmp_path / "out", "--config", config, "--overwrite")
    assert_refused(res, "holds the input")
    assert tree(tmp_path / "out") == before


def test_root_folder_is_refused(tmp_path, config):
    inp = write_inputs(tmp_path / "in")
    # Without --overwrite on purpose: the refusal must come from the location check (its message
    # says so), and a regression of that check cannot then delete anything on the test machine.
    res = run_cli("run", "--input", inp, "--output", "/", "--config", config)
    assert_refused(res, "root folder")
    assert not Path("/", LOCK).exists() and not Path("/", STAGING).exists()


@pytest.mark.parametrize("target", ["home", "above_home"])
def test_home_folder_and_its_parents_are_refused(tmp_path, config, target):
    home = tmp_path / "users" / "kim"
    (home / "thesis").mkdir(parents=True)
    (home / "thesis" / "chapter1.txt").write_text("draft", encoding="utf-8")
    inp = write_inputs(tmp_path / "in")
    out = home if target == "home" else home.parent
    before = tree(tmp_path / "users")
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite", env={"HOME": str(home)})
    assert_refused(res, "home folder")
    assert tree(tmp_path / "users") == before


# --- what --overwrite may replace ------------------------------------------------------------
def test_overwrite_refuses_a_folder_curate_did_not_write(tmp_path, config):
    inp = write_inputs(tmp_path / "in")
    other = tmp_path / "photos"
    (other / "2024").mkdir(parents=True)
    (other / "2024" / "beach.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (other / "manifest.json").write_text('{"name": "my-photos", "version": 1}', encoding="utf-8")
    before = tree(other)
    res = run_cli("run", "--input", inp, "--output", other, "--config", config, "--overwrite")
    assert_refused(res, str(other), "not an earlier curate output")
    assert tree(other) == before


def test_overwrite_refuses_a_release_with_foreign_files_beside_it(published, config):
    inp, out = published
    (out / "README.txt").write_text("release notes, hand-written", encoding="utf-8")
    before = tree(out)
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite")
    assert_refused(res, "README.txt")
    assert tree(out) == before


def test_without_overwrite_a_release_is_kept(published, config):
    inp, out = published
    before = tree(out)
    res = run_cli("run", "--input", inp, "--output", out, "--config", config)
    assert_refused(res, "--overwrite")
    assert tree(out) == before


def test_overwrite_replaces_the_release_and_leaves_no_old_files(published, config, tmp_path):
    _, out = published
    old_bytes = (out / "manifest.json").read_bytes()
    old = json.loads(old_bytes)
    new_inp = write_inputs(tmp_path / "in2", n=3, tag="orchard")
    res = run_cli("run", "--input", new_inp, "--output", out, "--config", config, "--overwrite", "--quiet")
    assert res.code == 0, res.stderr
    new = json.loads((out / "manifest.json").read_text())
    assert new["run_id"] != old["run_id"] and new["summary"]["records_in"] == 3
    on_disk = {k for k, v in tree(out).items() if v != "dir"}
    # the replaced version's manifest is archived byte for byte (docs/audit.md#versions), nothing else stays
    assert on_disk == {"manifest.json", "versions/v000001.json"} | {o["path"] for o in new["outputs"]}
    assert (out / "versions" / "v000001.json").read_bytes() == old_bytes
    assert not {o["path"] for o in old["outputs"]} & on_disk
    assert run_cli("verify", out).code == 0


# --- every check before OUT is touched --------------------------------------------------------
@pytest.mark.parametrize(
    "yaml_text, env, key",
    [
        ("pii: {enabled: true, operator: pseudonym}\n", {"CURATE_PII_SECRET": ""}, "pii.operator"),
        ("dedup: {enabled: true, against: [/nonexistent/earlier-release/signatures]}\n", {}, "dedup.against[0]"),
        ("trajectories: {enabled: true, teacher: {path: /nonexistent/completions.jsonl}}\n", {}, "trajectories.teacher.path"),
        ("trajectories: {enabled: true, teacher: {backend: programmatic}, seeds: [/nonexistent/seeds.jsonl]}\n", {}, "trajectories.seeds[0]"),
        ("dedup: {enabled: true, num_perm: 1000000}\n", {}, "dedup.num_perm"),
        ("pii: {enabled: true, spacy_model: xx_not_installed_model}\n", {}, "pii.spacy_model"),
    ],
)
def test_config_error_after_overwrite_keeps_the_previous_release(published, tmp_path, yaml_text, env, key):
    inp, out = published
    before = tree(out)
    bad = tmp_path / "bad.yaml"
    bad.write_text(STAGES_OFF + yaml_text, encoding="utf-8")
    res = run_cli("run", "--input", inp, "--output", out, "--config", bad, "--overwrite", env=env)
    assert_refused(res, f"'{key}'")
    assert tree(out) == before
    assert run_cli("verify", out).code == 0


def test_missing_input_after_overwrite_keeps_the_previous_release(published, tmp_path, config):
    _, out = published
    before = tree(out)
    res = run_cli("run", "--input", tmp_path / "gone.jsonl", "--output", out, "--config", config, "--overwrite")
    assert_refused(res, "gone.jsonl")
    assert tree(out) == before


# --- interrupted and concurrent runs ----------------------------------------------------------
def _big_input(folder: Path, n: int = 20000) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "bulk.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"b{i}", "text": f"Bulk line {i} about rivers, bridges and ferries. " * 3}) + "\n")
    return folder


def _start(inp: Path, out: Path, config: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", "--input", str(inp), "--output", str(out), "--config", str(config), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path.name} appeared: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


@pytest.fixture
def slow_config(tmp_path) -> Path:
    # small shards: the run writes into its staging folder early and for a while
    path = tmp_path / "slow.yaml"
    path.write_text(STAGES_OFF + "run: {shard_max_rows: 200, batch_size: 100}\n", encoding="utf-8")
    return path


def test_killed_run_leaves_the_previous_release_and_no_stuck_lock(published, tmp_path, slow_config, config):
    inp, out = published
    before = tree(out)
    old_run = json.loads((out / "manifest.json").read_text())["run_id"]
    proc = _start(_big_input(tmp_path / "big"), out, slow_config, "--overwrite")
    _wait_for(out / STAGING, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / LOCK).exists()  # a SIGKILLed run cannot clean up: its lock is left behind …
    assert json.loads((out / "manifest.json").read_text())["run_id"] == old_run
    assert release(out) == before
    res = run_cli("verify", out)
    assert res.code == 0, res.stderr
    # … and the next run takes it over (its pid is dead on this host) instead of waiting forever
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite")
    assert res.code == 0, res.stderr
    assert "stale lock" in res.stderr
    assert not (out / LOCK).exists() and not (out / STAGING).exists()
    assert run_cli("verify", out).code == 0


def test_terminated_run_cleans_up_and_keeps_the_previous_release(published, tmp_path, slow_config):
    _, out = published
    before = tree(out)
    proc = _start(_big_input(tmp_path / "big"), out, slow_config, "--overwrite")
    _wait_for(out / STAGING, proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert tree(out) == before  # staging and lock removed, release untouched


def test_a_termination_whose_exit_was_lost_still_stops_the_run_before_its_commit(published, tmp_path, config, monkeypatch):
    # Python ignores an exception raised inside a finaliser (__del__): a SIGTERM handled there only
    # records itself. The run must still fail before its commit point and clean up.
    from pipeline import runtime
    from pipeline.config import load_config
    from pipeline.run import run

    inp, out = published
    before = tree(out)
    monkeypatch.setattr(runtime, "_TERMINATED", [signal.SIGTERM])  # as the handler leaves it
    with pytest.raises(SystemExit) as stopped:
        run(load_config(config), [str(inp)], str(out), [], overwrite=True)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert tree(out) == before  # no new release, staging and lock removed
    monkeypatch.setattr(runtime, "_TERMINATED", [])
    assert run(load_config(config), [str(inp)], str(out), [], overwrite=True).summary["records_in"] == 6


def test_second_run_into_the_same_output_is_refused(published, tmp_path, slow_config, config):
    inp, out = published
    first = _start(_big_input(tmp_path / "big"), out, slow_config, "--overwrite")
    _wait_for(out / STAGING, first)
    first.send_signal(signal.SIGSTOP)  # hold the first run mid-way, however fast the machine
    try:
        second = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite")
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert_refused(second, "in use by another curate run", f"pid {first.pid}")
    assert json.loads((out / "manifest.json").read_text())["summary"]["records_in"] == 20000
    assert run_cli("verify", out).code == 0


def test_lock_of_a_live_process_is_respected_and_a_dead_one_is_taken_over(published, config):
    inp, out = published
    import socket

    live = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (out / LOCK).write_text(json.dumps(live), encoding="utf-8")
    before = tree(out)
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite")
    assert_refused(res, f"pid {os.getpid()}")
    assert tree(out) == before
    elsewhere = dict(live, host="another-machine.example")  # cannot tell if it is alive: respected
    (out / LOCK).write_text(json.dumps(elsewhere), encoding="utf-8")
    assert_refused(run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite"), "another-machine.example")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = dict(live, pid=int(done.stdout))
    (out / LOCK).write_text(json.dumps(dead), encoding="utf-8")
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite")
    assert res.code == 0, res.stderr
    assert not (out / LOCK).exists()


# --- each step of the commit, in process (failures injected where a crash could happen) --------
@pytest.fixture
def in_process(tmp_path):
    """A release made in this process, and a function replacing it: ``replace(**monkeypatches)``."""
    from pipeline.config import load_config
    from pipeline.run import run

    cfg = load_config(overrides={k: {"enabled": False} for k in ("license", "langid", "quality", "pii", "dedup")})
    inp = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    run(cfg, [str(inp)], str(out))
    return cfg, inp, out, lambda: run(cfg, [str(write_inputs(tmp_path / "in2", n=2, tag="pond"))], str(out), overwrite=True)


def test_failure_before_the_commit_point_leaves_the_release_byte_identical(in_process, monkeypatch):
    import pipeline.run as run_module
    from pipeline.io.manifest import verify as verify_out

    _, _, out, replace = in_process
    before = tree(out)

    def crash(*_args, **_kwargs):
        raise OSError("disk full while writing the manifest")

    monkeypatch.setattr(run_module, "write_manifest", crash)
    with pytest.raises(OSError):
        replace()
    assert tree(out) == before
    assert verify_out(str(out)) == []


def test_failure_after_the_commit_point_keeps_the_new_release(in_process, monkeypatch):
    from pipeline.io import outdir
    from pipeline.io.manifest import verify as verify_out

    _, _, out, replace = in_process
    old_files = {k for k, v in release(out).items() if v != "dir" and k != "manifest.json"}

    def crash(*_args, **_kwargs):
        raise OSError("lost the connection while removing the old release")

    monkeypatch.setattr(outdir, "remove_unlisted", crash)
    with pytest.raises(OSError):
        replace()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["records_in"] == 2  # committed: the new release stands
    assert all((out / o["path"]).is_file() for o in manifest["outputs"])
    problems = verify_out(str(out))
    assert problems and all("not listed in the manifest" in p for p in problems)
    assert {p.split(":")[0] for p in problems} == old_files  # exactly the old files, reported
    monkeypatch.undo()
    replace()  # the next run removes them
    assert verify_out(str(out)) == []


def test_shards_left_by_a_run_killed_mid_commit_are_reported_then_removed(in_process):
    """What a SIGKILL between moving shards and renaming the manifest leaves: unlisted files."""
    from pipeline.io.manifest import verify as verify_out

    _, _, out, replace = in_process
    orphan = out / "documents" / "part-00000-20261205T101500Z-0a1b2c3d.parquet"
    orphan.write_bytes((out / "documents" / "part-00000.parquet").read_bytes())
    assert verify_out(str(out)) == [f"{orphan.relative_to(out).as_posix()}: not listed in the manifest"]
    replace()
    assert not orphan.exists() and verify_out(str(out)) == []


# --- the location check on its own (no run needed) ---------------------------------------------
@pytest.mark.parametrize(
    "out, inputs, refused",
    [
        ("gs://bucket/releases/2026-03", ["gs://bucket/releases/2026-03/raw/*.jsonl"], "holds the input"),
        ("gs://bucket/releases/2026-03/out", ["gs://bucket/releases/2026-03/"], "inside the input"),
        ("s3://bucket/a", ["S3://bucket/a"], "is the input"),
        ("gs://bucket/data", ["gs://bucket/data2/x.jsonl"], None),  # a prefix only counts at a "/"
        ("gs://bucket/data", ["s3://bucket/data/x.jsonl"], None),  # other storage
    ],
)
def test_remote_locations_are_compared_by_prefix(out, inputs, refused):
    from pipeline.io.outdir import OutputRefused, check_location

    if refused is None:
        check_location(out, inputs, [])
    else:
        with pytest.raises(OutputRefused, match=refused):
            check_location(out, inputs, [])


def test_home_set_to_root_does_not_refuse_every_folder(tmp_path, monkeypatch):
    from pipeline.io.outdir import check_location

    monkeypatch.setenv("HOME", "/")
    check_location(str(tmp_path / "out"), [str(tmp_path / "in")], [])


def test_lock_is_exclusive_and_released(tmp_path):
    from pipeline.io.outdir import OutputBusy, RunLock

    first = RunLock(str(tmp_path), "20261205T000000Z-00000001").acquire()
    holder = json.loads((tmp_path / LOCK).read_text())
    assert holder["pid"] == os.getpid() and holder["run_id"] == "20261205T000000Z-00000001"
    with pytest.raises(OutputBusy, match="in use by another curate run"):
        RunLock(str(tmp_path), "20261205T000000Z-00000002").acquire()
    first.release()
    assert not (tmp_path / LOCK).exists()
    second = RunLock(str(tmp_path), "20261205T000000Z-00000002").acquire()
    assert second.took_over is None
    second.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary lock files left


def test_stale_lock_with_a_reused_pid_is_taken_over(tmp_path):
    """The pid is alive (this process) but started at another time: not the run that wrote the lock."""
    import socket

    from pipeline.io.outdir import RunLock

    (tmp_path / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "process_start": "1"}))
    lock = RunLock(str(tmp_path), "20261205T000000Z-00000003").acquire()
    assert lock.took_over["process_start"] == "1"
    lock.release()


def test_refused_and_finished_runs_leave_nothing_in_the_temp_folder(published, config, tmp_path):
    """Beam makes a scratch folder when the pipeline is built and removes it only at the end of its
    run: a run refused after that point (here: OUT locked by a live process) must not leave it."""
    inp, out = published
    import socket

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    live = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (out / LOCK).write_text(json.dumps(live), encoding="utf-8")
    assert_refused(run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite", env=env), f"pid {os.getpid()}")
    assert sorted(p.name for p in scratch.iterdir()) == []
    (out / LOCK).unlink()
    res = run_cli("run", "--input", inp, "--output", out, "--config", config, "--overwrite", "--quiet", env=env)
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in scratch.iterdir()) == []

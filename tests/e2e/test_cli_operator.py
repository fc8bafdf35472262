"""The operator's command line (issue 19), each item a real `python -m pipeline.cli` subprocess:
typos and bad values exit 2 in one line, `--version`, `--set`, the empty-run warning and
`--fail-on-empty`, Ctrl-C, out-of-disk and out-of-memory failures, a closed stdout, and logging."""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam
import pytest

import pipeline
from pipeline.io.manifest import read_manifest

STAGES_OFF = "".join(f"{s}: {{enabled: false}}\n" for s in ("license", "langid", "quality", "pii", "dedup"))
NOTE = "A short note on pruning apple trees before the buds open in late winter."


def curate(*args, stdout=subprocess.PIPE, timeout: float = 300, python: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(python or [sys.executable, "-m", "pipeline.cli"]), *map(str, args)],
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def small(tmp_path):
    """(input file with one keepable record, config with every stage off)."""
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "note-qz81", "text": NOTE}) + "\n", encoding="utf-8")
    config = tmp_path / "off.yaml"
    config.write_text(STAGES_OFF, encoding="utf-8")
    return src, config


@pytest.mark.parametrize("typo, named, suggestion", [
    (["--cfg", "bad.yaml"], "--cfg", "--config"),                      # ours
    (["--direct_num_wrkers=2"], "--direct_num_wrkers", "--direct_num_workers"),  # Beam's
    (["--fail-on-emtpy"], "--fail-on-emtpy", "--fail-on-empty"),
])
def test_an_unknown_option_exits_2_naming_it_and_the_nearest_valid_one(small, tmp_path, typo, named, suggestion):
    src, config = small
    out = tmp_path / "out"
    proc = curate("run", "--input", src, "--output", out, "--config", config, *typo)
    assert proc.returncode == 2, proc.stderr
    assert lines(proc.stderr) == [f"curate: unrecognized option {named} (did you mean {suggestion}?)"]
    assert not out.exists()


def test_a_bad_beam_option_value_is_one_line_not_beams_usage(small, tmp_path):
    src, config = small
    proc = curate("run", "--input", src, "--output", tmp_path / "out", "--config", config, "--direct_num_workers=abc")
    assert proc.returncode == 2
    assert lines(proc.stderr) == ["curate: argument --direct_num_workers: invalid int value: 'abc'"]


def test_version_names_the_package_beam_and_python():
    proc = curate("--version")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.strip()
    assert pipeline.__version__ in text and f"Apache Beam {apache_beam.__version__}" in text
    assert f"Python {platform.python_version()}" in text and len(text.splitlines()) == 1


def test_set_overrides_config_keys_and_the_manifest_records_the_effective_config(small, tmp_path):
    src, _ = small
    config = tmp_path / "c.yaml"
    config.write_text(STAGES_OFF.replace("dedup: {enabled: false}", "dedup: {enabled: true, threshold: 0.9, num_perm: 64}"), encoding="utf-8")
    out = tmp_path / "out"
    proc = curate("run", "--input", src, "--output", out, "--config", config, "--quiet",
                  "--set", "dedup.threshold=0.7", "--set", "run.batch_size=7", "--set", "langid.allowed=[ko, ja]")
    assert proc.returncode == 0, proc.stderr
    effective = read_manifest(str(out))["config"]
    assert effective["dedup"]["threshold"] == 0.7 and effective["dedup"]["num_perm"] == 64  # the file's other keys stay
    assert effective["run"]["batch_size"] == 7 and effective["langid"]["allowed"] == ["ko", "ja"]
    assert effective["license"]["enabled"] is False


@pytest.mark.parametrize("setting, message", [
    ("dedup.thresold=0.7", "unknown config key 'dedup.thresold'"),
    ("dedup.threshold=high", "config key 'dedup.threshold' must be a number"),
    ("dedup.threshold", "expected KEY=VALUE"),
])
def test_a_bad_set_exits_2_naming_the_key(small, tmp_path, setting, message):
    src, config = small
    out = tmp_path / "out"
    proc = curate("run", "--input", src, "--output", out, "--config", config, "--set", setting)
    assert proc.returncode == 2
    assert len(lines(proc.stderr)) == 1 and message in proc.stderr
    assert not out.exists()


def test_a_run_that_keeps_nothing_warns_with_the_top_reason_and_fail_on_empty_exits_1(small, tmp_path):
    _, config = small
    src = tmp_path / "content.jsonl"  # the text is under "content", where the reader does not look
    src.write_text("".join(json.dumps({"id": f"c{i}", "content": NOTE}) + "\n" for i in range(3)), encoding="utf-8")
    out = tmp_path / "out"
    proc = curate("run", "--input", src, "--output", out, "--config", config, "--quiet")
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in lines(proc.stderr) if "warning" in line]
    assert len(warning) == 1 and "ingest/missing_text (3 of 3)" in warning[0] and "ingest.text_field" in warning[0]

    proc = curate("run", "--input", src, "--output", out, "--config", config, "--quiet", "--overwrite", "--fail-on-empty")
    assert proc.returncode == 1 and "ingest/missing_text" in proc.stderr
    manifest = read_manifest(str(out))  # committed all the same: the decisions are the audit trail
    assert manifest["summary"]["kept"] == 0 and manifest["summary"]["records_in"] == 3

    kept, _ = small  # the same flags over a record that is kept: no warning, exit 0
    proc = curate("run", "--input", kept, "--output", out, "--config", config, "--quiet", "--overwrite", "--fail-on-empty")
    assert proc.returncode == 0 and "warning" not in proc.stderr


@pytest.mark.parametrize("mode, whole_group", [
    ("in_memory", False),        # `kill -INT <pid>`
    ("multi_processing", True),  # a terminal's Ctrl-C: the signal reaches the worker processes too
])
def test_ctrl_c_ends_with_exit_130_no_staging_and_the_next_run_needs_no_overwrite(small, tmp_path, mode, whole_group):
    _, config = small
    big = tmp_path / "big.jsonl"
    with big.open("w", encoding="utf-8") as fh:  # large enough that the run is still reading when interrupted
        for i in range(300_000):
            fh.write(json.dumps({"id": f"b{i}", "text": f"{NOTE} Entry {i}."}) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--input", str(big), "--output", str(out),
                              "--config", str(config), "--quiet", f"--direct_running_mode={mode}", "--direct_num_workers=2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / "_staging").exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, "the run ended before it could be interrupted"
    if whole_group:
        os.killpg(child.pid, signal.SIGINT)
    else:
        child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert lines(stderr) == ["curate: interrupted"]  # worker processes print nothing of their own (whole_group)
    assert stdout == "" and sorted(os.listdir(out)) == []  # no _staging, no lock, no manifest

    src, _ = small
    proc = curate("run", "--input", src, "--output", out, "--config", config, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert read_manifest(str(out))["summary"]["kept"] == 1


_INJECT = """
import errno, sys
from pipeline.io import shards
def write(self, data):
    {raise_}
shards._HashingSink.write = write  # the in-process runner's shard writers run in this process
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("raise_, named", [
    ("raise OSError(errno.ENOSPC, 'No space left on device')", "no space left on the device (OSError errno ENOSPC)"),
    ("raise MemoryError()", "out of memory (MemoryError)"),
])
def test_out_of_disk_or_memory_in_a_worker_is_one_line_and_exit_1(small, tmp_path, raise_, named):
    src, config = small
    out = tmp_path / "out"
    proc = curate("run", "--input", src, "--output", out, "--config", config, "--quiet",
                  python=[sys.executable, "-c", _INJECT.format(raise_=raise_)])
    assert proc.returncode == 1
    assert lines(proc.stderr) == [f"curate: run failed: {named}"]
    assert not out.exists()


def test_a_reader_that_went_away_is_not_a_traceback(small, tmp_path):
    src, config = small
    read_end, write_end = os.pipe()
    os.close(read_end)  # `curate run ... | head -1` once head has exited
    try:
        proc = curate("run", "--input", src, "--output", tmp_path / "out", "--config", config, "--quiet", stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_log_file_gets_the_same_lines_and_log_level_filters(small, tmp_path):
    src, config = small
    log = tmp_path / "logs" / "curate.log"
    log.parent.mkdir()
    proc = curate("run", "--input", src, "--output", tmp_path / "out", "--config", config, "--log-file", log)
    assert proc.returncode == 0, proc.stderr
    logged = log.read_text(encoding="utf-8")
    run_line = [line for line in lines(proc.stderr) if "pipeline.run" in line]
    assert run_line and all(line in logged for line in run_line)
    assert NOTE not in logged and "note-qz81" not in logged  # no record content or ids

    proc = curate("run", "--input", src, "--output", tmp_path / "out2", "--config", config, "--log-level", "warning")
    assert proc.returncode == 0 and " INFO " not in proc.stderr


@pytest.mark.parametrize("where, message", [
    ("out/run.log", "is inside --output (the release holds only curate's files)"),
    ("in.jsonl", "is inside the input"),
])
def test_a_log_file_inside_the_output_or_an_input_is_refused(small, tmp_path, where, message):
    src, config = small
    out = tmp_path / "out"
    before = src.read_bytes()
    proc = curate("run", "--input", src, "--output", out, "--config", config, "--log-file", tmp_path / where)
    assert proc.returncode == 2 and len(lines(proc.stderr)) == 1 and message in proc.stderr
    assert not out.exists() and src.read_bytes() == before

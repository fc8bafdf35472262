"""Progress on stderr (issue 19): plain lines when stderr is not a terminal, tqdm bars on a terminal
(a real pseudo-terminal), the teacher's prompts done/failed/pending, `--quiet`, and one-line endings
of the multi-processing mode (Ctrl-C, the teacher's breaker). Each run is `python -m pipeline.cli run`
in a subprocess; the oracles are the input as written here (its size, its record count) and the
run's own manifest, never the progress code's numbers."""
from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from tqdm import tqdm

from pipeline import progress
from pipeline.io.manifest import read_manifest
from pipeline.runners import local_pipeline
from tests.e2e.test_teacher_breaker import API_KEY, closed_port, write_run
from tests.local_http import JsonHandler, LocalServer

STAGES_OFF = "".join(f"{s}: {{enabled: false}}\n" for s in ("license", "langid", "quality", "pii", "dedup"))
# The runs over the corpus keep the quality stage on: it runs fused with reading, so reading lasts
# long enough (seconds, even on an idle machine: several of a worker's 0.5 s flushes) for lines to
# be seen while it is under way. Its
# word-count floor is lowered so that the short records are kept (a run keeping nothing warns).
READING_PACED = "".join(f"{s}: {{enabled: false}}\n" for s in ("license", "langid", "pii", "dedup"))


def lenient_quality_rules(path: Path) -> Path:
    from pipeline.resources import rules_dir

    rules = yaml.safe_load((rules_dir() / "quality.yaml").read_text(encoding="utf-8"))
    for rule in rules["rules"]:
        if rule["check"] == "word_count":
            rule["min"] = 5
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path
NOTE = "A short note on pruning apple trees before the buds open in late winter."
MP = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
LINE = re.compile(
    r"progress: read (?P<read>[\d,]+) records, (?P<mb>[\d.]+) of (?P<total>[\d.]+) MB \((?P<pct>\d+)%\)"
    r"(?:, (?P<rate>[\d.]+) MB/s)?(?:, ETA (?P<eta>\d+:\d\d:\d\d))?; kept (?P<kept>[\d,]+), dropped (?P<dropped>[\d,]+)"
    r"(?:; teacher: (?P<done>[\d,]+) done, (?P<failed>[\d,]+) failed, (?P<pending>[\d,]+) pending \((?P<requests>[\d,]+) requests\))?$"
)


def curate_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", *map(str, args)]


def number(text: str | None) -> int:
    return int(text.replace(",", "")) if text else 0


def progress_lines(stderr: str) -> list[re.Match]:
    found = [LINE.search(line) for line in stderr.splitlines() if "pipeline.progress" in line]
    assert all(found), stderr
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(input file, config, records written): 180,000 records, one of them not JSON (a quarantine),
    ~21 MB: read for long enough to be seen while reading (60,000 were read within one flush once
    the quality stage got faster)."""
    root = tmp_path_factory.mktemp("progress")
    src = root / "in.jsonl"
    with src.open("w", encoding="utf-8") as fh:
        for i in range(180_000):
            fh.write(json.dumps({"id": f"p{i}", "text": f"{NOTE} Entry {i}."}) + "\n")
        fh.write("{not json\n")
    config = root / "paced.yaml"
    rules = lenient_quality_rules(root / "quality.yaml")
    config.write_text(READING_PACED + f"quality: {{rules: {json.dumps(str(rules))}}}\n", encoding="utf-8")
    return src, config, 180_001


# --- the pieces, with hand-computed expectations ----------------------------------------------

def test_a_line_shows_counts_rate_and_eta_while_reading_and_no_eta_after():
    reading = progress.Snapshot({"read": 12_345, "bytes": 30_000_000, "kept": 12_000, "dropped": 345}, 120_000_000, 10_000_000.0)
    assert progress.format_line(reading) == (
        "progress: read 12,345 records, 30.0 of 120.0 MB (25%), 10.0 MB/s, ETA 0:00:09; kept 12,000, dropped 345")
    done = progress.Snapshot({"read": 50_000, "bytes": 120_000_000, "kept": 49_000, "dropped": 1_000,
                              "teacher_prompts": 10, "teacher_done": 6, "teacher_failed": 1, "teacher_requests": 9},
                             120_000_000, 4_000_000.0)
    assert progress.format_line(done) == (
        "progress: read 50,000 records, 120.0 of 120.0 MB (100%), 4.0 MB/s; kept 49,000, dropped 1,000; "
        "teacher: 6 done, 1 failed, 3 pending (9 requests)")


def test_the_reading_rate_starts_at_the_first_bytes_and_stops_when_they_stop():
    rate = progress.ReadingRate(started=100.0)
    assert rate.observe(101.0, 0) is None  # workers still starting
    assert rate.observe(110.0, 5_000_000) == 5_000_000 / 10.0  # one point: since the start
    assert rate.observe(112.0, 9_000_000) == 4_000_000 / 2.0  # from the first bytes seen
    assert rate.observe(150.0, 9_000_000) == 4_000_000 / 2.0  # reading over: no decay


def test_the_teacher_gets_its_own_bar():
    stream = io.StringIO()
    bars = progress._Bars(stream, 1_000_000)
    bars.update(progress.Snapshot({"read": 3, "bytes": 1_000_000, "kept": 3, "teacher_prompts": 10, "teacher_done": 6,
                                   "teacher_failed": 1}, 1_000_000, 1.0))
    bars.close()
    drawn = stream.getvalue()
    assert re.search(r"read: 100%.*3 records, kept 3, dropped 0", drawn), drawn
    assert re.search(r"teacher:  70%.* 7/10 .*6 done, 1 failed, 3 pending", drawn), drawn


class _CountBatches(beam.DoFn):
    def process(self, batch):
        progress.add(progress.READ, len(batch))
        progress.add(progress.DROPPED, 1)
        yield batch


def test_the_same_counts_are_beam_metrics_for_runners_that_report_them(monkeypatch):
    monkeypatch.delenv(progress.ENV_DIR, raising=False)  # no folder: the metrics are the only source
    p = local_pipeline()
    _ = p | beam.Create([[1, 2, 3], [4, 5]]) | beam.ParDo(_CountBatches())
    result = p.run()
    result.wait_until_finish()
    assert progress.metrics_counts(result) == {"read": 5, "dropped": 2}


def test_with_no_counts_from_anywhere_nothing_is_shown(tmp_path):
    monitor = progress.ProgressMonitor(str(tmp_path), 1_000, 1.0, terminal=False)
    assert monitor.snapshot().counts == {}  # local workers still starting: zeros
    monitor.result = object()  # a runner that returned, reports no live metrics, and sees no folder
    assert monitor.snapshot() is None


_PUBLISH = """
import sys
from pipeline import progress
for name, n in zip(sys.argv[1::2], sys.argv[2::2]):
    progress.add(name, int(n))
progress.flush()
"""


def test_counts_of_several_processes_are_summed_and_the_folder_is_never_created(tmp_path):
    folder = tmp_path / "progress"
    folder.mkdir()
    env = {**os.environ, progress.ENV_DIR: str(folder)}
    for args in (["read", "7", "bytes", "700"], ["read", "5", "dropped", "2", "teacher_prompts", "3"]):
        subprocess.run([sys.executable, "-c", _PUBLISH, *args], env=env, check=True, timeout=60)
    assert progress.read_counts(str(folder)) == {"read": 12, "bytes": 700, "dropped": 2, "teacher_prompts": 3}
    (folder / "garbage.json").write_text("[1, 2", encoding="utf-8")  # unreadable: skipped
    assert progress.read_counts(str(folder))["read"] == 12
    gone = tmp_path / "removed"
    subprocess.run([sys.executable, "-c", _PUBLISH, "read", "1"], env={**env, progress.ENV_DIR: str(gone)}, check=True, timeout=60)
    assert not gone.exists()


# --- runs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [[], MP], ids=["in_process", "multi_processing"])
def test_periodic_lines_show_read_kept_dropped_rate_and_eta(corpus, tmp_path, mode):
    src, config, written = corpus
    out = tmp_path / "out"
    proc = subprocess.run(curate_cmd("--input", src, "--output", out, "--config", config, "--set", "run.progress_seconds=0.2", *mode),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = progress_lines(proc.stderr)
    summary = read_manifest(str(out))["summary"]
    assert summary["records_in"] == written
    size_mb = f"{src.stat().st_size / 1e6:.1f}"
    assert all(m["total"] == size_mb for m in found)
    assert any(m["eta"] and int(m["pct"]) < 100 and number(m["read"]) > 0 for m in found), proc.stderr  # while reading
    assert not any(m["eta"] for m in found if m["pct"] == "100")
    assert any(m["rate"] for m in found)
    for key in ("read", "kept", "dropped"):
        values = [number(m[key]) for m in found]
        assert values == sorted(values)  # so far: never backwards
    assert max(number(m["read"]) for m in found) <= written
    assert max(number(m["kept"]) for m in found) <= summary["kept"]
    assert max(number(m["dropped"]) for m in found) <= summary["dropped"] + summary["quarantined"]
    last = found[-1]  # after the run: every count
    assert (last["mb"], last["pct"]) == (size_mb, "100")
    assert (number(last["read"]), number(last["kept"]), number(last["dropped"])) == (
        written, summary["kept"], summary["dropped"] + summary["quarantined"])
    assert NOTE not in proc.stderr and not re.search(r"\bp\d+\b", "\n".join(m.string for m in found))  # counts only


class SlowEndpoint:
    """Answers after ``delay`` seconds; a prompt starting with "Refuse" gets HTTP 400 (failed, not retried)."""

    def __init__(self, delay: float) -> None:
        class Handler(JsonHandler):
            def do_POST(self):
                prompt = self.read_json()["messages"][0]["content"]
                time.sleep(delay)
                if prompt.startswith("Refuse"):
                    return self.send_json(400, {"error": {"message": "bad request"}})
                content = "<think>\n12 + 30 = 42.\n</think>\n\nAnswer: 42"
                self.send_json(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

        self.local = LocalServer(Handler)
        self.base_url = self.local.base_url


def test_the_teacher_shows_prompts_done_failed_and_pending(tmp_path):
    endpoint = SlowEndpoint(delay=0.3)
    seeds = [{"id": f"s{i}", "question": f"{'Refuse' if i % 4 == 0 else 'Count'}: {i} + 30 apples?", "answer": str(i + 30), "lang": "en"} for i in range(8)]
    try:
        corpus, cfg = write_run(tmp_path, {"base_url": endpoint.base_url, "concurrency": 1, "max_retries": 0})
        body = yaml.safe_load(cfg.read_text(encoding="utf-8"))
        seeds_file = Path(body["trajectories"]["seeds"][0])
        seeds_file.write_text("".join(json.dumps(s) + "\n" for s in seeds), encoding="utf-8")
        proc = subprocess.run(curate_cmd("--input", corpus, "--output", tmp_path / "out", "--config", cfg, "--set", "run.progress_seconds=0.2"),
                              capture_output=True, text=True, timeout=300, env={**os.environ, "OPENAI_API_KEY": API_KEY})
    finally:
        endpoint.local.close()
    assert proc.returncode == 0, proc.stderr
    teacher = [m for m in progress_lines(proc.stderr) if m["done"] is not None]
    assert teacher, proc.stderr
    handed = [number(m["done"]) + number(m["failed"]) + number(m["pending"]) for m in teacher]  # prompts handed over so far
    assert handed == sorted(handed) and handed[-1] == len(seeds), proc.stderr
    for key in ("done", "failed", "requests"):
        assert [number(m[key]) for m in teacher] == sorted(number(m[key]) for m in teacher)
    assert any(number(m["pending"]) > 0 and number(m["done"]) + number(m["failed"]) > 0 for m in teacher), proc.stderr  # mid-way
    last = teacher[-1]
    assert (number(last["done"]), number(last["failed"]), number(last["pending"])) == (6, 2, 0)  # 2 of 8 start "Refuse"
    assert number(last["requests"]) == len(seeds)
    assert API_KEY not in proc.stderr and "apples" not in proc.stderr


def run_on_terminal(args: list[str], size: tuple[int, int] | None = None, timeout: float = 300) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal of ``size`` (rows, columns; None: one that reports no
    size), stdout a pipe: (exit code, terminal output, stdout)."""
    master, slave = pty.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, text=False, env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    os.close(slave)
    chunks: list[bytes] = []
    stdout_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stdout_chunks.append(child.stdout.read()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal closed it
                break
            if not data:
                break
            chunks.append(data)
        elif child.poll() is not None:
            break
    os.close(master)
    code = child.wait(timeout=60)
    reader.join(timeout=60)
    return code, b"".join(chunks).decode("utf-8", errors="replace"), b"".join(stdout_chunks).decode("utf-8")


@pytest.mark.parametrize("size", [(40, 120), None], ids=["sized", "no_size"])
def test_a_terminal_gets_a_progress_bar_and_quiet_silences_it(corpus, tmp_path, size):
    src, config, written = corpus
    code, terminal, stdout = run_on_terminal(curate_cmd("--input", src, "--output", tmp_path / "out", "--config", config,
                                                        "--set", "run.progress_seconds=0.2"), size)
    assert code == 0, terminal
    nbytes = src.stat().st_size
    assert "\r" in terminal and "read:" in terminal and "%|" in terminal, terminal  # a redrawn bar
    total = tqdm.format_sizeof(nbytes)  # tqdm's own rendering of the byte count (3 significant digits)
    assert re.search(r"read: 100%\|[^\n]*\| " + re.escape(f"{total}/{total}"), terminal), terminal
    assert f"{written:,} records" in terminal and "B/s" in terminal
    assert "pipeline.progress" not in terminal  # bars instead of lines
    assert f"{written} records in" in stdout

    if size is None:
        return
    code, terminal, stdout = run_on_terminal(curate_cmd("--input", src, "--output", tmp_path / "quiet", "--config", config,
                                                        "--set", "run.progress_seconds=0.2", "--quiet"), size)
    assert code == 0, terminal
    assert terminal.strip() == "" and f"{written} records in" in stdout


def test_quiet_prints_no_progress_lines(corpus, tmp_path):
    src, config, _ = corpus
    proc = subprocess.run(curate_cmd("--input", src, "--output", tmp_path / "out", "--config", config, "--set", "run.progress_seconds=0.2", "--quiet"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_ctrl_c_in_multi_processing_ends_with_one_line_after_the_progress_lines(tmp_path):
    big = tmp_path / "big.jsonl"
    with big.open("w", encoding="utf-8") as fh:  # large enough that the run is still reading when interrupted
        for i in range(300_000):
            fh.write(json.dumps({"id": f"b{i}", "text": f"{NOTE} Entry {i}."}) + "\n")
    config = tmp_path / "off.yaml"
    config.write_text(STAGES_OFF, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.Popen(curate_cmd("--input", big, "--output", out, "--config", config, "--set", "run.progress_seconds=0.2", *MP),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(child.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while child.poll() is None and time.monotonic() < deadline:
        if any((m := LINE.search(line)) and number(m["read"]) > 0 for line in list(seen)):
            break
        time.sleep(0.05)
    assert child.poll() is None, "the run ended before it could be interrupted"
    os.killpg(child.pid, signal.SIGINT)  # a terminal's Ctrl-C: the worker processes get it too
    stdout = child.stdout.read()
    assert child.wait(timeout=120) == 130
    reader.join(timeout=60)
    stderr_lines = [line.rstrip("\n") for line in seen if line.strip()]
    assert stderr_lines[-1] == "curate: interrupted", stderr_lines
    others = [line for line in stderr_lines[:-1] if not re.search(r" INFO pipeline\.(progress|run): ", line)]
    assert others == [] and "Traceback" not in "".join(seen)
    assert stdout == "" and sorted(os.listdir(out)) == []


def test_the_teacher_breaker_in_multi_processing_is_one_line(tmp_path):
    port = closed_port()
    corpus, cfg = write_run(tmp_path, {"base_url": f"http://127.0.0.1:{port}/v1", "max_consecutive_failures": 2,
                                       "max_retries": 4, "backoff_seconds": 0.1, "max_backoff_seconds": 0.2})
    proc = subprocess.run(curate_cmd("--input", corpus, "--output", tmp_path / "out", "--config", cfg, "--quiet", *MP),
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OPENAI_API_KEY": API_KEY})
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("curate: run failed: TeacherError: teacher endpoint"), proc.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "Traceback" not in proc.stderr

"""Size caps on replay lines and teacher responses: time and peak memory of the hostile cases.

    .venv/bin/python benchmarks/bench_teacher_caps.py              # writes benchmarks/results/teacher_caps.md
    .venv/bin/python benchmarks/bench_teacher_caps.py --uncapped   # also the run without caps (minutes)

1. ``curate run`` (trajectories on, replay backend, other stages off) on a replay file of 20 good
   lines and one 32 MB line (a 32 MB completion), with the default caps: wall time and peak RSS of
   the run's process tree; the 32 MB line must end as one ``line_too_large`` decisions row and the
   20 good lines must be kept. With ``--uncapped``, the same run with every cap raised to 64 MB
   (how the pipeline behaved before the caps).
2. The replay reader alone (``read_lines`` + ``parse_replay``) on the same file, capped and with the
   cap raised past the line: time and peak RSS of a fresh process.
3. The ``openai`` teacher against a local endpoint that streams a 256 MB body without a
   Content-Length: time and peak RSS of a fresh process with the default ``max_response_bytes``
   and with the cap raised past the body (512 MB: the whole body is read and parsed).

Each case runs in its own subprocess so peaks do not mix.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "teacher_caps.md"
BIG_MB = 32
GOOD = "<think>\nThe total is 12 + 30.\nFirst, 12 + 30 = 42.\nSo the answer is 42.\n</think>\n\nAnswer: 42"
MB = 1024 * 1024


def write_replay(path: Path, good_lines: int = 20) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(good_lines):
            fh.write(json.dumps({"id": f"good-{i}", "prompt": f"A shop sold 12 apples and then 30 more (order {i}). How many apples?", "completion": GOOD, "reference_answer": "42", "lang": "en"}) + "\n")
        # written in pieces: this process stays small, and a child's peak RSS (which Linux carries
        # over from its parent at fork) is its own
        fh.write('{"id": "huge", "prompt": "How many apples are 12 + 30?", "completion": "<think>\\n')
        sentence = "The count goes on. " * 1000
        for _ in range(BIG_MB * MB // len(sentence)):
            fh.write(sentence)
        fh.write('\\n</think>\\n\\nAnswer: 42", "lang": "en"}\n')


def _child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- cases, each run in a fresh process ------------------------------------------------------
def case_cli(replay: str, capped: bool) -> dict:
    import pyarrow.parquet as pq

    work = Path(tempfile.mkdtemp(prefix="bench_caps_"))
    (work / "docs.jsonl").write_text(json.dumps({"id": "d", "text": "A short note."}) + "\n", encoding="utf-8")
    teacher = {"backend": "replay", "path": replay}
    traj = {"enabled": True, "from_documents": False, "teacher": teacher}
    if not capped:
        traj["max_line_bytes"] = 64 * MB
        teacher.update(max_completion_bytes=64 * MB)
    cfg = {"license": {"enabled": False}, "langid": {"enabled": False}, "quality": {"enabled": False}, "pii": {"enabled": False}, "dedup": {"enabled": False}, "trajectories": traj}
    (work / "cfg.json").write_text(json.dumps(cfg), encoding="utf-8")  # YAML is a superset of JSON
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--input", str(work / "docs.jsonl"), "--output", str(work / "out"), "--config", str(work / "cfg.json")], capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - started
    reasons: dict[str, int] = {}
    if proc.returncode == 0:
        for path in (work / "out" / "decisions").glob("*.parquet"):
            for row in pq.read_table(path).to_pylist():
                if row["stage"] == "trajectory":
                    reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    return {"wall_s": round(wall, 1), "peak_mb": round(_child_peak_mb()), "exit": proc.returncode, "reasons": reasons}


def case_reader(replay: str, capped: bool) -> dict:
    import apache_beam.io.filesystems  # noqa: F401 - imported before timing: the reader opens files through it

    from pipeline.trajectories.seeds import read_lines
    from pipeline.trajectories.teachers.replay import parse_replay

    base = _self_peak_mb()
    started = time.monotonic()
    rows = list(read_lines(replay, parse_replay, 4 * MB if capped else 64 * MB))
    wall = time.monotonic() - started
    errors = [e for _, item, e in rows if item is None]
    return {"wall_s": round(wall, 2), "peak_mb": round(_self_peak_mb()), "start_mb": round(base), "lines": len(rows), "errors": errors}


class _Flood(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"a" * (1 << 16)
        try:
            for piece in [b'{"choices": [{"message": {"content": "'] + [chunk] * (256 * 16) + [b'"}}]}']:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")  # a complete, valid body: only its size is hostile
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def case_http(capped: bool) -> dict:
    from pipeline.stages.trajectory import TeacherConfig
    from pipeline.trajectories.teachers.openai import OpenAITeacher

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cap = TeacherConfig().max_response_bytes if capped else 512 * MB
    teacher = OpenAITeacher(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", model="m", timeout_seconds=60, max_retries=0, cache_dir=None, max_response_bytes=cap)
    teacher.setup()
    base = _self_peak_mb()
    started = time.monotonic()
    res = teacher.complete([{"prompt": "flood"}])[0]
    wall = time.monotonic() - started
    teacher.close()
    httpd.shutdown()
    outcome = res.error or f"{len(res.completions)} completion of {sum(map(len, res.completions)) / MB:.0f} MB"
    return {"wall_s": round(wall, 2), "peak_mb": round(_self_peak_mb()), "start_mb": round(base), "error": outcome, "cap_mb": cap / MB}


def run_case(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--case", *args], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", nargs="+")
    ap.add_argument("--uncapped", action="store_true")
    args = ap.parse_args()
    if args.case:
        kind, *rest = args.case
        result = {"cli": lambda: case_cli(rest[0], rest[1] == "capped"), "reader": lambda: case_reader(rest[0], rest[1] == "capped"), "http": lambda: case_http(rest[0] == "capped")}[kind]()
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        replay = str(Path(tmp) / "replay.jsonl")
        write_replay(Path(replay))
        size_mb = os.path.getsize(replay) / MB
        cli_capped = run_case("cli", replay, "capped")
        cli_uncapped = run_case("cli", replay, "uncapped") if args.uncapped else None
        reader_capped = run_case("reader", replay, "capped")
        reader_uncapped = run_case("reader", replay, "uncapped")
    http = run_case("http", "capped")
    http_uncapped = run_case("http", "uncapped")

    lines = [
        "# Teacher and replay size caps",
        "",
        f"`python benchmarks/bench_teacher_caps.py{' --uncapped' if args.uncapped else ''}` on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        f"Replay file: 20 good lines and one {BIG_MB} MB line ({size_mb:.1f} MB in all). Peak = max RSS of the process (tree).",
        "",
        "| case | caps | wall s | peak RSS MB | outcome |",
        "|---|---|---:|---:|---|",
        f"| `curate run`, replay backend | defaults (line 4 MB, completion 1 MB) | {cli_capped['wall_s']} | {cli_capped['peak_mb']} | exit {cli_capped['exit']}; trajectory decisions {cli_capped['reasons']} |",
    ]
    if cli_uncapped:
        lines.append(f"| `curate run`, replay backend | all raised to 64 MB (no cap) | {cli_uncapped['wall_s']} | {cli_uncapped['peak_mb']} | exit {cli_uncapped['exit']}; trajectory decisions {cli_uncapped['reasons']} |")
    lines += [
        f"| replay reader alone | line 4 MB | {reader_capped['wall_s']} | {reader_capped['peak_mb']} (start {reader_capped['start_mb']}) | {reader_capped['lines']} lines, errors {reader_capped['errors']} |",
        f"| replay reader alone | line 64 MB (no cap) | {reader_uncapped['wall_s']} | {reader_uncapped['peak_mb']} (start {reader_uncapped['start_mb']}) | {reader_uncapped['lines']} lines, errors {reader_uncapped['errors']} |",
        f"| `openai` teacher, endpoint streams 256 MB, no Content-Length | response {http['cap_mb']:g} MB | {http['wall_s']} | {http['peak_mb']} (start {http['start_mb']}) | {http['error']} |",
        f"| `openai` teacher, endpoint streams 256 MB, no Content-Length | response {http_uncapped['cap_mb']:g} MB (no cap) | {http_uncapped['wall_s']} | {http_uncapped['peak_mb']} (start {http_uncapped['start_mb']}) | {http_uncapped['error']} |",
        "",
    ]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

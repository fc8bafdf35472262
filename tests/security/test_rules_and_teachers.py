"""Bounded resources for user rules and teachers, run as a user runs `curate`.

- A copied rules folder whose copyright, opt-out, quality and answer-marker patterns backtrack
  catastrophically: the run finishes, the one record (or candidate) that triggers each pattern is
  quarantined as ``stage_error`` naming the rule, every other record gets the decision it gets with
  the shipped rules.
- A pattern that does not compile: exit 2, one line naming the rules file and the rule, OUT untouched.
- Replay lines and HTTP completions over their byte caps become decisions rows with a reason.
- Replay ``id``/``model``/``template_id`` and an endpoint's response metadata carrying an e-mail
  address or a phone number never reach any output (``scan_outputs``).
"""
from __future__ import annotations

import json
import shutil
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.resources import rules_dir
from tests.local_http import LocalServer
from tests.security.conftest import run_cli, scan_outputs

REGEX_TIMEOUT = "0.3"  # seconds per match call in these runs (CURATE_REGEX_TIMEOUT)
CATASTROPHIC = r"(a|aa)+$"  # exponential backtracking on "aaaa…b"
HOSTILE = "a" * 60 + "b"

PROSE = (
    "The town council met on Tuesday evening to discuss the budget for the coming year. Members agreed "
    "that the library should stay open later on weekdays, and that the old bridge over the river needs "
    "repairs before winter. Several residents spoke about the bus timetable, which they said was hard to "
    "read and often wrong. The council promised to publish a clearer version next month and to ask the "
    "bus company for better data. The meeting ended with a short report on the summer festival, which "
    "drew more visitors than in any year before."
)


def _decisions(out: Path) -> list[dict]:
    rows = []
    for path in sorted((out / "decisions").glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _copy_rules(tmp_path: Path) -> Path:
    dest = tmp_path / "rules"
    shutil.copytree(rules_dir(), dest)
    return dest


def _edit_yaml(path: Path, edit) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _write_config(tmp_path: Path, body: dict, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "docs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [
        {"id": "plain-1", "text": PROSE, "url": "https://news.example.org/1"},
        {"id": "plain-2", "text": PROSE.replace("Tuesday", "Thursday").replace("summer", "autumn"), "url": "https://news.example.org/2"},
        {"id": "evil-copyright", "text": f"Copyright {HOSTILE}\n{PROSE}", "url": "https://news.example.org/3"},
        {"id": "evil-url", "text": PROSE.replace("Tuesday", "Monday"), "url": f"https://news.example.org/{HOSTILE}"},
        {"id": "evil-quality", "text": f"{PROSE}\n{HOSTILE}", "url": "https://news.example.org/5"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


STAGES_OFF = {"langid": {"enabled": False}, "pii": {"enabled": False}, "dedup": {"enabled": False}}


# --- catastrophic patterns -------------------------------------------------------------------
def test_catastrophic_rules_quarantine_only_the_record_they_hang_on(tmp_path):
    corpus = _corpus(tmp_path)
    baseline_out = tmp_path / "baseline"
    res = run_cli("run", "--input", corpus, "--output", baseline_out, "--config", _write_config(tmp_path, STAGES_OFF, "base.yaml"))
    assert res.code == 0, res.stderr
    baseline = {r["source_id"]: (r["stage"], r["action"], r["reason"]) for r in _decisions(baseline_out)}

    rules = _copy_rules(tmp_path)
    _edit_yaml(rules / "copyright.yaml", lambda d: d["patterns"].append({"id": "evil_notice", "keywords": ["copyright"], "pattern": CATASTROPHIC}))
    _edit_yaml(rules / "optout.yaml", lambda d: d.update(block_url_patterns=[CATASTROPHIC]))
    _edit_yaml(rules / "quality.yaml", lambda d: d["rules"].insert(0, {"name": "evil_lines", "check": "line_pattern", "pattern": CATASTROPHIC, "max": 0.5}))
    out = tmp_path / "out"
    cfg = _write_config(tmp_path, {"rules_dir": str(rules), **STAGES_OFF})
    started = time.monotonic()
    res = run_cli("run", "--input", corpus, "--output", out, "--config", cfg, env={"CURATE_REGEX_TIMEOUT": REGEX_TIMEOUT}, timeout=120)
    elapsed = time.monotonic() - started
    assert res.code == 0, res.stderr
    assert elapsed < 60, f"run took {elapsed:.0f}s"

    rows = {r["source_id"]: r for r in _decisions(out)}
    expected_rule = {
        "evil-copyright": ("license", "copyright.yaml:evil_notice"),
        "evil-url": ("license", "optout.yaml:block_url_patterns[0]"),
        "evil-quality": ("quality", "quality.yaml:evil_lines"),
    }
    for source_id, (stage, rule) in expected_rule.items():
        row = rows[source_id]
        assert (row["stage"], row["action"], row["reason"]) == (stage, "quarantine", "stage_error"), row
        assert json.loads(row["detail"]) == {"error": "RuleTimeout", "rule": rule}
    for source_id in ("plain-1", "plain-2"):  # untouched by the hostile rules
        assert (rows[source_id]["stage"], rows[source_id]["action"], rows[source_id]["reason"]) == baseline[source_id]
    assert baseline["plain-1"][1] == "keep"
    assert HOSTILE not in res.stderr  # log lines name the rule, never the text


def test_shipped_patterns_match_under_regex_exactly_as_under_re():
    """The `regex` module (saferegex) must not change what the shipped rules find; stdlib `re` is the
    oracle, over real third-party text: Debian copyright files when present, and the repo's fixtures."""
    import glob
    import re

    from pipeline.saferegex import compile_rule

    repo = Path(__file__).resolve().parents[2]
    texts = [open(f, encoding="utf-8", errors="replace").read() for f in sorted(glob.glob("/usr/share/doc/*/copyright"))[:150]]
    for path in [*sorted((repo / "tests" / "data" / "license").glob("*.jsonl")), repo / "tests" / "data" / "langid" / "paragraphs.jsonl"]:
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rules = rules_dir()
    patterns = [(p["pattern"], 0) for p in yaml.safe_load((rules / "copyright.yaml").read_text(encoding="utf-8"))["patterns"]]
    patterns += [(r["pattern"], re.IGNORECASE) for r in yaml.safe_load((rules / "quality.yaml").read_text(encoding="utf-8"))["rules"] if r["check"] == "line_pattern"]
    patterns += [(m, 0) for m in yaml.safe_load((rules / "trajectories" / "checks.yaml").read_text(encoding="utf-8"))["answer"]["markers"]]
    matches = 0
    for pattern, flags in patterns:
        oracle, ours = re.compile(pattern, flags), compile_rule("shipped", pattern, flags)
        for text in texts:
            want = [m.span() for m in oracle.finditer(text)]
            assert [m.span() for m in ours.finditer(text)] == want, pattern
            matches += len(want)
    assert matches > 100  # the comparison saw real matches, not only misses


# --- patterns that do not compile ------------------------------------------------------------
BROKEN = "(unclosed"


@pytest.mark.parametrize(
    "file, edit, rule",
    [
        ("copyright.yaml", lambda d: d["patterns"].insert(0, {"id": "broken_notice", "keywords": ["copyright"], "pattern": BROKEN}), "broken_notice"),
        ("optout.yaml", lambda d: d.update(block_url_patterns=["^https://ok\\.example/", BROKEN]), "block_url_patterns[1]"),
        ("quality.yaml", lambda d: d["rules"].append({"name": "broken_lines", "check": "line_pattern", "pattern": BROKEN, "max": 0.5}), "broken_lines"),
        ("trajectories/checks.yaml", lambda d: d["answer"]["markers"].insert(0, BROKEN), "answer.markers[0]"),
    ],
    ids=["copyright", "optout", "quality", "answer-markers"],
)
def test_uncompilable_pattern_is_a_usage_error_naming_file_and_rule(tmp_path, file, edit, rule):
    rules = _copy_rules(tmp_path)
    _edit_yaml(rules / file, edit)
    cfg = _write_config(tmp_path, {"rules_dir": str(rules), **STAGES_OFF, "trajectories": {"enabled": True, "teacher": {"backend": "programmatic"}}})
    out = tmp_path / "out"
    res = run_cli("run", "--input", _corpus(tmp_path), "--output", out, "--config", cfg)
    assert res.code == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and Path(file).name in lines[0] and rule in lines[0], res.stderr
    assert not out.exists()


# --- replay: size caps and metadata ----------------------------------------------------------
GOOD_COMPLETION = "<think>\nThe total is 12 + 30.\nFirst, 12 + 30 = 42.\nSo the answer is 42.\n</think>\n\nAnswer: 42"
PLANTED = ["ana.lee@example.com", "010-2345-6789", "kim.minsu@example.net", "+82 10 9876 5432", "07700900461"]


def _replay_line(i: int, **fields) -> str:
    base = {"prompt": f"A shop sold 12 apples in the morning and 30 apples in the afternoon (batch {i}). How many apples did it sell?", "completion": GOOD_COMPLETION, "reference_answer": "42", "lang": "en"}
    return json.dumps({**base, **fields})


def test_replay_caps_and_metadata_never_leak(tmp_path):
    replay = tmp_path / "completions.jsonl"
    huge_prompt = "How many? " + "x" * (2 * 1024 * 1024)  # one 2 MB line over the 64 KB cap
    lines = [
        _replay_line(0, id="ana.lee@example.com", model="010-2345-6789"),
        _replay_line(1, id="+82 10 9876 5432", model="kim.minsu@example.net", template_id="07700900461"),
        _replay_line(2, id="plain-ok-3", model="example-teacher-7b"),
        json.dumps({"id": "huge-line", "prompt": huge_prompt, "completion": GOOD_COMPLETION}),
        _replay_line(4, id="big-completion", completion=GOOD_COMPLETION.replace("So the answer", "y" * 10_000 + " So the answer")),
    ]
    replay.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = _write_config(tmp_path, {
        "license": {"enabled": False}, "quality": {"enabled": False}, **STAGES_OFF,
        "trajectories": {"enabled": True, "max_line_bytes": 65536, "teacher": {"backend": "replay", "path": str(replay), "max_completion_bytes": 4096}},
    })
    out = tmp_path / "out"
    started = time.monotonic()
    res = run_cli("run", "--input", _corpus(tmp_path), "--output", out, "--config", cfg, timeout=120)
    assert res.code == 0, res.stderr
    assert time.monotonic() - started < 60
    rows = [r for r in _decisions(out) if r["stage"] == "trajectory"]
    by_index = {r["record_index"]: r for r in rows}
    assert by_index[3]["reason"] == "line_too_large" and json.loads(by_index[3]["detail"]) == {"max_line_bytes": 65536}
    assert by_index[4]["reason"] == "completion_too_large"
    assert by_index[2]["doc_id"] == "plain-ok-3" and by_index[2]["reason"] == "kept"
    # an unsafe id is replaced by the documented hash, which DuckDB recomputes from the id
    con = duckdb.connect()
    want = con.execute("SELECT 'sha256-' || left(sha256(?), 32)", ["ana.lee@example.com"]).fetchone()[0]
    assert by_index[0]["doc_id"] == want and by_index[0]["reason"] == "kept"
    samples = pq.read_table(next((out / "trajectories").glob("*.parquet"))).to_pylist()
    teachers = {s["sample_id"]: s["teacher"] for s in samples}
    assert teachers["plain-ok-3"] == "replay:example-teacher-7b"
    assert teachers[want].startswith("replay:sha256-")
    assert scan_outputs(out, PLANTED, res.stdout, res.stderr) == []


# --- an OpenAI-compatible endpoint over the cap ----------------------------------------------
class _Endpoint:
    """Replies by the first word of the prompt: ``flood`` streams 64 MB with no Content-Length,
    ``long`` returns one completion over the completion cap, anything else a good completion;
    every reply carries an e-mail address and a phone number in its ``id`` and ``model``."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                word = body["messages"][0]["content"].split()[0].rstrip(":").lower()
                if word == "flood":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for chunk in [b'{"choices": [{"message": {"content": "'] + [b"a" * 65536] * 1024 + [b'"}}]}']:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.close_connection = True
                    return
                content = GOOD_COMPLETION if word != "long" else GOOD_COMPLETION.replace("So the answer", "z" * 20_000 + " So the answer")
                data = json.dumps({"id": "chatcmpl-ana.lee@example.com", "model": "010-2345-6789", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.local = LocalServer(Handler)
        self.base_url = self.local.base_url

    def close(self):
        self.local.close()


def test_http_teacher_over_cap_body_is_a_rejection_not_a_crash(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in [
        {"id": "s-flood", "question": "Flood: how many apples are 12 + 30?", "answer": "42", "lang": "en"},
        {"id": "s-long", "question": "Long: what is 12 + 30 apples in total?", "answer": "42", "lang": "en"},
        {"id": "s-ok", "question": "Okay: count 12 + 30 apples for the shop.", "answer": "42", "lang": "en"},
    ]), encoding="utf-8")
    endpoint = _Endpoint()
    try:
        cfg = _write_config(tmp_path, {
            "license": {"enabled": False}, "quality": {"enabled": False}, **STAGES_OFF,
            "trajectories": {"enabled": True, "from_documents": False, "seeds": [str(seeds)], "teacher": {
                "backend": "openai", "base_url": endpoint.base_url, "model": "tiny-teacher", "cache_dir": str(tmp_path / "cache"),
                "timeout_seconds": 20, "max_retries": 0, "max_response_bytes": 262144, "max_completion_bytes": 8192}},
        })
        out = tmp_path / "out"
        started = time.monotonic()
        res = run_cli("run", "--input", _corpus(tmp_path), "--output", out, "--config", cfg, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        endpoint.close()
    assert res.code == 0, res.stderr
    assert elapsed < 60
    rows = {r["doc_id"]: r for r in _decisions(out) if r["stage"] == "trajectory"}
    assert rows["s-flood"]["reason"] == "completion_too_large"
    assert json.loads(rows["s-flood"]["detail"]) == {"max_response_bytes": 262144}
    assert rows["s-long-0"]["reason"] == "completion_too_large"
    assert rows["s-ok-0"]["reason"] == "kept"
    assert not list((tmp_path / "cache").rglob("*.json")) or all("aaaa" not in p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert scan_outputs(out, ["ana.lee@example.com", "010-2345-6789"], res.stdout, res.stderr) == []

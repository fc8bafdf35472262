"""A teacher endpoint that is down or refuses the key fails the run (exit 1, one line naming the
endpoint); a flaky one does not. Beam counters show the teacher's requests, and the run summary lists
trajectory rejections by check. Each run is `curate run` in a subprocess against a local server."""
from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import apache_beam as beam
import yaml
from apache_beam.metrics.metric import MetricsFilter

from pipeline.config import load_config
from pipeline.trajectories.stage import METRICS_NAMESPACE, AskTeacher
from tests.local_http import JsonHandler, LocalServer
from tests.security.conftest import run_cli

API_KEY = "sk-local-test-7f3a9c"
RIGHT = "<think>\nThe total is 12 + 30.\nFirst, 12 + 30 = 42.\nSo the answer is 42.\n</think>\n\nAnswer: 42"
WRONG = RIGHT.replace("Answer: 42", "Answer: 41")
NO_THINKING = "The total is 42.\n\nAnswer: 42"


class Endpoint:
    """``status`` 401 refuses every request (echoing the key, as some servers do); otherwise a
    prompt starting with "Flaky" gets 503 on two requests of every three, "Wrong" a wrong answer,
    "Bare" no thinking, anything else a right answer."""

    def __init__(self, status: int = 200) -> None:
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        endpoint = self

        class Handler(JsonHandler):
            def do_POST(self):
                prompt = self.read_json()["messages"][0]["content"]
                with endpoint.lock:
                    n = endpoint.hits[prompt] = endpoint.hits.get(prompt, 0) + 1
                if status == 401:
                    return self.send_json(401, {"error": {"message": f"invalid api key {API_KEY}"}})
                if prompt.startswith("Flaky") and n % 3 != 0:
                    return self.send_json(503, {"error": {"message": "overloaded"}})
                content = WRONG if prompt.startswith("Wrong") else NO_THINKING if prompt.startswith("Bare") else RIGHT
                self.send_json(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

        self.local = LocalServer(Handler)
        self.base_url = self.local.base_url

    def close(self) -> None:
        self.local.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEEDS = [
    {"id": "s-flaky-1", "question": "Flaky: how many apples are 12 + 30?", "answer": "42", "lang": "en"},
    {"id": "s-flaky-2", "question": "Flaky again: the shop sold 12 + 30 pears; how many?", "answer": "42", "lang": "en"},
    {"id": "s-wrong", "question": "Wrong: a class has 12 boys and 30 girls; how many children?", "answer": "42", "lang": "en"},
    {"id": "s-bare", "question": "Bare: a farm keeps 12 cows and 30 sheep; how many animals?", "answer": "42", "lang": "en"},
]


def write_run(tmp_path: Path, teacher: dict) -> tuple[Path, Path]:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in SEEDS), encoding="utf-8")
    corpus = tmp_path / "in" / "docs.jsonl"
    corpus.parent.mkdir()
    corpus.write_text(json.dumps({"id": "d-1", "text": "The council met on Tuesday to discuss the library budget."}) + "\n", encoding="utf-8")
    body = {
        "license": {"enabled": False}, "quality": {"enabled": False}, "langid": {"enabled": False},
        "pii": {"enabled": False}, "dedup": {"enabled": False},
        "trajectories": {"enabled": True, "from_documents": False, "seeds": [str(seeds)], "teacher": {
            "backend": "openai", "model": "tiny-teacher", "cache_dir": str(tmp_path / "cache"), "timeout_seconds": 5, **teacher}},
    }
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return corpus, cfg


def failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("curate: ")]


def test_dead_endpoint_fails_the_run_in_one_line_well_before_the_retry_budget(tmp_path):
    port = closed_port()
    # Credentials in the URL and a query secret: neither may appear in the message.
    corpus, cfg = write_run(tmp_path, {
        "base_url": f"http://admin:hunter2pass@127.0.0.1:{port}/v1?token=query-secret-91",
        "max_consecutive_failures": 3, "max_retries": 8, "backoff_seconds": 1.0, "max_backoff_seconds": 5.0,
    })
    # Without the breaker every prompt waits at least 0.5+1+2+4+5+5+5+5 s (backoff with jitter ≥ 0.5×) before giving up.
    retry_budget = 27.5
    started = time.monotonic()
    res = run_cli("run", "--input", corpus, "--output", tmp_path / "out", "--config", cfg, env={"OPENAI_API_KEY": API_KEY}, timeout=120)
    elapsed = time.monotonic() - started
    assert res.code == 1, res.stderr
    assert elapsed < retry_budget - 5
    assert failure_lines(res.stderr) == [failure_lines(res.stderr)[0]] and "Traceback" not in res.stderr
    line = failure_lines(res.stderr)[0]
    assert f"http://127.0.0.1:{port}/v1/chat/completions unreachable" in line and "3 consecutive connection failures" in line
    assert "ConnectError" in line
    for secret in ("hunter2pass", "admin", "query-secret-91", API_KEY):
        assert secret not in res.stderr + res.stdout
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_refused_key_fails_the_run_at_once_without_echoing_the_key(tmp_path):
    endpoint = Endpoint(status=401)
    try:
        corpus, cfg = write_run(tmp_path, {"base_url": endpoint.base_url, "max_retries": 8, "backoff_seconds": 1.0})
        res = run_cli("run", "--input", corpus, "--output", tmp_path / "out", "--config", cfg, env={"OPENAI_API_KEY": API_KEY}, timeout=120)
    finally:
        endpoint.close()
    assert res.code == 1, res.stderr
    assert len(failure_lines(res.stderr)) == 1 and "Traceback" not in res.stderr, res.stderr
    line = failure_lines(res.stderr)[0]
    assert f"{endpoint.base_url}/chat/completions returned HTTP 401" in line and "api_key_env" in line
    assert API_KEY not in res.stderr + res.stdout and "invalid api key ***" in line
    assert all(n == 1 for n in endpoint.hits.values())  # never retried


def test_flaky_endpoint_recovers_and_the_summary_lists_rejections_by_check(tmp_path):
    endpoint = Endpoint()
    try:
        # One failure would trip a breaker counting HTTP errors: 503s are answers, not connection failures.
        corpus, cfg = write_run(tmp_path, {"base_url": endpoint.base_url, "max_consecutive_failures": 1, "max_retries": 3, "backoff_seconds": 0.01})
        res = run_cli("run", "--input", corpus, "--output", tmp_path / "out", "--config", cfg, timeout=120)
    finally:
        endpoint.close()
    assert res.code == 0, res.stderr
    assert endpoint.hits[SEEDS[0]["question"]] == 3 and endpoint.hits[SEEDS[1]["question"]] == 3
    summary = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))["summary"]
    assert summary["trajectories"] == {"candidates": 4, "accepted": 2, "rejected_by_check": {"answer_mismatch": 1, "format": 1}}
    out = res.stdout.splitlines()
    at = out.index("trajectories rejected by check:")
    assert [line.split() for line in out[at + 1:at + 3]] == [["answer_mismatch", "1"], ["format", "1"]]


def test_teacher_counters_are_visible_after_an_in_process_run(tmp_path):
    endpoint = Endpoint()
    try:
        cfg = load_config(overrides={"trajectories": {"enabled": True, "teacher": {
            "backend": "openai", "base_url": endpoint.base_url, "model": "tiny-teacher", "cache_dir": str(tmp_path / "cache"),
            "max_retries": 1, "backoff_seconds": 0.01}}})
        items = [{"prompt_id": f"p-{i}", "prompt": prompt, "lang": "en"} for i, prompt in enumerate(["Flaky one: 12 + 30?", "Plain: 12 + 30?", "Wrong: 12 + 30?"])]
        p = beam.Pipeline()
        _ = p | beam.Create(items) | AskTeacher(cfg, "run-counters")
        result = p.run()
        result.wait_until_finish()
    finally:
        endpoint.close()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]}
    # "Flaky one" fails twice (503) with one retry allowed: failed; the other two complete in one request each.
    assert counters == {
        "teacher/prompts": 3, "teacher/completed": 2, "teacher/failed": 1,
        "teacher/requests": 4, "teacher/retries": 1, "teacher/connection_failures": 0,
    }


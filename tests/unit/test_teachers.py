"""Teachers: the programmatic generator (real, checkable samples) and the OpenAI-compatible client
against a local HTTP server this test starts (slow, failing, rate-limiting and refusing responses)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from pipeline.config import load_config
from pipeline.trajectories.checks import Validator
from pipeline.trajectories.teachers import TeacherError
from pipeline.trajectories.teachers.openai import OpenAITeacher, parse_retry_after
from pipeline.trajectories.teachers.programmatic import ProgrammaticTeacher
from pipeline.trajectories.templates import DocumentTemplates, generate_word_problems, load_templates
from tests.local_http import JsonHandler, LocalServer


# --- programmatic ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def validator(cfg):
    v = Validator(cfg, order=["format", "answer", "steps", "repetition", "length"])
    v.setup()
    return v


def test_programmatic_word_problems_pass_every_check(cfg, validator):
    teacher = ProgrammaticTeacher.from_config(cfg)
    data = load_templates(cfg.rule_file("trajectories/templates.yaml"))
    problems = list(generate_word_problems(data, 60, seed=5))
    assert {p["lang"] for p in problems} == {"en", "ko"}
    results = teacher.complete(problems)
    for p, res in zip(problems, results):
        assert len(res.completions) == 1
        out = validator.validate({**p, "completion": res.completions[0]})
        assert out.accepted, (p["template_id"], out.failed, out.details)
        assert out.details["steps"]["claims"] >= 1  # real step-by-step arithmetic, recomputed


def test_programmatic_solution_is_step_by_step_in_the_prompt_language(cfg):
    teacher = ProgrammaticTeacher.from_config(cfg)
    ko = teacher.solve({"prompt": "다음을 계산하세요: (12 − 20) × 3", "lang": "ko"})
    assert ko == "<think>\n구해야 하는 값은 (12 − 20) × 3입니다.\n먼저 12 − 20 = -8입니다.\n마지막으로 (-8) × 3 = -24입니다.\n따라서 답은 -24입니다.\n</think>\n\n정답: -24"
    en = teacher.solve({"prompt": "x", "lang": "en", "task": {"kind": "expression", "expression": "3/4 + 1/8", "unit": "cups"}})
    assert "First, 3 ÷ 4 = 0.75." in en and en.endswith("Answer: 0.875 cups")
    assert teacher.complete([{"prompt": "Write a poem about spring.", "lang": "en"}])[0].error == "no_completion"


def test_document_prompts_are_grounded_and_answerable(cfg, validator):
    data = load_templates(cfg.rule_file("trajectories/templates.yaml"))
    templates = DocumentTemplates(data, max_per_doc=3)
    teacher = ProgrammaticTeacher.from_config(cfg)
    docs = [
        {"doc_id": "d-ko", "lang": "ko", "license": "CC-BY-4.0", "text": "서울시는 2023년에 공원 14곳을 새로 열었다. 예산은 1,250억 원이었고 첫 달에 시민 35,000명이 방문했다."},
        {"doc_id": "d-en", "lang": "en", "license": None, "text": "The museum holds 1,200 paintings and 350 sculptures. Last year 48,000 people visited its three floors."},
        {"doc_id": "d-none", "lang": "en", "text": "A passage without any figures in it cannot support a calculation question at all."},
    ]
    prompts = [p for d in docs for p in templates.prompts(d)]
    assert {p["lang"] for p in prompts} == {"en", "ko"}
    assert not [p for p in prompts if p["source_doc_ids"] == ["d-none"]]
    for p in prompts:
        doc = next(d for d in docs if d["doc_id"] == p["source_doc_ids"][0])
        assert doc["text"][:40] in p["prompt"] and p["license"] == doc.get("license")
        out = validator.validate({**p, "completion": teacher.solve(p)})
        assert out.accepted, (p["template_id"], out.failed)


# --- openai-compatible server ----------------------------------------------------------------
class FakeServer:
    """Behaviour chosen by a word in the prompt: ok, slow, flaky, ratelimit, down, bad, auth, think."""

    def __init__(self):
        self.hits: dict[str, int] = {}
        self.bodies: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.read_json()
                prompt = body["messages"][0]["content"]
                word = prompt.split()[0]
                with server.lock:
                    server.bodies.append(body)
                    n = server.hits[prompt] = server.hits.get(prompt, 0) + 1
                self.respond(word, n, body)

            def ok(self, body, message=None):
                message = message or {"role": "assistant", "content": f"<think>\n{body['messages'][0]['content']}\n</think>\n\nAnswer: 1"}
                self.send_json(200, {"choices": [{"index": i, "message": message} for i in range(body.get("n", 1))]})

            def respond(self, word, n, body):
                if word == "slow" and n == 1:
                    time.sleep(1.0)
                if word == "busy":
                    # Counted only while the server works: a window inside the client's request, so
                    # the next request cannot arrive before this one is counted out.
                    with server.lock:
                        server.inflight += 1
                        server.max_inflight = max(server.max_inflight, server.inflight)
                    time.sleep(0.2)
                    with server.lock:
                        server.inflight -= 1
                if word == "flaky" and n <= 2:
                    return self.send_json(500, {"error": {"message": "internal error"}})
                if word == "ratelimit" and n == 1:
                    return self.send_json(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
                if word == "down":
                    return self.send_json(503, {"error": {"message": "overloaded"}})
                if word == "bad":
                    # endpoints echo the request in errors: the prompt must not reach decisions rows
                    return self.send_json(400, {"error": {"message": f"prompt is longer than the context window: {body['messages'][0]['content']}"}})
                if word == "auth":
                    return self.send_json(401, {"error": {"message": "invalid api key"}})
                if word == "huge":  # a declared 3 MB body
                    return self.ok(body, {"role": "assistant", "content": "<think>\n" + "h" * 3_000_000 + "\n</think>\n\nAnswer: 1"})
                if word == "drip":  # a body that trickles in, each byte well inside the read timeout
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        for _ in range(40):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if word == "think":
                    return self.ok(body, {"role": "assistant", "content": "Answer: 2", "reasoning_content": "1 + 1 = 2"})
                return self.ok(body)

        self.local = LocalServer(Handler)
        self.base_url = self.local.base_url

    def close(self):
        self.local.close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def make_teacher(server, tmp_path, **kw):
    args = dict(
        base_url=server.base_url, model="tiny-teacher", timeout_seconds=0.5, max_retries=3,
        backoff_seconds=0.01, max_backoff_seconds=5.0, concurrency=2, cache_dir=str(tmp_path / "cache"),
    )
    args.update(kw)
    t = OpenAITeacher(**args)
    t.setup()
    return t


def prompts(*texts):
    return [{"prompt": t} for t in texts]


def test_request_shape_and_completion(server, tmp_path):
    t = make_teacher(server, tmp_path, temperature=0.3, top_p=0.9, max_tokens=128, n=2)
    res = t.complete(prompts("ok hello"))[0]
    assert res.completions == ["<think>\nok hello\n</think>\n\nAnswer: 1"] * 2
    body = server.bodies[0]
    assert body == {"model": "tiny-teacher", "messages": [{"role": "user", "content": "ok hello"}], "temperature": 0.3, "top_p": 0.9, "max_tokens": 128, "n": 2}
    assert t.name == "openai:tiny-teacher"


def test_slow_response_times_out_and_is_retried(server, tmp_path):
    res = make_teacher(server, tmp_path).complete(prompts("slow one"))[0]
    assert res.completions and server.hits["slow one"] == 2


def test_5xx_retried_with_backoff_then_succeeds(server, tmp_path):
    res = make_teacher(server, tmp_path).complete(prompts("flaky one"))[0]
    assert res.completions and server.hits["flaky one"] == 3


def test_429_honours_retry_after(server, tmp_path):
    start = time.monotonic()
    res = make_teacher(server, tmp_path).complete(prompts("ratelimit one"))[0]
    assert res.completions and server.hits["ratelimit one"] == 2
    assert time.monotonic() - start >= 0.95  # waited Retry-After: 1, not the 0.01 s backoff


def test_persistent_5xx_gives_up_per_prompt(server, tmp_path):
    t = make_teacher(server, tmp_path)
    down, ok = t.complete(prompts("down one", "ok two"))
    assert down.error == "teacher_error" and down.detail["status"] == 503 and down.detail["attempts"] == 4
    assert server.hits["down one"] == 4 and ok.completions


def test_4xx_is_not_retried_and_fails_only_that_prompt(server, tmp_path):
    bad, ok = make_teacher(server, tmp_path).complete(prompts("bad one mina.park@example.org", "ok two"))
    assert bad.error == "teacher_error" and bad.detail == {"status": 400, "error": "HTTP 400"}  # status only
    assert server.hits["bad one mina.park@example.org"] == 1 and ok.completions


def test_401_stops_the_run_with_a_clear_error(server, tmp_path):
    with pytest.raises(TeacherError) as err:
        make_teacher(server, tmp_path).complete(prompts("auth one"))
    msg = str(err.value)
    assert "HTTP 401" in msg and server.base_url in msg and "api_key_env" in msg and "invalid api key" in msg


def test_cache_means_a_rerun_does_not_pay_twice(server, tmp_path):
    first = make_teacher(server, tmp_path).complete(prompts("ok cached", "ok other"))
    assert server.hits == {"ok cached": 1, "ok other": 1}
    again = make_teacher(server, tmp_path).complete(prompts("ok cached", "ok other"))  # a new worker, same folder
    assert [r.completions for r in again] == [r.completions for r in first]
    assert server.hits == {"ok cached": 1, "ok other": 1}
    make_teacher(server, tmp_path, temperature=0.9).complete(prompts("ok cached"))  # other parameters: other key
    assert server.hits["ok cached"] == 2
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 3


def test_concurrency_is_bounded_per_worker(server, tmp_path):
    t = make_teacher(server, tmp_path, concurrency=2)
    results = t.complete(prompts(*[f"busy {i}" for i in range(6)]))
    assert all(r.completions for r in results)
    assert server.max_inflight == 2


def test_reasoning_field_is_folded_into_think_tags(server, tmp_path):
    res = make_teacher(server, tmp_path).complete(prompts("think one"))[0]
    assert res.completions == ["<think>\n1 + 1 = 2\n</think>\n\nAnswer: 2"]


def test_unreachable_server_is_a_teacher_error(tmp_path):
    t = OpenAITeacher(base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=0.2, max_retries=1, backoff_seconds=0.01, cache_dir=str(tmp_path))
    t.setup()
    res = t.complete(prompts("ok"))[0]
    assert res.error == "teacher_error" and res.detail["error"].startswith("connection error")


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None


# --- bounded resources -----------------------------------------------------------------------
def test_body_over_the_response_cap_is_refused_not_read(server, tmp_path):
    t = make_teacher(server, tmp_path, max_response_bytes=100_000)
    huge, ok = t.complete(prompts("huge one", "ok two"))
    assert huge.error == "completion_too_large" and huge.detail == {"max_response_bytes": 100_000}
    assert server.hits["huge one"] == 1 and ok.completions  # not retried; the other prompt unaffected
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1  # and not cached


def test_a_dripping_body_hits_the_whole_request_deadline(server, tmp_path):
    t = make_teacher(server, tmp_path, timeout_seconds=0.5, max_retries=0)
    started = time.monotonic()
    res = t.complete(prompts("drip one"))[0]
    assert time.monotonic() - started < 1.8  # the server would take 2 s; each byte arrives in 0.05 s
    assert res.error == "teacher_error" and res.detail["error"].startswith("timeout")


def test_bounded_lines_skips_over_long_lines_without_holding_them():
    import io

    from pipeline.trajectories.seeds import bounded_lines

    data = "짧은 줄\r\n".encode() + b"x" * 50 + b"\n\nlast line without newline"
    for chunk in (3, 7, 1 << 20):  # lines cut across reads, multi-byte characters split
        assert list(bounded_lines(io.BytesIO(data), 30, chunk)) == ["짧은 줄", None, "", "last line without newline"]
    assert list(bounded_lines(io.BytesIO(b"a" * 21), 20, 4)) == [None]
    assert list(bounded_lines(io.BytesIO(b"a" * 20 + b"\n"), 20, 4)) == ["a" * 20]


def test_replay_metadata_is_kept_only_as_a_safe_token():
    from pipeline.trajectories.teachers.replay import parse_replay, safe_license, safe_token

    assert safe_token("replay-en-001") == "replay-en-001"
    assert safe_token("deepseek-ai/DeepSeek-R1-0528") == "deepseek-ai/DeepSeek-R1-0528"
    assert safe_token("gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"  # 8 digits in a row: a date, kept
    assert safe_token(12345) == "12345"
    assert safe_token("질문-001") == "질문-001" and safe_token("問題_12") == "問題_12"
    for unsafe in ("mina.park@example.org", "010-2345-6789", "+81 90 1234 5678", "6011.1111.1111.1117", "x" * 129, "a b",
                   "０９０-１２３４-５６７８", "민수＠example.org", "_leading"):
        assert safe_token(unsafe) == "sha256-" + __import__("hashlib").sha256(unsafe.encode()).hexdigest()[:32]
    assert safe_license("Apache-2.0 OR MIT") == "Apache-2.0 OR MIT" and safe_license("owner@example.org") is None
    line = json.dumps({"id": "lee@example.org", "prompt": "p", "completion": "c", "model": "02-3456-7890", "lang": "en\nx", "template_id": "t 1"})
    cand, error = parse_replay(line, "mem://r.jsonl", 0)
    assert error is None and cand["sample_id"].startswith("sha256-") and cand["source_id"] == cand["sample_id"]
    assert cand["teacher"].startswith("replay:sha256-") and cand["lang"] is None and cand["template_id"].startswith("sha256-")


def test_answer_marker_timeout_and_oversized_completion_are_decisions(tmp_path, monkeypatch):
    import yaml

    import pipeline.saferegex as saferegex
    from pipeline.trajectories.stage import validate_candidate

    monkeypatch.setattr(saferegex, "DEFAULT_TIMEOUT", 0.2)
    cfg = load_config()
    checks = yaml.safe_load(cfg.rule_file("trajectories/checks.yaml").read_text(encoding="utf-8"))
    checks["answer"]["markers"].append("(a|aa)+$")
    path = tmp_path / "checks.yaml"
    path.write_text(yaml.safe_dump(checks, allow_unicode=True), encoding="utf-8")
    v = Validator(cfg, checks_path=str(path), order=["format", "answer"])
    v.setup()

    def decide(completion: str, cap: int = 1 << 20) -> dict:
        cand = {"sample_id": "c-1", "prompt_id": "c", "prompt": "What is 6 × 7?", "completion": completion, "reference_answer": "42", "lang": "en", "teacher": "replay:t"}
        outs = list(validate_candidate(v, cand, "run", cap))
        return next(o.value for o in outs if getattr(o, "tag", None) == "decisions")

    hostile = decide("<think>\n6 × 7 = 42\n</think>\n\n" + "a" * 60 + "b")
    assert (hostile["action"], hostile["reason"]) == ("quarantine", "stage_error")
    hostile_index = len(checks["answer"]["markers"]) - 1
    assert json.loads(hostile["detail"]) == {"error": "RuleTimeout", "rule": f"checks.yaml:answer.markers[{hostile_index}]"}
    assert decide("<think>\n6 × 7 = 42\n</think>\n\nAnswer: 42")["reason"] == "kept"
    big = decide("<think>\n" + "한" * 400 + "\n</think>\n\nAnswer: 42", cap=1000)  # 400 characters, 1,200 bytes
    assert big["reason"] == "completion_too_large" and json.loads(big["detail"])["max_completion_bytes"] == 1000


@pytest.mark.parametrize("override", [{"max_line_bytes": 0}, {"teacher": {"max_completion_bytes": -1}}, {"teacher": {"max_response_bytes": 0}}])
def test_size_caps_must_be_positive(override):
    from pipeline.config import ConfigError
    from pipeline.trajectories.stage import check_config

    check_config(load_config(overrides={"trajectories": {"enabled": True}}))  # the defaults pass
    with pytest.raises(ConfigError, match=r"trajectories\.(teacher\.)?max_\w+_bytes' must be a positive"):
        check_config(load_config(overrides={"trajectories": {"enabled": True, **override}}))


# --- circuit breaker -------------------------------------------------------------------------
def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_breaker_trips_after_consecutive_connection_failures(tmp_path):
    base_url = closed_port_url()
    t = OpenAITeacher(base_url=base_url, model="m", max_consecutive_failures=3, max_retries=10, backoff_seconds=0.2,
                      max_backoff_seconds=5.0, concurrency=2, cache_dir=str(tmp_path))
    t.setup()
    started = time.monotonic()
    with pytest.raises(TeacherError) as err:
        t.complete(prompts("ok one", "ok two", "ok three"))
    # Without the breaker each prompt would retry for at least 0.1+0.2+0.4+0.8+1.6+2.5×5 s.
    assert time.monotonic() - started < 3.0
    assert str(err.value).startswith(f"teacher endpoint {base_url}/chat/completions unreachable: 3 consecutive connection failures, last ConnectError")
    assert 3 <= t.connection_failures <= 4  # the two threads may both be mid-request when the third failure trips it
    assert t.requests_sent == t.connection_failures


class _RefusingTransport:
    """An httpx transport whose first two of every three requests fail to connect (httpx's ConnectError)."""

    def __init__(self):
        import httpx

        self.inner = httpx.HTTPTransport()
        self.calls = 0

    def handle_request(self, request):
        import httpx

        self.calls += 1
        if self.calls % 3 != 0:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.inner.handle_request(request)

    def close(self):
        self.inner.close()


def _flaky_connection_teacher(server, tmp_path, max_consecutive_failures):
    import httpx

    t = make_teacher(server, tmp_path, concurrency=1, max_retries=5, max_consecutive_failures=max_consecutive_failures)
    t._client = httpx.Client(transport=_RefusingTransport(), timeout=httpx.Timeout(1.0))
    return t


def test_connection_failures_between_answers_do_not_trip_the_breaker(server, tmp_path):
    t = _flaky_connection_teacher(server, tmp_path, max_consecutive_failures=3)
    results = t.complete(prompts("ok a", "ok b", "ok c"))
    assert all(r.completions for r in results)
    assert (t.connection_failures, t.requests_sent, t.retries) == (6, 9, 6)
    # The same traffic trips a breaker of 2: the count is of failures in a row.
    with pytest.raises(TeacherError, match="2 consecutive connection failures"):
        _flaky_connection_teacher(server, tmp_path / "other", max_consecutive_failures=2).complete(prompts("ok a"))


def test_endpoint_label_carries_no_credentials_or_query():
    from pipeline.trajectories.teachers.openai import endpoint_label

    assert endpoint_label("https://user:s3cret@api.example.com/v1/?api-key=k3y#frag") == "https://api.example.com:443/v1"
    assert endpoint_label("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
    assert endpoint_label("http://teacher.internal/v1") == "http://teacher.internal:80/v1"


def test_refusal_message_never_repeats_the_api_key(tmp_path):
    class EchoKey(JsonHandler):
        def do_POST(self):
            self.read_json()
            self.send_json(403, {"error": {"message": f"key {self.headers['Authorization'][7:]} is revoked"}})

    local = LocalServer(EchoKey)
    try:
        t = OpenAITeacher(base_url=local.base_url, model="m", api_key="sk-unit-5521", cache_dir=str(tmp_path))
        t.setup()
        with pytest.raises(TeacherError) as err:
            t.complete(prompts("ok"))
    finally:
        local.close()
    assert "HTTP 403 (key *** is revoked)" in str(err.value) and "sk-unit-5521" not in str(err.value)


def test_max_consecutive_failures_must_be_at_least_one():
    from pipeline.config import ConfigError

    assert load_config().trajectories.teacher.max_consecutive_failures == 5
    with pytest.raises(ConfigError, match=r"max_consecutive_failures' must be at least 1, got 0"):
        load_config(overrides={"trajectories": {"teacher": {"max_consecutive_failures": 0}}})


def test_redaction_covers_the_key_and_the_base_url_secrets():
    t = OpenAITeacher(base_url="https://bot:pw-77a1@llm.example.com/v1?sig=abc123def", model="m", api_key="sk-9f8e")
    assert t._redact("bad key sk-9f8e for bot:pw-77a1 at /v1?sig=abc123def") == "bad key *** for bot:*** at /v1?***"
    assert t.endpoint == "https://llm.example.com:443/v1/chat/completions"


def test_a_worker_process_teacher_error_is_recovered_as_its_one_line():
    # Multi-process runners hand the driver a RuntimeError holding the worker's traceback text.
    line = "teacher endpoint http://10.1.2.3:8000/v1/chat/completions returned HTTP 401 (key revoked); check the API key"
    worker_text = ('Traceback (most recent call last):\n  File "/srv/teacher.py", line 12, in _post\n    raise TeacherError(msg)\n'
                   f"pipeline.trajectories.teachers.TeacherError: {line}\n\nDuring handling, another frame\n")
    recovered = TeacherError.from_run_failure(RuntimeError(worker_text))
    assert isinstance(recovered, TeacherError) and str(recovered) == line
    assert TeacherError.from_run_failure(RuntimeError("No space left on device")) is None
    own = TeacherError("in-process")
    assert TeacherError.from_run_failure(own) is own


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
def test_prompt_and_benchmark_files_read_whole_or_raise_on_a_truncated_compressed_file(tmp_path, suffix):
    # Beam's own decompressors end a truncated stream quietly: the tail of a seeds or benchmark file
    # would be lost without a word.
    import bz2
    import gzip

    import zstandard

    from pipeline.trajectories.seeds import bounded_lines, open_binary

    lines = [json.dumps({"question": f"문제 {i}: what is {i} + {i}?"}, ensure_ascii=False) for i in range(2_000)]
    data = ("\n".join(lines) + "\n").encode()
    compress = {".gz": lambda b: gzip.compress(b[:5_000]) + gzip.compress(b[5_000:]),  # two members
                ".zst": lambda b: zstandard.ZstdCompressor().compress(b),
                ".bz2": bz2.compress}[suffix]
    whole, cut = tmp_path / f"seeds.jsonl{suffix}", tmp_path / f"cut.jsonl{suffix}"
    whole.write_bytes(compress(data))
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with open_binary(str(whole)) as stream:
        assert list(bounded_lines(stream, 1 << 20)) == lines
    with pytest.raises(OSError, match="cannot be read to its end"):
        with open_binary(str(cut)) as stream:
            list(bounded_lines(stream, 1 << 20))

"""The ``openai`` teacher: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, Ollama).

``POST {base_url}/chat/completions`` with the user prompt, ``model``, ``temperature``, ``top_p``,
``max_tokens`` and ``n`` from ``trajectories.teacher``. Per worker, at most ``concurrency`` requests
are in flight (a thread pool over one shared ``httpx.Client``). Each request has a timeout
(``timeout_seconds``); a timeout, a connection error, 408, 429 or any 5xx is retried up to
``max_retries`` times with exponential backoff and jitter (``backoff_seconds`` doubling up to
``max_backoff_seconds``), honouring a ``Retry-After`` header (seconds or HTTP date). Any other 4xx is
not retried: 401/403/404 mean the endpoint, key or model is wrong and stop the run with a
:class:`TeacherError` naming the status, the URL and the config key to fix; other 4xx (400, 413, 422
— e.g. a prompt over the context length) fail only that prompt (``teacher_error``).

Responses are cached on disk, one JSON file per request under ``cache_dir`` (default
``$XDG_CACHE_HOME/curation-pipeline/teacher``), keyed by the sha256 of (base_url, model, prompt,
sampling parameters), so a rerun or a resumed run never pays twice for the same request. Files are
written atomically (temp file + rename), so concurrent workers sharing a folder are safe.

Bounded resources: the response body is streamed and read up to ``max_response_bytes`` (a
``Content-Length`` over it is refused before reading; ``Accept-Encoding: identity`` keeps a small
compressed body from inflating past the count); a larger body fails that prompt with
``completion_too_large``, is not retried and not cached. ``timeout_seconds`` bounds each network
operation *and* the whole request, so a server dripping bytes cannot hold a worker. Only the HTTP
status reaches decisions rows and log lines: an endpoint's error text may quote the prompt. The one
exception is the run-stopping 401/403/404 error, which carries the endpoint's message (at most 200
characters) because it names what to fix.

Circuit breaker: a dead endpoint must fail the run, not turn every prompt into ``teacher_error``
after its retries. After ``max_consecutive_failures`` connection failures in a row (refused, DNS,
TLS, a connect timeout; any HTTP response resets the count) the teacher raises a
:class:`TeacherError` naming the endpoint (``scheme://host:port/path``: no credentials, no query) and
the cause, as it does on 401/403/404; prompts still waiting stop at their next attempt. The count is
per teacher object, i.e. per worker process: each worker trips on its own, and the first trip fails
the run.

Servers that split reasoning out (vLLM/SGLang ``--reasoning-parser``: ``message.reasoning_content``
or ``message.reasoning``) get it folded back as ``<think>…</think>`` before the answer.
"""
from __future__ import annotations

import concurrent.futures as cf
import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from pipeline import progress
from pipeline.trajectories.teachers import COMPLETION_TOO_LARGE, Result, TeacherError

_LOG = logging.getLogger(__name__)
FATAL_STATUSES = {401, 403, 404}
RETRY_STATUSES = {408, 409, 425, 429}
_ERROR_BODY_BYTES = 64 * 1024  # of a refusal: enough for its message


class _Retryable(Exception):
    def __init__(self, status: int | None, retry_after: float | None, what: str) -> None:
        super().__init__(what)
        self.status = status
        self.retry_after = retry_after
        self.what = what


class _TooLarge(Exception):
    pass


class _PromptFailed(Exception):
    def __init__(self, status: int, what: str) -> None:
        super().__init__(what)
        self.status = status
        self.what = what


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "curation-pipeline", "teacher")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class ResponseCache:
    """One JSON file per request key; atomic writes; corrupt files are ignored (and re-fetched)."""

    def __init__(self, root: str | None) -> None:
        self.root = Path(root) if root else None

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[str] | None:
        if self.root is None:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        comps = data.get("completions") if isinstance(data, dict) else None
        return comps if isinstance(comps, list) and all(isinstance(c, str) for c in comps) else None

    def put(self, key: str, request: dict, completions: list[str]) -> None:
        if self.root is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"request": request, "completions": completions}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)


class OpenAITeacher:
    publishes_progress = True  # each prompt's outcome as it ends (pipeline.progress), not per batch

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        temperature: float = 0.6,
        top_p: float = 0.95,
        max_tokens: int = 2048,
        n: int = 1,
        concurrency: int = 4,
        timeout_seconds: float = 60.0,
        max_retries: int = 4,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        cache_dir: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_response_bytes: int = 8 * 1024 * 1024,
        max_consecutive_failures: int = 5,
    ) -> None:
        if not base_url:
            raise TeacherError("trajectories.teacher.base_url is required for the openai backend")
        if not model:
            raise TeacherError("trajectories.teacher.model is required for the openai backend")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.params = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "n": n}
        self.n = n
        self.concurrency = max(1, concurrency)
        self.timeout = timeout_seconds
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.cache = ResponseCache(cache_dir)
        self.max_response_bytes = max_response_bytes
        self.name = f"openai:{model}"
        self._client = None
        self._pool: cf.ThreadPoolExecutor | None = None
        self.endpoint = endpoint_label(self.base_url) + "/chat/completions"  # for messages: never self.url
        self.max_consecutive_failures = max(1, max_consecutive_failures)
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._tripped: TeacherError | None = None  # once set, every waiting prompt raises it
        self._stop = threading.Event()  # wakes prompts sleeping before a retry when the breaker trips
        # Totals of this worker (Beam counters are per thread, so the stage reads these after each batch).
        self.requests_sent = 0
        self.retries = 0
        self.connection_failures = 0

    @classmethod
    def from_config(cls, config) -> "OpenAITeacher":
        t = config.trajectories.teacher
        return cls(
            base_url=t.base_url or "",
            model=t.model or "",
            api_key=None,  # read from the environment in setup(), on the worker
            api_key_env=t.api_key_env,
            temperature=t.temperature,
            top_p=t.top_p,
            max_tokens=t.max_tokens,
            n=t.n,
            concurrency=t.concurrency,
            timeout_seconds=t.timeout_seconds,
            max_retries=t.max_retries,
            backoff_seconds=t.backoff_seconds,
            max_backoff_seconds=t.max_backoff_seconds,
            cache_dir=t.cache_dir if t.cache_dir is not None else default_cache_dir(),
            max_response_bytes=t.max_response_bytes,
            max_consecutive_failures=t.max_consecutive_failures,
        )

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_client"] = None
        state["_pool"] = None
        state["_lock"] = None
        state["_stop"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def setup(self) -> None:
        import httpx

        if self.api_key is None:
            self.api_key = os.environ.get(self.api_key_env) or None
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout), limits=limits)
        self._pool = cf.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="teacher")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- requests -------------------------------------------------------------------------
    def request_body(self, prompt: str) -> dict:
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}], **self.params}

    def cache_key(self, prompt: str) -> str:
        ident = {"base_url": self.base_url, "model": self.model, "prompt": prompt, "params": self.params}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def complete(self, prompts: list[dict]) -> list[Result]:
        if self._client is None:
            self.setup()
        futures = [self._pool.submit(self._one, p["prompt"]) for p in prompts]
        for fut in futures:
            fut.add_done_callback(_publish_outcome)
        results = []
        fatal: TeacherError | None = None
        for fut in futures:
            try:
                results.append(fut.result())
            except TeacherError as exc:
                fatal = fatal or exc
                results.append(Result(error="teacher_error"))
        if fatal is not None:
            raise fatal
        return results

    def _one(self, prompt: str) -> Result:
        key = self.cache_key(prompt)
        cached = self.cache.get(key)
        if cached is not None:
            return Result(list(cached), detail={"cached": True})
        body = self.request_body(prompt)
        attempt = 0
        while True:
            if self._tripped is not None:
                raise self._tripped
            try:
                completions = self._post(body)
                break
            except _Retryable as exc:
                if attempt >= self.max_retries:
                    _LOG.warning("teacher %s: giving up after %d attempts (%s)", self.endpoint, attempt + 1, exc.what)
                    return Result(error="teacher_error", detail={"status": exc.status, "error": exc.what, "attempts": attempt + 1})
                delay = exc.retry_after
                if delay is None:
                    delay = self.backoff * (2**attempt) * (0.5 + random.random() / 2)
                self._stop.wait(min(delay, self.max_backoff))
                attempt += 1
                with self._lock:
                    self.retries += 1
            except _PromptFailed as exc:
                return Result(error="teacher_error", detail={"status": exc.status, "error": exc.what})
            except _TooLarge:
                return Result(error=COMPLETION_TOO_LARGE, detail={"max_response_bytes": self.max_response_bytes})
        if not completions:
            return Result(error="no_completion", detail={"teacher": self.name})
        self.cache.put(key, {"model": self.model, "params": self.params}, completions)
        return Result(completions)

    def _post(self, body: dict) -> list[str]:
        import httpx

        with self._lock:
            self.requests_sent += 1
        progress.add(progress.TEACHER_REQUESTS)
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("POST", self.url, json=body) as resp:
                status = resp.status_code
                if status == 200:
                    data = _read_capped(resp, self.max_response_bytes, deadline)
                elif status in FATAL_STATUSES:
                    data = _read_capped(resp, _ERROR_BODY_BYTES, deadline, truncate=True)
                else:
                    data = b""  # not read: only the status is kept
                reason, retry_after = resp.reason_phrase, resp.headers.get("retry-after")
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._connection_failed(exc)
            raise _Retryable(None, None, f"connection error: {type(exc).__name__}") from None
        except (httpx.TimeoutException, _Deadline):
            raise _Retryable(None, None, f"timeout after {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise _Retryable(None, None, f"connection error: {type(exc).__name__}") from None
        with self._lock:
            self._consecutive_failures = 0  # the endpoint answered: whatever the status, it is there
        if status == 200:
            try:
                parsed = json.loads(data)
            except ValueError:
                raise _Retryable(status, None, "response is not JSON") from None
            return self._completions(parsed)
        if status in RETRY_STATUSES or status >= 500:
            raise _Retryable(status, parse_retry_after(retry_after), f"HTTP {status}")
        if status in FATAL_STATUSES:
            hint = {401: "check the API key (trajectories.teacher.api_key_env)", 403: "check the API key's permissions", 404: "check trajectories.teacher.base_url and trajectories.teacher.model"}[status]
            message = self._redact(_error_message(data, reason))
            raise self._trip(TeacherError(f"teacher endpoint {self.endpoint} returned HTTP {status} ({message}); {hint}"))
        raise _PromptFailed(status, f"HTTP {status}")

    def _connection_failed(self, exc: Exception) -> None:
        """Count a failed connection; at ``max_consecutive_failures`` in a row, trip the breaker."""
        with self._lock:
            self.connection_failures += 1
            self._consecutive_failures += 1
            if self._consecutive_failures < self.max_consecutive_failures:
                return
        cause = self._redact(" ".join(str(exc).split())[:200]) or "no detail"
        raise self._trip(TeacherError(
            f"teacher endpoint {self.endpoint} unreachable: {self.max_consecutive_failures} consecutive connection "
            f"failures, last {type(exc).__name__}: {cause}; check trajectories.teacher.base_url and that the server is up"
        )) from None  # the cause is in the line; httpx's traceback adds nothing

    def _trip(self, error: TeacherError) -> TeacherError:
        """Stop this worker's requests: the first error stands for all of them."""
        with self._lock:
            if self._tripped is None:
                self._tripped = error
            self._stop.set()
            return self._tripped

    def _redact(self, text: str) -> str:
        """``text`` without the API key or the password and query of ``base_url`` (an endpoint or an
        error may repeat them)."""
        try:
            parts = urlsplit(self.base_url)
            secrets = [self.api_key, parts.password, parts.query]
        except ValueError:
            secrets = [self.api_key]
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    @staticmethod
    def _completions(data: dict) -> list[str]:
        out = []
        for choice in (data or {}).get("choices") or []:
            msg = choice.get("message") or {}
            content = msg.get("content") or ""
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
            if reasoning and "<think>" not in content:
                content = f"<think>\n{reasoning.strip()}\n</think>\n\n{content.strip()}"
            if content:
                out.append(content)
        return out


def _publish_outcome(fut: cf.Future) -> None:
    """Progress for one prompt as soon as it ends: answered with a completion, or not."""
    ok = not fut.cancelled() and fut.exception() is None and bool(fut.result().completions)
    progress.add(progress.TEACHER_DONE if ok else progress.TEACHER_FAILED)


class _Deadline(Exception):
    pass


def endpoint_label(url: str) -> str:
    """``scheme://host:port/path`` of ``url``: no user, password, query or fragment (they may hold keys)."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return "<unparsable base_url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path.rstrip('/')}"


def _read_capped(resp, limit: int, deadline: float, truncate: bool = False) -> bytes:
    """The body, at most ``limit`` bytes: over it, :class:`_TooLarge` (or the first ``limit`` bytes
    when ``truncate``); past ``deadline`` (monotonic), :class:`_Deadline`."""
    declared = resp.headers.get("content-length")
    if not truncate and declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    buf = bytearray()
    for chunk in resp.iter_bytes():
        if time.monotonic() > deadline:
            raise _Deadline()
        room = limit - len(buf)
        if len(chunk) > room:
            if truncate:
                buf += chunk[:room]
                break
            raise _TooLarge()
        buf += chunk
    return bytes(buf)


def _error_message(data: bytes, reason: str) -> str:
    """The endpoint's error message of a refusal, short (never the request body)."""
    try:
        parsed = json.loads(data)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        msg = err.get("message") if isinstance(err, dict) else (err if isinstance(err, str) else parsed.get("detail") or parsed.get("message"))
        text = str(msg) if msg else reason
    except (ValueError, AttributeError):
        text = reason or data.decode("utf-8", errors="replace")
    text = " ".join(str(text).split())
    return text[:200]

"""The ``replay`` backend: completions produced elsewhere (a batch-inference job).

One JSON object a line (the format in docs/trajectories.md, "Replay line"): ``id``, ``prompt``, ``completion`` (the teacher's raw text with its
``<think>…</think>`` part), optional ``reference_answer``, ``lang``, ``source_doc_ids``,
``teacher``/``model`` (the ``teacher`` column becomes ``replay:<that>``),
``template_id`` and ``license``. Each line is one candidate; its ``id`` becomes ``sample_id`` (a
line without ``id`` gets the stable id of (file, line)). A line that cannot be read becomes a
``bad_replay_line`` decisions row (``line_too_large`` over ``trajectories.max_line_bytes``); the run
goes on.

The line's metadata is written to outputs (``sample_id`` and decisions ``doc_id``/``source_id``, the
``teacher``, ``template_id``, ``lang`` and ``license`` columns), and whoever wrote the file may have put
anything there, personal data included. So each field is constrained before it is used:

- ``id``, ``teacher``/``model``, ``template_id``: kept when a *safe token* — 1 to 128 letters and
  digits of any script and ``. _ : / + -``, starting with a letter or digit, with fewer than 9 digits in a row once
  those separators are ignored (so no e-mail address, no phone, card or national-ID number fits);
  anything else is replaced by ``sha256-`` + the first 32 hex digits of the SHA-256 of the value
  (stable: the same id gives the same sample_id on every run, and ``'sha256-' || left(sha256(id), 32)``
  finds it in DuckDB).
- ``lang``: a BCP 47-shaped code (``en``, ``ko``, ``zh-Hant``) or null.
- ``license``: SPDX-expression characters (letters, digits, ``. + - : ( )`` and spaces, at most 200,
  the same digit rule) or null.
"""
from __future__ import annotations

import hashlib
import json
import re

from pipeline.records import make_doc_id
from pipeline.trajectories.seeds import _ids
from pipeline.trajectories.templates import make_prompt

BAD_REPLAY = "bad_replay_line"

_TOKEN = re.compile(r"[^\W_][\w.:/+\-]{0,127}")  # letters and digits of any script: 질문-001 is an id too
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")
_LICENSE = re.compile(r"[A-Za-z0-9.+:() \-]{1,200}")
_SEPARATORS = re.compile(r"[._:/+\- ()]")
_LONG_NUMBER = re.compile(r"\d{9,}")  # any script's digits: full-width ０１０… counts


def _no_long_number(value: str) -> bool:
    return _LONG_NUMBER.search(_SEPARATORS.sub("", value)) is None


def hashed(value: str) -> str:
    return "sha256-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def safe_token(value) -> str | None:
    """``value`` when it is a safe token (see the module doc), else its hash; None stays None."""
    if value is None:
        return None
    value = str(value)
    return value if _TOKEN.fullmatch(value) and _no_long_number(value) else hashed(value)


def safe_lang(value) -> str | None:
    return value if isinstance(value, str) and _LANG.fullmatch(value) else None


def safe_license(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _LICENSE.fullmatch(value) and _no_long_number(value) else None


def parse_replay(line: str, path: str, index: int) -> tuple[dict | None, str | None]:
    """(candidate, None) or (None, error) for one replay line."""
    if not line.strip():
        return None, None
    try:
        obj = json.loads(line)
    except ValueError:
        return None, "invalid JSON"
    if not isinstance(obj, dict):
        return None, "not an object"
    prompt, completion = obj.get("prompt"), obj.get("completion")
    if not isinstance(prompt, str) or not prompt.strip():
        return None, "missing prompt"
    if not isinstance(completion, str):
        return None, "missing completion"
    sources = _ids(obj.get("source_doc_ids"))
    if sources is None:
        return None, "source_doc_ids must be a list of strings"
    ref = obj.get("reference_answer")
    sid = safe_token(obj.get("id"))
    sample_id = sid if sid is not None else make_doc_id(path, index)
    teacher = safe_token(obj.get("teacher") or obj.get("model") or "unknown")
    cand = make_prompt(
        prompt_id=sample_id,
        prompt=prompt.strip(),
        reference_answer=None if ref is None else str(ref),
        lang=safe_lang(obj.get("lang")),
        template_id=safe_token(obj.get("template_id") or "replay"),
        source_uri=path,
        record_index=index,
        source_doc_ids=sources,
        license=safe_license(obj.get("license")),
        source_id=sid,
    )
    cand["sample_id"] = sample_id
    cand["completion"] = completion
    cand["teacher"] = f"replay:{teacher}"
    return cand, None

"""The ``replay`` backend: completions produced elsewhere (a batch-inference job).

One JSON object a line (SPEC.md): ``id``, ``prompt``, ``completion`` (the teacher's raw text with its
``<think>…</think>`` part), optional ``reference_answer``, ``lang``, ``source_doc_ids``, and —
beyond SPEC — optional ``teacher``/``model`` (the ``teacher`` column becomes ``replay:<that>``),
``template_id`` and ``license``. Each line is one candidate; its ``id`` becomes ``sample_id`` (a
line without ``id`` gets the stable id of (file, line)). A line that cannot be read becomes a
``bad_replay_line`` decisions row; the run goes on.
"""
from __future__ import annotations

import json

from pipeline.records import make_doc_id
from pipeline.trajectories.seeds import _ids, read_lines
from pipeline.trajectories.templates import make_prompt

BAD_REPLAY = "bad_replay_line"


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
    sid = obj.get("id")
    sample_id = str(sid) if sid is not None else make_doc_id(path, index)
    teacher = obj.get("teacher") or obj.get("model") or "unknown"
    cand = make_prompt(
        prompt_id=sample_id,
        prompt=prompt.strip(),
        reference_answer=None if ref is None else str(ref),
        lang=obj.get("lang") if isinstance(obj.get("lang"), str) else None,
        template_id=str(obj.get("template_id") or "replay"),
        source_uri=path,
        record_index=index,
        source_doc_ids=sources,
        license=obj.get("license") if isinstance(obj.get("license"), str) else None,
        source_id=None if sid is None else str(sid),
    )
    cand["sample_id"] = sample_id
    cand["completion"] = completion
    cand["teacher"] = f"replay:{teacher}"
    return cand, None


def read_replay(path: str):
    """(line index, candidate, error) for every non-blank line of a replay file."""
    return read_lines(path, parse_replay)

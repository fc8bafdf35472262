"""The rows the trajectory stage writes: a decisions row per prompt or candidate, a trajectories row
per accepted sample."""
from __future__ import annotations

from pipeline.records import decision_row, entries

STAGE = "trajectory"
DECISIONS = "decisions"  # the tagged output every trajectory DoFn sends its decisions rows to


def candidate_row(item: dict, *, run_id: str, action: str, reason: str, detail: dict | None = None, dup_of: str | None = None, doc_id: str | None = None) -> dict:
    """A decisions row for a prompt or candidate (doc_id = sample id; never any text)."""
    pseudo = {
        "doc_id": doc_id or item.get("sample_id") or item["prompt_id"],
        "source_id": item.get("source_id"),
        "source_uri": item.get("source_uri"),
        "record_index": item.get("record_index"),
        "lang": item.get("lang"),
        "lang_score": None,
        "license": item.get("license"),
        "pii_counts": {},
    }
    return decision_row(pseudo, action=action, stage=STAGE, reason=reason, run_id=run_id, detail=detail, dup_of=dup_of)


def sample_row(cand: dict, thinking: str, answer: str, checks: dict[str, bool], run_id: str) -> dict:
    prompt = cand["prompt"]
    return {
        "sample_id": cand["sample_id"],
        "source_doc_ids": list(cand.get("source_doc_ids") or []),
        "prompt": prompt,
        "thinking": thinking,
        "answer": answer,
        "reference_answer": cand.get("reference_answer"),
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"<think>\n{thinking}\n</think>\n\n{answer}"},
        ],
        "lang": cand.get("lang"),
        "teacher": cand.get("teacher"),
        "template_id": cand.get("template_id"),
        "checks": entries(checks),
        "license": cand.get("license"),
        "run_id": run_id,
    }

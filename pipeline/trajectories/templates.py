"""Prompt templates (rules/trajectories/templates.yaml): prompts grounded in curated documents and
self-contained word problems for the programmatic generator.

A prompt is a plain dict (see :func:`make_prompt`): ``prompt_id``, ``prompt``, ``reference_answer``,
``lang``, ``source_doc_ids``, ``license``, ``template_id``, ``source_uri``, ``record_index`` and an
optional ``task`` — the structured problem (``{"kind": "expression", "expression": "1200 * 7",
"unit": "원"}`` or ``{"kind": "max", "numbers": [...]}``) that the programmatic teacher solves and
that fixes the reference answer by construction.
"""
from __future__ import annotations

import hashlib
import random
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import yaml

from pipeline.trajectories.arith import evaluate, format_number

# Numbers in running text: not glued to Latin letters or other digits/dots (COVID-19, v2.1, B2B).
_PASSAGE_NUMBER = re.compile(r"(?<![A-Za-z0-9_.,\-/])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![A-Za-z0-9_]|[.,/]\d)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=다\.)\s*|\n+")


def load_templates(path: str | Path) -> dict:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    data.setdefault("passage", {})
    data.setdefault("documents", [])
    data.setdefault("word_problems", [])
    data.setdefault("solution", {})
    return data


def stable_id(*parts: Any) -> str:
    h = hashlib.blake2b("\x00".join(str(p) for p in parts).encode("utf-8"), digest_size=16)
    return h.hexdigest()


def make_prompt(
    *,
    prompt_id: str,
    prompt: str,
    reference_answer: str | None,
    lang: str | None,
    template_id: str,
    source_uri: str,
    record_index: int,
    source_doc_ids: list[str] | None = None,
    license: str | None = None,
    task: dict | None = None,
    source_id: str | None = None,
) -> dict:
    return {
        "prompt_id": prompt_id,
        "prompt": prompt,
        "reference_answer": reference_answer,
        "lang": lang,
        "template_id": template_id,
        "source_uri": source_uri,
        "record_index": record_index,
        "source_doc_ids": list(source_doc_ids or []),
        "license": license,
        "task": task,
        "source_id": source_id,
    }


def cut_passage(text: str, max_chars: int) -> str:
    """The document's opening, cut at a sentence end (or a space) before ``max_chars``."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] > max_chars // 3:
        return head[: ends[-1]].strip()
    cut = head.rfind(" ")
    return (head[:cut] if cut > max_chars // 3 else head).strip()


def passage_numbers(passage: str) -> list[tuple[str, Fraction]]:
    """Distinct numbers in a passage as (written form, value), in order of first appearance."""
    seen: set[Fraction] = set()
    out: list[tuple[str, Fraction]] = []
    for m in _PASSAGE_NUMBER.finditer(passage):
        written = m.group(0)
        value = evaluate(written)
        if value is None or value in seen:
            continue
        seen.add(value)
        out.append((written, value))
    return out


def _base(lang: str | None) -> str | None:
    return lang.split("-")[0].split("_")[0].lower() if lang else None


class DocumentTemplates:
    """Prompts from curated documents. Build once per worker from the templates file."""

    def __init__(self, data: dict, max_per_doc: int = 1) -> None:
        p = data.get("passage", {})
        self.max_chars = int(p.get("max_chars", 1200))
        self.min_chars = int(p.get("min_chars", 60))
        self.max_numbers = int(p.get("max_numbers", 6))
        self.max_per_doc = max_per_doc
        self.by_lang: dict[str, list[dict]] = {}
        for t in data.get("documents", []):
            self.by_lang.setdefault(_base(t["lang"]), []).append(t)

    def prompts(self, doc: dict) -> list[dict]:
        lang = _base(doc.get("lang"))
        templates = self.by_lang.get(lang or "", [])
        if not templates or self.max_per_doc <= 0:
            return []
        passage = cut_passage(doc.get("text") or "", self.max_chars)
        if len(passage) < self.min_chars:
            return []
        numbers = passage_numbers(passage)
        if len(numbers) < 2:
            return []
        # Deterministic rotation: the same document always gets the same templates.
        start = int(stable_id(doc["doc_id"])[:8], 16) % len(templates)
        chosen = [templates[(start + i) % len(templates)] for i in range(min(self.max_per_doc, len(templates)))]
        out = []
        for k, t in enumerate(chosen):
            built = self._build(t, passage, numbers, doc)
            if built is None:
                continue
            prompt, reference, task = built
            out.append(
                make_prompt(
                    prompt_id=stable_id(doc["doc_id"], t["id"]),
                    prompt=prompt,
                    reference_answer=reference,
                    lang=lang,
                    template_id=t["id"],
                    source_uri=f"document:{doc['doc_id']}",
                    record_index=k,
                    source_doc_ids=[doc["doc_id"]],
                    license=doc.get("license"),
                    task=task,
                )
            )
        return out

    def _build(self, t: dict, passage: str, numbers: list[tuple[str, Fraction]], doc: dict):
        kind = t["kind"]
        if kind in ("sum", "difference"):
            # Two numbers picked deterministically among the first few.
            pool = numbers[: self.max_numbers]
            seed = int(stable_id(doc["doc_id"], t["id"])[:8], 16)
            i = seed % len(pool)
            j = (i + 1 + (seed // 7) % (len(pool) - 1)) % len(pool)
            (wa, va), (wb, vb) = pool[min(i, j)], pool[max(i, j)]
            if kind == "sum":
                expr = f"{_plain(va)} + {_plain(vb)}"
                value = va + vb
            else:
                hi, lo = (va, vb) if va >= vb else (vb, va)
                expr = f"{_plain(hi)} - {_plain(lo)}"
                value = hi - lo
            prompt = t["prompt"].format(passage=passage, a=wa, b=wb, numbers="")
            return prompt, format_number(value), {"kind": "expression", "expression": expr, "unit": None}
        if kind == "max":
            pool = numbers[: self.max_numbers]
            written = ", ".join(w for w, _ in pool)
            best = max(pool, key=lambda x: x[1])
            prompt = t["prompt"].format(passage=passage, numbers=written, a="", b="")
            return prompt, format_number(best[1]), {"kind": "max", "numbers": [_plain(v) for _, v in pool]}
        return None


def _plain(v: Fraction) -> str:
    """A Fraction as a plain Python literal for expressions (no thousands separators)."""
    if v.denominator == 1:
        return str(v.numerator)
    return format_number(v).replace(",", "") if "/" not in format_number(v) else f"({v.numerator}/{v.denominator})"


# --- word problems ---------------------------------------------------------------------------
def _draw(spec: list, rng: random.Random) -> int:
    lo, hi = int(spec[0]), int(spec[1])
    step = int(spec[2]) if len(spec) > 2 else 1
    return rng.randrange(lo, hi + 1, step)


def _meets(value: Fraction, require: list[str]) -> bool:
    for r in require:
        if r == "integer" and value.denominator != 1:
            return False
        if r == "positive" and value <= 0:
            return False
        if r == "nonnegative" and value < 0:
            return False
    return True


def generate_word_problems(data: dict, n: int, seed: int = 0, langs: tuple[str, ...] = ("en", "ko")) -> Iterator[dict]:
    """``n`` word problems (round-robin over templates of ``langs``) with exact reference answers."""
    rng = random.Random(seed)
    templates = [t for t in data.get("word_problems", []) if _base(t["lang"]) in langs]
    if not templates:
        return
    made = 0
    attempts = 0
    while made < n and attempts < n * 50:
        t = templates[attempts % len(templates)]
        attempts += 1
        values = {k: _draw(v, rng) for k, v in t["vars"].items()}
        expr = t["expression"]
        for k in sorted(values, key=len, reverse=True):
            expr = re.sub(rf"\b{re.escape(k)}\b", str(values[k]), expr)  # a variable name, not a pattern
        value = evaluate(expr)
        if value is None or not _meets(value, t.get("require", [])):
            continue
        shown = {k: f"{v:,}" for k, v in values.items()}
        name = rng.choice(t["names"]) if t.get("names") else ""
        question = t["question"].format(name=name, **shown)
        unit = t.get("unit")
        yield make_prompt(
            prompt_id=stable_id("word-problem", seed, made),
            prompt=question,
            reference_answer=format_number(value),
            lang=_base(t["lang"]),
            template_id=t["id"],
            source_uri=f"generated:{t['id']}",
            record_index=made,
            task={"kind": "expression", "expression": expr, "unit": unit, "plan": t.get("plan")},
        )
        made += 1

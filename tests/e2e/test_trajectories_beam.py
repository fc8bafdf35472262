"""The trajectory stage on the local Beam runner: seeds, document templates and replay; the source
join (samples of dropped documents never appear), near-duplicate prompt collapse, one decisions row
per candidate, rows that fit the trajectories schema."""
from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam

from pipeline.config import load_config
from pipeline.io.shards import table_for
from pipeline.records import DECISIONS_SCHEMA, TRAJECTORIES_SCHEMA, new_record
from pipeline.runners import local_pipeline
from pipeline.trajectories.stage import TrajectoryStage

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def entries_dict(column_value: list[dict] | None) -> dict:
    """A ``checks`` / ``pii_counts`` column value as read back (key/value entries) → dict."""
    return {e["key"]: e["value"] for e in column_value or ()}


def kept_doc(index: int, text: str, lang: str, license: str | None = None, source_id: str | None = None) -> dict:
    rec = new_record(source_uri="kept.jsonl", record_index=index, text=text, source_id=source_id)
    rec["lang"], rec["license"] = lang, license
    return rec


DOCS = [
    kept_doc(0, "The museum holds 1,200 paintings and 350 sculptures. Last year 48,000 people visited its three floors.", "en", "CC-BY-4.0", "museum"),
    kept_doc(1, "서울시는 2023년에 공원 14곳을 새로 열었다. 예산은 1,250억 원이었고 첫 달에 시민 35,000명이 방문했다.", "ko", "CC0-1.0", "parks"),
    kept_doc(2, "Mosses are small, flowerless plants that usually grow in dense green clumps in damp or shady places.", "en", "CC-BY-4.0", "en-fieldguide-moss"),
]

LONG = (
    "A library lends out 1,200 books in January and 350 more books in February than in January. Every book that is lent "
    "out in those two months is returned within three weeks, and the librarians record each loan in a ledger. How many "
    "books does the library lend out in January and February together, counting every single loan in the ledger?"
)


def run_stage(cfg, docs, tmp_path: Path) -> tuple[list[dict], list[dict]]:
    out_s, out_d = tmp_path / "samples", tmp_path / "decisions"
    with local_pipeline() as p:
        out = p | beam.Create([docs]) | TrajectoryStage(cfg, "run-t")
        out.samples | "s:json" >> beam.Map(json.dumps, ensure_ascii=False) | "s:w" >> beam.io.WriteToText(str(out_s))
        out.decisions | "d:json" >> beam.Map(json.dumps, ensure_ascii=False) | "d:w" >> beam.io.WriteToText(str(out_d))

    def read(prefix: Path) -> list[dict]:
        return [json.loads(line) for f in sorted(prefix.parent.glob(prefix.name + "*")) for line in f.read_text(encoding="utf-8").splitlines()]

    return read(out_s), read(out_d)


def test_programmatic_seeds_documents_join_and_near_duplicates(tmp_path):
    extra = tmp_path / "more-seeds.jsonl"
    lines = [
        {"id": "lib-1", "question": LONG, "reference_answer": "2,750", "lang": "en", "expression": "1200 + (1200 + 350)"},
        {"id": "lib-2", "question": LONG.replace("in the ledger?", "in the records?"), "reference_answer": "2,750", "lang": "en", "expression": "1200 + (1200 + 350)"},
        {"id": "lib-3", "question": LONG.upper(), "reference_answer": "2,750", "lang": "en", "expression": "1200 + (1200 + 350)"},
        {"id": "grounded", "question": "The museum has 1,200 paintings and 350 sculptures. How many works is that?", "reference_answer": "1,550", "lang": "en", "source_doc_ids": ["museum"], "expression": "1200 + 350"},
        {"id": "orphan", "question": "A dropped document said 3 + 4. What is it?", "reference_answer": "7", "lang": "en", "source_doc_ids": ["not-kept-doc"], "expression": "3 + 4"},
    ]
    extra.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n{broken\n", encoding="utf-8")
    cfg = load_config(overrides={"trajectories": {
        "enabled": True, "teacher": {"backend": "programmatic"}, "max_prompts_per_doc": 2,
        "seeds": [str(EXAMPLES / "seeds.jsonl"), str(extra)],
    }})
    samples, decisions = run_stage(cfg, DOCS, tmp_path)

    by_reason = {}
    for d in decisions:
        assert d["stage"] == "trajectory" and d["run_id"] == "run-t"
        by_reason.setdefault(d["reason"], []).append(d)
    # one keep row per sample, nothing else kept
    assert sorted(d["doc_id"] for d in by_reason["kept"]) == sorted(s["sample_id"] for s in samples)
    assert len(samples) == len({s["sample_id"] for s in samples})
    # every example seed is solved and passes every check
    seed_ids = {json.loads(line)["id"] for line in (EXAMPLES / "seeds.jsonl").read_text(encoding="utf-8").splitlines()}
    assert {f"{s}-0" for s in seed_ids} <= {s["sample_id"] for s in samples}
    # near-duplicate prompts: one of the three library questions survives
    dups = {d["doc_id"]: d for d in by_reason["near_duplicate_prompt"]}
    assert set(dups) == {"lib-2", "lib-3"} and {d["dup_of"] for d in dups.values()} == {"lib-1"}
    assert json.loads(dups["lib-3"]["detail"]) == {"exact": True}  # same words, other case: the normalised hash
    assert json.loads(dups["lib-2"]["detail"]) == {"exact": False}  # one word differs: MinHash LSH
    # the source join: kept by input id → resolved doc_id and inherited license; dropped source → no sample
    grounded = next(s for s in samples if s["sample_id"] == "grounded-0")
    assert grounded["source_doc_ids"] == [DOCS[0]["doc_id"]] and grounded["license"] == "CC-BY-4.0"
    assert [d["doc_id"] for d in by_reason["source_dropped"]] == ["orphan"]
    assert not [s for s in samples if s["sample_id"].startswith("orphan")]
    bad = by_reason["bad_seed"][0]
    assert bad["source_uri"] == str(extra) and bad["record_index"] == 6 and bad["action"] == "drop"
    # document prompts: grounded, in the document's language, license inherited
    doc_samples = [s for s in samples if s["template_id"].startswith("doc-")]
    assert {s["lang"] for s in doc_samples} == {"en", "ko"}
    for s in doc_samples:
        doc = next(d for d in DOCS if d["doc_id"] == s["source_doc_ids"][0])
        assert s["license"] == doc["license"] and s["template_id"].endswith("-" + doc["lang"])
    # chat-format messages and the checks map
    s = samples[0]
    assert s["messages"] == [
        {"role": "user", "content": s["prompt"]},
        {"role": "assistant", "content": f"<think>\n{s['thinking']}\n</think>\n\n{s['answer']}"},
    ]
    checks = entries_dict(s["checks"])
    assert s["teacher"] == "programmatic:v1" and set(checks.values()) == {True}
    assert {"format", "answer", "steps", "language", "pii"} <= set(checks)
    # rows fit the OUT schemas, and the checks entries survive the Arrow round trip
    table = table_for("trajectories", samples, "run-t")
    assert table.num_rows == len(samples) and table.column("checks").type == TRAJECTORIES_SCHEMA.field("checks").type
    assert table.column("checks").to_pylist() == [x["checks"] for x in samples]
    # the inherited license survives into the written table (a reviewer filters samples on it)
    written = dict(zip(table.column("sample_id").to_pylist(), table.column("license").to_pylist()))
    assert written["grounded-0"] == "CC-BY-4.0"
    assert table_for("decisions", decisions, "run-t").schema.equals(DECISIONS_SCHEMA.with_metadata({"run_id": "run-t", "table": "decisions"}))


def test_replay_examples_good_and_defective(tmp_path):
    cfg = load_config(overrides={"trajectories": {"enabled": True, "teacher": {"backend": "replay", "path": str(EXAMPLES / "completions.jsonl")}}})
    samples, decisions = run_stage(cfg, DOCS, tmp_path)
    reasons = {d["doc_id"]: d["reason"] for d in decisions}
    assert reasons == {
        "replay-en-001": "kept",
        "replay-en-002": "kept",
        "replay-en-003": "kept",
        "replay-en-004": "answer_mismatch",
        "replay-en-005": "steps",
        "replay-en-006": "format",
        "replay-en-007": "repetition",
        "replay-en-008": "pii",
        "replay-ko-001": "kept",
        "replay-ko-002": "kept",
        "replay-ko-003": "answer_mismatch",
        "replay-ko-004": "format",
        "replay-ko-005": "language",
        "replay-ko-006": "kept",
        "replay-doc-001": "kept",
        "replay-doc-002": "source_dropped",
    }
    assert sorted(s["sample_id"] for s in samples) == sorted(k for k, v in reasons.items() if v == "kept")
    rows = {d["doc_id"]: d for d in decisions}
    detail = json.loads(rows["replay-en-006"]["detail"])
    assert detail["failed"][0] == "format" and detail["checks"]["format"] is False
    assert rows["replay-en-004"]["record_index"] == 3 and rows["replay-en-004"]["source_uri"].endswith("completions.jsonl")
    assert "mina.park" not in rows["replay-en-008"]["detail"]  # counts only, never the PII itself
    moss = next(s for s in samples if s["sample_id"] == "replay-doc-001")
    assert moss["source_doc_ids"] == [DOCS[2]["doc_id"]] and moss["license"] == "CC-BY-4.0"
    assert {s["teacher"] for s in samples} == {"replay:example-teacher-7b"}

"""The decisions and quarantine row builders of pipeline.records, against rows written out here by
hand."""
from __future__ import annotations

from pipeline.io.shards import rows_to_batch
from pipeline.records import (
    K_FLAGS,
    decision_row,
    make_doc_id,
    new_record,
    quarantine_decision,
    quarantine_row,
)

def _sample_record() -> dict:
    record = new_record(source_uri="/in/ko.jsonl", record_index=7, text="연락처 홍길동 010-1234-5678",
                        source_id="ko-7", url="https://example.kr/7")
    record.update(lang="ko", lang_score=0.5, license="CC-BY-4.0", pii_counts={"PHONE_NUMBER": 1, "PERSON": 1})
    record["copyright"] = ["(c) 2024 예시"]
    record[K_FLAGS].append("license_review")
    return record


def test_decision_row_carries_the_record_and_the_verdict_never_the_text():
    record = _sample_record()
    row = decision_row(record, action="drop", stage="dedup", reason="near_duplicate", run_id="run-9",
                       detail={"similarity": 0.875, "lang": "ko"}, dup_of="d0")
    assert row == {
        "doc_id": make_doc_id("/in/ko.jsonl", 7),
        "source_id": "ko-7",
        "source_uri": "/in/ko.jsonl",
        "record_index": 7,
        "action": "drop",
        "stage": "dedup",
        "reason": "near_duplicate",
        "detail": '{"lang": "ko", "similarity": 0.875}',
        "lang": "ko",
        "lang_score": 0.5,
        "license": "CC-BY-4.0",
        "dup_of": "d0",
        "pii_counts": [{"key": "PHONE_NUMBER", "value": 1}, {"key": "PERSON", "value": 1}],
        "run_id": "run-9",
    }
    assert "010-1234-5678" not in repr(row) and "홍길동" not in repr(row)
    batch = rows_to_batch("decisions", [row])
    assert batch.to_pylist() == [row]


def test_decision_row_of_a_partial_record_fills_nulls_and_needs_a_doc_id():
    row = decision_row({"doc_id": "d1"}, action="quarantine", stage="pii", reason="stage_error", run_id="r")
    assert row["doc_id"] == "d1" and row["pii_counts"] == [] and row["detail"] is None
    assert row["source_uri"] is None and row["lang"] is None and row["dup_of"] is None
    try:
        decision_row({"source_uri": "u"}, action="drop", stage="x", reason="y", run_id="r")
    except KeyError:
        pass
    else:
        raise AssertionError("a decision without a doc_id was built")


def test_quarantine_row_and_its_decision():
    q = quarantine_row(source_uri="/in/bad.jsonl", record_index=3, offset=120, reason="parse_error",
                       error="JSONDecodeError", raw=b'{"text": "abcdef', raw_limit=4, run_id="run-2")
    assert q == {
        "doc_id": make_doc_id("/in/bad.jsonl", 3),
        "source_uri": "/in/bad.jsonl",
        "record_index": 3,
        "offset": 120,
        "reason": "parse_error",
        "error": "JSONDecodeError",
        "raw": b'{"te',
        "raw_truncated": True,
        "raw_bytes": 16,
        "run_id": "run-2",
    }
    assert rows_to_batch("quarantine", [q]).to_pylist() == [q]
    whole_file = quarantine_row(source_uri="/in/x.warc.gz", record_index=None, offset=None,
                                reason="unreadable_file", error="OSError", raw=None, raw_limit=4, run_id="r")
    assert whole_file["doc_id"] == make_doc_id("/in/x.warc.gz", -1) and whole_file["raw_bytes"] == 0
    assert quarantine_decision(q, stage="ingest") == {
        "doc_id": q["doc_id"],
        "source_id": None,
        "source_uri": "/in/bad.jsonl",
        "record_index": 3,
        "action": "quarantine",
        "stage": "ingest",
        "reason": "parse_error",
        "detail": '{"error": "JSONDecodeError", "offset": 120}',
        "lang": None,
        "lang_score": None,
        "license": None,
        "dup_of": None,
        "pii_counts": [],
        "run_id": "run-2",
    }

"""Per-document short cuts of the PII stage give exactly what the reference paths give.

* The e-mail recognizer runs only on the runs of its match characters around each '@'
  (``FastAnalyzer._match_runs``). Reference: presidio's ``PatternRecognizer.analyze`` of the same
  recognizer on the whole text, and the whole engine against ``PiiEngine.reference`` (presidio's
  plain AnalyzerEngine).
* Decisions rows are scrubbed many per engine call (``scrub_decision_rows``, used by
  ``ScrubDecisionFields``). Reference: ``scrub_decision_row``, one row at a time.

Real text: the labelled English/Korean set of tests/data/pii and presidio's own e-mail test
sentences when CURATE_EVAL_DATA holds its checkout; the rest are cases made for the failure
classes of these short cuts (runs at window edges, unicode, particles, line breaks, rows with PII).
"""
from __future__ import annotations

import json

import pytest

from pipeline.pii.recognizers import OfflineEmailRecognizer
from tests.presidio_literals import presidio_test_literals
from tests.unit.test_pii import _key, cfg, engine, labelled, reference  # noqa: F401 - fixtures

EMAIL_CASES = [
    "jane@example.org",
    "write to jane.doe+tag@mail.example.co.uk, or to bob@example.com.",
    "김철수의 이메일은 kim@example.co.kr입니다. kim@example.com으로 보내세요, lee@example.kr 로.",
    "全角の＠は別の文字: taro＠example.jp, ｔａｒｏ@example.jp, 山田@例え.jp, 电邮 wang@例子.中国。",
    "a@b.c@d.e and x@@y.com and @example.com and jane@ and jane@example and a..b@c.com.",
    "split over lines: jane.doe@exam\nple.org, jane.doe\n@example.org, jane.doe@\nexample.org",
    "quoted 'o'reilly'@example.org, (jane@example.org), <jane@example.org>, [x@y.io]; \"a@b.io\"",
    "https://user:secret@example.org/path?mail=jane@example.org#frag mailto:bob@example.com",
    "!#$%&'*+-/=?^_`{|}~@example.org and ~~~@~~~.com and _@_._ and 9@9.99",
    "Kelvin \u212a@example.org, dotless \u0131@example.org, \u0130stanbul@example.com.tr, stra\u00dfe@m\u00fcller.de",
    "combining e\u0301mile@example.fr and ＡＢＣ@ＥＸＡＭＰＬＥ.ＣＯＭ and x\u200b@example.org",
    "@" * 50 + "jane@example.org" + "@" * 50,
    "a" * 3000 + "@example.org " + "b@" + "c." * 500 + "org",
    "no at sign here, only words and 010-1234-5678",
]


def _email_parts(engine, lang="en"):
    fast = engine.fast[lang]
    (rec,) = [r for r in fast.recognizers if isinstance(r, OfflineEmailRecognizer)]
    return fast, rec


def _on_runs(fast, rec, text):
    """The recognizer's findings on the runs of ``text``, mapped back to ``text``. The engine gives
    the fast path its windows with full-width forms narrowed (the recognizers read them so)."""
    import bisect

    from pipeline.pii.boundaries import narrowed

    runs, (starts, shifts) = fast._match_runs(rec, narrowed(text), None)
    found = rec.analyze(text=runs, entities=fast.entities, nlp_artifacts=None) if runs else []
    for r in found:
        d = shifts[bisect.bisect_right(starts, r.start) - 1]
        r.start += d
        r.end += d
    return found


def test_the_email_recognizer_uses_match_runs(engine):
    fast, rec = _email_parts(engine)
    assert rec.id in fast.match_runs


@pytest.mark.parametrize("text", EMAIL_CASES + ["\n\n".join(EMAIL_CASES)])
def test_email_on_match_runs_equals_the_whole_text(engine, text):
    fast, rec = _email_parts(engine)
    assert _key(_on_runs(fast, rec, text)) == _key(rec.analyze(text=text, entities=fast.entities, nlp_artifacts=None))


def test_email_on_match_runs_finds_the_cases(engine):
    """Guards the comparison above against two empty lists."""
    fast, rec = _email_parts(engine)
    found = {text[r.start : r.end] for text in EMAIL_CASES for r in _on_runs(fast, rec, text)}
    for address in ["jane@example.org", "jane.doe+tag@mail.example.co.uk", "lee@example.kr", "bob@example.com",
                    "wang@例子.中国", "\u0130stanbul@example.com.tr"]:
        assert address in found, address


def test_email_on_match_runs_equals_the_whole_text_on_the_labelled_set(engine, labelled):
    fast, rec = _email_parts(engine)
    texts = [d["text"] for d in labelled]
    n = 0
    for text in texts + ["\n".join(texts[k : k + 20]) for k in range(0, len(texts), 20)]:
        reference_found = _key(rec.analyze(text=text, entities=fast.entities, nlp_artifacts=None))
        assert _key(_on_runs(fast, rec, text)) == reference_found
        n += len(reference_found)
    assert n > 20


def test_email_on_match_runs_equals_the_whole_text_on_presidio_test_sentences(engine):
    # presidio-analyzer's own e-mail tests: the literals holding '@'
    strings = presidio_test_literals(("test_email*.py", "test_analyzer_engine.py"), lambda s: "@" in s)
    fast, rec = _email_parts(engine)
    n = 0
    for text in strings:
        reference_found = _key(rec.analyze(text=text, entities=fast.entities, nlp_artifacts=None))
        assert _key(_on_runs(fast, rec, text)) == reference_found, text
        n += bool(reference_found)
    assert n >= 5


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_engine_with_match_runs_equals_plain_presidio(engine, reference, lang):
    # the cases inside documents: e-mails at window edges, next to phone numbers and ids
    docs = [f"Contact: {c}\n전화 010-2{i:03d}-4567 ({c}) id 900101-1234568" for i, c in enumerate(EMAIL_CASES)]
    docs += ["\n".join(EMAIL_CASES)]
    got = engine.analyze_batch(docs, [lang] * len(docs))
    for text, mine in zip(docs, got):
        assert _key(mine) == _key(reference.analyzer.analyze(text=text, language=lang)), text


# --- decisions rows ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fields(cfg):
    from pipeline.pii.engine import PiiEngine
    from pipeline.stages.pii import FieldScrubber

    return FieldScrubber(PiiEngine.from_config(cfg))


def _rows():
    from pipeline.records import DROP, decision_row, new_record

    details = [
        {"value": 0.5, "sample": ["ok", "call 010-2222-3333"]},
        {"rule": "min_words", "value": 3},
        None,
        {"quote": "write to kay@example.com", "nested": {"ids": ["900101-1234568", 7, None], "url": "https://x.org/?email=a@b.io"}},
        {"lang": "en", "note": "no personal data"},
        {"k": "+82 10 1234 5678"},
    ]
    ids = ["kay@example.com", "b7-0001234", None, "https://x.org/u/jane@example.org?phone=010-1234-5678",
           "doc-plain", "010 1234 5678", 42]
    rows = []
    for i in range(40):
        record = new_record(source_uri="x.jsonl", record_index=i, text="x", source_id=ids[i % len(ids)])
        rows.append(decision_row(record, action=DROP, stage="quality", reason="r", run_id="run",
                                 detail=details[i % len(details)]))
    rows[5]["detail"] = "{not json"
    rows[6]["detail"] = "null"
    rows[7]["detail"] = json.dumps(["a@b.io", {"x": "y"}])
    rows[8]["detail"] = ""
    return rows


def test_decision_rows_in_a_batch_equal_one_by_one(fields):
    from pipeline.stages.pii import scrub_decision_row, scrub_decision_rows

    rows = _rows()
    expected = [scrub_decision_row(fields, row) for row in rows]
    assert scrub_decision_rows(fields, rows) == expected
    # guards: the rows held PII and the reference replaced it
    assert expected[0]["source_id"] == "<EMAIL_ADDRESS>" and "<PHONE_NUMBER>" in expected[0]["detail"]
    assert expected[5]["detail"] is None and expected[7]["detail"] == json.dumps(["<EMAIL_ADDRESS>", {"x": "y"}])


def test_decision_rows_a_failing_value_nulls_only_its_field(fields, monkeypatch):
    from pipeline.pii.engine import PiiError
    from pipeline.stages.pii import scrub_decision_row, scrub_decision_rows

    real = fields.engine.scrub_batch

    def failing(texts, langs):
        if any("kay@example.com" in t for t in texts):
            raise PiiError("TimeoutError")
        return real(texts, langs)

    monkeypatch.setattr(fields.engine, "scrub_batch", failing)
    rows = _rows()
    expected = [scrub_decision_row(fields, row) for row in rows]
    assert scrub_decision_rows(fields, rows) == expected
    assert expected[0]["source_id"] is None and expected[1]["source_id"] == "b7-0001234"
    assert expected[3]["detail"] is None and expected[0]["detail"] is not None


def test_scrub_decision_fields_holds_rows_and_emits_every_one(cfg, monkeypatch):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from pipeline.stages.pii import ScrubDecisionFields, scrub_decision_row

    monkeypatch.setattr(ScrubDecisionFields, "BATCH", 7)  # several full batches and a rest per bundle
    rows = _rows()
    fields_ = ScrubDecisionFields(cfg)
    fields_.setup()
    expected = [scrub_decision_row(fields_._fields, row) for row in rows]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | beam.ParDo(ScrubDecisionFields(cfg))
        assert_that(out, equal_to(expected))


# --- prefilter windows ------------------------------------------------------------------------
DENSE = [
    "v1.2 v1.3 (2.10.18-1) 3.0.2 10:20 #123 build 45 67 89 a b c d e f g h 1 2 3 4 5 6 7 8 9 10",
    "call phone tel 010-1234-5678 the of and a an 02-312-4567 is to be or not 031-123-4567 ok",
    "전화 010-1234-5678 로 연락, 010-2222-3333 으로 문의, 이메일 kim@example.com으로, 02-312-4567 팩스",
    "x " * 40 + "1 " * 40 + "mail: a@b.io " * 5 + "the " * 30 + "9" * 20,
    "line one 12\nline two 34\n\nline three 56 the a of\r\nfour 78\u2028five 90 and 11 then 12",
]


@pytest.mark.parametrize("lang", ["en", "ko", "xx"])
def test_windows_that_stop_at_the_previous_window_equal_the_full_walk(engine, labelled, lang, monkeypatch):
    from pipeline.pii.prefilter import Prefilter

    pre = engine.prefilters[lang]
    texts = DENSE + EMAIL_CASES + [d["text"] for d in labelled] + ["\n".join(DENSE * 3)]
    fast = [pre.windows(t) for t in texts]
    monkeypatch.setattr(Prefilter, "stop_at_previous_window", False)
    full = [pre.windows(t) for t in texts]
    assert fast == full
    assert sum(len(w) for w in full) > 100 and any(len(w) > 1 for w in full)

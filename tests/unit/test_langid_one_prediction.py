"""langid: one prediction per document unless its paragraphs really disagree.

Each decision class of ``LanguageIdentifier.label_documents``, with the lines the model predicts
counted at the predictor (the batch kernel's call, or fasttext's per-line C call): a document is
predicted once — its paragraphs, or its whole text — and a second time (its whole text) only when the
paragraphs disagree in substance. Labels are checked against the fixture's languages (real
paragraphs, tests/data/langid/paragraphs.jsonl), not against the code's own output.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipeline.lang.identifier as identifier
from pipeline.config import load_config
from pipeline.lang.identifier import PARAGRAPH_PREDICT_CHARS, prepare
from pipeline.records import new_record
from pipeline.stages.langid import LanguageFilter

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
ENGLISH_CODE = "for item in items: print(item.name, item.size) if item.enabled else skip(item)"


def by_lang(lang: str) -> list[str]:
    return [r["text"] for r in ROWS if r["lang"] == lang]


class Predictor:
    """Counts what reaches the model: native calls and the lines of each."""

    def __init__(self, monkeypatch, core: LanguageFilter) -> None:
        ident = core._ident
        ident._memo.clear()
        self.calls: list[list[str]] = []
        if ident._native is not None:
            real = ident._native.predict
            monkeypatch.setattr(ident._native, "predict", lambda lines: self.calls.append(list(lines)) or real(lines))
        else:  # no kernel: fasttext's per-line C call, one line per call
            real_f = ident._model.f

            class PerLine:
                def predict(inner, line, *a):  # noqa: N805
                    self.calls.append([line[:-1]])
                    return real_f.predict(line, *a)

            monkeypatch.setattr(ident._model, "f", PerLine())

    @property
    def lines(self) -> list[str]:
        return [line for call in self.calls for line in call]


@pytest.fixture
def stage(monkeypatch):
    core = LanguageFilter(load_config())
    core.setup()
    return core, Predictor(monkeypatch, core)


def run(core: LanguageFilter, *texts: str):
    recs = [new_record(source_uri="mem://t.jsonl", record_index=i, text=t) for i, t in enumerate(texts)]
    return recs, core.process_batch(recs)


def with_minority(main: list[str], line: str, share: float) -> str:
    """``main`` paragraphs and ``line`` (cut at a word) holding about ``share`` of the prepared
    paragraph characters, inserted after the first paragraph."""
    main_chars = sum(len(prepare(p)) for p in main)
    want = int(share * main_chars / (1 - share))
    text = (line + " ") * (want // len(line) + 1)
    cut = text[:want].rsplit(" ", 1)[0]
    return "\n\n".join([main[0], cut, *main[1:]])


def minority_share(text: str, minority: str) -> float:
    """The minority paragraph's share of the prepared paragraph characters (the test's own count)."""
    units = [u for u in (prepare(p) for p in text.split("\n\n")) if len(u) >= 30]
    return len(prepare(minority)) / sum(map(len, units))


def test_single_language_document_is_predicted_once_from_its_paragraphs(stage):
    core, model = stage
    paras = by_lang("fr")[3:7]
    recs, verdicts = run(core, "\n\n".join(paras))
    assert recs[0]["lang"] == "fr" and verdicts[0].kept and verdicts[0].detail is None
    assert len(model.calls) <= 1 and len(model.lines) == 4  # its 4 paragraph heads, no whole text
    assert all(len(line) <= PARAGRAPH_PREDICT_CHARS for line in model.lines)


def test_short_document_is_predicted_once_whole(stage):
    core, model = stage
    text = by_lang("ko")[5]
    recs, _ = run(core, text)
    assert recs[0]["lang"] == "ko"
    assert model.lines == [prepare(text)]


def test_truly_mixed_document_gets_its_paragraphs_and_its_whole_text(stage):
    core, model = stage
    text = "\n\n".join(by_lang("en")[2:4] + by_lang("ja")[2:4])
    recs, verdicts = run(core, text)
    assert verdicts[0].detail["mixed"] is True
    assert set(verdicts[0].detail["shares"]) == {"en", "ja"}
    assert len(model.lines) == 4 + 1 and model.lines[-1] == prepare(text)  # paragraphs, then the whole text
    assert core._ident.whole_text_causes == {"paragraphs disagree": 1}
    assert recs[0]["lang"] in ("en", "ja")


def test_a_short_foreign_line_in_the_same_script_needs_no_second_prediction(stage):
    """German paragraphs with an English line holding 5-10% of the characters: the paragraphs
    disagree a little, in one script — the label is German without predicting the whole text."""
    core, model = stage
    english = by_lang("en")[1]
    text = with_minority(by_lang("de")[8:12], english, 0.075)
    minority = text.split("\n\n")[1]
    assert 0.05 < minority_share(text, minority) < 0.1
    recs, verdicts = run(core, text)
    assert recs[0]["lang"] == "de" and verdicts[0].detail is None  # not mixed: German holds >= 0.9
    assert len(model.lines) == 5 and prepare(text) not in model.lines
    assert 0.5 <= recs[0]["lang_score"] <= 0.95  # weighted mean of the German paragraphs' probabilities


def test_unsure_paragraphs_in_the_same_script_are_checked_on_the_whole_text(monkeypatch, stage):
    """The same document when the paragraphs' score is held to be unsure: the whole text decides."""
    core, model = stage
    monkeypatch.setattr(identifier, "SAME_SCRIPT_MIN_SCORE", 1.01)
    text = with_minority(by_lang("de")[8:12], by_lang("en")[1], 0.075)
    recs, _ = run(core, text)
    assert model.lines[-1] == prepare(text) and len(model.lines) == 5 + 1
    assert recs[0]["lang"] == "de" and core._ident.whole_text_causes == {"paragraphs unsure": 1}


@pytest.mark.parametrize("lang", ["ja", "zh", "ko"])
def test_cjk_document_with_english_code_is_labelled_from_its_whole_text(stage, lang):
    """A CJK document whose English code line holds 5-10% of the characters: by characters the code
    counts for more than its share of the text, so the whole text is predicted too and labels it."""
    core, model = stage
    text = with_minority(by_lang(lang)[10:14], ENGLISH_CODE, 0.075)
    minority = text.split("\n\n")[1]
    assert 0.05 < minority_share(text, minority) < 0.1
    recs, verdicts = run(core, text)
    assert recs[0]["lang"] == lang and verdicts[0].detail is None
    assert len(model.lines) == 5 + 1 and model.lines[-1] == prepare(text)
    assert core._ident.whole_text_causes == {"minority in another script": 1}


def test_cjk_document_with_much_english_code_is_mixed(stage):
    core, model = stage
    steps = ["configure the build", "compile every module", "run the unit tests", "package the result"]
    code = "\n\n".join(f"{ENGLISH_CODE} # then {step} and check its log file" for step in steps)
    text = "\n\n".join(by_lang("ja")[15:17]) + "\n\n" + code
    recs, verdicts = run(core, text)
    assert verdicts[0].detail["mixed"] is True and recs[0]["lang"] == "ja"
    assert model.lines[-1] == prepare(text) and len(model.lines) == 6 + 1


def test_noise_only_document_is_not_predicted(stage):
    core, model = stage
    text = "12345 678\n\nhttps://example.org/a/b?c=1 www.example.com\n\n<br/> |==| ## 20261206 ##\n\n&amp; 42"
    recs, verdicts = run(core, text, "")
    assert [r["lang"] for r in recs] == ["und", "und"] and [r["lang_score"] for r in recs] == [0.0, 0.0]
    assert model.calls == [] and all(v.kept for v in verdicts)


def test_headings_in_the_paragraphs_script_need_no_second_prediction(stage):
    """Paragraphs covering under 80% of the text (many short headings) give the label when the
    headings are written in the paragraphs' script."""
    core, model = stage
    headings = [w for w in " ".join(by_lang("es")[:6]).split() if len(w) > 3][:120]
    shorts = [" ".join(headings[i : i + 2]) for i in range(0, len(headings), 2)]
    shorts = [h for h in shorts if len(prepare(h)) < 30]
    paras = by_lang("es")[10:12]
    text = "\n\n".join([paras[0], *shorts, paras[1]])
    short_chars = sum(len(prepare(s)) for s in shorts)
    assert all(len(prepare(s)) < 30 for s in shorts) and short_chars > 0.25 * sum(len(prepare(p)) for p in paras)
    recs, _ = run(core, text)
    assert recs[0]["lang"] == "es" and len(model.lines) == 2 and prepare(text) not in model.lines
    assert core._ident.whole_text_causes == {}


def test_headings_in_another_script_are_checked_on_the_whole_text(stage):
    """Two long English paragraphs among many short Japanese lines: the paragraphs agree on English,
    but most of the text is Japanese, so the whole text is predicted and labels the document."""
    core, model = stage
    ja = "".join(by_lang("ja")[:6]).replace("\n", "")
    shorts = [ja[i : i + 20] for i in range(0, 2400, 20)]
    text = "\n\n".join(shorts[:60] + by_lang("en")[6:8] + shorts[60:])
    recs, _ = run(core, text)
    assert len(model.lines) == 2 + 1 and model.lines[-1] == prepare(text)
    assert recs[0]["lang"] == "ja" and core._ident.whole_text_causes == {"short lines in another script": 1}


def test_a_batch_of_every_class_is_one_native_call_plus_one_for_the_whole_texts(stage):
    core, model = stage
    if core._ident._native is None:
        pytest.skip("no batch kernel on this machine: the per-line C predict is called per line")
    texts = ["\n\n".join(by_lang("it")[:3]), by_lang("ru")[0], "123 456",
             "\n\n".join(by_lang("en")[8:10] + by_lang("zh")[8:10]),
             with_minority(by_lang("pl")[4:8], by_lang("en")[9], 0.075)]
    recs, _ = run(core, *texts)
    assert [r["lang"] for r in recs][:3] == ["it", "ru", "und"] and recs[4]["lang"] == "pl"
    assert [len(c) for c in model.calls] == [3 + 1 + 4 + 5, 1]  # only the en/zh document predicted twice

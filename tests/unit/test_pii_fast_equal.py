"""The PII stage's fast path (guarded prefilter → windows → presidio's steps) finds and replaces
exactly what presidio's plain AnalyzerEngine does on the whole text, and its one-pass guard covers
every recognizer's condition, including conditions added later in rules/ or recognizers.py.

Oracles: ``PiiEngine.reference`` (presidio's AnalyzerEngine, no prefilter, presidio's own NLP
artifacts) for findings and replacements; the ``regex`` module's partial matching (can this
character begin a match?) for the guard, independent of how the guard is derived.
"""
from __future__ import annotations

import shutil
import sys
import unicodedata
from pathlib import Path

import pytest
import regex
import yaml

from pipeline.pii.engine import PiiEngine
from pipeline.pii.prefilter import Prefilter, first_items
from tests.unit.test_pii import _key, cfg, engine, reference  # noqa: F401 - cfg, engine, reference are fixtures


# Characters a condition could start at: ASCII, Latin-1, every Unicode decimal digit, full-width
# forms, characters with unusual case folding, and a stride through the rest of Unicode.
_SAMPLE = sorted(
    {chr(c) for c in range(0x250)}
    | {chr(c) for c in range(0xFF00, 0xFF66)}
    | {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Nd"}
    | set("\u212a\u017f\u0130\u0131\u1e9e\u2160\u24b6\u00b5")
    | {chr(c) for c in range(0x250, sys.maxunicode + 1, 97) if unicodedata.category(chr(c)) != "Cs"}
)
# what may stand before a condition's first character (lookbehinds read it)
_BEFORE = ["", "ab", "mm", "sr", "zz", " ", "\n", "-", "9"]


def _can_start(compiled, char: str) -> bool:
    """Can a match of ``compiled`` begin with ``char`` (whatever follows)? regex's partial match."""
    return any(compiled.match(before + char, len(before), partial=True) is not None for before in _BEFORE)


def test_every_condition_first_character_is_in_the_guard(engine):
    checked = 0
    for lang, pre in engine.prefilters.items():
        if pre is None:
            continue
        assert pre.starts is not None and pre.conditions, lang
        for condition in pre.conditions:
            compiled = regex.compile(condition, pre.pattern.flags)
            for char in _SAMPLE:
                if _can_start(compiled, char):
                    checked += 1
                    assert pre.starts.search(char) is not None, (lang, condition, hex(ord(char)))
    assert checked > 1000  # every digit of every script starts the phone / card / id conditions


@pytest.mark.parametrize("pattern, flags, starts", [
    (r"\d{4}[- ]?\d{3}", 0, "0٣５"),
    (r"(?<=[a-z]{2})[0-9]{2}[ -]?[a-z0-9]{4}", regex.IGNORECASE, "07"),
    (r"\d{1,3}\.\d{1,3}|::|:(?:[0-9a-f]{1,4}:){6}", 0, "1:"),
    (r"(?<![\d-])(?!01[016789]-)\d{3,6}-\d{2,6}", 0, "0"),
    (r"x*(?:ab|c?d)", 0, "xacd"),
    (r"(?i:e)mp", 0 | regex.IGNORECASE, "eE"),
])
def test_first_items_cover_what_the_pattern_can_start_with(pattern, flags, starts):
    items = first_items(pattern, flags)
    assert items is not None
    pre = Prefilter.build([pattern], flags, 1, 1, (), ())
    compiled = regex.compile(pattern, flags)
    for char in _SAMPLE + list(starts):
        assert (pre.starts.search(char) is not None) or not _can_start(compiled, char), hex(ord(char))
    for char in starts:
        assert pre.starts.search(char) is not None


@pytest.mark.parametrize("pattern, flags", [
    (r"\p{L}ecret", 0),        # regex-only syntax re's parser rejects
    (r"(?:ab){e<=1}", 0),      # fuzzy matching: any first character
    (r"[[:alpha:]]x", 0),      # a POSIX class re would read as a set of punctuation
    (r"a?", 0),                # can be empty
    (r".x", 0),                # any first character
    (r"[^a]b", 0),             # a negated set
    (r"(?i:a)b", 0),           # case folding the guard would not get
    (r"ss", regex.IGNORECASE | regex.FULLCASE),  # 'ß' matches 'ss'
    (r"ab", regex.REVERSE),    # searched from the end
])
def test_a_pattern_whose_first_characters_are_unknown_gets_no_guard(pattern, flags):
    assert first_items(pattern, flags) is None
    pre = Prefilter.build([r"\d{3}", pattern], flags, 1, 1, (), ())
    assert pre.starts is None
    text = "Abx secret ab 1234"
    assert pre.hits(text) == [m.span() for m in pre.pattern.finditer(text)]


def test_the_union_scan_from_the_first_guard_character_reads_lookbehinds_before_it():
    pre = Prefilter.build([r"(?<=[a-z]{2})[0-9]{2}[ -]?[a-z0-9]{4}", r"@"], regex.IGNORECASE, 1, 1, (), ())
    for text in ("DE89 3704 0044", "x DE89 3704", "89 3704 DE89 3704", "a@b DE89 3704"):
        assert pre.hits(text) == [m.span() for m in pre.pattern.finditer(text)], text


def test_a_rules_file_recognizer_starting_at_a_letter_is_found(tmp_path, make_config, cfg):
    # A YAML recognizer whose prefilter and pattern start at a letter: the guard takes the letter,
    # so a document with no digit, '@' or ':' still reaches it.
    badge = {"name": "BadgeCode", "type": "custom", "supported_entity": "BADGE_CODE", "prefilter": "BDG-",
             "patterns": [{"name": "badge", "regex": r"\bBDG-[A-Z]{5}\b", "score": 0.9}],
             "supported_languages": ["en", "ko", "ja", "zh", "xx"]}
    rules = Path(shutil.copytree(cfg.rules_path(), tmp_path / "rules"))
    listing = rules / "pii" / "recognizers.yaml"
    data = yaml.safe_load(listing.read_text(encoding="utf-8"))
    data["recognizers"].append(badge)
    listing.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    custom = make_config({"rules_dir": str(rules)})
    eng, ref = PiiEngine.from_config(custom), PiiEngine.reference(custom)
    text = "Badge BDG-QWXYZ opens the lab door; bdg-abcde too"
    assert eng.prefilters["en"].starts.search("b")
    assert eng.scrub(text, "en") == ref.scrub(text, "en")
    assert eng.scrub(text, "en")[1] == {"BADGE_CODE": 2}


# Real-looking text with PII of every kind the stage handles: English prose, Korean with particles
# attached to the values, technical text full of numbers that are not PII.
CASES = [
    ("en", "Please write to jane.doe@example.org or call (212) 555-0123 before Friday. "
           "Her card 4539 1488 0343 6467 was charged twice; SSN 078-05-1120 is on file.\n\n"
           "The office moved to the second floor last year, next to the library."),
    ("en", "Wire the refund to IBAN DE89 3704 0044 0532 0130 00, reference invoice 2023-118. "
           "Bitcoin donations: 1BoatSLRHtKNngkdXEeobR76b53LETtpyT. Mobile: +44 20 7946 0958."),
    ("ko", "자세한 내용은 hong.gildong@example.co.kr으로 문의하거나 010-1234-5678로 전화 주세요. "
           "주민등록번호 900101-1234567이며 여권번호는 M12345678입니다."),
    ("ko", "운전면허 11-12-123456-78을 제시하고, 사업자등록번호 123-45-67890는 영수증에 적습니다. "
           "계좌번호 110-123-456789로 입금해 주세요. 연락처: 02-123-4567"),
    ("ko", "김민수님의 카드 5105 1051 0510 5100이 정지되었습니다. 서버 주소는 192.168.0.10이고 "
           "비상 연락처는 +82 10 9876 5432입니다."),
    ("en", "Release 2.10.3 (build 20231005) listens on 10.0.0.5:8080 and [2001:db8::1]:443.\n"
           "    $ curl -s http://127.0.0.1:9000/health   # returns 200\n"
           "    sha256 3f2a9c0e1b7d4c6a8e5f2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f\n"
           "Timestamps: 2023-10-05T12:34:56Z, 1696509296; port range 49152-65535; ISBN 978-3-16-148410-0."),
    ("en", "Changelog:\n * Fixed crash when the user jdoe@users.noreply.github.com opens file #4521.\n"
           " * Contact maintainer at 555-867-5309 (ext. 42) for access; server fe80::1ff:fe23:4567:890a."),
    (None, "Ticket 88213 from bob@example.net, phone 1-800-555-0199, IP 8.8.4.4, card 378282246310005."),
    ("zh", "请把身份证号码360426199101010071和联系电话13812345678发到wang.wei@example.cn。"
           "订单号20231005123456789的发票已开，另一位申请人的身份证是44011320141005001x。"),
    ("zh", "旧身份证号110105491231002已换领；订单号110105491231002不是证件。身分證號碼：１１０１０５４９１２３１００２"),
    ("ja", "マイナンバー：6214 9832 0257をご記入ください。個人番号は621498320257です。"
           "注文番号 4313 5287 6128 3153、お問い合わせは03-3213-1111まで。"),
    ("ja", "全角でも同じ：ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ、接続元１９２．１６８．１０．２３、"
           "カード４１１１　１１１１　１１１１　１１１１、マイナンバー：６２１４　９８３２　０２５７。"
           "バージョン１．２．３．４をリリース。"),
]


@pytest.mark.parametrize("lang, text", CASES)
def test_fast_path_finds_and_replaces_what_the_full_engine_does(engine, reference, lang, text):
    got = engine.analyze_batch([text], [lang])[0]
    assert got, "each case holds PII"
    assert _key(got) == _key(reference.analyze_batch([text], [lang])[0])
    assert engine.scrub(text, lang) == reference.scrub(text, lang)


def test_a_batch_of_mixed_documents_equals_the_full_engine_document_by_document(engine, reference):
    # Documents with and without candidates in one batch: windows of many documents share calls.
    texts = [t for _, t in CASES] + ["A paragraph with no candidate characters at all, in plain words.",
                                     "숫자도 골뱅이도 없는 한국어 문단입니다.", ""]
    langs = [lang for lang, _ in CASES] + ["en", "ko", "en"]
    got = engine.scrub_batch(texts, langs)
    assert got == [reference.scrub(t, lang) if t else (t, {}) for t, lang in zip(texts, langs)]


def test_stage_core_output_equals_the_full_engine(cfg, reference):
    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(cfg)
    records = [{"text": t, "lang": lang, "source_id": f"file-{i}.jsonl:{i}", "url": None}
               for i, (lang, t) in enumerate(CASES)]
    want = [reference.scrub(r["text"], r["lang"]) for r in records]
    core.process_batch(records)
    assert [(r["text"], r["pii_counts"]) for r in records] == want


def test_many_short_values_in_one_batch_equal_the_full_engine_value_by_value(engine, reference):
    # Identifiers and URLs are scrubbed hundreds at a time: one window per value, most holding a
    # hit of the digit conditions, so the per-recognizer narrowing judges early that the windows
    # are most of the text. Values with PII sit before, at and long after that point.
    values = [f"d7-{i:07d}" for i in range(400)]
    planted = {3: "user-jane.doe@example.org", 40: "card-4539148803436467", 199: "tel:+44-20-7946-0958",
               333: "mail-bob@example.net", 398: "DE89370400440532013000"}
    for i, value in planted.items():
        values[i] = value
    got = engine.scrub_batch(values, [None] * len(values))
    assert got == [reference.scrub(v, None) for v in values]
    assert [i for i, (_, counts) in enumerate(got) if counts] == sorted(planted), "the planted values are found"

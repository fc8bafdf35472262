"""Language ID text preparation: the one-pass cleaning of a document (noise characters blanked once,
paragraphs as slices) gives exactly the per-paragraph regex's prepared text and units.

Oracle: ``" ".join(_NOISE.sub(" ", text).split())`` — the full noise regex, no variants, no slicing —
and ``prepare_parts(..., one_pass=False)``, which cleans every paragraph with it. Cases: one per kind
of input the shortcut could get wrong (URLs, e-mails, tags, entities, digits of other scripts, CJK,
mixed scripts, combining marks, empty and whitespace-only paragraphs, noise right next to a feature,
paragraphs across the one-pass limit) and real paragraphs (tests/data/langid/paragraphs.jsonl)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.lang.identifier import (
    _NOISE, _NOISE_BY_FEATURE, ONE_PASS_CHARS, LanguageIdentifier, _noise_blanked, paragraph_spans, prepare)

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
ROWS = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def reference_clean(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text).split())


@pytest.fixture(scope="module")
def ident() -> LanguageIdentifier:
    return LanguageIdentifier.from_config(load_config())


ADVERSARIAL = [
    "",
    "\n\n",
    "plain words only\n\nand a second paragraph of plain words here",
    "see https://example.org/a_b?c=1&d=2 and www.example.com/x for more\n\nno link in this paragraph at all, honest",
    "mail jane.doe+tag@example.co.uk now\n\nthe next paragraph has none of the features, only 42 digits",
    "*_foo@bar.com and x+_y@z.de a@b.c.@x.y\n\n__init__ and a+b=c {x} [y] `z` ~w~ ^v^ #h |t| \\p/",
    "<b>bold</b> &amp; &#169; &#x20AC; <a\nb> 1<b>2\n\ntags above; here only <> brackets and =+= signs",
    "Arabic-Indic ٠١٢٣٤٥٦٧٨٩ and fullwidth ０１２３ and Devanagari १२३ digits\n\nplain again with 2024 and 3.14",
    "日本語の文章です。数字は１２３です。\n\n中文段落，没有噪声。\n\n한국어 문단입니다 123",
    "Mixed: English, Русский текст, ελληνικά, עברית, العربية, हिन्दी\n\nline two ۱۲۳ mixed scripts",
    "Combining: e\u0301 a\u0308 n\u0303 — cafe\u0301 nai\u0308ve\n\nZero-width: a\u200bb and no-break\u00a0space",
    "first\n \t \nsecond\r\n\r\nthird\n\n\n\nfourth\u2028fifth\u3000sixth",
    "line one\nline two with 12 digits\nline three @ alone\nline four",
    "tab\tseparated\x0bvertical\x0cform feed\x1cfile sep\x1dgroup",
]


def _documents() -> list[str]:
    docs = list(ADVERSARIAL)
    for i in range(0, len(ROWS), 4):  # real paragraphs as documents, some with noise between them
        sep = ("\n\n", "\n", "\n \n", "\n\n#### 12 ####\n\n")[i % 4]
        docs.append(sep.join(ROWS[i : i + 4 + i % 5]))
    word = "wörter 1 and_more "
    docs.append(word * (ONE_PASS_CHARS // len(word) + 50))  # one paragraph across the one-pass limit
    docs.append("\n\n".join([word * 200] * 40))  # paragraphs before, across and after the limit
    docs.append("\n\n".join([word * 900, "x@y.org " * 3000, word * 900]))  # longer than the head
    return docs


def test_one_pass_equals_the_per_paragraph_regex(ident):
    for text in _documents():
        for paragraphs in (True, False):
            got = ident.prepare_parts(text, paragraphs=paragraphs)
            assert got == ident.prepare_parts(text, paragraphs=paragraphs, one_pass=False), text[:80]
        doc, units, _ = ident.prepare_parts(text)
        assert doc == prepare(text)
        want = [u for u in (reference_clean(text[a:b])[: ident.max_chars].rstrip() for a, b in paragraph_spans(text))
                if len(u) >= 30]
        assert units == want[: len(units)]


def test_blanking_a_character_is_the_noise_regex_without_features():
    # every code point, on both paths (ASCII table, regex): blanked alone exactly where the regex
    # without URL/e-mail/tag/entity removes a run, space for space
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    want = _NOISE_BY_FEATURE[0].sub(lambda m: " " * len(m.group()), every)
    assert _noise_blanked(every) == want
    ascii_part = every[:128]
    assert ascii_part.isascii() and _noise_blanked(ascii_part) == want[:128]
    assert want[:128] != ascii_part and want[128:] != every[128:]  # both parts have noise to blank


def test_blanked_text_keeps_every_offset():
    for text in _documents():
        head = text[:ONE_PASS_CHARS]
        blanked = _noise_blanked(head)
        assert len(blanked) == len(head)
        assert [m.start() for m in re.finditer("\n", blanked)] == [m.start() for m in re.finditer("\n", head)]


def test_word_by_word_cleaning_equals_the_regex_over_the_whole_text():
    """_clean runs the noise regex only on the words holding a URL / e-mail / tag / entity mark;
    it must equal the regex over the whole text — random strings dense in marks, whitespace of every
    kind (str.split's and the regex's), tags with and without spaces, and tags past 300 characters."""
    import random

    from pipeline.lang.identifier import _NOISE, _clean, _clean_reference

    pieces = list("ab.+-_@<>&;#*/:w \n\t1x") + [
        "://", "www.", "http://", "ftp://", "&amp;", "&#12;", "&#x1F;", "<b>", "</a>", "<a href=x>", "<a\nb>",
        "@x.org", "a@b.c.", "é", "日本", "\u3000", "\x1c", "\u00a0", "\u2028", "\r", "\x0b", "x" * 299, " " * 3,
    ]
    rng = random.Random(20)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        want = " ".join(_NOISE.sub(" ", text).split())
        assert _clean(text) == want == _clean_reference(text), repr(text)
    for paragraph in ROWS[::3]:  # real paragraphs with every kind of mark added between words
        words = paragraph.split(" ")
        marked = " ".join(w + rng.choice(["", "", "@x.org", "<i>", "&lt;", " www.a.b", "<a b=c>", "1"]) for w in words)
        assert _clean(marked) == " ".join(_NOISE.sub(" ", marked).split())


def test_table_blanking_equals_the_regex_on_real_text_and_lone_surrogates():
    """The non-ASCII path blanks by a code-point table; the oracle is the regex substitution it
    replaces (``_NOISE_CHAR.sub``), on the real paragraphs, the adversarial documents and text
    holding lone surrogates (which JSON input can carry)."""
    from pipeline.lang.identifier import _noise_blanked_reference

    texts = ROWS + _documents() + ["a\ud800b 12 \udfff٣", "\ud83d\ude00 ۱۲ x_y", "é" * 5 + "\U0001d7ce\U0001d7d8"]
    non_ascii = [t for t in texts if not t.isascii()]
    assert len(non_ascii) > 20
    for text in non_ascii:
        assert _noise_blanked(text) == _noise_blanked_reference(text), repr(text[:80])
    # mathematical bold digits are Unicode decimal digits: blanked on both paths
    assert _noise_blanked("\U0001d7ce\U0001d7d8") == "  "

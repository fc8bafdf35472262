"""Language ID, whole-head path and remembered documents: a document's head is cleaned once (every noise match
blanked to the same length, :func:`_noise_cleared`) and its paragraphs are whitespace-collapsed
slices of it; a document within the head takes its units in one go; a document seen before gets
the label it got then.

Oracles: the full noise regex over each slice (``" ".join(_NOISE.sub(" ", s).split())``), and
``prepare_parts(..., one_pass=False)`` / ``label_documents`` with it, which clean every paragraph on
its own, one document per call with nothing remembered. Cases: one per way the shortcut could differ — feature words (URLs, e-mails, tags,
entities) next to noise, a tag spanning whitespace, noise-only lines that become blank, the unit
budget reached exactly / overrun / not reached, the paragraph cap, line-separated documents — and the
real paragraphs of tests/data/langid/paragraphs.jsonl."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.lang import identifier
from pipeline.lang.identifier import _NOISE, MAX_PARAGRAPHS, LanguageIdentifier, _noise_cleared, paragraph_spans

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
ROWS = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def reference_clean(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text).split())


def make_ident(max_chars: int = 4000) -> LanguageIdentifier:
    ident = LanguageIdentifier.from_config(load_config())
    ident.max_chars = max_chars
    return ident


FEATURE_WORDS = ["https://ex.org/a_b?c=1", "www.x.de/1", "jo.e+1@ex.co.uk", "a@b.c.", "<b>", "</i>", "&amp;",
                 "&#169;", "x&y", "1<2", "**@bold**", "[link](http://a.b/c)", "|cell|", "#42"]


def marked_documents(seed: int = 20) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for i in range(0, len(ROWS), 3):
        paragraphs = []
        for row in ROWS[i : i + 2 + i % 6]:
            words = row.split(" ")
            paragraphs.append(" ".join(w + (" " + rng.choice(FEATURE_WORDS) if rng.random() < 0.15 else "") for w in words))
        sep = ("\n\n", "\n", "\n \t\n", "\n\n== 12 ==\n\n", "\n##\n")[i % 5]
        docs.append(sep.join(paragraphs))
    return docs


ADVERSARIAL = [
    "<a href='x'>spaced tag</a> and words\n\nsecond paragraph with enough words to count here",
    "a <b\nc> tag across a line\n\nand a paragraph after it with plenty of words",
    "####\n\n1234 5678\n\nonly this paragraph has words, the others are all noise",
    "mail me@x.org\n***\nline two has words and <i>tags</i> &amp; more\n12:30\nthe end of it all, really",
    "a NUL \x00 in the text, which marks paragraph breaks\n\nso this document is cut by its spans \x00",
    "no blank line here\n  \t\nbut a line of spaces\n\x0b\nand a vertical tab line, \u2028 then more words",
    "www.a.b\n\n&#x20AC;\n\n日本語の文章です。数字は１２３です。メール a@b.jp\n\n한국어 문단입니다 <br> 123",
]


def test_slices_of_the_cleared_head_are_the_regex_over_the_slice():
    for text in ADVERSARIAL + marked_documents():
        cleared = _noise_cleared(text)
        if cleared is None:
            assert identifier._SPACED_TAG.search(text)
            continue
        assert len(cleared) == len(text)
        bounds = [0] + [m.start() for m in re.finditer(r"\s", text)] + [len(text)]
        for a, b in paragraph_spans(text):
            assert " ".join(cleared[a:b].split()) == reference_clean(text[a:b]), repr(text[a:b][:80])
        for a, b in zip(bounds, bounds[3:]):  # runs of whole words, not only paragraphs
            assert " ".join(cleared[a:b].split()) == reference_clean(text[a:b]), repr(text[a:b][:80])
    assert _noise_cleared(ADVERSARIAL[0]) is None  # the tag holding a space: cleaned slice by slice


@pytest.mark.parametrize("max_chars", [4000, 120, 60])
def test_whole_head_parts_equal_cleaning_each_paragraph(max_chars):
    # small max_chars: the unit budget (PARAGRAPH_BUDGET x max_chars) is overrun, and units are cut
    ident = make_ident(max_chars)
    docs = ADVERSARIAL + marked_documents()
    many = "\n\n".join(f"paragraph {i} with some words in it, enough of them" for i in range(MAX_PARAGRAPHS + 5))
    docs += [many, many[: len(many) // 2]]
    whole_head = 0
    for text in docs:
        got = ident.prepare_parts(text)
        assert got == ident.prepare_parts(text, one_pass=False), text[:80]
        whole_head += len(text) <= 3 * max_chars and _noise_cleared(text) is not None
    assert 0 < whole_head < len(docs)  # both paths taken: the whole head, and paragraphs cut at its end


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_paragraph_cap_reached_exactly_stops_counting_seen_characters(extra):
    ident = make_ident()
    long_one = "abcde fghij klmno pqrst uvwxyz"  # PARAGRAPH_MIN_CHARS: a unit
    parts = []
    for i in range(MAX_PARAGRAPHS + extra):
        parts += [long_one, "short"]  # short paragraphs after each unit: seen only before the cap
    text = "\n".join(parts)
    assert len(text) < 3 * ident.max_chars  # within the head: the whole-head path
    got = ident.prepare_parts(text)
    assert got == ident.prepare_parts(text, one_pass=False)
    taken = min(MAX_PARAGRAPHS, MAX_PARAGRAPHS + extra)
    assert len(got[1]) == taken
    assert got[2] == taken * len(long_one) + (taken - (extra >= 0)) * len("short")


@pytest.mark.parametrize("doc_memo_chars", [identifier.DOC_MEMO_CHARS, 3000])  # 3000: emptied on the way
def test_document_labels_equal_the_per_paragraph_reference_on_real_paragraphs(doc_memo_chars):
    fast, reference = make_ident(), make_ident()
    fast.doc_memo_chars = doc_memo_chars
    reference.doc_memo_chars = 0  # every document labelled anew, one call each
    reference.prepare_parts = lambda text, paragraphs=True: LanguageIdentifier.prepare_parts(
        reference, text, paragraphs=paragraphs, one_pass=False)
    docs = marked_documents() + marked_documents(seed=7) + ADVERSARIAL
    docs += docs[::5]  # exact repeats, in the same call and (below) in a later one
    got = fast.label_documents(docs[:60]) + fast.label_documents(docs[60:])
    want = [reference.label_documents([doc])[0] for doc in docs]
    assert got == want
    assert fast.whole_text_causes == reference.whole_text_causes != {}  # counted per document
    assert len({d.lang for d in got}) >= 10 and any(d.shares for d in got)  # real languages, shares measured

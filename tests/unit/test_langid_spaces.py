"""Language ID preparation, round three: whitespace turned into spaces while noise is blanked, the
cheaper collapse it allows, the collector paused while a batch is labelled, and the batch kernel's
lines encoded in one piece.

Oracles: ``str.isspace`` and the noise regex (``_noise_blanked_reference``) for the blanking table;
``" ".join(piece.split())`` for :func:`_collapsed`; ``prepare_parts(..., one_pass=False)`` (every
paragraph through the full regex) for whole documents of real paragraphs (tests/data/langid/
paragraphs.jsonl) joined and spaced with every kind of whitespace ``str.split`` knows."""
from __future__ import annotations

import gc
import json
import random
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.lang import identifier
from pipeline.lang.identifier import LanguageIdentifier, _collapsed, _noise_blanked, _noise_blanked_reference, _noise_cleared

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
ROWS = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
# every character str.split() splits on, the newline included (it also breaks paragraphs)
WHITESPACE = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]


@pytest.fixture(scope="module")
def ident() -> LanguageIdentifier:
    return LanguageIdentifier.from_config(load_config())


def test_blanking_with_spaces_is_the_noise_regex_then_every_whitespace_but_the_newline():
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    want = "".join(" " if c.isspace() and c != "\n" else c for c in _noise_blanked_reference(every))
    assert _noise_blanked(every, spaces=True) == want
    ascii_part = every[:128]  # the str.translate path
    assert _noise_blanked(ascii_part, spaces=True) == want[:128]
    assert len(WHITESPACE) > 20 and {"\u3000", "\x85", "\x1c", "\u2028"} <= set(WHITESPACE)


def test_collapsed_is_split_and_join_for_spaces_and_newlines():
    rng = random.Random(3)
    pieces = ["", " ", "\n", "  ", " \n ", "word", "wörter", "日本語", "a", "\u00e9\u0301"]
    cases = ["", " ", "\n", "\n\n", "  a  ", "a\nb", "a \n b", " a b ", "a" * 50]
    cases += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for paragraph in ROWS:  # real paragraphs, as one-pass cleaning leaves them: only spaces and newlines
        cleared = _noise_cleared(paragraph.replace(". ", ".\n", 3).replace(" ", "  ", 2))
        if cleared is not None:
            cases.append(cleared)
    for case in cases:
        assert _collapsed(case) == " ".join(case.split()), repr(case[:80])


def _spaced_documents() -> list[str]:
    rng = random.Random(7)
    docs = []
    for i in range(0, len(ROWS), 3):
        paragraphs = []
        for text in ROWS[i : i + 2 + i % 4]:
            words = text.split(" ")
            # whitespace of every kind between some words, runs of it, noise next to it
            paragraphs.append("".join(w + (rng.choice(WHITESPACE) * rng.randint(1, 3) if rng.random() < 0.2 else " ")
                                      + rng.choice(["", "", "", "12", "**", "<i>", "&amp;", "a@b.org "]) for w in words))
        sep = rng.choice(["\n\n", "\n", "\n\u3000\n", "\n\t\n", "\r\n\r\n", "\n\x0b\n"])
        docs.append(sep.join(paragraphs))
    return docs


def test_one_pass_with_spaces_equals_the_per_paragraph_regex_on_real_paragraphs(ident):
    docs = _spaced_documents()
    assert len(docs) > 100
    for text in docs:
        for paragraphs in (True, False):
            assert ident.prepare_parts(text, paragraphs=paragraphs) == ident.prepare_parts(
                text, paragraphs=paragraphs, one_pass=False), repr(text[:80])


@pytest.mark.parametrize("enabled", [True, False])
def test_labelling_leaves_the_collector_as_it_found_it(ident, enabled, monkeypatch):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        seen = []
        real = LanguageIdentifier._label_new_documents

        def labelling(self, *args):
            seen.append(gc.isenabled())
            return real(self, *args)

        monkeypatch.setattr(LanguageIdentifier, "_label_new_documents", labelling)
        ident._doc_memo.clear()  # documents labelled before are not labelled again
        ident.label_documents([ROWS[0] + "\n\n" + ROWS[1], ROWS[2]])
        assert seen == [False] and gc.isenabled() == enabled

        def failing(self, *args):
            raise RuntimeError("labelling failed")

        monkeypatch.setattr(LanguageIdentifier, "_label_new_documents", failing)
        with pytest.raises(RuntimeError):
            ident.label_documents([ROWS[3]])
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_remembered_lines_stay_bounded_and_paragraph_sized(ident, monkeypatch):
    monkeypatch.setattr(identifier, "MEMO_ENTRIES", 8)
    ident._memo.clear()
    lines = [r[:150] for r in ROWS[:20]]
    first = ident.predict_many(lines + [ROWS[0] * 3])
    assert len(ident._memo) <= 8 and all(len(line) <= identifier.PARAGRAPH_PREDICT_CHARS for line in ident._memo)
    ident._memo.clear()
    assert ident.predict_many(lines[:5]) == first[:5]
    assert set(ident._memo) == set(lines[:5])  # under the bound: every paragraph line remembered
    assert ident.predict_many(lines[:5] + [""]) == first[:5] + [(identifier.UNDETERMINED, 0.0)]


def test_kernel_call_encoded_in_one_piece_matches_the_binding_line_by_line(ident):
    """The kernel's lines are encoded joined by newlines; a line holding a newline itself makes the
    call encode line by line. Oracle: the binding's per-line C predict (the newline as a space,
    which fastText reads the same)."""
    assert ident._native is not None, "numba is a dependency: the batch kernel loads in the project's own install"
    lines = [r[:180] for r in ROWS[:40:4]] + ["", "   ", "é", "日本語の文"]
    with_newline = ["hello world\nthis is english", lines[1]]

    def binding(line):
        prob, label = ident._model.f.predict(line.replace("\n", " ") + "\n", 1, 0.0, "replace")[0]
        return label, prob

    for batch in (lines, with_newline):
        label_ids, probs = ident._native.predict(batch)
        assert [(ident._native.labels[i], p) for i, p in zip(label_ids.tolist(), probs.tolist())] == list(map(binding, batch))

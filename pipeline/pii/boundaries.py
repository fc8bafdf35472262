"""Value boundaries for agglutinative scripts, once for every recognizer.

Korean attaches particles to the word before without a space (``010-1234-5678에서``,
``kim@example.com으로``), and Japanese/Chinese run words together. Recognizers written for
English read a Hangul or CJK character as part of the value: ``\\b`` sees no boundary between
``0265`` and ``로`` (both are word characters), and presidio's e-mail pattern takes Hangul as
domain letters (``example.com에서`` then fails the domain check). Either way the value is missed.

:func:`separated` gives every recognizer the text with each CJK character that touches a Latin
letter or digit replaced by a line break (one character for one, so offsets are unchanged): a
boundary for ``\\b``, lookarounds, phonenumbers' matcher and the e-mail pattern alike, and never
a separator inside a number. :func:`use_cjk_boundaries` wraps a recognizer's ``analyze`` (and
the fast phone path) with it; the context enhancer still reads the original text.
"""
from __future__ import annotations

import contextlib
import re
import threading

# Hangul jamo and syllables, kana, CJK ideographs and their compatibility/half-width forms.
CJK = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
SEPARATOR = "\n"
# (``re``, not ``regex``: these are plain character classes, and ``re`` scans them several times faster)
_GLUED = re.compile(f"(?<=[0-9A-Za-z])[{CJK}]|[{CJK}](?=[0-9A-Za-z])")
_CJK_CHARACTER = re.compile(f"[{CJK}]")


# Full-width forms of ASCII (ＡＢＣ１２３＠．－) and the ideographic space, which Japanese, Chinese
# and Korean text uses for digits, letters and signs: each has one ASCII twin (NFKC), so mapping
# them keeps every offset. A text is mapped when it holds a full-width digit, letter or '@' (what
# every value a recognizer finds holds); full-width punctuation alone (（）：？, in most Japanese
# and Chinese text) changes no finding and is left as it is.
_WIDE = re.compile("[\uff10-\uff19\uff20-\uff3a\uff41-\uff5a]")
# What opens a prefilter window for a full-width value: a full-width digit or '@' (every value a
# recognizer finds holds one or the other; letters alone never make one). Without letters the
# condition has no case, so the prefilter's one-pass guard stays an uncased character class.
WIDE_CHARACTER = "[\uff10-\uff19\uff20]"
_WIDE_OFFSET = 0xFF01 - 0x21


def narrowed(text: str) -> str:
    """``text`` with every full-width ASCII form (U+FF01–FF5E) replaced by its ASCII twin and every
    ideographic space (U+3000) by a space, when it holds a full-width digit, letter or '@': the
    same length, the same offsets. Recognizers written for ASCII (``[0-9]``, ``@``, ``-``) then find ``９２０７０４－１１２３４５７`` and
    ``ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ`` as they find the ASCII forms; replacements are made in the
    original text at the same offsets, and context words are read there (``マイナンバー：…``: the
    full-width colon separates the word from the number, an ASCII one glued to it would not)."""
    if text.isascii() or _WIDE.search(text) is None:
        return text
    import numpy as np

    # code points as an array: one vectorised pass instead of a dict lookup per character
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).copy()
    wide = (points >= 0xFF01) & (points <= 0xFF5E)
    points[wide] -= _WIDE_OFFSET
    points[points == 0x3000] = 0x20
    return points.tobytes().decode("utf-32-le")


_CALLER = threading.local()  # .narrowed: the caller gives recognizers text it has narrowed already


@contextlib.contextmanager
def given_narrowed():
    """Recognizers called inside read text the caller has :func:`narrowed` (the fast path narrows
    its windows once for all of them): :func:`separated` does not scan it again."""
    _CALLER.narrowed = True
    try:
        yield
    finally:
        _CALLER.narrowed = False


def separated(text: str) -> str:
    """``text`` :func:`narrowed`, with every CJK character adjacent to an ASCII letter or digit
    replaced by a line break."""
    if text.isascii():
        return text
    if not getattr(_CALLER, "narrowed", False):
        text = narrowed(text)
    # most non-ASCII text (accents, dashes, quotes) has no CJK character: one class scan rejects it
    if _CJK_CHARACTER.search(text) is None:
        return text
    return _GLUED.sub(SEPARATOR, text)


class _LastText:
    """The separated form of the last text seen: the recognizers of one call share it. One
    attribute holds the (text, separated) pair, read and replaced whole, so threads sharing the
    engine never pair one text with another's separated form."""

    __slots__ = ("pair",)

    def __init__(self) -> None:
        self.pair: tuple = (None, None)

    def __call__(self, text: str) -> str:
        pair = self.pair
        if pair[0] is not text:
            pair = self.pair = (text, separated(text))
        return pair[1]


def use_cjk_boundaries(recognizers) -> None:
    """Make each recognizer analyse the separated text (instance attributes; the class is untouched)."""
    view = _LastText()
    for rec in recognizers:
        for name in ("analyze", "analyze_fast"):
            method = getattr(rec, name, None)
            if method is None or getattr(method, "_cjk_boundaries", False):
                continue

            def wrapped(text, *args, _method=method, **kwargs):
                return _method(view(text), *args, **kwargs)

            wrapped._cjk_boundaries = True
            setattr(rec, name, wrapped)

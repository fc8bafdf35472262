"""One combined prefilter: find the few stretches of text any recognizer could match.

presidio runs every recognizer (a dozen regexes, plus one python-phonenumbers pass per region)
and a spaCy tokenizer over the whole text, while PII sits in a tiny fraction of it. The prefilter
is ONE compiled regex: the union of each recognizer's *necessary condition* (``PREFILTER`` on our
classes, :data:`~pipeline.pii.recognizers.BUILTIN_PREFILTERS` for presidio's, a custom YAML
recognizer's own patterns). Every match a recognizer can return contains a hit of that union.

Findings stay identical to presidio run on the whole text because of how windows are cut:

* Text is split into *segments* at cut points: any whitespace gap holding a line break, and any
  whitespace gap between two *inert* words (no digit, and 5+ characters or CJK). No recognizer
  match spans a cut point — phone numbers, cards, IBANs, SSNs … only span spaces next to digit
  groups or short groups (phonenumbers allows ≤ 4 punctuation characters between digit blocks).
* A segment is *active* when a prefilter hit touches it. A segment without a hit holds no match:
  the match's necessary condition would have been a hit.
* Each active segment is analysed with at least ``context_prefix_count + 1`` sure keywords before
  it (whole words that are not stop words), so presidio's context enhancer, which walks back that
  many keywords from a match, sees exactly the words it sees in the full text.
* Windows are joined with a barrier line of filler keywords that no recognizer or context word
  matches, so one presidio call serves many windows without changing any result.

The recognizers' regexes use lookarounds like ``(?<!\\d)`` and ``\\b`` that read a line break, a
space or the start of text alike, which is what makes a window start equivalent to the full text.
"""
from __future__ import annotations

from dataclasses import dataclass

import regex

from pipeline.pii.boundaries import CJK
from pipeline import saferegex
from pipeline.saferegex import RuleTimeout

# A gap that is always a cut point: it holds a line break.
_LINEBREAK = regex.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_CHUNK = regex.compile(r"\S+")
_CHUNK_BEFORE = regex.compile(r"(?r)\S+")  # searched backwards from endpos: the last word before it
_SPACE = regex.compile(r"\s")
_SPACE_BEFORE = regex.compile(r"(?r)\s")
_DIGIT = regex.compile(r"\d")
_CJK = regex.compile(f"[{CJK}]")
_ALNUM = regex.compile(r"[^\W_]+")

BARRIER_WORD = "qqqqq"
GUARD = r"[\d@:]"


def _inert(chunk: str) -> bool:
    """A word no recognizer match spans a space next to: no digit, and long or CJK."""
    return not _DIGIT.search(chunk) and (len(chunk) >= 5 or bool(_CJK.search(chunk)))


@dataclass
class Prefilter:
    """``windows(text)`` → sorted, disjoint ``(start, end)`` spans that hold every finding."""

    pattern: "regex.Pattern"
    words_before: int  # sure keywords needed before an active segment (context_prefix_count + 1)
    words_after: int  # and after it (context_suffix_count + 1, or 0 when no suffix context)
    stop_words: frozenset
    special_cases: frozenset  # tokenizer exceptions ("cannot" → "can" "not")
    user_rules: tuple = ()  # the users' patterns in the union (saferegex rules): a slow one is named
    # One character class no match can start without (the guard), when every condition is guarded:
    # a text without it has no hit, found in one plain scan instead of the union's.
    starts: "regex.Pattern | None" = None

    @classmethod
    def build(cls, guarded: list[str], unguarded: list[str], flags: int, words_before: int, words_after: int,
              stop_words, special_cases, user_rules=()) -> "Prefilter":
        """``guarded`` conditions start at a digit, '@' or ':' (checked once per position by a
        lookahead, which is what makes the scan fast); ``unguarded`` ones (YAML patterns) may start
        anywhere. ``user_rules`` are the rules-file patterns among them, compiled by saferegex."""
        return cls(cls.union(guarded, unguarded, flags), words_before, words_after, frozenset(stop_words),
                   frozenset(special_cases), tuple(user_rules),
                   regex.compile(GUARD, flags) if guarded and not unguarded else None)

    @staticmethod
    def union(guarded: list[str], unguarded: list[str], flags: int, guard: bool = True) -> "regex.Pattern":
        """One compiled regex matching wherever any of the conditions does. ``guard`` checks the
        first character of the guarded ones once per position (fast for a long union; a single
        condition scans faster without)."""
        parts = []
        if guarded and not guard:
            parts += [f"(?:{p})" for p in dict.fromkeys(guarded)]
        elif guarded:
            parts.append("(?=" + GUARD + ")(?:" + "|".join(f"(?:{p})" for p in dict.fromkeys(guarded)) + ")")
        parts += [f"(?:{p})" for p in dict.fromkeys(unguarded)]
        return regex.compile("|".join(parts) or "(?!)", flags)

    def sure_keyword(self, chunk: str) -> bool:
        """A word spaCy keeps as one (or more) keyword tokens for presidio's context walk."""
        low = chunk.lower()
        return (
            _ALNUM.fullmatch(chunk) is not None
            and low not in self.stop_words
            and low != "be"
            and chunk not in self.special_cases
            and low not in self.special_cases
        )

    def hits(self, text: str) -> list[tuple[int, int]]:
        # Every alternative of the union sits behind the lookahead (?=GUARD), compiled with the same
        # flags: where no character matches GUARD, no alternative can start.
        if self.starts is not None and self.starts.search(text) is None:
            return []
        if not self.user_rules:
            return [m.span() for m in self.pattern.finditer(text)]
        try:
            return [m.span() for m in self.pattern.finditer(text, timeout=saferegex.DEFAULT_TIMEOUT)]
        except TimeoutError:
            for rule in self.user_rules:  # raises RuleTimeout naming the slow one
                for _ in rule.finditer(text):
                    pass
            raise RuleTimeout("pii prefilter", saferegex.DEFAULT_TIMEOUT) from None

    def windows(self, text: str) -> list[tuple[int, int]]:
        hits = self.hits(text)
        if not hits:
            return []
        # Words are found around the hits only (a document is mostly far from any hit):
        # a word is its (start, end) span; the previous / next one by a (reverse) regex search.
        n_text = len(text)

        def word_at_or_before(pos: int) -> tuple[int, int]:
            """The word holding ``pos``, else the last word before it, else the first word."""
            if not _SPACE.match(text, pos):
                m = _SPACE_BEFORE.search(text, 0, pos)
                m2 = _SPACE.search(text, pos)
                return (m.end() if m else 0, m2.start() if m2 else n_text)
            m = _CHUNK_BEFORE.search(text, 0, pos) or _CHUNK.search(text, pos)
            return m.span() if m else (0, n_text)  # (a text of white space only)

        def before(w):
            m = _CHUNK_BEFORE.search(text, 0, w[0])
            return m.span() if m else None

        def after(w):
            m = _CHUNK.search(text, w[1])
            return m.span() if m else None

        def cut(a, b) -> bool:
            """Is the gap between the words a and b (b right after a) a cut point?"""
            if _LINEBREAK.search(text, a[1], b[0]):
                return True
            return _inert(text[a[0] : a[1]]) and _inert(text[b[0] : b[1]])

        def walk_keywords(w, step, need: int):
            """From word w, step word by word until ``need`` sure keywords are passed (or the text ends)."""
            while need > 0:
                nxt = step(w)
                if nxt is None:
                    break
                w = nxt
                if self.sure_keyword(text[w[0] : w[1]]):
                    need -= 1
            return w

        out: list[tuple[int, int]] = []
        seg_end = -1  # end of the last word of the previous active segment
        for hs, he in hits:
            last = word_at_or_before(max(hs, he - 1))
            if last[1] <= seg_end:
                continue  # inside the segment already taken
            first = word_at_or_before(hs)
            if first[1] <= seg_end:
                first = after((seg_end, seg_end))  # the previous segment ended at a cut point
            # grow to the segment: back to the previous cut point, forward to the next one
            while True:
                w = before(first)
                if w is None or w[1] <= seg_end or cut(w, first):
                    break
                first = w
            while True:
                w = after(last)
                if w is None or cut(last, w):
                    break
                last = w
            seg_end = last[1]
            # context: enough sure keywords before (and after) the segment
            start = walk_keywords(first, before, self.words_before)[0]
            end = walk_keywords(last, after, self.words_after)[1]
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return out

    def context_span(self, text: str, lo: int, first: int, last: int) -> tuple[int, int]:
        """The part of ``text`` presidio's context enhancer reads for matches starting from
        ``first`` to ``last``: from ``words_before`` sure keywords before the word at ``first``
        (not before ``lo``, a window start that has them) to ``words_after`` sure keywords after
        the word at ``last`` (or the end of the text). Whole words, so spaCy tokenizes them as in
        the whole text."""
        spans: list[tuple[int, int]] = []
        f = l = -1
        it = _CHUNK.finditer(text, lo)
        for m in it:
            spans.append(m.span())
            if f < 0 and m.end() > first:
                f = len(spans) - 1
            if m.end() > last:
                l = len(spans) - 1
                break
        if f < 0:
            return lo, len(text)
        start = lo
        i, need = f, self.words_before
        while need > 0 and i > 0:
            i -= 1
            if self.sure_keyword(text[spans[i][0] : spans[i][1]]):
                need -= 1
        if need == 0:
            start = spans[i][0]
        if l < 0:
            return start, len(text)
        end, need = spans[l][1], self.words_after
        for m in it:
            if need <= 0:
                break
            end = m.end()
            if self.sure_keyword(m.group()):
                need -= 1
        return start, (end if need <= 0 else len(text))

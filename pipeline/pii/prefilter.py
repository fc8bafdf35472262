"""One combined prefilter: find the few stretches of text any recognizer could match.

presidio runs every recognizer (a dozen regexes, plus one python-phonenumbers pass per region)
and a spaCy tokenizer over the whole text, while PII sits in a tiny fraction of it. The prefilter
is ONE compiled regex: the union of each recognizer's *necessary condition* (``PREFILTER`` on our
classes, :data:`~pipeline.pii.recognizers.BUILTIN_PREFILTERS` for presidio's, a custom YAML
recognizer's own patterns). Every match a recognizer can return contains a hit of that union.
Before it runs, one scan for a character of the *guard* — the characters any condition can start
with, read from each condition's syntax tree (:func:`first_items`) — rejects a text without one,
and a short text (an identifier) is rejected when no condition's shortest match fits after a
character it can start with (:func:`start_widths`).

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

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

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
_START_SCANS: dict = {}  # (union pattern, flags) → its compiled_scan.StartScan, or None (none)
_SURE_CACHE = 1 << 17  # words whose sure_keyword answer is remembered

# re's parser gives the syntax tree first characters are read from; the conditions run in `regex`,
# whose extra syntax (\p{..}, (?V1), set operations, fuzzy {e<=1}) re rejects or would misread.
_FUZZY = regex.compile(r"(?<!\\)(?:\\\\)*\{[^}]*[A-Za-z<]")
_CATEGORIES = {"CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
               "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W"}
# regex flags that change what the syntax means or how it matches (V1 set syntax, reverse search,
# full case folding 'ß' ~ 'ss', Unicode word boundaries, POSIX leftmost-longest)
_OTHER_MATCHING = regex.VERSION1 | regex.REVERSE | regex.FULLCASE | regex.WORD | regex.POSIX
_UNCASED_CATEGORIES = {r"\d", r"\s"}  # no character of these has another case
_LONG_RANGE = 4096  # a longer range is not checked character by character (taken as cased)


class _Unbounded(Exception):
    """A match may start at any character (or be empty): no guard."""


def _parse(pattern: str, flags: int):
    """re's syntax tree of ``pattern`` (with re's constants module), or None when re may not read
    it as ``regex`` does: fuzzy matching, flags that change the syntax or matching, an inline
    ``(?i)`` the compiled pattern would not get, or syntax re rejects."""
    import re
    import warnings

    try:
        from re import _constants as c, _parser  # the parser re itself uses (Python 3.11+)
    except ImportError:
        return None
    if _FUZZY.search(pattern) or flags & _OTHER_MATCHING:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "possible nested set": regex reads it otherwise
            tree = _parser.parse(pattern, flags & ~re.DEBUG)
    except (re.error, FutureWarning, DeprecationWarning, OverflowError, RecursionError):
        return None
    if tree.state.flags & re.IGNORECASE and not flags & re.IGNORECASE:
        return None  # an inline (?i) the compiled class would not get
    return tree, c


def _first(seq, flags: int, c) -> tuple[set, bool]:
    """(class items, can be empty) of a sequence of syntax-tree nodes."""
    import re

    items: set = set()
    for op, av in seq:
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            continue  # zero-width
        if op is c.LITERAL:
            items.add((av,))
            return items, False
        if op is c.IN:
            for kind, value in av:
                if kind is c.LITERAL:
                    items.add((value,))
                elif kind is c.RANGE:
                    items.add(tuple(value))
                elif kind is c.CATEGORY and str(value) in _CATEGORIES:
                    items.add(_CATEGORIES[str(value)])
                else:  # NEGATE, anything else
                    raise _Unbounded
            return items, False
        if op is c.SUBPATTERN:
            if av[1] & re.IGNORECASE and not flags & re.IGNORECASE:
                raise _Unbounded  # a local (?i:...) the compiled class would not get
            sub, empty = _first(av[3], flags, c)
        elif op is c.ATOMIC_GROUP:
            sub, empty = _first(av, flags, c)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            sub, empty = _first(av[2], flags, c)
            empty = empty or av[0] == 0
        elif op is c.BRANCH:
            sub, empty = set(), False
            for branch in av[1]:
                b, e = _first(branch, flags, c)
                sub |= b
                empty = empty or e
        else:  # ANY, NOT_LITERAL, group references, conditionals
            raise _Unbounded
        items |= sub
        if not empty:
            return items, False
    return items, True


def first_items(pattern: str, flags: int = 0) -> set[tuple] | None:
    """The characters a match of ``pattern`` (compiled with ``flags``) can start with, as class
    items — ``(code,)``, ``(low, high)`` or a category such as ``"\\d"`` — read from the pattern's
    syntax tree, lookarounds and anchors skipped. ``None`` when that is not known: a match may
    start anywhere or be empty, or the pattern uses syntax Python's ``re`` does not read as
    ``regex`` does. Case folding is the flags': the items are to be compiled with them."""
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    tree, c = parsed
    try:
        items, empty = _first(tree, flags, c)
    except _Unbounded:
        return None
    return None if empty or not items else items


def start_widths(pattern: str, flags: int = 0) -> list[tuple[set, int]] | None:
    """Per top-level alternative of ``pattern``: ``(first items, fewest characters)`` — where a
    match of that alternative can start (as :func:`first_items`) and how many characters it
    spans at least (lookarounds span none). None when any of it is not known."""
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    tree, c = parsed
    branches = tree.data[0][1][1] if len(tree.data) == 1 and tree.data[0][0] is c.BRANCH else [tree]
    out = []
    for branch in branches:
        try:
            items, empty = _first(branch, flags, c)
            fewest = branch.getwidth()[0]
        except (_Unbounded, OverflowError, RecursionError):
            return None
        if empty or not items or fewest < 1:
            return None
        out.append((items, fewest))
    return out


def _codes(item) -> range | None:
    if isinstance(item, str):
        return None
    return range(item[0], item[-1] + 1)


def _uncased(item) -> bool:
    """No character of the item has another case (case-insensitive matching changes nothing)."""
    if isinstance(item, str):
        return item in _UNCASED_CATEGORIES
    codes = _codes(item)
    if len(codes) > _LONG_RANGE:
        return False
    return all(chr(x).lower() == chr(x) == chr(x).upper() == chr(x).casefold() for x in codes)


def character_class(items: set) -> tuple[str, bool]:
    """``(class, uncased)``: the items as one ``regex`` character class (those inside ``\\d`` left
    out when it is there), and whether case-insensitive matching can be left off for it."""
    if r"\d" in items:  # \d is Unicode's Nd, which is what str.isdecimal tests
        items = {i for i in items if isinstance(i, str) or len(_codes(i)) > _LONG_RANGE
                 or not all(chr(x).isdecimal() for x in _codes(i))}

    def render(item) -> str:
        if isinstance(item, str):
            return item
        lo, hi = (regex.escape(chr(x), special_only=False) for x in (item[0], item[-1]))
        return lo if item[0] == item[-1] else f"{lo}-{hi}"

    return "[" + "".join(sorted(map(render, items))) + "]", all(map(_uncased, items))


def first_characters(pattern: str, flags: int = 0) -> str | None:
    """:func:`first_items` as one character class (``regex`` syntax), or None."""
    items = first_items(pattern, flags)
    return character_class(items)[0] if items else None


def guard_for(conditions, flags: int) -> tuple["regex.Pattern | None", list[str], list[str]]:
    """``(guard, guarded, unguarded)``: one compiled character class holding the first characters
    of every condition whose first characters are known (``guarded``), and the conditions whose
    are not. Compiled with ``flags`` — without case folding when no character in it has a case."""
    items: set = set()
    guarded, unguarded = [], []
    for p in dict.fromkeys(conditions):
        own = first_items(p, flags)
        (guarded if own else unguarded).append(p)
        items |= own or set()
    if not guarded:
        return None, guarded, unguarded
    cls, uncased = character_class(items)
    return regex.compile(cls, flags & ~regex.IGNORECASE if uncased else flags), guarded, unguarded


def short_text_checks(conditions, flags: int) -> tuple[tuple[tuple["regex.Pattern", int], ...], int]:
    """``(checks, limit)``: for a text shorter than ``limit`` from its first guard character,
    ``checks`` are ``(character class, fewest)`` pairs such that a hit needs, for one of them, a
    character of the class with at least ``fewest`` characters from it to the end of the text
    (each condition's alternatives: where they start, how long they are at least). Empty when
    that is not known for every condition."""
    fewest: dict[str, tuple[set, int]] = {}
    for p in dict.fromkeys(conditions):
        widths = start_widths(p, flags)
        if widths is None:
            return (), 0
        for items, n in widths:
            cls, _ = character_class(items)
            if cls not in fewest or n < fewest[cls][1]:
                fewest[cls] = (items, n)
    checks = []
    for cls, (items, n) in sorted(fewest.items()):
        _, uncased = character_class(items)
        checks.append((regex.compile(cls, flags & ~regex.IGNORECASE if uncased else flags), n))
    return tuple(checks), max((n for _, n in checks), default=0)


_SPACE_BIT, _DIGIT_BIT, _CJK_BIT, _LINEBREAK_BIT = 1, 2, 4, 8
_CLASSES = None  # code point (Basic Multilingual Plane) → the bits above (built on first use)
_ASTRAL: dict[int, int] = {}  # the same for code points above it, as met


def _matching(text: str) -> "Iterator[tuple[int, list[int]]]":
    """``(bit, positions)``: where in ``text`` ``_SPACE``, ``_DIGIT``, ``_CJK`` and ``_LINEBREAK``
    match, one character each."""
    for pattern, bit in ((_SPACE, _SPACE_BIT), (_DIGIT, _DIGIT_BIT), (_CJK, _CJK_BIT), (_LINEBREAK, _LINEBREAK_BIT)):
        yield bit, [m.start() for m in pattern.finditer(text)]


def _only_spaces_break(bits):
    """Keep the line-break bit on spaces only: a gap between words holds spaces only, and a
    ``_LINEBREAK`` character that is not a space (\\x1c-\\x1e) is part of a word, never a cut."""
    return bits & (0xFF ^ _LINEBREAK_BIT) | (bits & _LINEBREAK_BIT) * (bits & _SPACE_BIT)


def _character_classes():
    """One byte per code point of the Basic Multilingual Plane: which of the regexes above match
    it (``_matching``, ``_only_spaces_break``), read from those compiled regexes over every code
    point (lone surrogates too), so the table says what they say."""
    global _CLASSES
    if _CLASSES is None:
        import numpy as np

        table = np.zeros(0x10000, dtype=np.uint8)
        for bit, where in _matching("".join(map(chr, range(0x10000)))):
            table[where] |= bit
        table = _only_spaces_break(table)
        if ((table & (_DIGIT_BIT | _CJK_BIT)) != 0)[(table & _SPACE_BIT) != 0].any():
            raise AssertionError("a space that is a digit or CJK character: _words counts them per word and gap")
        _CLASSES = table
    return _CLASSES


def _astral_bits(codes: list[int]) -> list[int]:
    """The bits of code points above the Basic Multilingual Plane (emoji, rare CJK), remembered."""
    todo = list(dict.fromkeys(c for c in codes if c not in _ASTRAL))
    if todo:
        if len(_ASTRAL) + len(todo) > 1 << 16:
            _ASTRAL.clear()
            todo = list(dict.fromkeys(codes))
        found = [0] * len(todo)
        for bit, where in _matching("".join(map(chr, todo))):
            for i in where:
                found[i] |= bit
        _ASTRAL.update(zip(todo, map(_only_spaces_break, found)))
    return [_ASTRAL[c] for c in codes]


def _words(text: str):
    """``(starts, ends, cuts)`` of ``text``'s words (maximal runs of non-``_SPACE`` characters, as
    ``_CHUNK`` finds them), and the gaps that are cut points (gap i lies between words i and i + 1:
    it holds a line break, or both words are inert — ``_inert``), as lists; None without words."""
    import numpy as np

    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = _character_classes().take(codes, mode="clip")
    if len(codes) and codes.max() > 0xFFFF:
        astral = np.flatnonzero(codes > 0xFFFF)
        classes[astral] = _astral_bits(codes[astral].tolist())
    padded = np.zeros(len(classes) + 2, dtype=np.uint8)
    np.bitwise_and(classes, _SPACE_BIT, out=padded[1:-1])
    padded[0] = padded[-1] = _SPACE_BIT
    step = padded[:-1] - padded[1:]  # _SPACE_BIT where a word starts, 0 - _SPACE_BIT (wraps) where one ended
    starts = np.flatnonzero(step == _SPACE_BIT)
    if not len(starts):
        return None
    ends = np.flatnonzero(step == np.uint8(256 - _SPACE_BIT))
    # a word and the gap after it, as one: a gap holds only spaces (never a digit or CJK), and only
    # spaces carry the line-break bit
    bits = np.bitwise_or.reduceat(classes, starts)
    inert = ((bits & _DIGIT_BIT) == 0) & ((ends - starts >= 5) | ((bits & _CJK_BIT) != 0))
    cut = ((bits[:-1] & _LINEBREAK_BIT) != 0) | (inert[:-1] & inert[1:])
    return starts.tolist(), ends.tolist(), np.flatnonzero(cut).tolist()


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
    # One character class every hit starts with (the guard), when every condition's first characters
    # are known: a text without one has no hit, found in one plain scan instead of the union's.
    starts: "regex.Pattern | None" = None
    conditions: tuple = ()  # what the union is built from (tests check the guard against them)
    # A text shorter than ``short_limit`` from its first guard character: a hit needs, for one of
    # ``short_checks`` (class, fewest), a character of the class with ``fewest`` characters from
    # it on (identifiers such as ``doc-12`` are too short for any condition: no union scan).
    short_checks: tuple = ()
    short_limit: int = 0
    # A walk back for context words ends at the previous window (they join wherever it would have
    # ended); False walks on, the reference the tests compare with.
    stop_at_previous_window: ClassVar[bool] = True
    # From this many hits on, :meth:`windows` finds every word of the document once (both ways
    # give the same windows; tests set it to 0 to compare the two on every text)
    index_from_hits: ClassVar[int] = 4
    # False: always the regex scan (tests compare the two ways)
    compiled_starts: ClassVar[bool] = True
    # word → sure_keyword(word): documents repeat their words (a plain dict: cleared when full)
    _sure: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, conditions: list[str], flags: int, words_before: int, words_after: int,
              stop_words, special_cases, user_rules=()) -> "Prefilter":
        """``conditions``: every recognizer's necessary condition (code-declared, a YAML
        ``prefilter`` key or a YAML recognizer's own patterns). ``user_rules`` are the rules-file
        patterns among them, compiled by saferegex."""
        guard, _, unguarded = guard_for(conditions, flags)
        checks, limit = short_text_checks(conditions, flags) if guard is not None and not unguarded else ((), 0)
        return cls(cls.union(conditions, flags), words_before, words_after, frozenset(stop_words),
                   frozenset(special_cases), tuple(user_rules), guard if not unguarded else None,
                   tuple(dict.fromkeys(conditions)), checks, limit)

    @staticmethod
    def union(conditions: list[str], flags: int, guard: bool = True) -> "regex.Pattern":
        """One compiled regex matching wherever any of the conditions does. ``guard`` puts the
        conditions whose first characters are known behind one lookahead for them, checked once
        per position (fast for a long union; a single condition scans faster without)."""
        first, guarded, unguarded = guard_for(conditions, flags) if guard else (None, [], list(dict.fromkeys(conditions)))
        parts = []
        if guarded:
            look = "(?=" + first.pattern + ")"
            if flags & regex.IGNORECASE and not first.flags & regex.IGNORECASE:
                look = "(?-i:" + look + ")"  # an uncased guard: the same characters, checked faster
            parts.append(look + "(?:" + "|".join(f"(?:{p})" for p in guarded) + ")")
        parts += [f"(?:{p})" for p in unguarded]
        return regex.compile("|".join(parts) or "(?!)", flags)

    def sure_keyword(self, chunk: str) -> bool:
        """A word spaCy keeps as one (or more) keyword tokens for presidio's context walk."""
        known = self._sure.get(chunk)
        if known is not None:
            return known
        low = chunk.lower()
        sure = (
            _ALNUM.fullmatch(chunk) is not None
            and low not in self.stop_words
            and low != "be"
            and chunk not in self.special_cases
            and low not in self.special_cases
        )
        if len(self._sure) >= _SURE_CACHE:
            self._sure.clear()
        self._sure[chunk] = sure
        return sure

    def hits(self, text: str) -> list[tuple[int, int]]:
        # Every alternative of the union starts at a character of the guard (``starts``), compiled
        # with the same flags: a text without one has no hit, and none starts before the first one
        # (lookbehinds still read the text before ``pos``).
        pos = 0
        if self.starts is not None:
            first = self.starts.search(text)
            if first is None:
                return []
            pos = first.start()
            if len(text) - pos < self.short_limit and not self._long_enough(text, pos):
                return []
        scan = self._start_scan()
        try:
            found = None if scan is None else scan.hits(text, pos, saferegex.DEFAULT_TIMEOUT if self.user_rules else None)
            if found is not None:
                return found
            if not self.user_rules:
                return [m.span() for m in self.pattern.finditer(text, pos)]
            return [m.span() for m in self.pattern.finditer(text, pos, timeout=saferegex.DEFAULT_TIMEOUT)]
        except TimeoutError:
            for rule in self.user_rules:  # raises RuleTimeout naming the slow one
                for _ in rule.finditer(text):
                    pass
            raise RuleTimeout("pii prefilter", saferegex.DEFAULT_TIMEOUT) from None

    def _start_scan(self):
        """The union's compiled start scan (:mod:`pipeline.pii.compiled_scan`), built on first use
        and shared by the prefilters with the same union; None where there is none."""
        if not self.compiled_starts:
            return None
        key = (self.pattern.pattern, self.pattern.flags)
        scan = _START_SCANS.get(key, False)
        if scan is False:
            from pipeline.pii.compiled_scan import StartScan

            scan = _START_SCANS[key] = StartScan.build(self.pattern)
        return scan

    def _long_enough(self, text: str, pos: int) -> bool:
        """Could a hit start at or after ``pos``: a start character of some alternative with
        enough characters after it for the alternative's shortest match?"""
        n = len(text)
        for cls, fewest in self.short_checks:
            if n - fewest >= pos and cls.search(text, pos, n - fewest + 1) is not None:
                return True
        return False

    def windows(self, text: str) -> list[tuple[int, int]]:
        hits = self.hits(text)
        if not hits:
            return []
        if _SPACE.search(text) is None:
            # one word (an identifier, a URL piece): its segment and context are the whole text
            return [(0, len(text))]
        # Few hits: a few searches around them cost less than finding every word of the document.
        words = _words(text) if len(hits) >= self.index_from_hits else None
        if words is None:
            return self.windows_reference(text, hits)
        starts, ends, cuts = words
        nw = len(starts)
        sure, text_of = self.sure_keyword, text.__getitem__
        out: list[tuple[int, int]] = []
        seg_end = -1  # end of the last word of the previous active segment
        for hs, he in hits:
            if he <= seg_end:
                continue
            # the word at a position: the word holding it, else the last word before it, else the
            # first word (:meth:`windows_reference`'s word_at_or_before)
            li = max(bisect_right(starts, max(hs, he - 1)) - 1, 0)
            if ends[li] <= seg_end:
                continue
            fi = max(bisect_right(starts, hs) - 1, 0)
            if ends[fi] <= seg_end:
                fi = bisect_left(starts, seg_end)  # the first word after the previous segment
            # back to the previous cut point (or the previous segment's words), forward to the next
            c = bisect_left(cuts, fi) - 1  # the last cut gap before word fi (gap c lies between c and c + 1)
            fi = max(cuts[c] + 1 if c >= 0 else 0, bisect_right(ends, seg_end))
            c = bisect_left(cuts, li)
            li = cuts[c] if c < len(cuts) else nw - 1
            seg_end = ends[li]
            stop = out[-1][1] if out and self.stop_at_previous_window else -1
            start = starts[fi]
            need = self.words_before
            if need > 0 and start > stop:
                for k in range(fi - 1, -1, -1):
                    start = starts[k]
                    if sure(text_of(slice(start, ends[k]))):
                        need -= 1
                        if need == 0:
                            break
                    if start <= stop:
                        break
            end = seg_end
            need = self.words_after
            if need > 0:
                for k in range(li + 1, nw):
                    end = ends[k]
                    if sure(text_of(slice(starts[k], end))):
                        need -= 1
                        if need == 0:
                            break
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return out

    def windows_reference(self, text: str, hits: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
        """What :meth:`windows` returns, found by regex searches around each hit (the
        definition the index-based :meth:`windows` is tested equal to)."""
        hits = self.hits(text) if hits is None else hits
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

        def after(w):
            m = _CHUNK.search(text, w[1])
            return m.span() if m else None

        def cut(a, b) -> bool:
            """Is the gap between the words a and b (b right after a) a cut point?"""
            if _LINEBREAK.search(text, a[1], b[0]):
                return True
            return _inert(text[a[0] : a[1]]) and _inert(text[b[0] : b[1]])

        def walk_keywords(w, words, need: int, stop: int = -1):
            """From word w, step through ``words`` (the words after it, or before it nearest
            first, as an iterator of matches) until ``need`` sure keywords are passed (or the text
            ends, or a word starts at or before ``stop``)."""
            if need <= 0 or w[0] <= stop:
                return w
            for m in words:
                w = m.span()
                if self.sure_keyword(m.group()):
                    need -= 1
                    if need == 0:
                        break
                if w[0] <= stop:
                    break
            return w

        out: list[tuple[int, int]] = []
        seg_end = -1  # end of the last word of the previous active segment
        for hs, he in hits:
            if he <= seg_end:
                continue  # inside the segment already taken (its last word ends at seg_end)
            last = word_at_or_before(max(hs, he - 1))
            if last[1] <= seg_end:
                continue  # inside the segment already taken
            first = word_at_or_before(hs)
            if first[1] <= seg_end:
                first = after((seg_end, seg_end))  # the previous segment ended at a cut point
            # grow to the segment: back to the previous cut point, forward to the next one
            # (each word search goes on from the last: one iterator per direction)
            for m in _CHUNK_BEFORE.finditer(text, 0, first[0]):
                w = m.span()
                if w[1] <= seg_end or cut(w, first):
                    break
                first = w
            for m in _CHUNK.finditer(text, last[1]):
                w = m.span()
                if cut(last, w):
                    break
                last = w
            seg_end = last[1]
            # context: enough sure keywords before (and after) the segment; a walk back that
            # reaches the previous window joins it, wherever the walk would have ended
            stop = out[-1][1] if out and self.stop_at_previous_window else -1
            start = walk_keywords(first, _CHUNK_BEFORE.finditer(text, 0, first[0]), self.words_before, stop)[0]
            end = walk_keywords(last, _CHUNK.finditer(text, last[1]), self.words_after)[1]
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
        the whole text. The words of ``text[lo:]`` are found from ``first`` and ``last`` by
        search, not read one by one from ``lo``."""
        f = _word_ending_after(text, lo, first)
        if f is None:
            return lo, len(text)
        start, need = lo, self.words_before
        if need == 0:
            start = f[0]
        elif need > 0:
            for m in _CHUNK_BEFORE.finditer(text, lo, f[0]):  # the words before it, nearest first
                if self.sure_keyword(m.group()):
                    need -= 1
                    if need == 0:
                        start = m.start()
                        break
        l = f if last < f[1] else _word_ending_after(text, lo, last)
        if l is None:
            return start, len(text)
        end, need = l[1], self.words_after
        if need > 0:
            for m in _CHUNK.finditer(text, l[1]):
                end = m.end()
                if self.sure_keyword(m.group()):
                    need -= 1
                    if need == 0:
                        break
        return start, (end if need <= 0 else len(text))


def _word_ending_after(text: str, lo: int, pos: int) -> tuple[int, int] | None:
    """The first word of ``text[lo:]`` (a maximal run of non-space characters, cut at ``lo``)
    that ends after ``pos`` (``lo <= pos``): the word holding ``pos``, else the next one; None
    when there is none."""
    if pos < len(text) and not _SPACE.match(text, pos):
        before = _SPACE_BEFORE.search(text, lo, pos)
        after = _SPACE.search(text, pos)
        return (before.end() if before else lo), (after.start() if after else len(text))
    m = _CHUNK.search(text, pos)
    return m.span() if m else None

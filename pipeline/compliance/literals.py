"""Words a case-insensitive rule pattern cannot match without: a cheap substring test that skips
the regex search on text that holds none of them (most text near a license holds no restriction
wording, most documents no pointer notice).

:func:`required_literals` reads the pattern's syntax tree (the standard library's parser, which
reads the ``regex`` syntax the rules use) and returns strings of which every match contains at
least one, lower-cased; ``None`` when it cannot tell (a construct it does not know, inline flags,
a pattern that may match without any fixed text). :func:`may_match` is the test on lower-cased text.
Skipping is exact: a search that would find something always passes the test
(``tests/unit/test_license_shortcuts.py`` compares both on real license texts). A skipped search
cannot hit its time limit either: a pattern that would have timed out on text without its words is
then not reported (it finds nothing there in any case).

:func:`prefix_literals` reads the strings one of which every match *starts* with; :func:`finditer_at`
then tries the pattern only where one of them stands in the lower-cased text instead of at every
position (``regex``'s ``match`` at a position sees the text before it, as a search does: look-behinds
and ``\b`` are read the same), with the same matches as ``finditer``
(``tests/unit/test_license_literal_scan.py``).

:class:`LiteralScan` answers "which of these strings occur in this text" for many strings in one
Aho-Corasick pass (``ahocorasick-rs``) instead of one substring scan per string; the same set as
``{s for s in strings if s in text}`` (``tests/unit/test_license_literal_scan.py``).
"""
from __future__ import annotations

import re
import time
import unicodedata
from re import _constants as _c, _parser as _p  # the standard parser (Python 3.11+, as pyproject.toml requires)

import ahocorasick_rs

# characters other than an ASCII letter's own two cases that a case-insensitive search matches to
# it (dotted capital I to "i", long s to "s", Kelvin sign to "k"); lower-cased text still holding
# what lower() makes of one (the long s, the combining dot of "i\u0307") is searched anyway
FOLDS_TO_ASCII = ("\u0130", "\u017f", "\u212a")
_LOWER_GUARD = tuple(sorted({ch for c in FOLDS_TO_ASCII for ch in c.lower() if not ch.isascii()}))
_MIN_LENGTH = 2  # shorter literals are in nearly every text: no use as a test
# syntax the `regex` module reads differently from the standard parser (POSIX classes "[[:alpha:]]",
# fuzzy matching "(?:foo){e<=1}", any brace that is not a plain repeat count): no test
_REGEX_ONLY = re.compile(r"\[:\^?[A-Za-z]+:\]|(?:^|[^\\])(?:\\\\)*\{(?!\d*(?:,\d*)?\})")


def _literal_char(code: int) -> str | None:
    """The lower-cased character a case-insensitive literal stands for, if matching it means that
    character in lower-cased text (ASCII, or a letter without case such as CJK); else None."""
    ch = chr(code)
    if ch.isascii():
        return ch.lower()
    if unicodedata.category(ch) == "Lo" and ch.lower() == ch == ch.upper() == ch.casefold():
        return ch
    return None


def _needs(items) -> frozenset[str] | None:
    """Strings of which any match of the sequence ``items`` holds one (None: unknown)."""
    options: list[frozenset[str]] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= _MIN_LENGTH:
            options.append(frozenset(["".join(run)]))
        run.clear()

    for op, av in items:
        if op is _c.LITERAL:
            ch = _literal_char(av)
            if ch is None:
                flush()
            else:
                run.append(ch)
            continue
        flush()
        if op is _c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                return None  # scoped flags: not read here
            inner = _needs(sub)
        elif op is _c.ATOMIC_GROUP:
            inner = _needs(av)
        elif op is _c.BRANCH:
            branches = [_needs(b) for b in av[1]]
            inner = None if any(b is None for b in branches) else frozenset().union(*branches)
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            lo, _hi, sub = av
            inner = _needs(sub) if lo >= 1 else None
        else:  # classes, anchors, lookarounds, group references: nothing fixed required
            inner = None
        if inner:
            options.append(inner)
    flush()
    if not options:
        return None
    # the test that rules out most text: the set whose shortest string is longest, then the smallest
    return max(options, key=lambda s: (min(map(len, s)), -len(s)))


def _syntax(pattern: str):
    """The standard parser's tree of case-insensitive ``pattern``, or None when it may read the
    pattern otherwise than the `regex` module (syntax only that module knows, inline flags)."""
    if _REGEX_ONLY.search(pattern):
        return None
    try:
        tree = _p.parse(pattern, re.IGNORECASE)
    except Exception:  # noqa: BLE001 - syntax only the `regex` module knows: no test, always search
        return None
    if tree.state.flags & ~(re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE | re.VERBOSE):
        return None
    return tree.data


def required_literals(pattern: str, ignore_case: bool = True) -> tuple[str, ...] | None:
    """Lower-cased strings of which every match of case-insensitive ``pattern`` holds one."""
    tree = _syntax(pattern) if ignore_case else None
    found = _needs(tree) if tree is not None else None
    return tuple(sorted(found)) if found else None


def _prefixes(items) -> frozenset[str] | None:
    """Strings one of which every match of the sequence ``items`` starts with (None: unknown)."""
    run: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            ch = _literal_char(av)
            if ch is None:
                break
            run.append(ch)
            continue
        if run:
            break
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):  # zero width: the match starts at what follows
            continue
        if op is _c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            return None if add_flags or del_flags else _prefixes(sub)
        if op is _c.ATOMIC_GROUP:
            return _prefixes(av)
        if op is _c.BRANCH:
            branches = [_prefixes(b) for b in av[1]]
            return None if any(b is None for b in branches) else frozenset().union(*branches)
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)) and av[0] >= 1:
            return _prefixes(av[2])
        return None
    return frozenset(["".join(run)]) if len(run) >= _MIN_LENGTH else None


def prefix_literals(pattern: str) -> tuple[str, ...] | None:
    """Lower-cased strings one of which every match of ``pattern`` (case-insensitive or not) starts
    with; ``None`` when that cannot be told or one would be shorter than two characters."""
    tree = _syntax(pattern)
    found = _prefixes(tree) if tree is not None else None
    return tuple(sorted(found)) if found and all(len(p) >= _MIN_LENGTH for p in found) else None


def prefix_search(rule) -> "PrefixSearch | None":
    """A :class:`PrefixSearch` for ``rule`` (a :class:`pipeline.saferegex.RulePattern` with no flag
    but IGNORECASE) when its matches start with one of several strings: the `regex` module finds a
    single leading literal fast itself, but tries an alternation at every position."""
    if rule.flags & ~re.IGNORECASE:
        return None
    prefixes = prefix_literals(rule.pattern)
    return PrefixSearch(rule, prefixes) if prefixes and len(prefixes) > 1 else None


class PrefixSearch:
    """``rule.finditer(text)`` tried only at the places where one of the rule's
    :func:`prefix_literals` stands in the lower-cased text."""

    def __init__(self, rule, prefixes: tuple[str, ...]) -> None:
        self.rule = rule
        self.prefixes = prefixes
        self._automaton = ahocorasick_rs.AhoCorasick(list(prefixes))

    def finditer(self, text: str, low: str, folded: bool) -> list:
        """The matches of ``rule.finditer(text)``; ``low``: ``text.lower()``, ``folded``: its
        :func:`has_folds`. The plain search when positions in ``low`` are not those of ``text``
        (a character whose lower case is longer) or a folding character could start a match."""
        if folded or len(low) != len(text):
            return list(self.rule.finditer(text))
        try:
            hits = self._automaton.find_matches_as_indexes(low, overlapping=True)
        except UnicodeEncodeError:  # a lone surrogate is no UTF-8
            return list(self.rule.finditer(text))
        return finditer_at(self.rule, text, sorted({start for _, start, _ in hits}))


def finditer_at(rule, text: str, starts: list[int]) -> list:
    """``rule.finditer(text)`` for a rule whose every match starts at one of ``starts`` (ascending):
    the pattern is matched at each start from the end of the last match on. The rule's time limit
    holds for all of them together, as for one search."""
    from pipeline.saferegex import RuleTimeout

    compiled, limit = rule.compiled, rule.timeout
    deadline = time.monotonic() + limit
    found = []
    end = 0
    for pos in starts:
        if pos < end:
            continue
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            m = compiled.match(text, pos, timeout=left)
        except TimeoutError:
            raise RuleTimeout(rule.name, limit) from None
        if m is not None:
            found.append(m)
            end = m.end() if m.end() > m.start() else m.end() + 1
    return found


def has_folds(low: str) -> bool:
    """Whether lower-cased ``low`` holds a character a case-insensitive search may fold to an ASCII
    letter (then every rule is searched): asked once per document, its windows inherit the answer."""
    return any(ch in low for ch in _LOWER_GUARD)


def may_match(literals: tuple[str, ...] | None, low: str, folded: bool | None = None) -> bool:
    """Whether lower-cased ``low`` may hold a match of a pattern needing one of ``literals``;
    ``folded``: :func:`has_folds` of ``low`` (or of a text ``low`` is part of) when known."""
    if literals is None:
        return True
    return any(lit in low for lit in literals) or (has_folds(low) if folded is None else folded)


def may_match_found(literals: tuple[str, ...] | None, found: set[str] | frozenset[str], folded: bool) -> bool:
    """:func:`may_match` from the set of strings a :class:`LiteralScan` found in the text (it must
    scan for every string of ``literals``) and the text's :func:`has_folds`."""
    return literals is None or folded or not found.isdisjoint(literals)


class LiteralScan:
    """Which of ``strings`` occur in a text, in one pass over it."""

    def __init__(self, strings) -> None:
        self.strings = tuple(dict.fromkeys(str(s) for s in strings))
        # an empty string occurs everywhere (and no strings, nowhere): the plain scans say so without an automaton
        usable = self.strings and "" not in self.strings
        self._automaton = ahocorasick_rs.AhoCorasick(list(self.strings)) if usable else None

    def any_in(self, text: str) -> bool:
        """``any(s in text for s in strings)``."""
        if self._automaton is not None:
            try:
                return bool(self._automaton.find_matches_as_indexes(text))
            except UnicodeEncodeError:  # a lone surrogate (a JSON escape) is no UTF-8: the plain scans
                pass
        return any(s in text for s in self.strings)

    def found_in(self, text: str) -> set[str]:
        """``{s for s in strings if s in text}``: every occurrence is reported (overlapping), so a
        string inside another ("copyright" in "spdx-filecopyrighttext") is found too."""
        if self._automaton is not None:
            try:
                hits = self._automaton.find_matches_as_indexes(text, overlapping=True)
            except UnicodeEncodeError:  # a lone surrogate (a JSON escape) is no UTF-8: the plain scans
                pass
            else:
                strings = self.strings
                return {strings[i] for i, _, _ in hits}
        return {s for s in self.strings if s in text}

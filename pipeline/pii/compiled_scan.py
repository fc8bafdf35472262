"""The prefilter's union scan, with hyperscan finding where matches can start.

``regex`` scans the union one position at a time and tries its alternatives at every digit, ``@``
and ``:``: on English text full of numbers that is a sixth of the PII stage. Hyperscan scans
many patterns at once in compiled code, but it reports where matches *end*, and the starts
``regex``'s leftmost-first scan chooses cannot be read from those. So the union is turned around:

1. The union's syntax tree is reversed (``ab`` → ``ba``) with its lookarounds and anchors left
   out, each character class matching exactly the characters ``regex`` matches with it under the
   union's flags (below). This pattern matches, reversed, every stretch the union matches, and
   more.
2. Hyperscan reports every offset where a match of it ends in the reversed text: in the text,
   every position where such a match starts — all positions the union can match at, and more.
3. ``union.match(text, s)`` at those positions in order, skipping the ones before the previous
   match's end, gives exactly ``union.finditer(text)``: the scan tries the same positions in the
   same order, and a position that is not reported holds no match.

Hyperscan reads bytes, so the text is handed over one byte per character: an ASCII character as
itself, any other as the byte of its *signature* — which of the union's classes match it, asked of
``regex`` once per character and process (``regex``'s Unicode tables are newer than hyperscan's and
Python's, so only ``regex`` can say). Each class in the pattern is its ASCII members and the
signature bytes that include it, so offsets in those bytes are offsets in characters. A union
with syntax this does not reverse, or no hyperscan (it has wheels for x86-64 Linux), keeps the
``regex`` scan; so does every text after more than 126 signatures were met.
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Callable

import regex

from pipeline.pii.prefilter import _CATEGORIES, _parse

_ASCII = [chr(c) for c in range(128)]
# regex flags that change what a class matches (the rest: syntax or search direction, refused by
# prefilter._parse, or no effect on single characters)
_CHARACTER_FLAGS = regex.IGNORECASE | regex.ASCII | regex.LOCALE | regex.UNICODE | regex.DOTALL | regex.FULLCASE


class Unsupported(Exception):
    """Syntax the reversal does not handle (back-references, conditionals, empty matches)."""


def _class_source(op, av, c) -> str:
    """``regex`` source for one single-character node of re's syntax tree."""
    if op is c.LITERAL:
        return regex.escape(chr(av))
    if op is c.NOT_LITERAL:
        return "[^" + regex.escape(chr(av)) + "]"
    if op is c.ANY:
        return "."
    parts, negate = [], False
    for kind, value in av:
        if kind is c.NEGATE:
            negate = True
        elif kind is c.LITERAL:
            parts.append(regex.escape(chr(value)))
        elif kind is c.RANGE:
            parts.append(f"\\U{value[0]:08x}-\\U{value[1]:08x}")
        elif kind is c.CATEGORY and str(value) in _CATEGORIES:
            parts.append(_CATEGORIES[str(value)])
        else:
            raise Unsupported(str(kind))
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _class_ref(op, av, c, flags: int, classes: dict) -> str:
    """A placeholder for the node's class (filled in by :meth:`StartScan._source`); ``classes``
    maps each distinct (source, flags) to its number."""
    key = (_class_source(op, av, c), flags & _CHARACTER_FLAGS)
    number = classes.setdefault(key, len(classes))
    return f"\x01{number}\x02"


def _reverse(seq, flags: int, c, classes: dict) -> str:
    """Hyperscan source matching the reverse of every stretch ``seq`` matches, and more."""
    out = []
    for op, av in reversed(list(seq)):
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            continue  # zero-width: left out, the pattern only matches more
        if op in (c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY):
            out.append(_class_ref(op, av, c, flags, classes))
        elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):  # (an atomic group read as a plain one: more)
            if op is c.SUBPATTERN:
                _, add, remove, sub = av
                inner = _reverse(sub, (flags | add) & ~remove, c, classes)
            else:
                inner = _reverse(av, flags, c, classes)
            if inner:  # (a group of lookarounds only is left out)
                out.append(f"(?:{inner})")
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):  # (lazy or possessive: more)
            low, high, sub = av
            upper = "" if high == c.MAXREPEAT else str(high)
            out.append(f"(?:{_reverse(sub, flags, c, classes)}){{{low},{upper}}}")
        elif op is c.BRANCH:
            out.append("(?:" + "|".join(f"(?:{_reverse(b, flags, c, classes)})" for b in av[1]) + ")")
        else:  # back-references, conditionals
            raise Unsupported(str(op))
    return "".join(out)


def reversed_pattern(pattern: str, flags: int) -> tuple[str, list[tuple[str, int]]]:
    """:func:`_reverse` of a whole ``regex`` pattern: a template with a placeholder per character
    class, and the classes as ``(regex source, flags)`` in placeholder order. Raises Unsupported
    for syntax Python's parser reads otherwise than ``regex`` or this does not reverse."""
    parsed = _parse(pattern, flags)
    if parsed is None:
        raise Unsupported("syntax")
    tree, c = parsed
    classes: dict = {}
    template = _reverse(tree, flags, c, classes)
    if not template:
        raise Unsupported("matches the empty string")
    return template, list(classes)


_PLACEHOLDER = regex.compile("\x01(\\d+)\x02")
_MOST_SIGNATURES = 126  # bytes 0x81–0xfe; 0x80 is "in no class"
# A code point not asked yet; no character is handed over with it, so it also stands for a class
# without members (ASCII characters, NUL included, have their own byte from the start).
_UNKNOWN = 0xFF
_IN_NO_CLASS = 0x80
_BASIC_PLANE_END = 0x10000  # code points below this are given their byte when the scan is built


class StartScan:
    """``hits(text, pos)`` → the spans ``union.finditer(text, pos)`` gives."""

    def __init__(self, union: "regex.Pattern", template: str, classes: list[tuple[str, int]]) -> None:
        import numpy as np

        self.union = union
        self._template = template
        self._classes = [regex.compile(source, flags) for source, flags in classes]
        self._ascii = [[ch for ch in _ASCII if cls.fullmatch(ch)] for cls in self._classes]
        self._signatures: dict[tuple[int, ...], int] = {}  # classes a character is in → its byte
        self._byte_of = np.full(0x110000, _UNKNOWN, dtype=np.uint8)  # code point → its byte
        self._byte_of[:128] = np.arange(128, dtype=np.uint8)
        self._lock = threading.Lock()
        self._local = threading.local()  # hyperscan scratch space is one thread's at a time
        self._database = None
        self.exhausted = False  # more signatures met than there are bytes for: the regex scan
        self._learn_basic_plane()
        self._compile()

    @classmethod
    def build(cls, union: "regex.Pattern") -> "StartScan | None":
        """None without hyperscan, or for a union this does not reverse."""
        try:
            import hyperscan
        except ImportError:
            return None
        try:
            template, classes = reversed_pattern(union.pattern, union.flags)
            return cls(union, template, classes)
        except (Unsupported, RecursionError, regex.error, hyperscan.error):
            return None

    def _source(self) -> str:
        """The template with each class as its ASCII members and the signature bytes holding it."""
        members = [[f"\\x{ord(ch):02x}" for ch in ascii_members] for ascii_members in self._ascii]
        for signature, byte in self._signatures.items():
            for number in signature:
                members[number].append(f"\\x{byte:02x}")
        # a class with no member yet: the byte no character is handed over with
        return _PLACEHOLDER.sub(lambda m: "[" + "".join(members[int(m.group(1))] or [f"\\x{_UNKNOWN:02x}"]) + "]",
                                self._template)

    def _compile(self) -> None:
        import hyperscan

        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(expressions=[self._source().encode("ascii")], ids=[0], elements=1, flags=[0])
        self._database = database

    def _learn(self, codes) -> None:
        """Give each code point not asked yet the byte of its signature (a new signature: the
        pattern is compiled again with it)."""
        new = False
        with self._lock:
            for code in codes.tolist():
                if self._byte_of[code] != _UNKNOWN:
                    continue
                ch = chr(code)
                known = len(self._signatures)
                self._byte_of[code] = self._byte_for(tuple(i for i, cls in enumerate(self._classes) if cls.fullmatch(ch)))
                new = new or len(self._signatures) > known
            if new:
                self._compile()

    def _byte_for(self, signature: tuple[int, ...]) -> int:
        """The byte of the characters in exactly the classes ``signature``; a new signature takes
        the next free byte (Unsupported when none is left)."""
        if not signature:
            return _IN_NO_CLASS
        byte = self._signatures.get(signature)
        if byte is None:
            if len(self._signatures) >= _MOST_SIGNATURES:
                raise Unsupported("too many signatures")
            byte = self._signatures[signature] = _IN_NO_CLASS + 1 + len(self._signatures)
        return byte

    def _learn_basic_plane(self) -> None:
        """Give every code point of the Basic Multilingual Plane its byte before the first compile,
        so that texts in other scripts do not compile the pattern again one new signature at a time.
        Each class is scanned over all those characters at once: it matches one character at a
        time, so its runs of matches are its members (what ``fullmatch`` says of each). When the
        plane holds more signatures than there are bytes, or a class may match two characters as
        one (full case folding, which the prefilter's parser refuses anyway), they are learned as
        they are met."""
        import numpy as np

        if len(self._classes) > 64:
            return  # (kinds below are 64-bit words) learned as met
        if any(map(_folds_to_many, self._classes)):
            return  # a class may match two characters as one ('ß' as "ss"): learned one by one, as met
        # a code point's kind: the bits of the classes it is in (one 64-bit word holds them)
        kind_key = np.zeros(_BASIC_PLANE_END - 128, dtype=np.uint64)
        for number, cls in enumerate(self._classes):  # one character at a time: runs of matches are runs of members
            bit = np.uint64(1) << np.uint64(number)
            for m in regex.finditer(f"(?:{cls.pattern})+", _basic_plane_text(), cls.flags):
                kind_key[m.start() : m.end()] |= bit
        kinds, kind_of_code = np.unique(kind_key, return_inverse=True)
        try:
            byte_of_kind = np.array([self._byte_for(tuple(n for n in range(len(self._classes)) if bits >> n & 1))
                                     for bits in kinds.tolist()], dtype=np.uint8)
        except Unsupported:
            self._signatures = {}  # learned as met (and the scan gives up when they run out)
            return
        self._byte_of[128:_BASIC_PLANE_END] = byte_of_kind[kind_of_code.reshape(-1)]

    def _bytes(self, text: str) -> bytes:
        """``text`` reversed, one byte per character."""
        if text.isascii():
            return text[::-1].encode("ascii")
        import numpy as np

        codes = np.frombuffer(text[::-1].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        out = self._byte_of[codes]
        unknown = out == _UNKNOWN
        if unknown.any():
            self._learn(np.unique(codes[unknown]))
            out = self._byte_of[codes]
        return out.tobytes()

    def starts(self, text: str) -> list[int]:
        """Every position of ``text`` where a match of the reversed pattern can start, ascending
        (with repeats)."""
        data = self._bytes(text)
        database = self._database
        held = getattr(self._local, "held", None)  # (database, its scratch) of this thread
        if held is None or held[0] is not database:
            import hyperscan

            held = self._local.held = (database, hyperscan.Scratch(database))
        scratch = held[1]
        ends: list[int] = []
        database.scan(data, match_event_handler=_collect(ends), scratch=scratch)
        n = len(data)
        return sorted(n - e for e in ends)

    def hits(self, text: str, pos: int, timeout: float | None) -> list[tuple[int, int]] | None:
        """``[m.span() for m in union.finditer(text, pos)]``; with ``timeout``, raises
        TimeoutError when the matching took longer in all (as ``finditer(timeout=)`` does).
        None once the text's characters need more signatures than there are bytes for (the
        caller scans with ``regex``)."""
        if self.exhausted:
            return None
        try:
            starts = self.starts(text)
        except Unsupported:
            self.exhausted = True
            return None
        out: list[tuple[int, int]] = []
        match = self.union.match
        cursor, last = pos, -1
        deadline = None if timeout is None else time.monotonic() + timeout
        for s in starts:
            if s < cursor or s == last:
                continue
            last = s
            if deadline is None:
                m = match(text, s)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("regex timed out")
                m = match(text, s, timeout=left)
            if m is not None:
                out.append(m.span())
                cursor = m.end()
        return out


@functools.lru_cache(maxsize=1)
def _basic_plane_text() -> str:
    """Every code point from 128 up to the end of the Basic Multilingual Plane, in order."""
    return "".join(map(chr, range(128, _BASIC_PLANE_END)))


def _folds_to_many(cls: "regex.Pattern") -> bool:
    """Whether ``cls`` may match several characters as one (full case folding: 'ß' and "ss")."""
    flags = cls.flags
    return bool(flags & regex.IGNORECASE and flags & (regex.FULLCASE | regex.VERSION1))


def _collect(ends: list[int]) -> Callable:
    def on_match(_id, _start, end, _flags, _context):
        ends.append(end)

    return on_match

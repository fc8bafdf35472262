"""User-supplied regular expressions under a time limit.

Rules are data a user copies and edits, so any pattern in rules/ may backtrack catastrophically.
Every such pattern is compiled here with the ``regex`` module and matched with its ``timeout``:
a pattern that runs too long on one record raises :class:`RuleTimeout` carrying the rule's name,
which the shared verdict path (:mod:`pipeline.verdicts`) turns into a ``stage_error`` quarantine
row for that record naming the rule, instead of a hung run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

import regex

# Seconds one match call may take. Generous: a sane pattern on a 1 MB record takes milliseconds.
DEFAULT_TIMEOUT = float(os.environ.get("CURATE_REGEX_TIMEOUT", "2.0"))


class RuleTimeout(RuntimeError):
    """A rule's pattern exceeded its time limit on one record."""

    def __init__(self, rule: str, timeout: float):
        super().__init__(f"rule {rule!r}: pattern exceeded {timeout:g}s")
        self.rule = rule
        self.timeout = timeout


class RulePatternError(ValueError):
    """A rule's pattern does not compile (a config error: names the rule, never the text)."""


@dataclass(slots=True)
class RulePattern:
    """A compiled user pattern with a name and a per-call time limit; the ``re``-like calls used by
    the stages (``search``, ``finditer``, ``sub``, ``fullmatch``) raise :class:`RuleTimeout`."""

    name: str
    pattern: str
    flags: int = 0
    timeout: float = DEFAULT_TIMEOUT
    compiled: "regex.Pattern" = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.compiled = regex.compile(self.pattern, self.flags)
        except regex.error as exc:
            raise RulePatternError(f"rule {self.name!r}: invalid pattern ({exc})") from None

    @property
    def groupindex(self):
        return self.compiled.groupindex

    def search(self, text: str, pos: int = 0, endpos: int | None = None):
        try:
            return self.compiled.search(text, pos, endpos, timeout=self.timeout)
        except TimeoutError:
            raise RuleTimeout(self.name, self.timeout) from None

    def fullmatch(self, text: str):
        try:
            return self.compiled.fullmatch(text, timeout=self.timeout)
        except TimeoutError:
            raise RuleTimeout(self.name, self.timeout) from None

    def finditer(self, text: str) -> Iterator:
        try:
            yield from self.compiled.finditer(text, timeout=self.timeout)
        except TimeoutError:
            raise RuleTimeout(self.name, self.timeout) from None

    def sub(self, repl, text: str, count: int = 0) -> str:
        try:
            return self.compiled.sub(repl, text, count, timeout=self.timeout)
        except TimeoutError:
            raise RuleTimeout(self.name, self.timeout) from None


def compile_rule(name: str, pattern: str, flags: int = 0, timeout: float | None = None) -> RulePattern:
    """Compile a user pattern from a rules file; ``flags`` are ``regex`` flags (``regex.I`` etc.)."""
    return RulePattern(name, pattern, flags, DEFAULT_TIMEOUT if timeout is None else timeout)

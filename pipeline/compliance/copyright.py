"""Copyright-notice extraction driven by ``rules/copyright.yaml``.

Patterns are compiled once; each carries ``keywords`` so a document is only scanned by the patterns
whose keywords occur in it (most web text has none, and pays one lower-cased keyword scan).
Patterns are user data (a copied rules/ folder), so each is compiled by
:func:`pipeline.saferegex.compile_rule` under its ``id``: one that backtracks too long on a record
raises ``RuleTimeout`` naming ``copyright.yaml:<id>`` (that record is quarantined as ``stage_error``),
and one that does not compile is a :class:`~pipeline.saferegex.RulePatternError` naming the file and id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.saferegex import RulePattern, RulePatternError, compile_rule

_WS = re.compile(r"\s+")
_TRAIL = re.compile(r"[\s,.;:|/\\\-–—*#>)\]]+$|^[\s,.;:|/\\\-–—*#<(\[]+")
_ARR = re.compile(r"(?i)\s*all rights reserved.*$")


@dataclass(slots=True, frozen=True)
class Notice:
    id: str  # pattern id
    restrictive: bool
    text: str  # the notice as found (whitespace collapsed, clipped)
    holder: str | None
    start: int
    end: int


@dataclass(slots=True)
class _Pattern:
    id: str
    regex: RulePattern
    keywords: tuple[str, ...]
    restrictive: bool


class CopyrightExtractor:
    def __init__(self, rules: dict, source: str = "copyright.yaml") -> None:
        self.max_notices = int(rules.get("max_notices", 20))
        self.max_chars = int(rules.get("max_notice_chars", 160))
        self.patterns: list[_Pattern] = []
        for i, p in enumerate(rules.get("patterns") or []):
            if not isinstance(p, dict):
                raise RulePatternError(f"{source}: patterns[{i}] must be a mapping")
            pid = str(p.get("id") or f"patterns[{i}]")
            if not isinstance(p.get("pattern"), str):
                raise RulePatternError(f"{source}: pattern '{pid}' needs a 'pattern' string")
            rx = compile_rule(f"{source}:{pid}", p["pattern"])
            kws = tuple(str(k).lower() for k in (p.get("keywords") or []))
            if not kws:
                raise RulePatternError(f"{source}: pattern '{pid}' needs keywords (prefilter)")
            self.patterns.append(_Pattern(pid, rx, kws, bool(p.get("restrictive", False))))

    @property
    def keywords(self) -> set[str]:
        return {k for p in self.patterns for k in p.keywords}

    def extract(self, text: str, present: set[str]) -> list[Notice]:
        """Notices in ``text``; ``present`` = the prefilter keywords found in its lower-cased form."""
        found: list[Notice] = []
        spans: list[tuple[int, int]] = []
        for p in self.patterns:
            if not any(k in present for k in p.keywords):
                continue
            for m in p.regex.finditer(text):
                s, e = m.span()
                if any(s < b and a < e for a, b in spans):
                    continue
                spans.append((s, e))
                holder = None
                if "holder" in p.regex.groupindex and m.group("holder"):
                    holder = _TRAIL.sub("", _ARR.sub("", _WS.sub(" ", m.group("holder")))).strip() or None
                    if holder:
                        holder = holder[: self.max_chars]
                notice = _TRAIL.sub("", _WS.sub(" ", m.group(0))).strip()[: self.max_chars]
                found.append(Notice(p.id, p.restrictive, notice, holder, s, e))
        found.sort(key=lambda n: n.start)
        return found

    def strings(self, notices: list[Notice]) -> list[str]:
        """The `copyright` column: distinct notice strings, in order, at most ``max_notices``."""
        out = list(dict.fromkeys(n.text for n in notices if n.text))
        return out[: self.max_notices]

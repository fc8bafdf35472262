"""Context-based suppression of findings that are not personal data (``rules/pii/suppression.yaml``).

presidio decides from the value alone: ``1.2.3.4`` is an IPv4 address and ``22 2006 -0700`` a
valid number somewhere. Technical text (changelogs, manual pages, logs) is full of such values,
and replacing them damages the text without protecting anyone. :class:`Suppressor` drops a
finding when its context says what it is:

* ``allow_list`` — literal values or whole-value patterns never treated as PII;
* ``version_numbers`` — an IPv4 finding that is a version/section/build number;
* ``technical_numbers`` — a phone finding in a technical document with neither a phone context
  word nor phone formatting.

Built once per engine; every pattern from the YAML goes through :mod:`pipeline.saferegex`.
"""
from __future__ import annotations

from pathlib import Path

import regex
import yaml

from pipeline.config import ConfigError
from pipeline.saferegex import RulePatternError, compile_rule

SUPPRESSION_FILE = "pii/suppression.yaml"
_IPV4 = regex.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_WORD = regex.compile(r"\w+")
_DOTTED = regex.compile(r"v?\d+(?:\.\d+)+")
_VERSION_SUFFIX = regex.compile(r"[~+][0-9A-Za-z]|-[0-9A-Za-z]+(?![0-9A-Za-z]*\.\d)")
_TOKEN_BEFORE = regex.compile(r"(?r)[^\s,;()\[\]]+")
_TOKEN = regex.compile(r"[^\s,;()\[\]]+")
_CONSTRAINT = regex.compile(r"(?:[<>!~=]=|<<|>>|[<>])\s*\Z")


def not_global(value: str) -> bool:
    """An IP address or network (``10.1.2.3``, ``fe80::1%eth0``, ``10.0.0.0/24``) outside the
    globally routable space."""
    import ipaddress

    try:
        return not ipaddress.ip_network(value.split("%")[0], strict=False).is_global
    except ValueError:
        return False


class Suppressor:
    """``apply(text, results)`` → the results that are personal data."""

    def __init__(self, conf: dict, source: str, base_scores: dict[str, float]) -> None:
        self.source = source
        self.base_scores = base_scores  # entity → the score its recognizer gives without context
        allow = conf.get("allow_list") or {}
        self.allow_values = frozenset(str(v) for v in allow.get("values") or [])
        self.allow_patterns = [self._rule(f"allow_list.patterns[{i}]", p) for i, p in enumerate(allow.get("patterns") or [])]
        ver = conf.get("version_numbers") or {}
        self.version_entities = frozenset(ver.get("entities") or [])
        self.version_words = frozenset(str(w).lower() for w in ver.get("words_before") or [])
        self.version_span = int(ver.get("words", 2))
        addr = conf.get("technical_addresses") or {}
        self.address_entities = frozenset(addr.get("entities") or []) if addr.get("enabled", False) else frozenset()
        tech = conf.get("technical_numbers") or {}
        self.tech_entities = frozenset(tech.get("entities") or [])
        self.min_markers = int(tech.get("min_markers", 2))
        self.markers = [self._rule(f"technical_numbers.markers.{k}", p) for k, p in (tech.get("markers") or {}).items()]
        self.phone_formats = [self._rule(f"technical_numbers.phone_formats[{i}]", p)
                              for i, p in enumerate(tech.get("phone_formats") or [])]

    def _rule(self, name: str, pattern):
        if not isinstance(pattern, str):
            raise ConfigError(f"rules file {self.source}: {name} must be a string")
        try:
            return compile_rule(f"pii suppression {name}", pattern)
        except RulePatternError as exc:
            raise ConfigError(f"rules file {self.source}: {exc}") from None

    @classmethod
    def from_config(cls, config, base_scores: dict[str, float]) -> "Suppressor | None":
        path: Path = config.rules_path() / SUPPRESSION_FILE
        if not path.exists():
            return None  # (a rules copy made before this file existed: nothing is suppressed)
        try:
            conf = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            raise ConfigError(f"rules file {path}: invalid YAML") from None
        if not isinstance(conf, dict):
            raise ConfigError(f"rules file {path}: expected a mapping")
        return cls(conf, str(path), base_scores)

    # ------------------------------------------------------------------------------------------
    def apply(self, text: str, results: list) -> list:
        if not results:
            return results
        technical = None  # decided once per document, and only when a phone finding asks
        kept = []
        for r in results:
            value = text[r.start : r.end]
            if self.allowed(value):
                continue
            if r.entity_type in self.version_entities and self.version_number(text, r.start, r.end):
                continue
            if (r.entity_type in self.tech_entities and not self.has_context(r) and not self.phone_formatted(value)) \
                    or (r.entity_type in self.address_entities and not_global(value)):
                if technical is None:
                    technical = self.technical(text)
                if technical:
                    continue
            kept.append(r)
        return kept

    def allowed(self, value: str) -> bool:
        return value in self.allow_values or any(p.fullmatch(value) for p in self.allow_patterns)

    def version_number(self, text: str, start: int, end: int) -> bool:
        """An IPv4-shaped finding that its neighbourhood shows to be a version number."""
        if not _IPV4.fullmatch(text, start, end):
            return False
        before, after = text[max(0, start - 2) : start], text[end : end + 24]
        if before[-1:] in ("v", "V") or (before[-1:] == "." and before[:1].isdigit()):
            return True  # v1.2.3.4 / 1.2.3.4.5
        if before[-1:] in ("-", "_") and before[:1].isalpha():
            return True  # gettext-0.19.8.1: a package name's version
        if _CONSTRAINT.search(text, max(0, start - 4), start):
            return True  # zlib >= 1.2.2.3: a version constraint
        if after[:1] == "." and after[1:2].isdigit():
            return True
        if _VERSION_SUFFIX.match(after):
            return True  # 1.2.3.4-1, 1.2.3.4~rc1, 1.2.3.4+dfsg
        words = _WORD.findall(text, max(0, start - 80), start)[-self.version_span :]
        if any(w.lower() in self.version_words for w in words):
            return True
        return self._in_version_list(text, start, end)

    @staticmethod
    def _in_version_list(text: str, start: int, end: int) -> bool:
        """A neighbouring token is a dotted number of 2-3 or 5+ parts (a list of versions)."""
        neighbours = []
        m = _TOKEN_BEFORE.search(text, max(0, start - 60), start)
        if m:
            neighbours.append(m.group())
        m = _TOKEN.search(text, end, end + 60)
        if m:
            neighbours.append(m.group())
        for tok in neighbours:
            tok = tok.rstrip(".:")
            if _DOTTED.fullmatch(tok) and tok.count(".") != 3:
                return True
        return False

    def has_context(self, r) -> bool:
        base = self.base_scores.get(r.entity_type)
        return base is None or r.score > base + 1e-9

    def phone_formatted(self, value: str) -> bool:
        return any(p.fullmatch(value) for p in self.phone_formats)

    def technical(self, text: str) -> bool:
        found = 0
        for marker in self.markers:
            if marker.search(text):
                found += 1
                if found >= self.min_markers:
                    return True
        return False

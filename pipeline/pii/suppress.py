"""Context-based suppression of findings that are not personal data (``rules/pii/suppression.yaml``).

presidio decides from the value alone: ``1.2.3.4`` is an IPv4 address and ``22 2006 -0700`` a
valid number somewhere. Technical text (changelogs, manual pages, logs) is full of such values,
and replacing them damages the text without protecting anyone. :class:`Suppressor` drops a
finding when its context says what it is:

* ``allow_list`` — literal values or whole-value patterns never treated as PII;
* ``version_numbers`` — an IPv4 finding that is a version/section/build number (part of a
  dotted number of 5+ parts only in a technical document: elsewhere ``192.168.1.1.1`` holds an
  address, as presidio's tests expect);
* ``dates_and_ids`` — a phone finding that is part of a date, a time stamp or an id (CVE-…);
* ``reserved_addresses`` — in a technical document, an address no device has (loopback,
  documentation, multicast …) or a network written with its prefix length;
* ``technical_numbers`` — a phone finding in a technical document with neither a phone context
  word (a whole word, not a piece of ``intel``) nor phone formatting;
* ``plain_numbers`` — a finding of an ID type confirmed by its structure alone (no check digit,
  no context word: score at most ``max_score``) in a technical document, or after one of its
  ``words_before`` (order, invoice, timestamp …) in any document.

Built once per engine; every pattern from the YAML goes through :mod:`pipeline.saferegex`.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import regex
import yaml

from pipeline import ruleyaml
from pipeline.config import ConfigError
from pipeline.saferegex import RulePatternError, compile_rule

SUPPRESSION_FILE = "pii/suppression.yaml"
_IPV4 = regex.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_WORD = regex.compile(r"[^\W_]+")  # identifiers split at "_": Java_VERSION → Java, VERSION
_LETTERS = regex.compile(r"[^\W\d_]+")  # words without the numbers between them
_DOTTED = regex.compile(r"v?\d+(?:\.\d+)+")
_VERSION_SUFFIX = regex.compile(r"[~+][0-9A-Za-z]|-[0-9A-Za-z]+(?![0-9A-Za-z]*\.\d)")
_TOKEN_BEFORE = regex.compile(r"(?r)[^\s,;()\[\]]+")
_TOKEN = regex.compile(r"[^\s,;()\[\]]+")
_CONSTRAINT = regex.compile(r"(?:[<>!~=]=|<<|>>|[<>])\s*\Z")


def _network(value: str):
    try:
        return ipaddress.ip_network(value.split("%")[0], strict=False)
    except ValueError:
        return None


def not_global(value: str) -> bool:
    """An IP address or network (``10.1.2.3``, ``fe80::1%eth0``, ``10.0.0.0/24``) outside the
    globally routable space."""
    try:
        return not ipaddress.ip_network(value.split("%")[0], strict=False).is_global
    except ValueError:
        return False


class Suppressor:
    """``apply(text, results)`` → the results that are personal data."""

    def __init__(self, conf: dict, source: str, base_scores: dict[str, float],
                 context_words: dict[str, set[str]] | None = None) -> None:
        self.source = source
        self.base_scores = base_scores  # entity → the score its recognizer gives without context
        self.context_words = {e: tuple(sorted(w.lower() for w in ws)) for e, ws in (context_words or {}).items()}
        allow = conf.get("allow_list") or {}
        self.allow_values = frozenset(str(v) for v in allow.get("values") or [])
        self.allow_patterns = [self._rule(f"allow_list.patterns[{i}]", p) for i, p in enumerate(allow.get("patterns") or [])]
        ver = conf.get("version_numbers") or {}
        self.version_entities = frozenset(ver.get("entities") or [])
        self.version_words = frozenset(str(w).lower() for w in ver.get("words_before") or [])
        self.version_span = int(ver.get("words", 2))
        self.address_words = frozenset(str(w).lower() for w in ver.get("address_words") or [])
        self.version_before = [self._rule(f"version_numbers.before[{i}]", rf"(?:{p})\Z")
                               for i, p in enumerate(ver.get("before") or [])]
        self.version_after = [self._rule(f"version_numbers.after[{i}]", rf"\G(?:{p})")
                              for i, p in enumerate(ver.get("after") or [])]
        dates = conf.get("dates_and_ids") or {}
        self.date_entities = frozenset(dates.get("entities") or [])
        self.date_patterns = [self._rule(f"dates_and_ids.patterns.{k}", p) for k, p in (dates.get("patterns") or {}).items()]
        reserved = conf.get("reserved_addresses") or {}
        self.reserved_entities = (frozenset(reserved.get("entities") or []) if reserved.get("enabled", True)
                                  else frozenset())
        self.reserved_networks = []
        for i, net in enumerate(reserved.get("networks") or []):
            parsed = _network(str(net))
            if parsed is None:
                raise ConfigError(f"rules file {source}: reserved_addresses.networks[{i}] is not a network")
            self.reserved_networks.append(parsed)
        self.reserved_prefixed = bool(reserved.get("networks_with_prefix", True))
        self.context_rules = []  # (entities, pattern ending where the finding starts)
        for name, rule in (conf.get("technical_context") or {}).items():
            if not isinstance(rule, dict) or not isinstance(rule.get("before"), str):
                raise ConfigError(f"rules file {source}: technical_context.{name} needs entities and a 'before' pattern")
            self.context_rules.append((frozenset(rule.get("entities") or []),
                                       self._rule(f"technical_context.{name}.before", rf"(?:{rule.get('before')})\Z")))
        addr = conf.get("technical_addresses") or {}
        self.address_entities = frozenset(addr.get("entities") or []) if addr.get("enabled", False) else frozenset()
        tech = conf.get("technical_numbers") or {}
        self.tech_entities = frozenset(tech.get("entities") or [])
        self.min_markers = int(tech.get("min_markers", 2))
        self.markers = [self._rule(f"technical_numbers.markers.{k}", p) for k, p in (tech.get("markers") or {}).items()]
        self.phone_formats = [self._rule(f"technical_numbers.phone_formats[{i}]", p)
                              for i, p in enumerate(tech.get("phone_formats") or [])]
        plain = conf.get("plain_numbers") or {}
        self.plain_entities = frozenset(plain.get("entities") or [])
        self.plain_max_score = float(plain.get("max_score", 0.5))
        self.plain_words = frozenset(str(w).lower() for w in plain.get("words_before") or [])
        self.plain_span = int(plain.get("words", 3))
        self.plain_glued = tuple(w for w in self.plain_words if not w.isascii())

    def _rule(self, name: str, pattern):
        if not isinstance(pattern, str):
            raise ConfigError(f"rules file {self.source}: {name} must be a string")
        try:
            return compile_rule(f"pii suppression {name}", pattern)
        except RulePatternError as exc:
            raise ConfigError(f"rules file {self.source}: {exc}") from None

    @classmethod
    def from_config(cls, config, base_scores: dict[str, float],
                    context_words: dict[str, set[str]] | None = None) -> "Suppressor | None":
        path: Path = config.rules_path() / SUPPRESSION_FILE
        if not path.exists():
            return None  # (a rules copy made before this file existed: nothing is suppressed)
        try:
            conf = ruleyaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            raise ConfigError(f"rules file {path}: invalid YAML") from None
        if not isinstance(conf, dict):
            raise ConfigError(f"rules file {path}: expected a mapping")
        return cls(conf, str(path), base_scores, context_words)

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
            if r.entity_type in self.date_entities and self.date_or_id(text, r.start, r.end):
                continue
            plain = r.entity_type in self.plain_entities and r.score <= self.plain_max_score + 1e-9
            if plain and self.plain_word_before(text, r.start):
                continue
            if plain or (r.entity_type in self.version_entities and self.in_longer_dotted(text, r.start, r.end)) \
                    or (r.entity_type in self.tech_entities and not self.phone_formatted(value)
                    and not self.has_context(r, text)) \
                    or (r.entity_type in self.address_entities and not_global(value)) \
                    or (r.entity_type in self.reserved_entities and self.reserved(value)) \
                    or any(r.entity_type in entities and p.search(text, max(0, r.start - 60), r.start)
                           for entities, p in self.context_rules):
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
        if before[-1:] in ("v", "V"):
            return True  # v1.2.3.4
        if before[-1:] in ("-", "_") and before[:1].isalpha():
            return True  # gettext-0.19.8.1: a package name's version
        if _CONSTRAINT.search(text, max(0, start - 4), start):
            return True  # zlib >= 1.2.2.3: a version constraint
        if _VERSION_SUFFIX.match(after):
            return True  # 1.2.3.4-1, 1.2.3.4~rc1, 1.2.3.4+dfsg
        if any(p.search(text, max(0, start - 40), start) for p in self.version_before):
            return True  # 1:1.0.99.4 (a Debian epoch)
        if any(p.search(text, end, min(len(text), end + 80)) for p in self.version_after):
            return True  # libfoo (1.2.3.4) unstable; urgency=low
        words = [w.lower() for w in _LETTERS.findall(text, max(0, start - 80), start)[-self.version_span :]]
        for i, w in enumerate(words):
            if w in self.version_words and not any(a in self.address_words for a in words[i + 1 :]):
                return True
        return self._in_version_list(text, start, end)

    @staticmethod
    def in_longer_dotted(text: str, start: int, end: int) -> bool:
        """An IPv4-shaped finding inside a dotted number of 5+ parts (1.2.3.4.5)."""
        if not _IPV4.fullmatch(text, start, end):
            return False
        return (text[start - 1 : start] == "." and text[start - 2 : start - 1].isdigit()) \
            or (text[end : end + 1] == "." and text[end + 1 : end + 2].isdigit())

    def plain_word_before(self, text: str, start: int) -> bool:
        """One of ``plain_numbers.words_before`` among the words just before ``start``."""
        if not self.plain_words:
            return False
        words = _LETTERS.findall(text, max(0, start - 80), start)[-self.plain_span :]
        # an ASCII word must be the whole word; Hangul/CJK ones are glued to particles (주문번호는)
        return any(w.lower() in self.plain_words or any(k in w for k in self.plain_glued) for w in words)

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

    def date_or_id(self, text: str, start: int, end: int) -> bool:
        """The finding overlaps a date, a time stamp or an id that ``dates_and_ids`` describes."""
        lo, hi = max(0, start - 40), min(len(text), end + 40)
        for p in self.date_patterns:
            pos = lo
            while True:
                m = p.search(text, pos, hi)
                if m is None:
                    break
                if m.start() < end and m.end() > start:
                    return True
                pos = max(m.end(), m.start() + 1)
        return False

    def reserved(self, value: str) -> bool:
        """An address no device has, or a network written with its prefix length (10.1.0.0/16)."""
        net = _network(value)
        if net is None:
            return False
        if self.reserved_prefixed and "/" in value and net.prefixlen < net.max_prefixlen:
            try:
                ipaddress.ip_network(value.split("%")[0], strict=True)
                return True  # host bits zero: a range, not one device (10.1.2.3/24 is a device)
            except ValueError:
                pass
        return any(net.version == r.version and net.subnet_of(r) for r in self.reserved_networks)

    def has_context(self, r, text: str | None = None) -> bool:
        """Context raised the finding's score, and (when the text is given) one of its entity's
        context words starts one of the words around it: presidio matches context words inside
        words, so ``tel`` is found in ``intel`` and ``cell`` in ``cancelled``."""
        base = self.base_scores.get(r.entity_type)
        if base is not None and r.score <= base + 1e-9:
            return False
        words = self.context_words.get(r.entity_type)
        if text is None or base is None or not words:
            return True
        around = _WORD.findall(text, max(0, r.start - 120), r.start)[-6:] + _WORD.findall(text, r.end, r.end + 40)[:1]
        for w in around:
            low = w.lower()
            # an ASCII word must start the word; Hangul/CJK words are glued to others (전화번호는, 请拨打电话)
            if low.startswith(words) or any(cw in low for cw in words if not cw.isascii()):
                return True
        return False

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

"""License policy from ``rules/licenses.yaml``: status of an SPDX expression, per-source overrides."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from pipeline.compliance.optout import domain_matches, host_of

ALLOWED, REVIEW, DENIED = "allowed", "review", "denied"
_RANK = {ALLOWED: 0, REVIEW: 1, DENIED: 2}
NOTICE_ACTIONS = ("drop", "review", "keep")
SEE_OTHER_FILE_ACTIONS = ("flag", "review", "drop")


@dataclass(slots=True)
class Policy:
    allowed: list[str]
    review: list[str]
    denied: list[str]
    default_status: str = REVIEW
    restrictive_notice_action: str = "drop"
    notice_action: str = "keep"
    see_other_file_action: str = "flag"  # a license only pointed to ("see the file COPYING")
    _cache: dict = field(default_factory=dict)

    def status_of_key(self, key: str) -> str:
        hit = self._cache.get(key)
        if hit is None:
            hit = self.default_status
            for status, pats in ((DENIED, self.denied), (REVIEW, self.review), (ALLOWED, self.allowed)):
                if any(_match(key, p) for p in pats):
                    hit = status
                    break
            self._cache[key] = hit
        return hit

    def status(self, expression) -> str:
        """Status of a parsed license_expression object: OR → best, AND → worst, WITH → the license."""
        from license_expression import AND, OR, LicenseSymbol, LicenseWithExceptionSymbol

        if isinstance(expression, LicenseWithExceptionSymbol):
            return self.status_of_key(expression.license_symbol.key)
        if isinstance(expression, LicenseSymbol):
            return self.status_of_key(expression.key)
        subs = [self.status(a) for a in expression.args]
        if isinstance(expression, OR):
            return min(subs, key=_RANK.__getitem__)
        if isinstance(expression, AND):
            return max(subs, key=_RANK.__getitem__)
        return self.default_status


def _match(key: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return key.lower().startswith(pattern[:-1].lower())
    return key.lower() == pattern.lower()


def _check_status(value, where: str) -> str:
    if value not in _RANK:
        raise ValueError(f"licenses.yaml: {where} must be one of {list(_RANK)}, got {value!r}")
    return value


def _check_action(value, where: str, allowed: tuple[str, ...] = NOTICE_ACTIONS) -> str:
    if value not in allowed:
        raise ValueError(f"licenses.yaml: {where} must be one of {list(allowed)}, got {value!r}")
    return value


class PolicySet:
    """The global policy and its per-source overrides (first matching override wins)."""

    def __init__(self, rules: dict) -> None:
        self.base = Policy(
            allowed=list(rules.get("allowed") or []),
            review=list(rules.get("review") or []),
            denied=list(rules.get("denied") or []),
            default_status=_check_status(rules.get("default_status", REVIEW), "default_status"),
            restrictive_notice_action=_check_action(rules.get("restrictive_notice_action", "drop"), "restrictive_notice_action"),
            notice_action=_check_action(rules.get("notice_action", "keep"), "notice_action"),
            see_other_file_action=_check_action(rules.get("see_other_file_action", "flag"), "see_other_file_action", SEE_OTHER_FILE_ACTIONS),
        )
        self.overrides: list[tuple[str, dict, Policy]] = []
        for i, ov in enumerate(rules.get("overrides") or []):
            where = f"overrides[{i}]"
            match = ov.get("match") or {}
            if not match or set(match) - {"source", "domain"}:
                raise ValueError(f"licenses.yaml: {where}.match needs source and/or domain (only)")
            b = self.base
            pol = _OverridePolicy(
                list(ov.get("allowed") or []),
                list(ov.get("review") or []),
                list(ov.get("denied") or []),
                _check_status(ov.get("default_status", b.default_status), f"{where}.default_status"),
                _check_action(ov.get("restrictive_notice_action", b.restrictive_notice_action), f"{where}.restrictive_notice_action"),
                _check_action(ov.get("notice_action", b.notice_action), f"{where}.notice_action"),
                _check_action(ov.get("see_other_file_action", b.see_other_file_action), f"{where}.see_other_file_action", SEE_OTHER_FILE_ACTIONS),
                b,
            )
            name = ov.get("name") or f"override_{i}"
            self.overrides.append((name, match, pol))

    def for_record(self, record: dict) -> tuple[str | None, Policy]:
        if not self.overrides:
            return None, self.base
        source = record.get("_source")
        host = host_of(record.get("url"))
        for name, match, pol in self.overrides:
            if "source" in match and not (isinstance(source, str) and fnmatch.fnmatchcase(source, str(match["source"]))):
                continue
            if "domain" in match:
                doms = match["domain"] if isinstance(match["domain"], list) else [match["domain"]]
                if not domain_matches(host, {str(d).lower() for d in doms}):
                    continue
            return name, pol
        return None, self.base


class _OverridePolicy(Policy):
    """An override's own lists decide first; the global lists decide what they do not mention."""

    def __init__(self, allowed, review, denied, default_status, restrictive_notice_action, notice_action, see_other_file_action, base: Policy) -> None:
        super().__init__(allowed, review, denied, default_status, restrictive_notice_action, notice_action, see_other_file_action)
        self._base = base

    def status_of_key(self, key: str) -> str:
        hit = self._cache.get(key)
        if hit is None:
            hit = None
            for status, pats in ((DENIED, self.denied), (REVIEW, self.review), (ALLOWED, self.allowed)):
                if any(_match(key, p) for p in pats):
                    hit = status
                    break
            if hit is None:
                hit = self._base.status_of_key(key)
                if hit == self._base.default_status and not _listed(self._base, key):
                    hit = self.default_status
            self._cache[key] = hit
        return hit


def _listed(p: Policy, key: str) -> bool:
    return any(_match(key, x) for x in (*p.allowed, *p.review, *p.denied))

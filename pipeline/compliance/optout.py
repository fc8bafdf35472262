"""Opt-out signals (``rules/optout.yaml``): robots ``noai``/``noimageai`` in meta tags or
``X-Robots-Tag``, W3C TDMRep ``tdm-reservation``, and a domain / URL-pattern block list.

``block_url_patterns`` are user regexes: each is compiled by :func:`pipeline.saferegex.compile_rule`
as rule ``optout.yaml:block_url_patterns[i]`` (a timeout on one URL quarantines that record as
``stage_error`` naming the rule; a pattern that does not compile is a config error)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from pipeline.saferegex import compile_rule

_SPLIT = re.compile(r"[,\s]+")


def host_of(url: str | None) -> str | None:
    if not url or not isinstance(url, str):
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def domain_matches(host: str | None, domains) -> str | None:
    """The entry of ``domains`` that ``host`` equals or is a subdomain of."""
    if not host:
        return None
    parts = host.split(".")
    for i in range(len(parts)):
        cand = ".".join(parts[i:])
        if cand in domains:
            return cand
    return None


class OptOutChecker:
    def __init__(self, rules: dict, source: str = "optout.yaml") -> None:
        self.headers = self._signals(rules.get("headers") or {})
        self.meta = self._signals(rules.get("meta") or {})
        self.check_record_meta = bool(rules.get("check_record_meta", True))
        self.block_domains = frozenset(str(d).lower().lstrip(".") for d in rules.get("block_domains") or [])
        self.block_urls = [
            compile_rule(f"{source}:block_url_patterns[{i}]", str(p))
            for i, p in enumerate(rules.get("block_url_patterns") or [])
        ]

    @staticmethod
    def _signals(spec: dict) -> dict[str, tuple[frozenset, frozenset]]:
        return {
            str(name).lower(): (
                frozenset(str(t).lower() for t in (v or {}).get("tokens") or []),
                frozenset(str(t).strip().lower() for t in (v or {}).get("values") or []),
            )
            for name, v in spec.items()
        }

    @staticmethod
    def _hit(value, tokens: frozenset, values: frozenset) -> str | None:
        vals = value if isinstance(value, (list, tuple)) else [value]
        for v in vals:
            if v is None:
                continue
            v = str(v).strip().lower()
            if v in values:
                return v
            if tokens:
                for tok in _SPLIT.split(v):
                    tok = tok.rsplit(":", 1)[-1]  # "googlebot: noai" / "otherbot:noai"
                    if tok in tokens:
                        return tok
        return None

    def _scan(self, where: str, mapping, signals) -> dict | None:
        if not mapping or not isinstance(mapping, dict):
            return None
        for name, (tokens, values) in signals.items():
            if name in mapping:
                hit = self._hit(mapping[name], tokens, values)
                if hit is not None:
                    return {"signal": f"{where}:{name}", "value": hit}
        return None

    def check(self, record: dict) -> dict | None:
        """None, or the detail of the first opt-out signal found (no text, only the signal)."""
        found = self._scan("header", record.get("_http_headers"), self.headers) or self._scan(
            "meta", record.get("_html_meta"), self.meta
        )
        if found:
            return found
        if self.check_record_meta:
            meta = record.get("_meta")
            if isinstance(meta, dict):
                lowered = {str(k).lower(): v for k, v in meta.items()}
                found = self._scan("record_meta", lowered, {**self.meta, **self.headers})
                if found:
                    return found
        url = record.get("url")
        if self.block_domains:
            dom = domain_matches(host_of(url), self.block_domains)
            if dom:
                return {"signal": "block_domain", "value": dom}
        if self.block_urls and isinstance(url, str):
            for i, rx in enumerate(self.block_urls):
                if rx.search(url):
                    return {"signal": "block_url_pattern", "value": rx.pattern[:80], "index": i}
        return None

"""Generate ``rules/license_refs.json.zst`` from the ScanCode LicenseDB (PyPI ``licensedcode-data``).

The reference texts the license matcher compares documents against are not hand-typed: this script
reads the maintained ScanCode license database as packaged on PyPI (``licensedcode-data``; full
license texts in ``licenses/*.LICENSE`` and tens of thousands of curated notice/header variants in
``rules/*.RULE``, each tagged with a ScanCode license expression) and keeps, for the licenses the
pipeline covers (``rules/licenses.yaml`` → ``reference_keys``, and every license of the
``reference_rule_categories``: all of ScanCode's categories), the full texts, the license
notices/headers and the longer references and tags (license names in prose, license URLs, badge
link texts), plus ScanCode's rules that only point to another file (``reference_pointer_keys``,
kind ``pointer``). Rules of licenses outside ``reference_keys`` keep ScanCode's own conditions
(``required`` phrases, ``min_coverage``; alternative full texts ``partial: false``). ScanCode keys
are mapped to SPDX ids through ScanCode's own ``spdx_license_key``.

Usage (a maintainer's step, not a run-time one; the run never needs the network or this package)::

    pip download --no-deps -d /tmp/lcd licensedcode-data==32.1.0
    .venv/bin/python -m pipeline.compliance.build_refs /tmp/lcd/licensedcode_data-32.1.0-py3-none-any.whl

Output: zstd-compressed JSON ``{"source": {...}, "refs": [{"expr", "kind", "text"}], "aliases": {...}}``
where ``text`` is the reference's normalised token string (lower-case ASCII words joined by spaces:
exactly what the matcher tokenises documents into, and much smaller than the raw text).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import yaml
import zstandard

from pipeline.compliance.spdx import ALIAS_FILLER, alias_key, alias_tokens, tokenize

_FM = re.compile(r"\A---\n(.*?)\n---\n?(.*)\Z", re.S)
_OPS = re.compile(r"\s+(?:and|or|with)\s+|[()]", re.I)
_REQUIRED = re.compile(r"\{\{(.*?)\}\}", re.S)  # ScanCode's required phrases in a rule text


def _parse(raw: str) -> tuple[dict, str]:
    m = _FM.match(raw.replace("\r\n", "\n"))
    if not m:
        return {}, raw
    return (yaml.safe_load(m.group(1)) or {}), m.group(2)


def _files(src: Path):
    """(relative name, text) of every licenses/*.LICENSE and rules/*.RULE in a wheel or folder."""
    if src.is_file():
        with zipfile.ZipFile(src) as zf:
            for name in zf.namelist():
                if name.endswith((".LICENSE", ".RULE")) and "/data/" in name:
                    yield name.split("/data/", 1)[1], zf.read(name).decode("utf-8", "replace")
    else:
        for p in sorted(src.rglob("*")):
            if p.suffix in (".LICENSE", ".RULE"):
                yield f"{p.parent.name}/{p.name}", p.read_text("utf-8", "replace")


def build(src: Path, licenses_yaml: Path) -> dict:
    policy = yaml.safe_load(licenses_yaml.read_text(encoding="utf-8"))
    keys: set[str] = set(policy["reference_keys"])
    # Full texts of neighbouring licenses (GPL-1.0 next to GPL-2.0, MPL-1.1 next to MPL-2.0, CC 2.x …)
    # so a text of theirs is recognised as itself instead of as its nearest covered relative.
    text_only: set[str] = set(policy.get("reference_text_only_keys", []))
    # Restricted licenses (ScanCode categories such as Source-available, Commercial) as full texts
    # too: a proprietary or "no nuclear use" variant of a BSD/MIT text must meet its own reference.
    text_only_categories: set[str] = set(policy.get("reference_text_only_categories", []))
    # Every other license of these categories as a full text too (a text of theirs is named as itself,
    # not as the covered relative it shares most words with); their names are added after all others
    # and only when distinctive (two words or a version: not "Attribution", "curl", "DOC")
    more_categories: set[str] = set(policy.get("reference_text_more_categories", []))
    min_tokens: int = int(policy.get("reference_min_tokens", 5))
    min_tokens_for: dict = policy.get("reference_min_tokens_for", {})
    min_tokens_reference: int = int(policy.get("reference_min_tokens_reference", 5))
    # ScanCode keys whose rules only point elsewhere ("see the file COPYING"): kept as kind "pointer"
    pointer: set[str] = set(policy.get("reference_pointer_keys", []))
    keys |= pointer
    # Every license of these categories with all its rules too (notices, references, tags), each
    # under its own id: a proprietary notice or a NCSA header is named as itself. Their names join
    # the name table late, like more_categories'.
    rule_categories: set[str] = set(policy.get("reference_rule_categories", []))
    # ScanCode's "unknown" licenses named as themselves (free-unknown: "this is free software, no
    # license named"); the others are not a license statement (license-file-reference, see-license)
    unknown_keys: set[str] = set(policy.get("reference_unknown_keys", []))
    # Exceptions (Classpath, GCC runtime …) keep their texts and rules too when set: a rule for
    # "GPL-2.0 WITH Classpath-exception-2.0" then names the pair
    exceptions: bool = bool(policy.get("reference_exceptions", False))
    # ... except these: generic fragments found inside most license texts (a bare "as is" disclaimer)
    skip: set[str] = set(policy.get("reference_rule_skip_keys", []))
    ruled: set[str] = set()  # keys whose rules are kept beyond reference_keys
    spdx_of: dict[str, str] = {}
    aliases: dict[str, str] = {}
    late_aliases: list[tuple[str, str]] = []  # (name, SPDX id) of more_categories licenses
    texts: list[tuple[str, str, str, dict]] = []  # (scancode expression, kind, body, match conditions)
    # licenses first: which keys keep their rules is known before the rules are read
    for name, raw in sorted(_files(src), key=lambda f: not f[0].startswith("licenses/")):
        fm, body = _parse(raw)
        if name.startswith("licenses/"):
            key = fm.get("key")
            plain = not fm.get("is_deprecated") and not fm.get("is_exception") and not fm.get("is_unknown")
            # text_only keys stay text only: their notices are near-copies of a covered relative's
            if key not in keys | text_only | skip and not fm.get("is_deprecated") and (key in unknown_keys or (
                    fm.get("category") in rule_categories and (plain or (exceptions and fm.get("is_exception"))))):
                ruled.add(key)
            late = key not in keys and key not in text_only and fm.get("category") not in text_only_categories \
                and ((fm.get("category") in more_categories and plain) or key in ruled)
            if key in keys or key in text_only or key in ruled or (fm.get("category") in text_only_categories and plain) or late:
                spdx = fm.get("spdx_license_key") or f"LicenseRef-scancode-{key}"
                spdx_of[key] = spdx
                if key in pointer:  # not a license: no name to look up, no text to match
                    continue
                for alias in [spdx, fm.get("short_name"), fm.get("name"), key, *(fm.get("other_spdx_license_keys") or [])]:
                    if alias and alias_key(str(alias)):
                        if late:
                            late_aliases.append((str(alias), spdx))
                        else:
                            aliases.setdefault(alias_key(str(alias)), spdx)
                if fm.get("is_deprecated"):
                    continue
                texts.append((key, "text", body, {}))
            continue
        expr = (fm.get("license_expression") or "").strip()
        if not expr or fm.get("is_false_positive") or int(fm.get("relevance", 100)) < 90:
            continue
        rule_parts = {p for p in _OPS.split(expr) if p and p.strip()}
        if not rule_parts <= keys and fm.get("is_deprecated"):
            continue  # a rule ScanCode itself no longer uses (kept as before for reference_keys)
        if fm.get("is_license_text"):
            kind = "text"
        elif fm.get("is_license_notice"):
            kind = "notice"
        elif fm.get("is_license_reference") or fm.get("is_license_tag"):
            # "Creative Commons Attribution-ShareAlike 3.0 Unported License", license URLs, badge
            # link texts, "License: GFDL-1.2": matched like notices, only when long enough
            kind = "reference"
        else:
            continue
        if rule_parts <= pointer:
            kind = "pointer"
        elif not rule_parts <= keys | ruled:
            continue
        extra = {}
        if not rule_parts <= keys:
            # widened licenses' rules keep ScanCode's own match conditions: the phrases it requires
            # ({{Permission is hereby NOT granted}}) and its minimum coverage; their alternative full
            # texts match whole only, so a truncated MIT grant is not named as a rarer relative
            required = [" ".join(tokenize(ph)) for ph in _REQUIRED.findall(body)]
            if [r for r in required if r]:
                extra["required"] = [r for r in required if r]
            if fm.get("minimum_coverage"):
                extra["min_coverage"] = int(fm["minimum_coverage"]) / 100
            if kind == "text":
                extra["partial"] = False
        texts.append((expr, kind, body, extra))
    for alias, spdx in late_aliases:
        words = [t for t in alias_tokens(alias) if t not in ALIAS_FILLER]
        if len(words) >= 2 or any(t.isdigit() for t in words):
            aliases.setdefault(alias_key(alias), spdx)
    refs = []
    seen: set[tuple[str, str]] = set()
    for expr, kind, body, extra in texts:
        toks = tokenize(body)
        parts = {p for p in _OPS.split(expr) if p and p.strip()}
        need = max([min_tokens if kind != "reference" else min_tokens_reference] + [int(min_tokens_for.get(p, 0)) for p in parts])
        if len(toks) < need:
            continue
        norm = " ".join(toks)
        if (expr, norm) in seen:
            continue
        seen.add((expr, norm))
        spdx_expr = _OPS.sub(lambda m: m.group(0).upper(), expr)
        spdx_expr = re.sub(r"[a-z0-9.+-]+(?:-[a-z0-9.+-]+)*", lambda m: spdx_of.get(m.group(0), m.group(0)), spdx_expr)
        refs.append({"expr": spdx_expr, "kind": kind, "text": norm, **extra})
    refs.sort(key=lambda r: (r["expr"], r["kind"], r["text"]))
    missing = sorted((keys | text_only) - set(spdx_of))
    if missing:
        raise SystemExit(f"licensedcode data lacks license keys: {missing}")
    return {"spdx_of": dict(sorted(spdx_of.items())), "aliases": dict(sorted(aliases.items())), "refs": refs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="licensedcode-data wheel or its unpacked licensedcode/data folder")
    ap.add_argument("--policy", type=Path, default=Path(__file__).resolve().parents[2] / "rules" / "licenses.yaml")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "rules" / "license_refs.json.zst")
    args = ap.parse_args(argv)
    data = build(args.source, args.policy)
    digest = hashlib.sha256(args.source.read_bytes()).hexdigest() if args.source.is_file() else None
    data = {
        "source": {"package": args.source.name, "sha256": digest, "generated_at": datetime.now(timezone.utc).date().isoformat()},
        **data,
    }
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    args.out.write_bytes(zstandard.ZstdCompressor(level=19).compress(raw))
    kinds: dict[str, int] = {}
    for r in data["refs"]:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"wrote {args.out}: {len(data['refs'])} refs {kinds}, {len(raw)} bytes json, {args.out.stat().st_size} bytes zst", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

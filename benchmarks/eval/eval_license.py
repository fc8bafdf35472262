"""License detection scored against ground truth this project did not write.

1. **ScanCode's data-driven license tests** (``tests/licensedcode/data/datadriven/`` of
   scancode-toolkit: a text file next to a ``.yml`` with ``license_expressions``). Scored: every case
   whose ``license_expressions`` is one ScanCode key (no AND/OR/WITH), mapped to SPDX through
   ScanCode's own index as shipped in ``license-expression``. "In scope" are the licenses the stage
   is built to name (``reference_keys`` and ``name_aliases`` in rules/licenses.yaml); the rest are
   scored only for the dangerous error. Left out, counted: a case that is only a bare link to a page other than a license text
   site (opensource.org, spdx.org, gnu.org, creativecommons.org, apache.org, mozilla.org,
   eclipse.org, choosealicense.com): ScanCode's NuGet tests label such links from a lookup table;
   the license is not in the text.
2. **Debian machine-readable copyright files** on this machine (``/usr/share/doc/*/copyright`` with a
   ``Format:`` line, DEP-5): each ``License:`` field with a text body (a stand-alone License paragraph
   or the License field of a Files paragraph), the body run through the stage and compared with the
   field's short name mapped to SPDX by Debian's list of short names (``DEP5_SHORT_NAMES`` below,
   from the copyright-format 1.0 specification; SPDX ids, which packages also use, pass as they are).

Figures: exact expression matches, unlabelled, "see other file" results (a pointer, flagged for a
human, never a guessed license), variants (``LicenseRef-curate-[restricted-]variant-of-X``: the text
matches X with wording of its own, flagged for review, naming no license), wrong labels, and the
**restricted-as-permissive** count: a case whose true
license is restricted — denied by the default policy (NonCommercial / NoDerivatives) or in one of
ScanCode's restricted categories (Source-available, Commercial, Proprietary Free, Free Restricted) —
that the stage labels with an allowed license, the error that lets data through. Counted over all
single-license cases, in scope or not, and listed; strong copyleft (ScanCode category Copyleft)
labelled allowed is counted next to it.

Caveat printed with the figures: ScanCode's rules (which the reference set is built from) were in
part written from these very test files, so the ScanCode figure is also given for the cases whose
text is not verbatim one of the references.
"""
from __future__ import annotations

import collections
import re
from pathlib import Path

from common import MissingGroundTruth, pct, require, table

TITLE = "License detection vs ScanCode's license tests and Debian copyright files"
RESTRICTED_CATEGORIES = {"Source-available", "Commercial", "Proprietary Free", "Free Restricted"}

SCANCODE = "scancode-toolkit/tests/licensedcode/data/datadriven"
HOW_SCANCODE = (
    "git clone --depth 1 --filter=blob:none --sparse https://github.com/aboutcode-org/scancode-toolkit "
    "$CURATE_EVAL_DATA/scancode-toolkit && git -C $CURATE_EVAL_DATA/scancode-toolkit sparse-checkout set "
    "tests/licensedcode/data/datadriven (docs/compliance-license.md, 'Accuracy')"
)
# A case that is one bare link to a page other than a license text site: the license is on that
# page, not in the text (ScanCode's NuGet tests label such links from a lookup table).
_BARE_LINK = re.compile(r"^\s*<?(?:https?://)+(?P<host>[^/\s?#]+)\S*\s*$", re.I)
_LICENSE_SITES = re.compile(
    r"(?:^|\.)(?:opensource\.org|spdx\.org|gnu\.org|creativecommons\.org|apache\.org|mozilla\.org|"
    r"eclipse\.org|choosealicense\.com)$", re.I)

# Debian's short names (copyright-format 1.0, "License specification"), mapped to SPDX. A version is
# appended ("GPL-2", "CC-BY-SA-3.0"); a trailing "+" means "or any later version".
DEP5_SHORT_NAMES = {
    "public-domain": "LicenseRef-scancode-public-domain",
    "apache": "Apache-{v}",
    "artistic": "Artistic-{v}",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "isc": "ISC",
    "cc-by": "CC-BY-{v}",
    "cc-by-sa": "CC-BY-SA-{v}",
    "cc-by-nd": "CC-BY-ND-{v}",
    "cc-by-nc": "CC-BY-NC-{v}",
    "cc-by-nc-sa": "CC-BY-NC-SA-{v}",
    "cc-by-nc-nd": "CC-BY-NC-ND-{v}",
    "cc0": "CC0-{v}",
    "cddl": "CDDL-{v}",
    "cpl": "CPL-{v}",
    "efl": "EFL-{v}",
    "expat": "MIT",
    "gpl": "GPL-{v}-{only}",
    "lgpl": "LGPL-{v}-{only}",
    "gfdl": "GFDL-{v}-{only}",
    "gfdl-niv": "GFDL-{v}-no-invariants-{only}",
    "lppl": "LPPL-{v}",
    "mpl": "MPL-{v}",
    "python": "Python-{v}",
    "qpl": "QPL-{v}",
    "w3c": "W3C",
    "zlib": "Zlib",
    "zope": "ZPL-{v}",
}
_DEP5_NAME = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9-]*?)(?:-(?P<v>[0-9][0-9.]*))?(?P<plus>\+)?$")
_VERSIONED = {"apache", "artistic", "cc-by", "cc-by-sa", "cc-by-nd", "cc-by-nc", "cc-by-nc-sa", "cc-by-nc-nd",
              "cc0", "cddl", "cpl", "efl", "gpl", "lgpl", "gfdl", "gfdl-niv", "lppl", "mpl", "python", "qpl", "zope"}


def dep5_to_spdx(short: str, licensing) -> str | None:
    """SPDX id of one DEP-5 short name, or None (several licenses, unversioned, or not on the list)."""
    short = short.strip()
    if not short or re.search(r"\s|,", short):
        return None
    m = _DEP5_NAME.match(short)
    if m:
        name, v, plus = m.group("name").lower(), m.group("v"), bool(m.group("plus"))
        template = DEP5_SHORT_NAMES.get(name)
        if template:
            if name in _VERSIONED and not v:
                return None  # "GPL" without a version names no single license
            if v and name in ("gpl", "lgpl", "gfdl", "gfdl-niv") and "." not in v:
                v += ".0"
            if v and name in ("apache", "artistic", "cc-by", "cc-by-sa", "cc-by-nd", "cc-by-nc", "cc-by-nc-sa",
                              "cc-by-nc-nd", "cc0", "mpl", "cddl", "cpl", "efl") and "." not in v:
                v += ".0"
            spdx = template.format(v=v, only="or-later" if plus else "only")
            if plus and "{only}" not in template:
                spdx += "+"
            return _known(spdx, licensing)
    return _known(short, licensing)  # packages also write SPDX ids ("BSL-1.0", "GPL-2.0+")


def _known(value: str, licensing) -> str | None:
    try:
        expr = licensing.parse(value, validate=False)
    except Exception:  # noqa: BLE001 - not an expression
        return None
    if expr is None or licensing.unknown_license_keys(expr) or len(licensing.license_keys(expr)) != 1:
        return None
    return expr.render("{symbol.key}")


def _dep5_paragraphs(text: str):
    """(License short name, body) of every License field with a body in a DEP-5 file."""
    for para in re.split(r"\n[ \t]*\n", text):
        lines = para.split("\n")
        for i, line in enumerate(lines):
            if not line.lower().startswith("license:"):
                continue
            short = line.split(":", 1)[1].strip()
            body = []
            for cont in lines[i + 1:]:
                if not cont[:1].isspace():
                    break
                body.append("" if cont.strip() == "." else cont.strip())
            body_text = "\n".join(body).strip()
            if body_text:
                yield short, body_text, para.lstrip().lower().startswith("files:")


def _scancode_cases(root: Path, licensing, spdx_of: dict[str, str]):
    import yaml

    skipped = collections.Counter()
    cases = []
    for y in sorted(root.rglob("*.yml")):
        try:
            meta = yaml.safe_load(y.read_text(encoding="utf-8")) or {}
        except Exception:  # noqa: BLE001 - a broken test file is counted, not scored
            skipped["unreadable .yml"] += 1
            continue
        exprs = meta.get("license_expressions") or [] if isinstance(meta, dict) else []
        if len(exprs) != 1 or re.search(r"\s(?:and|or|with)\s", str(exprs[0]), re.I):
            continue
        key = str(exprs[0]).strip()
        truth = spdx_of.get(key)
        data_file = y.with_suffix("")
        if truth is None or not data_file.is_file():
            skipped["key unknown to license-expression or text file missing"] += 1
            continue
        text = data_file.read_bytes().decode("utf-8", "replace")
        link = _BARE_LINK.match(text)
        if link and not _LICENSE_SITES.search(link.group("host")):
            skipped["only a link to a page that is not a license text site (license not in the text)"] += 1
            continue
        cases.append((str(data_file.relative_to(root)), truth, text))
    return cases, skipped


def _outcome(truth: str, predicted: str | None, see_other: str) -> str:
    from pipeline.stages.license import is_variant_id

    if predicted == truth:
        return "exact"
    if predicted is None:
        return "unlabelled"
    if predicted == see_other:
        return "see other file"
    # "a variant of X, for review" names no license: flagged, not a wrong label (unless it sits next to one)
    parts = [p for p in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", predicted) if p.strip()]
    if all(is_variant_id(p) or p == see_other for p in parts):
        return "variant (flagged)"
    return "wrong"


def _status(policy, normalizer, expr: str | None) -> str | None:
    if not expr:
        return None
    try:
        return policy.status(normalizer.parse(expr))
    except Exception:  # noqa: BLE001
        return None


def evaluate(data: Path) -> str:
    from license_expression import get_license_index, get_spdx_licensing

    from pipeline.compliance.policy import ALLOWED, DENIED
    from pipeline.compliance.spdx import tokenize
    from pipeline.config import load_config
    from pipeline.stages.license import SEE_OTHER_FILE, LicenseDetector

    root = require(data / SCANCODE, HOW_SCANCODE)
    licensing = get_spdx_licensing()
    index = get_license_index()
    spdx_of = {d["license_key"]: d.get("spdx_license_key") or f"LicenseRef-scancode-{d['license_key']}" for d in index}
    category = {spdx_of[d["license_key"]]: d.get("category") for d in index}
    core = LicenseDetector(load_config())
    core.setup()
    policy = core.policies.base
    import yaml

    rules = yaml.safe_load(Path(core.config.rule_file("licenses.yaml")).read_text(encoding="utf-8"))
    # in scope: the licenses the stage is built to name (reference_keys, with ScanCode's notices and
    # references, and the extra names); neighbour texts only keep their relatives apart
    nameable = {SEE_OTHER_FILE, *(str(v) for v in (rules.get("name_aliases") or {}).values())}
    nameable.update(spdx_of[k] for k in rules.get("reference_keys") or [] if k in spdx_of)
    verbatim = _reference_texts(core)

    cases, skipped = _scancode_cases(root, licensing, spdx_of)
    if not cases:
        raise MissingGroundTruth(f"{root}: no single-license cases found; {HOW_SCANCODE}")
    rows = []
    for name, truth, text in cases:
        predicted = core.analyse(text).expression
        rows.append({
            "name": name, "truth": truth, "predicted": predicted,
            "outcome": _outcome(truth, predicted, SEE_OTHER_FILE),
            "in_scope": truth in nameable,
            "verbatim": " ".join(tokenize(text)) in verbatim,
            "truth_status": _status(policy, core.normalizer, truth),
            "status": _status(policy, core.normalizer, predicted),
            "category": category.get(truth),
        })
    out = [_scancode_section(rows, skipped, ALLOWED, DENIED)]
    out.append(_debian_section(core, licensing, policy, SEE_OTHER_FILE, ALLOWED, DENIED))
    return "\n\n".join(out)


def _reference_texts(core) -> set[str]:
    import json

    import zstandard

    raw = Path(core.config.rule_file("license_refs.json.zst")).read_bytes()
    refs = json.loads(zstandard.ZstdDecompressor().decompress(raw))["refs"]
    return {r["text"] for r in refs}


def _summary(rows: list[dict]) -> list:
    n = len(rows)
    c = collections.Counter(r["outcome"] for r in rows)
    return [n, pct(c["exact"], n), pct(c["unlabelled"], n), pct(c["see other file"], n), pct(c["variant (flagged)"], n),
            pct(c["wrong"], n)]


_HEADER_TAIL = ["unlabelled", "see other file (flagged)", "variant of a license (flagged)", "wrong label"]


def _confusion(rows: list[dict], top: int, first_column: str) -> str:
    """Per true class (the ``top`` largest): outcomes and the most frequent wrong labels."""
    by_truth: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows:
        by_truth[r["truth"]].append(r)
    out = []
    for truth, rs in sorted(by_truth.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]:
        c = collections.Counter(r["outcome"] for r in rs)
        wrong = collections.Counter(r["predicted"] for r in rs if r["outcome"] == "wrong")
        out.append([truth, len(rs), c["exact"], c["unlabelled"], c["see other file"], c["variant (flagged)"],
                    "; ".join(f"{p} ×{k}" for p, k in wrong.most_common(3)) or "–"])
    return table([first_column, "n", "exact", "unlabelled", "see other file", "variant", "most frequent wrong labels"], out)


def _restricted(r: dict, denied: str) -> bool:
    return r["truth_status"] == denied or r.get("category") in RESTRICTED_CATEGORIES


def _restricted_as_permissive(rows: list[dict], allowed: str, denied: str) -> tuple[list[dict], list[dict]]:
    worst = [r for r in rows if _restricted(r, denied) and r["status"] == allowed]
    copyleft = [r for r in rows if (r.get("category") == "Copyleft" or r["truth"].startswith(("GPL-", "AGPL-")))
                and r["status"] == allowed]
    return worst, copyleft


def _scancode_section(rows: list[dict], skipped: collections.Counter, allowed: str, denied: str) -> str:
    scope = [r for r in rows if r["in_scope"]]
    header = ["cases", "n", "exact", *_HEADER_TAIL]
    lines = [
        "#### ScanCode data-driven license tests, single-license cases",
        "",
        table(header, [
            ["in scope (licenses the stage is built to name)", *_summary(scope)],
            ["in scope, text not verbatim a reference", *_summary([r for r in scope if not r["verbatim"]])],
            ["all single-license cases", *_summary(rows)],
            ["all, text not verbatim a reference", *_summary([r for r in rows if not r["verbatim"]])],
        ]),
        "",
        "A *variant* result (`LicenseRef-curate-variant-of-X`, `LicenseRef-curate-restricted-variant-of-X`) "
        "says the text matches X but has wording of its own (an added, changed or removed clause); the "
        "policy sends it to review. It names no license, so it is counted apart, not as exact or wrong.",
        "",
        "Not held out: the reference set is built from ScanCode's rules (some written from these test files: the "
        "*not verbatim* rows), and settings of rules/licenses.yaml (the prefilter's `signal_keywords`, "
        "`matching.notice_min_coverage`) were chosen while looking at these figures. The DEP-5 figures below "
        "come from data neither was tuned on.",
        "",
        "Left out: " + (", ".join(f"{v} {k}" for k, v in sorted(skipped.items())) or "none") + ".",
    ]
    worst, copyleft = _restricted_as_permissive(rows, allowed, denied)
    restricted_n = sum(1 for r in rows if _restricted(r, denied))
    denied_n = sum(1 for r in rows if r["truth_status"] == denied)
    lines += ["", f"**Restricted-as-permissive** (true license restricted, labelled with an allowed one): "
              f"{pct(len(worst), restricted_n)} restricted cases ({denied_n} of them denied by the default policy: "
              f"CC NonCommercial / NoDerivatives), in scope or not."]
    denied_allowed = sum(1 for r in worst if r["truth_status"] == denied)
    lines += [f"- of which CC NonCommercial / NoDerivatives labelled allowed: {pct(denied_allowed, denied_n)}"]
    lines += [f"- `{r['name']}`: {r['truth']} ({r['category']}) → {r['predicted']}" for r in worst]
    copyleft_n = sum(1 for r in rows if r.get("category") == "Copyleft" or r["truth"].startswith(("GPL-", "AGPL-")))
    lines += ["", f"Strong copyleft labelled allowed: {pct(len(copyleft), copyleft_n)}."]
    lines += [f"- `{r['name']}`: {r['truth']} → {r['predicted']}" for r in copyleft]
    lines += ["", "Per class (25 largest in scope):", "", _confusion(scope, 25, "true license")]
    wrong_all = collections.Counter((r["truth"], r["predicted"]) for r in rows if r["outcome"] == "wrong")
    lines += ["", f"Most frequent wrong labels over all cases ({sum(wrong_all.values())}; first 25):", ""]
    lines += [table(["true license", "labelled", "cases"], [[t, p, k] for (t, p), k in wrong_all.most_common(25)])]
    misses = [r for r in scope if r["outcome"] != "exact"]
    misses.sort(key=lambda r: (r["outcome"] != "wrong", r["truth"], r["name"]))
    top = 60
    lines += ["", f"Misses in scope ({len(misses)}; wrong labels first, first {min(top, len(misses))} listed):", ""]
    lines += [f"- `{r['name']}`: {r['truth']} → {r['predicted'] or 'unlabelled'}" for r in misses[:top]]
    return "\n".join(lines)


def _debian_section(core, licensing, policy, see_other: str, allowed: str, denied: str) -> str:
    files = sorted(Path("/usr/share/doc").glob("*/copyright"))
    seen: set[tuple[str, str]] = set()
    rows = []
    unmapped = collections.Counter()
    n_files = 0
    for f in files:
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not re.match(r"(?i)format:", text.lstrip()):
            continue
        n_files += 1
        for short, body, in_files in _dep5_paragraphs(text):
            truth = dep5_to_spdx(short, licensing)
            if truth is None:
                unmapped[short] += 1
                continue
            key = (truth, " ".join(body.split()))
            if key in seen:
                continue
            seen.add(key)
            predicted = core.analyse(body).expression
            rows.append({"name": f"{f.parent.name}: License: {short}" + (" (Files)" if in_files else ""),
                         "truth": truth, "predicted": predicted,
                         "outcome": _outcome(truth, predicted, see_other),
                         "truth_status": _status(policy, core.normalizer, truth),
                         "status": _status(policy, core.normalizer, predicted)})
    if not rows:
        return "#### Debian copyright files (DEP-5)\n\nNot measured: no machine-readable /usr/share/doc/*/copyright files here."
    header = ["License bodies", "n", "exact", *_HEADER_TAIL]
    worst, copyleft = _restricted_as_permissive(rows, allowed, denied)
    lines = [
        "#### Debian copyright files (DEP-5 `License:` fields with a text body)",
        "",
        f"{n_files} machine-readable copyright files under /usr/share/doc; each distinct (short name, body) "
        f"pair scored once; {sum(unmapped.values())} fields skipped because the short name is not one "
        "license on Debian's list or an SPDX id (e.g. "
        + ", ".join(f"`{k}` ×{v}" for k, v in unmapped.most_common(5)) + ").",
        "",
        table(header, [["all", *_summary(rows)],
                       ["stand-alone License paragraphs", *_summary([r for r in rows if not r["name"].endswith("(Files)")])],
                       ["License field of a Files paragraph", *_summary([r for r in rows if r["name"].endswith("(Files)")])]]),
        "",
        f"Restricted-as-permissive (denied by the default policy, labelled allowed): {len(worst)}; "
        f"strong copyleft labelled allowed: {len(copyleft)}.",
    ]
    lines += [f"- `{r['name']}`: {r['truth']} → {r['predicted']}" for r in worst + copyleft]
    lines += ["", _confusion(rows, 15, "DEP-5 license (SPDX)")]
    misses = sorted((r for r in rows if r["outcome"] != "exact"), key=lambda r: (r["outcome"] != "wrong", r["truth"], r["name"]))
    lines += ["", f"Misses ({len(misses)}; first {min(40, len(misses))}):", ""]
    lines += [f"- `{r['name']}`: {r['truth']} → {r['predicted'] or 'unlabelled'}" for r in misses[:40]]
    return "\n".join(lines)

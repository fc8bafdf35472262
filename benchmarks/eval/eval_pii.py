"""PII accuracy against presidio's own recognizer tests, a technical corpus, and our Korean/English cases.

Ground truth (nothing here is downloaded):

* presidio's per-recognizer parametrized test cases (text, expected count, expected spans), read
  with ``ast`` from a checkout of github.com/microsoft/presidio placed at
  ``$CURATE_EVAL_DATA/presidio`` (only ``presidio-analyzer/tests/`` is needed);
* the technical corpus: Debian man pages (``/usr/share/man/man?/``) and package changelogs
  (``/usr/share/doc/*/changelog*``) installed on this machine — text without personal data other
  than maintainers' e-mail addresses, so every other finding there is a false positive;
* our own cases, written for this project: ``tests/data/pii/boundary_cases.jsonl``.

Every figure is given with its denominator; misses are listed by case (presidio's test text is
public test data, quoted with its file and line).
"""
from __future__ import annotations

import ast
import glob
import gzip
import json
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, pct, require, table  # noqa: E402

TITLE = "PII detection vs presidio's recognizer tests and a technical corpus"

# presidio test file → (entity type, analysis language, a context word for types that need one)
PRESIDIO_FILES = {
    "test_credit_card_recognizer.py": ("CREDIT_CARD", "en", None),
    "test_email_recognizer.py": ("EMAIL_ADDRESS", "en", None),
    "test_phone_recognizer.py": ("PHONE_NUMBER", "en", None),
    "test_iban_recognizer.py": ("IBAN_CODE", "en", None),
    "test_ip_recognizer.py": ("IP_ADDRESS", "en", None),
    "test_crypto_recognizer.py": ("CRYPTO", "en", None),
    "test_us_ssn_recognizer.py": ("US_SSN", "en", "ssn"),
    "test_kr_rrn_recognizer.py": ("KR_RRN", "ko", "주민등록번호"),
    "test_kr_frn_recognizer.py": ("KR_FRN", "ko", "외국인등록번호"),
    "test_kr_brn_recognizer.py": ("KR_BRN", "ko", "사업자등록번호"),
    "test_kr_passport_recognizer.py": ("KR_PASSPORT", "ko", "여권번호"),
    "test_kr_driver_license_recognizer.py": ("KR_DRIVER_LICENSE", "ko", "운전면허번호"),
}
TEXT_ARGS = ("text", "iban")
SPAN_ARGS = ("expected_positions", "expected_res")
OWN_CASES = ROOT / "tests" / "data" / "pii" / "boundary_cases.jsonl"
HOW_PRESIDIO = ("check out github.com/microsoft/presidio and copy presidio-analyzer/tests/ to "
                "$CURATE_EVAL_DATA/presidio/presidio-analyzer/tests (docs/pii.md, 'Accuracy')")


@dataclass
class Case:
    source: str  # file:line
    entity: str
    lang: str
    text: str
    spans: list[tuple[int, int]]  # expected spans ([] for a negative case)
    context: str | None = None
    weak: list[bool] = field(default_factory=list)  # per span: presidio's own expected score < 0.5
    found: list = field(default_factory=list)


def presidio_cases(tests: Path) -> tuple[list[Case], Counter]:
    """Every literal parametrized case of the recognizer tests we support. Rows that are not
    literals (built by a helper call) or that configure the recognizer differently from ours
    (a leniency other than phonenumbers' VALID) are counted in ``skipped``, by reason."""
    cases: list[Case] = []
    skipped: Counter = Counter()
    for name, (entity, lang, context) in PRESIDIO_FILES.items():
        path = tests / name
        if not path.exists():
            skipped[f"{name} absent"] += 1
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize"):
                continue
            try:
                argnames = [a.strip() for a in ast.literal_eval(node.args[0]).split(",")]
            except (ValueError, AttributeError, IndexError):
                continue
            text_i = next((argnames.index(a) for a in TEXT_ARGS if a in argnames), None)
            if text_i is None or "expected_len" not in argnames:
                continue
            span_i = next((argnames.index(a) for a in SPAN_ARGS if a in argnames), None)
            for row in node.args[1].elts:
                try:
                    values = ast.literal_eval(row)
                except ValueError:
                    skipped["not a literal row"] += 1
                    continue
                args = dict(zip(argnames, values))
                if args.get("leniency", 1) != 1:
                    skipped["leniency other than VALID (1)"] += 1
                    continue
                text, n = values[text_i], args["expected_len"]
                spans = [tuple(s) for s in (values[span_i] if span_i is not None else ())]
                if n and len(spans) != n:
                    if n == 1 and not spans:
                        spans = [(0, len(text))]  # presidio gives no span when the value is the whole text
                    else:
                        skipped["expected count without spans"] += 1
                        continue
                ranges = args.get("expected_score_ranges") or ()
                weak = [isinstance(r, (tuple, list)) and isinstance(r[1], (int, float)) and r[1] < 0.5
                        for r in ranges] if len(ranges) == len(spans) else [False] * len(spans)
                if isinstance(args.get("score"), (int, float)) and args["score"] < 0.5 and "PHONE" not in entity:
                    weak = [True] * len(spans)
                cases.append(Case(f"{name}:{row.lineno}", entity, lang, text, spans, context, weak))
    return cases, skipped


def _chosen(engine, texts: list[str], langs: list[str]) -> list[list]:
    return [engine.resolve(r) for r in engine.detect_batch(texts, langs)]


def score_presidio(engine, cases: list[Case]) -> str:
    for case, found in zip(cases, _chosen(engine, [c.text for c in cases], [c.lang for c in cases])):
        case.found = found
    # types that need a context word get a second pass with one before the text
    with_ctx = [c for c in cases if c.context]
    ctx_found = _chosen(engine, [f"{c.context} {c.text}" for c in with_ctx], [c.lang for c in with_ctx])
    ctx_hits = {id(c): f for c, f in zip(with_ctx, ctx_found)}

    rows, misses, false = [], [], []
    by_type: dict[str, list[Case]] = {}
    for c in cases:
        by_type.setdefault(c.entity, []).append(c)
    for entity, cs in by_type.items():
        expected = sum(len(c.spans) for c in cs)
        strong = sum(not w for c in cs for w in c.weak)
        hit = hit_strong = hit_ctx = predicted = correct = 0
        for c in cs:
            typed = [r for r in c.found if r.entity_type == entity]
            for (s, e), weak in zip(c.spans, c.weak):
                ok = any(r.start <= s and r.end >= e for r in typed)
                hit += ok
                hit_strong += ok and not weak
                if c.context:
                    shift = len(c.context) + 1
                    hit_ctx += any(r.entity_type == entity and r.start <= s + shift and r.end >= e + shift
                                   for r in ctx_hits[id(c)])
                if not ok:
                    misses.append((entity, c.source, c.text[s:e], c.text, weak))
            for r in typed:
                predicted += 1
                good = any(r.start < e and r.end > s for s, e in c.spans)
                correct += good
                if not good:
                    false.append((entity, c.source, c.text[r.start:r.end]))
        rows.append([entity, len(cs), pct(hit, expected), pct(hit_strong, strong),
                     pct(hit_ctx, expected) if cs[0].context else "—", pct(correct, predicted)])
    out = [table(["entity", "cases", "recall (as written)", "recall, presidio's score ≥ 0.5",
                  "recall (context word before)", "precision"], rows)]
    out.append("")
    out.append("*Recall*: expected spans covered by a replacement of the same type, the text analysed "
               "as written (language `en`, Korean types `ko`). The second recall leaves out the spans "
               "presidio's own test expects to score below 0.5 (weak matches presidio's AnalyzerEngine "
               "also drops at that threshold: bare `::`, unformatted SSNs, passports without context); the "
               "third prefixes the type's context word, for the types this pipeline documents as "
               "needing one. *Precision*: findings of the type in that type's cases overlapping an "
               "expected span (negative cases count).")
    if misses:
        out += ["", f"Misses ({len(misses)}; *weak* = presidio expects a score below 0.5):", ""]
        out += [f"- {e} `{src}`: `{v}` in `{t[:90]}`{' (weak)' if w else ''}" for e, src, v, t, w in misses]
    if false:
        out += ["", f"False positives ({len(false)}):", ""]
        out += [f"- {e} `{src}`: `{v}`" for e, src, v in false]
    return "\n".join(out)


# --- technical corpus -------------------------------------------------------------------------
_ROFF_MACRO = re.compile(r"^\.[A-Za-z]{1,3}\s?", re.M)
_ROFF_ESC = re.compile(r"\\f[BIRP]|\\f\(..|\\\(..|\\[&|^]|\\s[+-]?\d")


def roff_text(src: str) -> str:
    """A man page's running text: comment lines dropped, macro names and font escapes removed."""
    lines = [l for l in src.splitlines() if not l.startswith(('.\\"', "'\\\"", '.\\\\"'))]
    text = _ROFF_MACRO.sub("", "\n".join(lines))
    return _ROFF_ESC.sub("", text).replace("\\-", "-").replace("\\e", "\\")


def technical_corpus(man_every: int = 20, changelog_bytes: int = 32768) -> list[tuple[str, str]]:
    """(name, text): every ``man_every``-th English man page (sorted), every changelog's first
    ``changelog_bytes`` bytes (the newest entries)."""
    docs = []
    pages = sorted(glob.glob("/usr/share/man/man[1-8]/*.gz"))
    for path in pages[::man_every]:
        try:
            docs.append((path, roff_text(gzip.open(path).read().decode("utf-8", "replace"))))
        except (OSError, EOFError):
            continue
    for path in sorted(glob.glob("/usr/share/doc/*/changelog*")):
        try:
            raw = (gzip.open(path) if path.endswith(".gz") else open(path, "rb")).read(changelog_bytes)
        except (OSError, EOFError):
            continue
        docs.append((path, raw.decode("utf-8", "replace")))
    return docs


def _shape(value: str) -> str:
    """A value's shape (digits → d, letters → a), so the report names classes, not values."""
    return re.sub(r"\d+", "d", re.sub(r"[A-Za-z]+", "a", value))


# words that say the number next to them is a network address (the 6 words before it)
ADDRESS_WORDS = frozenset("ip ips ipv4 ipv6 address addresses addr cidr subnet subnets range ranges host hosts server "
                          "servers gateway dns network networks route router nameserver bind listen peer destination "
                          "source prefix".split())


def written_as_address(text: str, r) -> bool:
    """An IP finding with an address word among the 6 words before it: an address, rightly found."""
    if r.entity_type != "IP_ADDRESS":
        return False
    words = re.findall(r"[A-Za-z0-9]+", text[max(0, r.start - 100) : r.start])[-6:]
    return any(w.lower() in ADDRESS_WORDS for w in words)


def score_technical(engine, docs: list[tuple[str, str]]) -> str:
    texts = [t for _, t in docs]
    raw = engine.analyze_batch(texts, ["en"] * len(texts))
    flagged_raw = sum(any(r.entity_type != "EMAIL_ADDRESS" for r in rs) for rs in raw)
    per_doc = [engine.resolve(engine.suppressor.apply(t, rs) if engine.suppressor else rs)
               for t, rs in zip(texts, raw)]
    flagged = 0
    not_addresses = 0  # documents with a false positive other than an address written as one
    emails_docs = 0
    classes: Counter = Counter()
    examples: dict = {}
    per_type_docs: Counter = Counter()
    for (name, text), found in zip(docs, per_doc):
        fp = [r for r in found if r.entity_type != "EMAIL_ADDRESS"]
        emails_docs += any(r.entity_type == "EMAIL_ADDRESS" for r in found)
        flagged += bool(fp)
        not_addresses += any(not written_as_address(text, r) for r in fp)
        for t in {r.entity_type for r in fp}:
            per_type_docs[t] += 1
        for r in fp:
            key = (r.entity_type, _shape(text[r.start:r.end]))
            classes[key] += 1
            examples.setdefault(key, (Path(name).name, text[max(0, r.start - 40):r.end + 10].replace("\n", " ")))
    n = len(docs)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    out = [f"{n} documents ({mb:.1f} MB): English man pages (every 20th of /usr/share/man/man[1-8], roff "
           "macros stripped) and Debian changelogs (first 32 KB each) on this machine.", "",
           f"- documents with at least one false positive (any finding but an e-mail address): "
           f"**{pct(flagged, n)}** (without rules/pii/suppression.yaml: {pct(flagged_raw, n)})",
           f"- of which with a false positive other than an IP address that its own words call an address "
           f"(ip, address, subnet, range, host, server, dns … among the 6 words before it; gcloud's "
           f"examples): {pct(not_addresses, n)}",
           f"- documents with an e-mail address found (maintainers' real addresses, true positives): "
           f"{pct(emails_docs, n)}", ""]
    out.append(table(["entity", "documents with a false positive"],
                     [[t, pct(k, n)] for t, k in per_type_docs.most_common()]) if per_type_docs else
               "No false positive.")
    if classes:
        out += ["", "Top false-positive classes (shape: digits → d, letters → a; one example with its file):", ""]
        out.append(table(["entity", "shape", "findings", "example"],
                         [[e, f"`{s}`", k, f"{examples[(e, s)][0]}: `{examples[(e, s)][1]}`"]
                          for (e, s), k in classes.most_common(15)]))
    return "\n".join(out)


# --- our own cases ------------------------------------------------------------------------------
def score_own(engine) -> str:
    cases = [json.loads(l) for l in OWN_CASES.read_text(encoding="utf-8").splitlines() if l.strip()]
    found = _chosen(engine, [c["text"] for c in cases], [c["lang"] for c in cases])
    stats: dict[tuple[str, str], list[int]] = {}
    misses, false = [], []
    kept = decoys = 0
    for c, rs in zip(cases, found):
        for p in c["pii"]:
            s, e = p["start"], p["end"]
            st = stats.setdefault((p["type"], c["lang"]), [0, 0])
            st[1] += 1
            ok = any(r.entity_type == p["type"] and r.start <= s and r.end >= e for r in rs)
            st[0] += ok
            if not ok:
                misses.append((p["type"], c["text"]))
        for d in c.get("decoys", []):
            decoys += 1
            hit = any(r.start < d["end"] and r.end > d["start"] for r in rs)
            kept += not hit
            if hit:
                false.append(c["text"])
    rows = [[t, lang, pct(h, n)] for (t, lang), (h, n) in sorted(stats.items())]
    total_h = sum(h for h, _ in stats.values())
    total_n = sum(n for _, n in stats.values())
    out = [f"{len(cases)} cases written for this project (`tests/data/pii/boundary_cases.jsonl`): values "
           "next to Hangul particles, card ranges, cards after other numbers, versions and plain numbers.", "",
           table(["entity", "lang", "recall"], rows), "",
           f"All types: recall {pct(total_h, total_n)}; decoys left untouched {pct(kept, decoys)}."]
    if misses:
        out += ["", "Misses:", ""] + [f"- {t}: `{x}`" for t, x in misses]
    if false:
        out += ["", "Decoys replaced:", ""] + [f"- `{x}`" for x in false]
    return "\n".join(out)


def build_engine():
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(ROOT))
    from pipeline.config import load_config
    from pipeline.pii.engine import PiiEngine

    return PiiEngine.from_config(load_config())


def evaluate(data: Path) -> str:
    tests = require(data / "presidio" / "presidio-analyzer" / "tests", HOW_PRESIDIO)
    engine = build_engine()
    cases, skipped = presidio_cases(tests)
    parts = [
        "#### presidio's recognizer tests",
        "",
        f"{len(cases)} parametrized cases from presidio-analyzer/tests ({len(PRESIDIO_FILES)} files, the entity "
        f"types this pipeline reports) run through `PiiEngine` with the shipped rules; skipped rows: "
        + (", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) or "none") + ".",
        "",
        score_presidio(engine, cases),
        "",
        "#### Technical corpus (false positives)",
        "",
        score_technical(engine, technical_corpus()),
        "",
        "#### Our Korean/English cases",
        "",
        score_own(engine),
    ]
    return "\n".join(parts)

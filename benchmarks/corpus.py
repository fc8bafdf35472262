"""Reproducible benchmark corpus from real text on this machine (Debian documentation packages).

    .venv/bin/python benchmarks/corpus.py --docs 10000          # builds (or reuses) the cached corpus
    .venv/bin/python benchmarks/corpus.py --docs 10000 --stats  # and prints what is in it

Sources (installed by ``benchmarks/setup_bench.sh``; nothing is written by us): the HTML of
debian-reference-*, debian-faq-* (Korean included), gimp-help-* (Korean included), libreoffice-help-ko, maint-guide-*,
developers-reference-* and the man pages of manpages-ja/-de/-fr/-es/-zh. HTML is parsed with lxml
and cut at block elements; man pages have their groff markup stripped. Paragraphs are de-duplicated
globally (help systems repeat navigation text), then consecutive paragraphs of one file are grouped
into documents of 1–5 KB (UTF-8; target size drawn from a triangular distribution with mode 2 KB,
mean ≈ 2.7 KB). If the natural documents run out, the rest are mixes of random paragraphs of one
package (flagged ``mixed`` in ``source``).

Planted, with the ground truth written next to the corpus (``<name>.truth.json``):
* exact duplicates (default 5%): the same text under a new id;
* near duplicates (default 10%): one light edit each, in equal shares — ``words`` (1–3 adjacent
  swaps or deletions of words, or of characters in unspaced scripts), ``space_case`` (whitespace
  changes and case changes), ``boilerplate`` (a short real paragraph appended as a footer);
* PII values (default 2% of documents): e-mail addresses, phone numbers (US, KR, JP formats),
  public IPv4 addresses and Luhn-valid card numbers, generated from the seed and inserted between
  paragraphs.

Everything is seeded: the same ``--docs`` and ``--seed`` give byte-identical files. Output is
cached under ``benchmarks/work/`` (gitignored): ``corpus-<docs>-s<seed>.jsonl`` with fields
``id``, ``text``, ``source``.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
VERSION = 2  # bump when the recipe changes: cached files carry it in their name

MIN_BYTES, MODE_BYTES, MAX_BYTES = 1000, 2000, 5000
MIN_PARA_CHARS = 40

# (package label, glob) in a fixed order; the label goes into `source`.
HTML_SOURCES = [
    ("debian-reference", "/usr/share/debian-reference/*.htm*"),
    ("debian-faq", "/usr/share/doc/debian/FAQ/**/*.htm*"),
    ("maint-guide", "/usr/share/doc/maint-guide*/html/*.htm*"),
    ("developers-reference", "/usr/share/developers-reference/**/*.htm*"),
    ("gimp-help", "/usr/share/gimp/2.0/help/*/**/*.htm*"),
    ("libreoffice-help", "/usr/share/libreoffice/help/ko/**/*.htm*"),
]
MAN_SOURCES = [(f"manpages-{lang.lower()}", f"/usr/share/man/{lang}/man*/*") for lang in ("ja", "ko", "zh_CN", "zh_TW", "de", "fr", "es")]

# The English-heavy corpus (``--corpus english``): what any Debian machine carries, no extra package
# needed — the English man pages, and READMEs, changelogs, NEWS, copyright files and license texts.
ENGLISH_MAN_SOURCES = [("man", "/usr/share/man/man[1-8]/*")]
ENGLISH_TEXT_SOURCES = [
    ("readme", "/usr/share/doc/*/README*"),
    ("changelog", "/usr/share/doc/*/changelog*"),
    ("news", "/usr/share/doc/*/NEWS*"),
    ("copyright", "/usr/share/doc/*/copyright"),
    ("license", "/usr/share/common-licenses/*"),
]
CORPORA = {
    "multilingual": {"html": HTML_SOURCES, "man": MAN_SOURCES, "text": []},
    "english": {"html": [], "man": ENGLISH_MAN_SOURCES, "text": ENGLISH_TEXT_SOURCES},
}
BLOCK_TAGS = ("p", "pre", "li", "dt", "dd", "td", "th", "h1", "h2", "h3", "h4", "blockquote")


# --- extraction ---------------------------------------------------------------------------------
def _read(path: str) -> bytes:
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as fh:
        return fh.read()


def _clean(text: str) -> str:
    return " ".join(text.split())


def html_paragraphs(raw: bytes) -> list[str]:
    import lxml.html

    try:
        root = lxml.html.fromstring(raw)
    except Exception:  # noqa: BLE001 - an unparsable page just gives nothing
        return []
    for bad in root.xpath("//script|//style|//head|//nav"):
        bad.drop_tree()
    out = []
    for el in root.iter(*BLOCK_TAGS):
        # leaf blocks only: a <li> holding <p>s is represented by its <p>s
        if any(child.tag in BLOCK_TAGS for child in el.iterdescendants()):
            continue
        text = el.text_content()
        text = text.strip() if el.tag == "pre" else _clean(text)
        if len(text) >= MIN_PARA_CHARS:
            out.append(text)
    return out


_GROFF_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)")
_GROFF_SPECIAL = {r"\-": "-", r"\(aq": "'", r"\(em": "—", r"\(en": "–", r"\(bu": "•", r"\(co": "©",
                  r"\(lq": "“", r"\(rq": "”", r"\e": "\\", r"\ ": " ", r"\~": " ", r"\&": "", r"\c": "", r"\|": "", r"\^": ""}
_GROFF_REST = re.compile(r"\\(?:\*(?:\[[^\]]*\]|\(..|.)|\((..)|s[+-]?\d+|[nk](?:\[[^\]]*\]|\(..|.)|.)")
_BREAK_MACROS = {"PP", "LP", "P", "TP", "IP", "HP", "sp", "br", "SH", "SS", "RS", "RE", "nf", "fi", "EX", "EE", "TS", "TE"}
_TEXT_MACROS = {"B", "I", "SM", "SB", "SH", "SS"}
_ALT_MACROS = {"BR", "RB", "IR", "RI", "BI", "IB"}


def _groff_inline(line: str) -> str:
    line = _GROFF_FONT.sub("", line)
    for k, v in _GROFF_SPECIAL.items():
        line = line.replace(k, v)
    return _GROFF_REST.sub("", line)


def man_paragraphs(raw: bytes) -> list[str]:
    try:
        src = raw.decode("utf-8")
    except UnicodeDecodeError:
        return []
    paras: list[str] = []
    cur: list[str] = []

    def flush():
        text = _clean(" ".join(cur))
        if len(text) >= MIN_PARA_CHARS:
            paras.append(text)
        cur.clear()

    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            if not parts:
                continue
            macro, args = parts[0], (parts[1] if len(parts) > 1 else "")
            if macro in _BREAK_MACROS:
                flush()
            if macro in _TEXT_MACROS and args:
                cur.append(_groff_inline(args.replace('"', "")))
                if macro in ("SH", "SS"):
                    flush()
            elif macro in _ALT_MACROS and args:
                cur.append("".join(_groff_inline(a.strip('"')) for a in re.findall(r'"[^"]*"|\S+', args)))
            continue
        if not line.strip():
            flush()
            continue
        cur.append(_groff_inline(line))
    flush()
    return paras


def text_paragraphs(raw: bytes) -> list[str]:
    """Paragraphs of a plain-text file (README, changelog, license): blocks between blank lines."""
    try:
        src = raw.decode("utf-8")
    except UnicodeDecodeError:
        return []
    out = []
    for block in re.split(r"\n[ \t]*\n", src):
        text = _clean(block)
        if len(text) >= MIN_PARA_CHARS:
            out.append(text)
    return out


def _lang_of(label: str, path: str) -> str:
    for pat in (r"/help/([a-zA-Z_]{2,5})/", r"/man/([a-zA-Z_]+)/", r"/FAQ/([a-zA-Z_-]+)/", r"maint-guide-([a-z]{2}(?:-[a-z]{2})?)/",
                r"developers-reference/([a-zA-Z_-]+)/", r"\.([a-z]{2}(?:[-_][a-zA-Z]{2})?)\.html?$"):
        m = re.search(pat, path)
        if m:
            return m.group(1).lower().replace("_", "-")
    return "en"


def units(cache: Path = WORK, corpus: str = "multilingual") -> list[dict]:
    """Every source file with text: {"source": "<package>/<lang>", "paras": [...]}, cached."""
    cache.mkdir(parents=True, exist_ok=True)
    spec = CORPORA[corpus]
    files: list[tuple[str, str, str]] = []
    for label, pattern in spec["html"]:
        files += [(label, p, "html") for p in sorted(glob.glob(pattern, recursive=True))]
    for label, pattern in spec["man"]:
        files += [(label, p, "man") for p in sorted(glob.glob(pattern)) if os.path.isfile(p)]
    for label, pattern in spec["text"]:
        files += [(label, p, "text") for p in sorted(glob.glob(pattern)) if os.path.isfile(p) and not p.endswith((".html", ".htm"))]
    listing = hashlib.sha256("\n".join(f"{l}\t{p}\t{os.path.getsize(p)}" for l, p, _ in files).encode()).hexdigest()[:12]
    prefix = "units" if corpus == "multilingual" else f"units-{corpus}"
    path = cache / f"{prefix}-v{VERSION}-{listing}.jsonl"
    if path.exists():
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if not files:
        raise SystemExit("corpus: no Debian documentation found; run `make bench-setup` (benchmarks/setup_bench.sh)")
    parse = {"html": html_paragraphs, "man": man_paragraphs, "text": text_paragraphs}
    seen: set[str] = set()
    out = []
    for label, p, kind in files:
        try:
            raw = _read(p)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        paras = parse[kind](raw)
        fresh = []
        for para in paras:
            key = hashlib.blake2b(para.encode(), digest_size=12).digest().hex()
            if key not in seen:
                seen.add(key)
                fresh.append(para)
        if fresh:
            lang = "en" if corpus == "english" else _lang_of(label, p)
            out.append({"source": f"{label}/{lang}", "paras": fresh})
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in out), encoding="utf-8")
    tmp.rename(path)
    return out


# --- documents ----------------------------------------------------------------------------------
def _nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def _cut(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut at a whitespace when there is one near the end."""
    b = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    sp = b.rfind(" ")
    return b[:sp] if sp > len(b) * 0.8 else b


def natural_docs(all_units: list[dict], rng: random.Random) -> list[dict]:
    docs = []
    for u in all_units:
        cur: list[str] = []
        size = 0
        target = rng.triangular(MIN_BYTES, MAX_BYTES, MODE_BYTES)
        for para in u["paras"]:
            pb = _nbytes(para)
            if size + pb + 2 > MAX_BYTES and cur:
                if size >= MIN_BYTES:
                    docs.append({"source": u["source"], "text": "\n\n".join(cur)})
                cur, size = [], 0
                target = rng.triangular(MIN_BYTES, MAX_BYTES, MODE_BYTES)
            if pb > MAX_BYTES:
                para, pb = _cut(para, MAX_BYTES - 2), MAX_BYTES
            cur.append(para)
            size += pb + 2
            if size >= target:
                docs.append({"source": u["source"], "text": "\n\n".join(cur)})
                cur, size = [], 0
                target = rng.triangular(MIN_BYTES, MAX_BYTES, MODE_BYTES)
        # a short tail (< 1 KB) is dropped: documents stay within 1–5 KB
        if size >= MIN_BYTES:
            docs.append({"source": u["source"], "text": "\n\n".join(cur)})
    return docs


def mixed_docs(all_units: list[dict], n: int, rng: random.Random) -> list[dict]:
    by_source: dict[str, list[str]] = {}
    for u in all_units:
        by_source.setdefault(u["source"], []).extend(p for p in u["paras"] if _nbytes(p) < MAX_BYTES)
    sources = sorted(s for s, ps in by_source.items() if len(ps) >= 50)
    weights = [len(by_source[s]) for s in sources]
    docs = []
    for _ in range(n):
        src = rng.choices(sources, weights)[0]
        pool = by_source[src]
        target = rng.triangular(MIN_BYTES, MAX_BYTES, MODE_BYTES)
        cur, size = [], 0
        while size < target:
            para = pool[rng.randrange(len(pool))]
            if size + _nbytes(para) + 2 > MAX_BYTES:
                break
            cur.append(para)
            size += _nbytes(para) + 2
        if size >= MIN_BYTES:
            docs.append({"source": src + "/mixed", "text": "\n\n".join(cur)})
    return docs


# --- planted duplicates and PII -----------------------------------------------------------------
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def edit_words(text: str, rng: random.Random) -> str:
    unspaced = len(_UNSPACED.findall(text)) > len(text) * 0.3
    toks = list(text) if unspaced else text.split(" ")
    for _ in range(rng.randint(1, 3)):
        if len(toks) < 4:
            break
        i = rng.randrange(len(toks) - 1)
        if rng.random() < 0.5:
            toks[i], toks[i + 1] = toks[i + 1], toks[i]
        else:
            del toks[i]
    return "".join(toks) if unspaced else " ".join(toks)


def edit_space_case(text: str, rng: random.Random) -> str:
    paras = text.split("\n\n")
    out = []
    for p in paras:
        r = rng.random()
        if r < 0.3:
            p = p.replace(" ", "  ", 3)
        elif r < 0.5:
            p = p.upper() if len(p) < 200 else p[:1].lower() + p[1:]
        elif r < 0.7:
            p = p.replace(". ", ".\n", 2)
        out.append(p)
    sep = "\n" if rng.random() < 0.5 else "\n\n"
    return sep.join(out) + ("\n" if rng.random() < 0.5 else "")


def pii_value(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["email", "phone", "ip", "card"])
    if kind == "email":
        user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9)))
        return kind, f"{user}.{rng.randint(1, 999)}@{rng.choice(['example.com', 'mail.example.org', 'example.co.kr', 'example.jp'])}"
    if kind == "phone":
        fmt = rng.choice(["us", "kr", "jp"])
        if fmt == "us":
            return kind, f"+1 (212) 555-{rng.randint(100, 199):04d}"
        if fmt == "kr":
            return kind, f"010-{rng.randint(2000, 9999)}-{rng.randint(1000, 9999)}"
        return kind, f"090-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    if kind == "ip":
        return kind, f"{rng.choice([8, 23, 51, 91, 142, 185])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # Luhn check digit
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return kind, f"{s[0:4]} {s[4:8]} {s[8:12]} {s[12:16]}"


def build(n_docs: int, seed: int = 7, exact_share: float = 0.05, near_share: float = 0.10,
          pii_share: float = 0.02, work: Path = WORK, corpus: str = "multilingual") -> Path:
    """Build (or reuse) the corpus; returns the JSONL path. Truth: ``path.with_suffix('.truth.json')``."""
    work.mkdir(parents=True, exist_ok=True)
    name = "corpus" if corpus == "multilingual" else f"corpus-{corpus}"
    path = work / f"{name}-v{VERSION}-{n_docs}-s{seed}.jsonl"
    truth_path = path.with_suffix(".truth.json")
    if path.exists() and truth_path.exists():
        return path
    rng = random.Random(seed)
    all_units = units(work, corpus)
    n_exact = round(n_docs * exact_share)
    n_near = round(n_docs * near_share)
    n_unique = n_docs - n_exact - n_near
    pool = natural_docs(all_units, random.Random(seed))
    n_natural = min(len(pool), n_unique)
    base = rng.sample(pool, n_natural) if len(pool) > n_natural else pool
    if n_natural < n_unique:
        base = base + mixed_docs(all_units, (n_unique - n_natural) * 2, rng)[: n_unique - n_natural]
    rng.shuffle(base)
    ids = [f"b{seed}-{i:07d}" for i in range(len(base))]
    for doc, doc_id in zip(base, ids):
        doc["id"] = doc_id

    # PII between paragraphs of some originals (copies made below carry it too)
    pii = []
    for i in rng.sample(range(len(base)), round(n_docs * pii_share)):
        kind, value = pii_value(rng)
        paras = base[i]["text"].split("\n\n")
        at = rng.randint(1, len(paras))
        paras.insert(at, value)
        base[i]["text"] = "\n\n".join(paras)
        pii.append({"id": base[i]["id"], "kind": kind})

    boiler = [p for u in all_units[:: max(1, len(all_units) // 400)] for p in u["paras"] if 60 <= len(p) <= 160][:50]
    originals = rng.sample(range(len(base)), n_exact + n_near)
    dups = []
    truth: dict[str, dict] = {}
    kinds = ["words", "space_case", "boilerplate"]
    for j, i in enumerate(originals):
        src = base[i]
        if j < n_exact:
            text, kind = src["text"], "exact"
        else:
            kind = kinds[j % 3]
            if kind == "words":
                text = edit_words(src["text"], rng)
            elif kind == "space_case":
                text = edit_space_case(src["text"], rng)
            else:
                text = src["text"] + "\n\n" + rng.choice(boiler)
        dup_id = f"d{seed}-{j:07d}"
        dups.append({"id": dup_id, "text": text, "source": src["source"]})
        truth[dup_id] = {"dup_of": src["id"], "kind": kind}
    docs = base + dups
    rng.shuffle(docs)

    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d["id"], "text": d["text"], "source": d["source"]}, ensure_ascii=False) + "\n")
    sizes = [_nbytes(d["text"]) for d in docs]
    langs: dict[str, int] = {}
    kinds_count: dict[str, int] = {}
    for d in docs:
        kinds_count[d["source"].split("/")[0]] = kinds_count.get(d["source"].split("/")[0], 0) + 1
        lang = d["source"].split("/")[1]
        langs[lang] = langs.get(lang, 0) + 1
    stats = {
        "docs": len(docs), "seed": seed, "version": VERSION, "bytes_text": sum(sizes), "bytes_file": tmp.stat().st_size,
        "mean_bytes": sum(sizes) / len(sizes), "min_bytes": min(sizes), "max_bytes": max(sizes),
        "natural": n_natural, "mixed": n_unique - n_natural, "exact": n_exact, "near": n_near, "pii": len(pii),
        "langs": dict(sorted(langs.items(), key=lambda kv: -kv[1])), "corpus": corpus,
        "source_kinds": dict(sorted(kinds_count.items(), key=lambda kv: -kv[1])),
        "packages": sorted({d["source"].split("/")[0] for d in docs}),
    }
    truth_path.write_text(json.dumps({"stats": stats, "dups": truth, "pii": pii}, ensure_ascii=False, indent=0), encoding="utf-8")
    tmp.rename(path)
    return path


def texts(n_docs: int) -> list[str]:
    """The ``text`` of every document of the (built or reused) n-document corpus, in file order."""
    with open(build(n_docs), encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def stats(path: Path) -> dict:
    return json.loads(path.with_suffix(".truth.json").read_text(encoding="utf-8"))["stats"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, action="append", help="corpus size (repeatable); default 10000 50000 100000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="multilingual")
    args = ap.parse_args(argv)
    for n in args.docs or [10_000, 50_000, 100_000]:
        path = build(n, args.seed, corpus=args.corpus)
        print(path)
        if args.stats:
            print(json.dumps(stats(path), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

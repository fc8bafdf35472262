"""`curate report` on a real run of examples/corpus (every stage on, replayed trajectories with good
and defective candidates): every number the card shows equals a DuckDB query written here over the
run's Parquet; the HTML is rendered in headless Chromium; bad input is refused with one line."""
from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.io.manifest import verify
from pipeline.run import run

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
HOSTILE_REASON = '<script>alert("x")</script> | [link](https://evil.example/) & *'
# What the forget command records (docs: shared design of manifest versions); added to the manifest
# by hand here because this test is about reading it.
ERASURE = {"version": 2, "at": "2026-12-05T12:00:00+00:00", "reason": HOSTILE_REASON,
           "selector": {"kind": "doc-id", "count": 3},
           "removed": {"documents": 2, "signatures": 2, "trajectories": 1, "quarantine": 0},
           "id_sha256": [hashlib.sha256(b"x").hexdigest()]}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    corpus = root / "corpus"
    shutil.copytree(REPO / "examples" / "corpus", corpus)
    cfg = load_config(overrides={"trajectories": {"enabled": True, "teacher": {
        "backend": "replay", "path": str(REPO / "examples" / "completions.jsonl")}}})
    out = root / "out"
    run(cfg, [str(corpus)], str(out), [])
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["erasures"] = [ERASURE]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    assert verify(str(out)) == []
    return out


def sql(out: Path, query: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{out}'")
    for table in ("documents", "decisions", "trajectories"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{table}/*.parquet')")
    return con.execute(query).fetchall()


# --- reading the card back ----------------------------------------------------------------------
class _Tables(html.parser.HTMLParser):
    """Cell texts of every <table id=…>, and the src/href attributes of the page."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.images: list[str] = []
        self._table = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "svg":
            self.images.append("svg")
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> _Tables:
    parser = _Tables()
    parser.feed(text)
    return parser


def md_tables(text: str) -> dict[str, list[list[str]]]:
    """Each `## heading`'s table, cells unescaped."""
    tables: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = tables.setdefault(line[3:].strip(), [])
        elif line.startswith("|") and current is not None and not re.fullmatch(r"\|(-+:?\|)+", line):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            current.append([re.sub(r"\\(.)", r"\1", c.strip()) for c in cells])
    return tables


def number(cell: str):
    return int(cell.replace(",", "")) if re.fullmatch(r"-?[0-9][0-9,]*", cell) else cell


def body(rows: list[list[str]]) -> list[tuple]:
    return sorted(tuple(number(c) for c in row) for row in rows[1:])


def expected_tables(out: Path) -> dict[str, list[tuple]]:
    """Every table of the card, from DuckDB over the run's Parquet (and the manifest for inputs,
    token estimates and hashes), keyed by the HTML table id."""
    manifest = json.loads((out / "manifest.json").read_text())
    kept_by_source = dict(sql(out, "SELECT source_uri, count(*) FROM documents GROUP BY 1"))
    sources = [(i["uri"], i["bytes"], i["records"], kept_by_source.get(i["uri"], 0)) for i in manifest["inputs"]]
    sources.append(("(all inputs)", sum(s[1] for s in sources), sum(s[2] for s in sources), sum(s[3] for s in sources)))
    tokens = {lang: e["est_tokens"] for lang, e in manifest["summary"]["languages"].items()}
    languages = [(lang, docs, size, tokens[lang]) for lang, docs, size in
                 sql(out, "SELECT lang, count(*), sum(octet_length(encode(text))) FROM documents GROUP BY lang")]
    per_action = sql(out, "SELECT coalesce(license, '(none)'), action, count(*), count(*) FILTER (WHERE stage = 'license') "
                          "FROM decisions WHERE stage <> 'trajectory' GROUP BY ALL")
    licenses = {}
    for label, action, n, at_license in per_action:
        row = licenses.setdefault(label, {"keep": 0, "drop": 0, "quarantine": 0, "license": 0})
        row[action] += n
        row["license"] += at_license if action != "keep" else 0
    drops = sql(out, "SELECT stage, action, reason, count(*) FROM decisions WHERE action IN ('drop', 'quarantine') "
                     "AND stage <> 'trajectory' GROUP BY ALL")
    pii = sql(out, "SELECT p.key, sum(p.value), count(DISTINCT doc_id) FROM documents, unnest(pii_counts) AS u(p) GROUP BY 1")
    kept_ids = {r[0] for r in sql(out, "SELECT doc_id FROM documents")}
    members = Counter(r[0] for r in sql(out, "SELECT dup_of FROM decisions WHERE stage = 'dedup' AND action = 'drop'"))
    sizes = Counter(("this release" if rep in kept_ids else "earlier release", n + (rep in kept_ids)) for rep, n in members.items())
    dropped = Counter()
    for rep, n in members.items():
        dropped[("this release" if rep in kept_ids else "earlier release", n + (rep in kept_ids))] += n
    checks = Counter()
    for (pairs,) in sql(out, "SELECT checks FROM trajectories"):
        for pair in pairs:
            checks[(pair["key"], pair["value"])] += 1
    for (detail,) in sql(out, "SELECT detail FROM decisions WHERE stage = 'trajectory' AND action <> 'keep'"):
        for name, passed in (json.loads(detail or "{}").get("checks") or {}).items():
            checks[(name, passed)] += 1
    rejected = sql(out, "SELECT reason, count(*) FROM decisions WHERE stage = 'trajectory' AND action <> 'keep' GROUP BY 1")
    totals = sql(out, "SELECT count(*) FILTER (WHERE stage <> 'trajectory'), "
                      "count(*) FILTER (WHERE action = 'drop' AND stage <> 'trajectory'), "
                      "count(*) FILTER (WHERE action = 'quarantine' AND stage <> 'trajectory') FROM decisions")[0]
    return {
        "totals": [("documents kept", len(kept_ids)), ("records dropped", totals[1]),
                   ("records quarantined", totals[2]), ("records read", totals[0])],
        "sources": sources,
        "languages": languages,
        "licenses": [(k, v["keep"], v["drop"], v["quarantine"], v["license"]) for k, v in licenses.items()],
        "drops": drops,
        "pii": pii,
        "dedup": [(where, size, n, dropped[(where, size)]) for (where, size), n in sizes.items()],
        "trajectories": [(n, checks[(n, True)], checks[(n, False)]) for n in {k for k, _ in checks}],
        "trajectory_rejections": rejected,
        "erasures": [(2, ERASURE["at"], HOSTILE_REASON, "doc-id", 3, 2, 2, 1, 0)],
        "rules": [("(resolved config)", manifest["config_sha256"]), *manifest["rules"].items(),
                  ("(language-ID model)", manifest["langid_model"]["sha256"])],
    }


def assert_tables_match(tables: dict[str, list[list[str]]], out: Path) -> None:
    expected = expected_tables(out)
    for key, rows in expected.items():
        assert key in tables, f"the card has no {key} table"
        assert body(tables[key]) == sorted(rows), key
    # the fixture exercises every section: nothing above compared empty tables
    assert all(expected[k] for k in ("sources", "languages", "licenses", "drops", "pii", "dedup", "trajectories",
                                     "trajectory_rejections"))
    assert any(r[2] for r in expected["trajectories"])  # some check failed somewhere


def document_snippets(out: Path) -> list[str]:
    return [text[:40] for (text,) in sql(out, "SELECT text FROM documents") if len(text) >= 40]


# --- the card --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def html_card(release) -> str:
    assert main(["report", str(release)]) == 0
    return (release / "report.html").read_text(encoding="utf-8")


def test_html_numbers_equal_duckdb_over_the_outputs(release, html_card):
    assert_tables_match(html_tables(html_card).tables, release)


def test_html_is_self_contained_escaped_and_holds_no_document_text(release, html_card):
    page = html_tables(html_card)
    assert page.links and all(link.startswith("data:image/png;base64,") for link in page.links)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html_card, re.IGNORECASE)
    assert "<script" not in html_card.lower() and "<link" not in html_card.lower() and "@import" not in html_card
    assert len(page.images) >= 6
    assert html.escape(HOSTILE_REASON) in html_card
    assert not any(snippet in html_card for snippet in document_snippets(release))


def test_report_is_listed_in_the_manifest_and_verified(release, html_card):
    manifest = json.loads((release / "manifest.json").read_text())
    entries = [o for o in manifest["outputs"] if o.get("table") == "report"]
    data = (release / "report.html").read_bytes()
    assert entries == [{"path": "report.html", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "table": "report"}]
    assert manifest["erasures"] == [ERASURE]  # the rest of the manifest is kept as it was
    import jsonschema

    from pipeline.resources import manifests_dir

    jsonschema.validate(manifest, json.loads((manifests_dir() / "manifest.schema.json").read_text()))
    assert verify(str(release)) == []
    # run again: the entry is replaced, not added
    assert main(["report", str(release)]) == 0
    manifest = json.loads((release / "manifest.json").read_text())
    assert [o["path"] for o in manifest["outputs"]].count("report.html") == 1
    assert verify(str(release)) == []
    # a later `curate run --overwrite` into OUT replaces the release, report included
    from pipeline.io.outdir import check_contents

    assert "report.html" in check_contents(str(release), overwrite=True)


def test_a_changed_report_fails_verify(release, html_card, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    (copy / "report.html").write_text(html_card.replace("Data card", "Data cart"), encoding="utf-8")
    assert any("report.html: " in p for p in verify(str(copy)))
    (copy / "report.html").unlink()
    assert verify(str(copy)) == ["report.html: missing"]
    # the report entry names OUT/report.html only: any other path is still refused as a non-shard
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = next(o for o in manifest["outputs"] if o.get("table") == "report")
    entry["path"] = "../outside.html"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert any("is not a shard path" in p for p in verify(str(copy)))


def test_markdown_numbers_equal_duckdb(release, tmp_path, capsys):
    assert main(["report", str(release), "--format", "md"]) == 0
    text = capsys.readouterr().out
    titles = {"Totals": "totals", "Sources": "sources", "Languages (kept documents)": "languages", "Licenses": "licenses",
              "Drop and quarantine reasons by stage": "drops", "PII replaced by type (kept documents)": "pii",
              "Duplicate clusters": "dedup", "Trajectory checks": "trajectories",
              "Trajectory rejections": "trajectory_rejections", "Erasures": "erasures",
              "Config and rules hashes": "rules"}
    tables = {titles[t]: rows for t, rows in md_tables(text).items() if t in titles}
    assert_tables_match(tables, release)
    # the hostile reason is not markup: every character that would make HTML, a link or a cell break is escaped
    assert r'\<script\>alert("x")\</script\> \| \[link\](https://evil.example/) \& \*' in text
    assert not re.search(r"(?<!\\)<script", text)
    assert not any(snippet in text for snippet in document_snippets(release))
    target = tmp_path / "card.md"
    assert main(["report", str(release), "--format", "md", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8").split("report generated")[0] == text.split("report generated")[0]


def test_signed_manifest_is_re_signed(release, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CURATE_MANIFEST_KEY", "k1")
    copy = tmp_path / "signed"
    shutil.copytree(release, copy)
    from pipeline.io.manifest import write_manifest

    write_manifest(str(copy), json.loads((copy / "manifest.json").read_text()))  # sign it
    assert verify(str(copy)) == []
    assert main(["report", str(copy)]) == 0
    assert verify(str(copy)) == []
    monkeypatch.delenv("CURATE_MANIFEST_KEY")
    assert main(["report", str(copy)]) == 2
    assert "is signed" in capsys.readouterr().err
    monkeypatch.setenv("CURATE_MANIFEST_KEY", "k1")
    assert verify(str(copy)) == []  # the refused report left the signed release as it was


# --- bad input -------------------------------------------------------------------------------
def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("curate: "), err
    return err


def test_out_without_manifest_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no manifest.json" in one_line_error(capsys)
    assert main(["report", str(tmp_path / "absent")]) == 2
    one_line_error(capsys)


def test_refuses_destinations_it_must_not_write(release, tmp_path, capsys):
    corpus = release.parent / "corpus"
    before = sorted(p.name for p in corpus.rglob("*"))
    for dest, words in ((corpus / "report.html", "inside the folder of the input"),
                        (corpus / "web.jsonl", "inside the folder of the input"),
                        (release / "documents" / "card.html", "inside OUT"),
                        (release / "card.html", "inside OUT")):
        assert main(["report", str(release), "-o", str(dest)]) == 2
        assert words in one_line_error(capsys)
    assert sorted(p.name for p in corpus.rglob("*")) == before
    foreign = tmp_path / "notes.html"
    foreign.write_text("<p>mine</p>")
    assert main(["report", str(release), "-o", str(foreign)]) == 2
    assert "not a curate report" in one_line_error(capsys)
    assert foreign.read_text() == "<p>mine</p>"
    assert main(["report", str(release), "--format", "md", "-o", str(release / "report.html")]) == 2
    one_line_error(capsys)
    # a card it wrote before may be replaced
    card = tmp_path / "card.html"
    assert main(["report", str(release), "-o", str(card)]) == 0
    assert main(["report", str(release), "-o", str(card)]) == 0
    assert verify(str(release)) == []


def test_a_release_that_fails_verify_is_refused(release, tmp_path, capsys):
    copy = tmp_path / "tampered"
    shutil.copytree(release, copy)
    shard = next((copy / "decisions").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    before = (copy / "manifest.json").read_bytes()
    assert main(["report", str(copy)]) == 2
    assert "fails curate verify" in one_line_error(capsys)
    assert (copy / "manifest.json").read_bytes() == before


# --- rendered in a browser -------------------------------------------------------------------
def chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={user_data}", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def test_rendered_in_chromium(release, html_card, tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (make test installs the Debian package chromium when run as root)")
    url = (release / "report.html").as_uri()
    dom = chromium("--dump-dom", url, user_data=tmp_path / "profile").stdout
    page = html_tables(dom)
    assert_tables_match(page.tables, release)
    assert len(page.images) >= 6 and all(src.startswith("data:image/png;base64,") for src in page.images)
    shot = tmp_path / "card.png"
    chromium("--window-size=1200,3000", f"--screenshot={shot}", url, user_data=tmp_path / "profile")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_that_kept_nothing(tmp_path, capsys):
    corpus = tmp_path / "in"
    corpus.mkdir()
    shutil.copy(REPO / "examples" / "corpus" / "bad.jsonl", corpus)
    out = tmp_path / "out"
    run(load_config(overrides={"pii": {"enabled": False}, "dedup": {"enabled": False}}), [str(corpus)], str(out), [])
    assert main(["report", str(out)]) == 0
    tables = html_tables((out / "report.html").read_text(encoding="utf-8")).tables
    kept, records = sql(out, "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM decisions)")[0]
    assert kept == 0 and dict(body(tables["totals"]))["records read"] == records > 0
    assert "languages" not in tables and "pii" not in tables  # empty sections say "None." instead of a table
    assert verify(str(out)) == []
    assert main(["report", str(out), "--format", "md"]) == 0
    assert "None." in capsys.readouterr().out


def test_values_are_escaped_wherever_they_appear():
    from pipeline.report import CardData, Chart, Table, render_html, render_markdown

    bad = '<img src=x onerror=alert(1)>"\'&|[a](javascript:x)*_`'
    card = CardData(meta=[("run_id", bad)], tables=[
        Table("t", "T", ["label", "n"], [[bad, 3], ["ok", 1]], chart=Chart("c", [bad, "ok"], {"n": [3, 1]}))])
    page = render_html(card)
    assert "<img src=x" not in page and html.escape(bad, quote=True) in page
    assert [tag for tag in re.findall(r"<img [^>]*>", page) if 'src="data:image/png;base64,' not in tag] == []
    text = render_markdown(card)
    for row in [line for line in text.splitlines() if "onerror" in line]:
        cells = re.split(r"(?<!\\)\|", row)[1:-1]
        assert len(cells) == 2, row  # the value's | did not open a cell
        assert not re.search(r"[<>\[\]`*_&|]", re.sub(r"\\.", "", cells[0] if "run_id" not in row else cells[1])), row

"""`curate report OUT`: the data card of a release — counts and labels only, never document text.

Every table is read with DuckDB over OUT's Parquet (the views of manifests/views.sql) or taken from
the manifest; charts are drawn with matplotlib (Agg) and embedded as base64 PNG, so the HTML needs
no network to view. Every value that comes from the data is escaped (HTML: ``html.escape``;
Markdown: backslash before punctuation), since labels, paths and reasons are data.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
import json
import os
import re
import secrets
from dataclasses import dataclass, field

from pipeline.config import ConfigError

REPORT_HTML = "report.html"
REPORT_TABLE = "report"
FORMATS = ("html", "md")
# The first bytes of every report this command writes: an existing -o file without them is not ours
# and is never overwritten.
HTML_MARKER = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="generator" content="curate report">'
MD_MARKER = "<!-- generator: curate report -->"
# A table longer than this shows its largest rows and says how many more there are (totals stay whole).
MAX_TABLE_ROWS = 200
# Bars per chart: the largest categories; the table beside it holds them all.
MAX_CHART_BARS = 20


class ReportError(ConfigError):
    """OUT is not a verifiable release, or -o is a place the report may not go: exit 2."""


@dataclass
class Table:
    """One section of the card: a heading, columns, rows of labels and counts, an optional chart."""

    key: str
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""
    chart: "Chart | None" = None
    total_rows: int | None = None  # rows before MAX_TABLE_ROWS cut them


@dataclass
class Chart:
    """A horizontal (stacked) bar chart: drawn only for the HTML card."""

    title: str
    labels: list[str]
    series: dict[str, list[int]]
    sort: bool = True


@dataclass
class CardData:
    meta: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


# --- gathering ------------------------------------------------------------------------------
def _rows(con, sql: str) -> list[list]:
    return [list(r) for r in con.execute(sql).fetchall()]


def _int(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _cut(rows: list[list]) -> tuple[list[list], int | None]:
    return (rows[:MAX_TABLE_ROWS], len(rows)) if len(rows) > MAX_TABLE_ROWS else (rows, None)


def _table(key: str, title: str, columns: list[str], rows: list[list], note: str = "", chart=None) -> Table:
    shown, total = _cut(rows)
    return Table(key, title, columns, shown, note, chart, total)


def _summary_section(manifest: dict) -> Table:
    summary = manifest.get("summary") if isinstance(manifest.get("summary"), dict) else {}
    rows = [[label, _int(summary.get(key))] for key, label in (
        ("records_in", "records read"), ("kept", "documents kept"),
        ("dropped", "records dropped"), ("quarantined", "records quarantined"))]
    return _table("totals", "Totals", ["measure", "count"], rows)


def _sources_section(con, manifest: dict) -> Table:
    kept = dict(_rows(con, "SELECT source_uri, count(*) FROM documents GROUP BY 1"))
    inputs = [i for i in manifest.get("inputs") or [] if isinstance(i, dict)]
    rows = [[str(i.get("uri")), _int(i.get("bytes")), _int(i.get("records")), int(kept.get(i.get("uri"), 0))]
            for i in inputs]
    rows.sort(key=lambda r: (-r[1], r[0]))
    total = ["(all inputs)", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows)]
    chart = _bars("Input bytes by source", [_short(r[0]) for r in rows], {"bytes": [r[1] for r in rows]})
    table = _table("sources", "Sources", ["input", "bytes", "records", "documents kept"], rows, chart=chart)
    table.rows.append(total)
    return table


def _short(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


def _languages_section(manifest: dict) -> Table:
    langs = (manifest.get("summary") or {}).get("languages") or {}
    rows = [[str(lang), _int(e.get("docs")), _int(e.get("bytes")), _int(e.get("est_tokens"))]
            for lang, e in langs.items() if isinstance(e, dict)]
    rows.sort(key=lambda r: (-r[1], r[0]))
    chart = _bars("Kept documents by language", [r[0] for r in rows], {"documents": [r[1] for r in rows]})
    return _table("languages", "Languages (kept documents)", ["language", "documents", "text bytes", "est. tokens"],
                  rows, note="From the manifest's summary.languages.", chart=chart)


def _licenses_section(con) -> Table:
    # Trajectory rows are candidates, not records: they have a section of their own.
    found = _rows(con, """
        SELECT coalesce(license, '(none)') AS license,
               count(*) FILTER (WHERE action = 'keep') AS kept,
               count(*) FILTER (WHERE action = 'drop') AS dropped,
               count(*) FILTER (WHERE action = 'quarantine') AS quarantined,
               count(*) FILTER (WHERE stage = 'license' AND action <> 'keep') AS removed_by_license_stage
        FROM decisions WHERE stage <> 'trajectory'
        GROUP BY ALL ORDER BY kept + dropped + quarantined DESC, license""")
    chart = _bars("Records by license and decision", [r[0] for r in found],
                  {"kept": [r[1] for r in found], "dropped": [r[2] for r in found], "quarantined": [r[3] for r in found]})
    return _table("licenses", "Licenses", ["license", "kept", "dropped", "quarantined", "removed by the license stage"],
                  found, note="One row per input record (its final decision), by the license label the pipeline found.",
                  chart=chart)


def _drops_section(con) -> Table:
    found = _rows(con, """
        SELECT stage, action, coalesce(reason, '(none)') AS reason, count(*) AS records
        FROM decisions WHERE action <> 'keep' AND stage <> 'trajectory'
        GROUP BY ALL ORDER BY records DESC, stage, action, reason""")
    chart = _bars("Records removed by stage and reason", [f"{r[0]}/{r[2]}" for r in found], {"records": [r[3] for r in found]})
    return _table("drops", "Drop and quarantine reasons by stage", ["stage", "action", "reason", "records"], found, chart=chart)


def _pii_section(con) -> Table:
    found = _rows(con, """
        SELECT e.key AS entity, sum(e.value)::BIGINT AS replacements, count(DISTINCT doc_id) AS documents
        FROM (SELECT doc_id, unnest(pii_counts) AS e FROM documents)
        GROUP BY entity ORDER BY replacements DESC, entity""")
    chart = _bars("PII replaced by type", [r[0] for r in found], {"replacements": [r[1] for r in found]})
    return _table("pii", "PII replaced by type (kept documents)", ["type", "replacements", "documents"], found,
                  note="Type names and counts only.", chart=chart)


def _dedup_section(con) -> Table:
    # A cluster is its representative (kept, the smallest doc_id) and the records dropped with
    # dup_of = that representative; a representative of an earlier release is not in this one.
    found = _rows(con, """
        WITH clusters AS (
            SELECT dup_of, count(*) AS dropped, bool_or(dup_of IN (SELECT doc_id FROM documents)) AS here
            FROM decisions WHERE stage = 'dedup' AND action = 'drop' AND dup_of IS NOT NULL GROUP BY dup_of)
        SELECT CASE WHEN here THEN 'this release' ELSE 'earlier release' END AS representative,
               dropped + CASE WHEN here THEN 1 ELSE 0 END AS size, count(*) AS clusters, sum(dropped)::BIGINT AS dropped
        FROM clusters GROUP BY ALL ORDER BY representative DESC, size""")
    chart = _bars("Duplicate clusters by size", [f"size {r[1]}" + ("" if r[0] == "this release" else " (earlier)") for r in found],
                  {"clusters": [r[2] for r in found]}, sort=False)
    return _table("dedup", "Duplicate clusters", ["representative in", "cluster size", "clusters", "records dropped"], found,
                  note="Size counts the kept representative; a cluster whose representative is in an earlier release "
                       "(dedup.against) counts only this release's dropped records.", chart=chart)


def _trajectory_sections(con, manifest: dict) -> list[Table]:
    summary = (manifest.get("summary") or {}).get("trajectories")
    if not isinstance(summary, dict):
        return []
    # Every validated candidate went through every check: accepted samples carry them as `checks`,
    # rejected ones in their decisions row's detail.checks (candidates dropped before validation —
    # source_dropped, teacher_error, … — have none).
    checks = _rows(con, """
        WITH results AS (
            SELECT c.key AS name, c.value AS passed FROM (SELECT unnest(checks) AS c FROM trajectories)
            UNION ALL
            SELECT j.key, j.value::BOOLEAN FROM decisions, json_each(detail, '$.checks') AS j
            WHERE stage = 'trajectory' AND action <> 'keep' AND json_valid(detail))
        SELECT name, count(*) FILTER (WHERE passed), count(*) FILTER (WHERE NOT passed)
        FROM results GROUP BY name ORDER BY 3 DESC, name""")
    chart = _bars("Trajectory checks on validated candidates", [r[0] for r in checks],
                  {"passed": [r[1] for r in checks], "failed": [r[2] for r in checks]}, sort=False)
    note = (f"{_int(summary.get('accepted'))} accepted of {_int(summary.get('candidates'))} candidates. "
            "Each check's result on every candidate that reached validation (one candidate may fail several).")
    rejected = sorted(((str(k), _int(v)) for k, v in (summary.get("rejected_by_check") or {}).items()), key=lambda kv: (-kv[1], kv[0]))
    return [
        _table("trajectories", "Trajectory checks", ["check", "passed", "failed"], checks, note=note, chart=chart),
        _table("trajectory_rejections", "Trajectory rejections", ["reason", "candidates"], [list(r) for r in rejected],
               note="Rejected candidates by their first failed check (as its reject reason) or the step that dropped "
                    "them (summary.trajectories.rejected_by_check)."),
    ]


def _erasures_section(manifest: dict) -> Table:
    entries = [e for e in manifest.get("erasures") or [] if isinstance(e, dict)]
    rows = []
    for e in entries:
        sel = e.get("selector") if isinstance(e.get("selector"), dict) else {}
        removed = e.get("removed") if isinstance(e.get("removed"), dict) else {}
        rows.append([_int(e.get("version")), str(e.get("at") or ""), str(e.get("reason") or ""), str(sel.get("kind") or ""),
                     _int(sel.get("count"))] + [_int(removed.get(k)) for k in ("documents", "signatures", "trajectories", "quarantine")])
    return _table("erasures", "Erasures", ["version", "at", "reason", "selector", "selected", "documents removed",
                                           "signatures removed", "trajectories removed", "quarantine removed"], rows,
                  note="Records erased from the release since its run (manifest erasures).")


def _provenance_sections(manifest: dict) -> list[Table]:
    rules = manifest.get("rules") if isinstance(manifest.get("rules"), dict) else {}
    tables = [_table("rules", "Config and rules hashes", ["file", "sha256"],
                     [["(resolved config)", str(manifest.get("config_sha256") or "")]]
                     + [[str(k), str(v)] for k, v in sorted(rules.items())])]
    model = manifest.get("langid_model")
    if isinstance(model, dict) and model.get("sha256"):
        tables[0].rows.append(["(language-ID model)", str(model["sha256"])])
    against = [a for a in manifest.get("dedup_against") or [] if isinstance(a, dict)]
    if against:
        tables.append(_table("dedup_against", "Deduplicated against", ["release", "run_id", "manifest sha256"],
                             [[str(a.get("path")), str(a.get("run_id") or ""), str(a.get("manifest_sha256") or "")] for a in against]))
    return tables


def _meta(manifest: dict, out: str) -> list[tuple[str, str]]:
    parent = manifest.get("parent")
    parent_text = f"version {parent.get('version')} (manifest sha256 {parent.get('manifest_sha256')})" if isinstance(parent, dict) else "none"
    return [
        ("release", os.path.abspath(out)),
        ("run_id", str(manifest.get("run_id"))),
        ("created_at", str(manifest.get("created_at"))),
        ("manifest version", str(manifest.get("version", 1))),
        ("kind", str(manifest.get("kind", "run"))),
        ("parent", parent_text),
        ("pipeline_version", str(manifest.get("pipeline_version"))),
        ("runner", str(manifest.get("runner"))),
        ("config_sha256", str(manifest.get("config_sha256"))),
        ("signed", "yes (HMAC-SHA256)" if isinstance(manifest.get("signature"), dict) else "no"),
        ("report generated", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
    ]


def gather(out: str, manifest: dict) -> CardData:
    """Everything the card shows, read from OUT with DuckDB and from its manifest."""
    from pipeline import audit

    con = audit.connect(out)
    try:
        tables = [_summary_section(manifest), _sources_section(con, manifest), _languages_section(manifest),
                  _licenses_section(con), _drops_section(con), _pii_section(con), _dedup_section(con)]
        tables += _trajectory_sections(con, manifest)
        tables.append(_erasures_section(manifest))
        tables += _provenance_sections(manifest)
    finally:
        con.close()
    return CardData(meta=_meta(manifest, out), tables=tables)


# --- charts ---------------------------------------------------------------------------------
def _bars(title: str, labels: list[str], series: dict[str, list[int]], sort: bool = True) -> Chart | None:
    if not labels or not any(any(v) for v in series.values()):
        return None
    return Chart(title, labels, series, sort)


def draw(chart: Chart) -> bytes:
    """The chart as PNG bytes (matplotlib, Agg)."""
    title, labels, series, sort = chart.title, chart.labels, chart.series, chart.sort
    import warnings

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = list(range(len(labels)))
    if sort:
        order.sort(key=lambda i: -sum(s[i] for s in series.values()))
    order = order[:MAX_CHART_BARS][::-1]  # largest on top
    names = [_label(labels[i]) for i in order]
    # Labels are data: no mathtext ($…$) parsing, so a label can never be read as markup.
    with matplotlib.rc_context({"text.parse_math": False, "svg.fonttype": "path"}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph missing from the font is drawn as a box, not an error
        fig = Figure(figsize=(7.5, 0.9 + 0.32 * len(names)), dpi=96)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        left = [0] * len(order)
        for name, values in series.items():
            vals = [values[i] for i in order]
            ax.barh(names, vals, left=left, label=name)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_title(title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(series) > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _label(text: str, limit: int = 48) -> str:
    text = re.sub(r"\s+", " ", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- rendering ------------------------------------------------------------------------------
def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}
.note{color:#555;font-size:.85rem}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8rem;word-break:break-all}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
"""


def render_html(card: CardData) -> str:
    e = lambda v: html.escape(_fmt(v), quote=True)  # noqa: E731
    parts = [HTML_MARKER,
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>Data card</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<h1>Data card</h1>"]
    parts.append('<table id="meta">')
    parts += [f"<tr><th>{e(k)}</th><td class=\"mono\">{e(v)}</td></tr>" for k, v in card.meta]
    parts.append("</table>")
    for t in card.tables:
        parts.append(f'<section id="section-{e(t.key)}"><h2>{e(t.title)}</h2>')
        if t.note:
            parts.append(f'<p class="note">{e(t.note)}</p>')
        if t.chart:
            b64 = base64.b64encode(draw(t.chart)).decode("ascii")
            parts.append(f'<img alt="{e(t.title)} chart" src="data:image/png;base64,{b64}">')
        if t.rows:
            parts.append(f'<table id="{e(t.key)}"><thead><tr>' + "".join(f"<th>{e(c)}</th>" for c in t.columns) + "</tr></thead><tbody>")
            for row in t.rows:
                cells = "".join(f'<td class="n">{e(v)}</td>' if isinstance(v, int) else f"<td>{e(v)}</td>" for v in row)
                parts.append(f"<tr>{cells}</tr>")
            parts.append("</tbody></table>")
        else:
            parts.append('<p class="note">None.</p>')
        if t.total_rows:
            parts.append(f'<p class="note">Showing {len(t.rows):,} of {t.total_rows:,} rows.</p>')
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# Inside a table cell only inline markup applies: code, emphasis, links and images, HTML, entities, cell breaks.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md_escape(value) -> str:
    """A data value for a Markdown table cell: one line, inline-markup characters backslash-escaped
    (no links, HTML, entities or emphasis)."""
    if isinstance(value, (int, bool)):
        return _fmt(value)
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(value)))


def render_markdown(card: CardData) -> str:
    # Titles, column names, notes and meta keys are this module's own text; everything else is data.
    lines = [MD_MARKER, "", "# Data card", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {md_escape(v)} |" for k, v in card.meta] + [""]
    for t in card.tables:
        lines += [f"## {t.title}", ""]
        if t.note:
            lines += [t.note, ""]
        if t.rows:
            lines.append("| " + " | ".join(t.columns) + " |")
            lines.append("|" + "|".join("---:" if isinstance(v, int) else "---" for v in t.rows[0]) + "|")
            lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in t.rows]
            lines.append("")
        else:
            lines += ["None.", ""]
        if t.total_rows:
            lines += [f"Showing {len(t.rows):,} of {t.total_rows:,} rows.", ""]
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------
def _is_report_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(HTML_MARKER.encode()))
    except OSError:
        return False
    return head.startswith(HTML_MARKER.encode()) or head.startswith(MD_MARKER.encode())


def check_destination(out: str, manifest: dict, dest: str) -> bool:
    """Refuse a destination inside an input's folder, inside OUT (but OUT/report.html), or an
    existing file this command did not write. True when dest is OUT/report.html (listed in the manifest)."""
    from pipeline.io.outdir import _within, is_remote

    real = os.path.realpath(dest)
    root = os.path.realpath(out)
    if os.path.isdir(real):
        raise ReportError(f"-o {dest}: is a folder")
    for entry in manifest.get("inputs") or []:
        uri = entry.get("uri") if isinstance(entry, dict) else None
        if isinstance(uri, str) and not is_remote(uri):
            folder = os.path.dirname(os.path.realpath(uri))
            if real == os.path.realpath(uri) or _within(real, folder):
                # a report beside the inputs would be read as input by the next run over them
                raise ReportError(f"-o {dest}: is inside the folder of the input {uri}")
    in_release = real == os.path.join(root, REPORT_HTML)
    if _within(real, root) and not in_release:
        raise ReportError(f"-o {dest}: is inside OUT (a release holds only curate's files; only OUT/{REPORT_HTML} is listed)")
    if os.path.exists(real) and not _is_report_file(real):
        raise ReportError(f"-o {dest}: exists and is not a curate report (refusing to overwrite it)")
    if not os.path.isdir(os.path.dirname(real)):
        raise ReportError(f"-o {dest}: folder not found")
    return in_release


def _manifest_bytes(out: str) -> bytes:
    from pipeline.io.manifest import MANIFEST

    with open(os.path.join(out, MANIFEST), "rb") as fh:
        return fh.read()


def _load_checked_manifest(out: str) -> tuple[dict, bytes]:
    """OUT's manifest (and its bytes) once OUT passes verify."""
    from pipeline.io.manifest import MANIFEST, verify

    if not os.path.isdir(out):
        raise ReportError(f"report {out}: not a folder")
    if not os.path.isfile(os.path.join(out, MANIFEST)):
        raise ReportError(f"report {out}: no {MANIFEST} (not a curate release, or its run did not finish)")
    raw = _manifest_bytes(out)
    problems = verify(out)
    if problems:
        raise ReportError(f"report {out}: fails curate verify ({len(problems)} problem(s), first: {problems[0]})")
    if _manifest_bytes(out) != raw:
        raise ReportError(f"report {out}: the release changed while it was verified; run curate report again")
    return json.loads(raw.decode("utf-8")), raw


def _write_atomically(dest: str, data: bytes) -> None:
    from pipeline.io.manifest import MANIFEST

    # the name of run machinery (verify and the next run ignore or remove it) when dest is in OUT
    temp = os.path.join(os.path.dirname(os.path.realpath(dest)), f".{MANIFEST}.report-{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, dest)
    except OSError as exc:
        raise ReportError(f"-o {dest}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def list_in_manifest(out: str, manifest: dict, data: bytes) -> None:
    """Rewrite OUT/manifest.json (same version, atomically; re-signed when the key is set) with
    OUT/report.html in ``outputs``. Call holding the run lock, before the report is renamed in."""
    from pipeline.io.manifest import write_manifest

    entry = {"path": REPORT_HTML, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "table": REPORT_TABLE}
    body = {k: v for k, v in manifest.items() if k != "signature"}
    body["outputs"] = [o for o in body.get("outputs") or [] if not (isinstance(o, dict) and o.get("table") == REPORT_TABLE)] + [entry]
    write_manifest(out, body)


def report(out: str, output: str | None = None, fmt: str = "html") -> tuple[str | None, str]:
    """Write the card; returns (path written or None for stdout, text)."""
    from pipeline.io.manifest import SIGNING_KEY_ENV, signing_key
    from pipeline.io.outdir import RunLock, is_remote

    if fmt not in FORMATS:
        raise ReportError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if is_remote(out):
        raise ReportError(f"report {out}: only a local OUT folder can be reported on")
    manifest, raw = _load_checked_manifest(out)
    if output is None and fmt == "md":
        return None, render_markdown(gather(out, manifest))
    dest = output or os.path.join(out, REPORT_HTML)
    in_release = check_destination(out, manifest, dest)
    if in_release and fmt != "html":
        raise ReportError(f"-o {dest}: OUT/{REPORT_HTML} holds the HTML card (use --format html, or -o outside OUT)")
    if in_release and isinstance(manifest.get("signature"), dict) and signing_key() is None:
        raise ReportError(f"report {out}: its manifest is signed; set ${SIGNING_KEY_ENV} to list the report in it "
                          f"(or write the report outside OUT with -o)")
    card = gather(out, manifest)
    text = render_html(card) if fmt == "html" else render_markdown(card)
    data = text.encode("utf-8")
    if not in_release:
        _write_atomically(dest, data)
        return dest, text
    lock = RunLock(out, run_id=f"report-{secrets.token_hex(4)}").acquire()
    try:
        # the card describes the manifest verified above: a run or erasure committed since then refuses it
        if _manifest_bytes(out) != raw:
            raise ReportError(f"report {out}: the release changed while the report was written; run curate report again")
        list_in_manifest(out, manifest, data)
        _write_atomically(dest, data)
    finally:
        lock.release()
    return dest, text

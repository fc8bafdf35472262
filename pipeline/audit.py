"""`curate audit`: DuckDB over one run's OUT through the views of manifests/views.sql."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb

from pipeline.config import ConfigError
from pipeline.resources import manifests_dir


class AuditError(ConfigError):
    """Bad SQL, unknown canned query or an OUT that is not a run: exit 2."""


def views_sql() -> str:
    return (manifests_dir() / "views.sql").read_text(encoding="utf-8")


def canned_queries() -> dict[str, Path]:
    return {p.stem: p for p in sorted((manifests_dir() / "queries").glob("*.sql"))}


def connect(out: str) -> duckdb.DuckDBPyConnection:
    root = Path(out)
    if not (root / "manifest.json").is_file():
        raise AuditError(f"{root / 'manifest.json'}: missing — not a finished run output")
    con = duckdb.connect()
    con.execute("SET file_search_path = ?", [str(root.resolve())])
    con.execute(views_sql())
    return con


def query(out: str, sql: str) -> tuple[list[str], list[tuple]]:
    con = connect(out)
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AuditError(f"SQL error: {first}") from None
    if cursor.description is None:
        return [], []
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value[:60].decode("utf-8", errors="replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def render(columns: list[str], rows: list[tuple], fmt: str = "table", max_width: int = 60) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, default=str, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v).replace("\n", " ")[:max_width] for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)

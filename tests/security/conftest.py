"""The attack suite's tools: run `curate` as a user would, and scan everything a run leaves behind
(every column of every Parquet file, every other file under OUT, stdout and stderr) for planted
values that must not appear there."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args, env: dict | None = None, timeout: float = 300, cwd: str | None = None) -> CliResult:
    """``python -m pipeline.cli ARGS`` in a subprocess (the console script's code path)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


def _strings(value) -> list[str]:
    """Every string a cell holds, however nested (maps, lists, structs, bytes)."""
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value.decode("utf-8", errors="replace")]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _contains(haystack: str, value: str) -> bool:
    if value in haystack:
        return True
    # JSON-escaped forms (\u0040 for @ …) must not hide a value either. Decoded escape by escape:
    # a whole-haystack json.loads fails on any raw newline or quote, and would hide them again.
    if "\\u" in haystack and value in _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), haystack):
        return True
    # Numbers (cards, phones, IDs) also count when their separators were changed or removed.
    digits = _digits(value)
    if len(digits) >= 9 and digits == _digits(value.replace(" ", "").replace("-", "")) and len(digits) >= len(value) * 0.6:
        if digits in _digits(haystack):
            return True
    return False


def scan_text(label: str, text: str, values: list[str]) -> list[str]:
    return [f"{label}: {v!r}" for v in values if _contains(text, v)]


def scan_outputs(out: Path, values: list[str], stdout: str = "", stderr: str = "") -> list[str]:
    """Where each planted value was found: ``documents/part-00000.parquet:text: 'value'``,
    ``manifest.json: 'value'``, ``stderr: 'value'``. Empty when nothing leaked."""
    found: list[str] = []
    out = Path(out)
    if out.exists():
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            rel = path.relative_to(out).as_posix()
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                meta = table.schema.metadata or {}
                for k, v in meta.items():
                    found += scan_text(f"{rel}:<metadata>", (k + b"=" + v).decode("utf-8", "replace"), values)
                for name in table.column_names:
                    found += scan_text(f"{rel}:<column name>", name, values)
                    cells = "\n".join(s for cell in table.column(name).to_pylist() for s in _strings(cell))
                    found += scan_text(f"{rel}:{name}", cells, values)
            else:
                found += scan_text(rel, path.read_bytes().decode("utf-8", errors="replace"), values)
            # File and folder names are a channel too.
            found += scan_text(f"{rel}:<file name>", rel, values)
    found += scan_text("stdout", stdout, values)
    found += scan_text("stderr", stderr, values)
    return found

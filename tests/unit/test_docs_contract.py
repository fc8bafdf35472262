"""The outside contract is written in docs/: every table's columns and types (docs/audit.md),
every config key (docs/configuration.md) and every command-line option (README.md)."""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pyarrow as pa

from pipeline.cli import _parser
from pipeline.config import Config
from pipeline.records import TABLE_SCHEMAS

REPO = Path(__file__).resolve().parents[2]
AUDIT_DOC = REPO / "docs" / "audit.md"
CONFIG_DOC = REPO / "docs" / "configuration.md"
README = REPO / "README.md"


def _documented_tables() -> dict[str, list[tuple[str, str]]]:
    """docs/audit.md's "Tables and column types" table: {table: [(column, type as written)]}."""
    tables = {}
    for line in AUDIT_DOC.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| `(\w+)` \| (`\w+` .*) \|", line)
        if m and m.group(1) in TABLE_SCHEMAS:
            cells = re.findall(r"`(\w+)` ([^`]+?)(?:, (?=`)|$)", m.group(2))
            tables[m.group(1)] = [(name, re.sub(r" \(.*\)$", "", type_.strip())) for name, type_ in cells]
    return tables


def _arrow_type_as_documented(type_: pa.DataType) -> str:
    """pyarrow's spelling of a type as the docs write it: constructor names (``float32``, not
    ``float``) and list items without their field name."""
    spelled = str(type_).replace("item: ", "").replace("element: ", "")
    return re.sub(r"\bfloat\b", "float32", re.sub(r"\bdouble\b", "float64", spelled))


def test_audit_doc_lists_every_column_of_every_table_with_its_type():
    documented = _documented_tables()
    assert set(documented) == set(TABLE_SCHEMAS)
    for table, schema in TABLE_SCHEMAS.items():
        assert documented[table] == [(f.name, _arrow_type_as_documented(f.type)) for f in schema], table


def _config_keys(section: type, prefix: str = "") -> list[str]:
    """Dotted keys of the config dataclasses; a nested dataclass is a section, not a key."""
    hints = typing.get_type_hints(section)
    keys = []
    for f in dataclasses.fields(section):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += _config_keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def _documented_config_keys() -> set[str]:
    """First cells of configuration.md's key tables; "`a.b.c` / `d`" documents a.b.c and a.b.d."""
    keys = set()
    for line in CONFIG_DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| (`[\w.]+`(?: / `\w+`)*) \|", line)
        if m:
            names = re.findall(r"`([\w.]+)`", m.group(1))
            parent = names[0].rpartition(".")[0]
            keys.add(names[0])
            keys.update(f"{parent}.{leaf}" if parent else leaf for leaf in names[1:])
    return keys


def test_configuration_doc_lists_every_config_key():
    keys = _config_keys(Config)
    assert "dedup.threshold" in keys and "trajectories.teacher.top_p" in keys  # the walk reaches nested sections
    missing = [k for k in keys if k not in _documented_config_keys()]
    assert not missing, f"config keys without a row in docs/configuration.md: {missing}"


def test_readme_names_every_command_and_option():
    readme = README.read_text(encoding="utf-8")
    commands = _parser()._subparsers._group_actions[0].choices
    assert set(commands) >= {"run", "audit", "verify"}
    missing = []
    for name, sub in commands.items():
        if f"curate {name}" not in readme:
            missing.append(name)
        missing += [f"{name} {o}" for a in sub._actions for o in a.option_strings
                    if o not in ("-h", "--help") and o not in readme]
    assert not missing, f"commands/options not in README.md: {missing}"

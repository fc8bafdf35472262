"""Helpers shared by the license stage's test files: Debian's real license texts, a set-up detector."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.records import new_record
from pipeline.stages.license import LicenseDetector

COMMON = Path("/usr/share/common-licenses")
REPO = Path(__file__).resolve().parents[2]


def _common(name: str) -> str:
    path = COMMON / name
    assert path.is_file(), (
        f"{path} is missing: these tests use Debian's real license texts (package base-files); "
        "run them on the project's Debian image"
    )
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def core():
    c = LicenseDetector(load_config())
    c.setup()
    return c


def _core(overrides=None, rules_dir=None):
    data = dict(overrides or {})
    if rules_dir:
        data["rules_dir"] = str(rules_dir)
    c = LicenseDetector(load_config(overrides=data))
    c.setup()
    return c


def rec(text, **kw):
    return new_record(source_uri="mem://t.jsonl", record_index=kw.pop("index", 0), text=text, **kw)

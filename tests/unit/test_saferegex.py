"""User patterns under a time limit, and the stage_error row that names the rule."""
from __future__ import annotations

import time

import pytest

from pipeline.records import K_FLAGS, K_NOTES, QUARANTINE
from pipeline.saferegex import RulePatternError, RuleTimeout, compile_rule
from pipeline.stages.base import StageCore, keep
from pipeline.verdicts import run_core_on_batch

CATASTROPHIC = r"(a|aa)+$"
HOSTILE = "a" * 64 + "b"


def test_catastrophic_pattern_times_out_with_rule_name():
    rule = compile_rule("evil_rule", CATASTROPHIC, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(RuleTimeout) as err:
        rule.search(HOSTILE)
    assert time.monotonic() - started < 5
    assert err.value.rule == "evil_rule"
    with pytest.raises(RuleTimeout):
        list(rule.finditer(HOSTILE))
    with pytest.raises(RuleTimeout):
        rule.sub("", HOSTILE)


def test_sane_pattern_matches_like_re():
    rule = compile_rule("year", r"(?P<year>\d{4})")
    assert [m.group("year") for m in rule.finditer("1999 and 2024")] == ["1999", "2024"]
    assert rule.groupindex == {"year": 1}
    assert rule.search("none") is None


def test_bad_pattern_names_the_rule():
    with pytest.raises(RulePatternError, match="broken"):
        compile_rule("broken", "(unclosed")


class _RuleCore(StageCore):
    name = "rulestage"

    def setup(self):
        self.rule = compile_rule("evil_rule", CATASTROPHIC, timeout=0.2)

    def process(self, record):
        self.rule.search(record["text"])
        return keep()


def test_timeout_becomes_stage_error_row_naming_the_rule():
    core = _RuleCore(None)
    core.setup()
    records = [
        {"doc_id": "ok", "text": "fine", K_NOTES: {}, K_FLAGS: []},
        {"doc_id": "bad", "text": HOSTILE, K_NOTES: {}, K_FLAGS: []},
    ]
    kept, rows = run_core_on_batch(core, records, "run")
    assert [r["doc_id"] for r in kept] == ["ok"]
    assert len(rows) == 1 and rows[0]["action"] == QUARANTINE and rows[0]["reason"] == "stage_error"
    assert "evil_rule" in str(rows[0]["detail"]) and HOSTILE not in str(rows[0])

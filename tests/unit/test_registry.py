"""The stage registry, the shared verdict path (error isolation, Beam metrics) and the plugins config."""
from __future__ import annotations

import functools
import json
import os
import time

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter

from pipeline import graph
from pipeline.config import ConfigError, load_config
from pipeline.io.manifest import stage_counts, summary_counts
from pipeline.stages import registry
from pipeline.stages.base import StageCore, Verdict, drop, keep, quarantine
from pipeline.verdicts import METRICS_NAMESPACE, StageDoFn, run_core_on_batch


def _record(i: int, text: str) -> dict:
    return {"doc_id": f"d{i}", "source_id": f"s{i}", "text": text, "_notes": {}, "_flags": []}


# --- the registry --------------------------------------------------------------------------------
def test_builtin_stages_in_run_order_with_their_sections():
    names = [s.name for s in registry.stages()]
    assert names == ["ingest", "license", "langid", "quality", "pii", "dedup", "output", "trajectory"]
    assert [s.name for s in registry.record_stages()] == ["license", "langid", "quality", "pii"]
    assert registry.get("trajectory").config_section == "trajectories"
    assert registry.get("license").reasons == ("copyright_notice", "license_denied", "license_review", "opt_out")


def test_plugin_names_go_after_the_per_record_stages_and_before_dedup():
    assert registry.stage_order(["zeta", "alpha"]) == ["ingest", "license", "langid", "quality", "pii", "alpha", "zeta", "dedup", "output"]


def test_a_newly_registered_stage_is_counted_and_switched_where_it_sits(monkeypatch):
    monkeypatch.setattr(registry, "_STAGES", dict(registry._STAGES))
    monkeypatch.setattr(registry, "_LOADED", True)

    @registry.register_stage(name="toxicity", order=35, config_section="quality", reasons=["toxic"])
    class ToxicityStage:  # a stand-in transform: only its declaration is read here
        pass

    assert registry.stage_order() == ["ingest", "license", "langid", "quality", "toxicity", "pii", "dedup", "output"]
    counts = stage_counts([("quality", "drop", "short", 2), ("toxicity", "drop", "toxic", 3), ("output", "keep", "kept", 5)], 10)
    assert counts["toxicity"] == {"in": 8, "out": 5, "dropped": {"toxic": 3}, "quarantined": {}}
    assert counts["output"]["in"] == 5


def test_counts_chain_through_a_plugin_stage_and_keep_trajectories_apart():
    counts = stage_counts([
        ("ingest", "quarantine", "parse_error", 1),
        ("pii", "drop", "x", 1),
        ("my_filter", "drop", "banned", 2),
        ("dedup", "drop", "exact_duplicate", 1),
        ("output", "keep", "kept", 5),
        ("trajectory", "keep", "accepted", 3),
        ("trajectory", "drop", "answer_mismatch", 4),
    ], 10)
    assert list(counts) == ["ingest", "pii", "my_filter", "dedup", "output", "trajectory"]
    assert counts["my_filter"] == {"in": 8, "out": 6, "dropped": {"banned": 2}, "quarantined": {}}
    assert counts["dedup"]["in"] == 6 and counts["output"] == {"in": 5, "out": 5, "kept_by_reason": {"kept": 5}}
    assert counts["trajectory"]["in"] == 7 and counts["trajectory"]["out"] == 3
    summary = summary_counts(counts, 10)
    assert summary["dropped_by_reason"] == {"my_filter/banned": 2, "dedup/exact_duplicate": 1, "pii/x": 1}
    assert summary["trajectories"] == {"candidates": 7, "accepted": 3, "rejected_by_check": {"answer_mismatch": 4}}


def test_stage_switches_follow_the_config():
    cfg = load_config(overrides={"langid": {"enabled": False}, "dedup": {"exact": False, "near": False},
                                 "plugins": {"b_plugin": {"enabled": True}, "a_plugin": {"enabled": False}}})
    assert graph.stage_switches(cfg) == {
        "license": "on", "langid": "off", "quality": "on", "pii": "on", "a_plugin": "off", "b_plugin": "on",
        "dedup": "off", "trajectories": "off",
    }
    assert graph.enabled_stages(cfg) == ["license", "quality", "pii", "b_plugin"]


# --- the plugins config --------------------------------------------------------------------------
def test_plugins_section_keeps_the_plugins_own_keys():
    cfg = load_config(overrides={"plugins": {"p": {"enabled": True, "words": ["a"], "limit": 3}}})
    assert cfg.plugins == {"p": {"enabled": True, "words": ["a"], "limit": 3}}
    factory = registry.PluginCoreFactory("p", "pipeline.stages.base:StageCore", cfg)
    core = factory()
    assert core.name == "p" and core.options == {"words": ["a"], "limit": 3}


def test_plugins_are_part_of_the_config_hash_only_when_configured():
    plain = load_config()
    assert "plugins" not in plain.to_dict()  # runs without plugins keep their config_sha256
    with_plugin = load_config(overrides={"plugins": {"p": {"enabled": False}}})
    assert with_plugin.to_dict()["plugins"] == {"p": {"enabled": False}}
    assert with_plugin.sha256() != plain.sha256()


@pytest.mark.parametrize("plugins, message", [
    ({"p": {"enabled": "yes"}}, "plugins.p.enabled"),
    ({"p": ["enabled"]}, "plugins.p"),
    (["p"], "plugins"),
])
def test_malformed_plugins_section_is_a_config_error(plugins, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides={"plugins": plugins})


@pytest.mark.parametrize("name, message", [
    ("trajectories", "built-in"),
    ("ingest", "built-in"),
    ("my/stage", "lower-case letters"),
    ("Upper", "lower-case letters"),
])
def test_plugin_names_that_would_clash_are_refused(monkeypatch, name, message):
    monkeypatch.setattr(registry, "installed_plugins", lambda: {name: None})
    with pytest.raises(ConfigError, match=message):
        registry.check_plugins(load_config(overrides={"plugins": {name: {"enabled": True}}}))


def test_unknown_plugin_names_the_installed_ones(monkeypatch):
    monkeypatch.setattr(registry, "installed_plugins", lambda: {"installed_one": None})
    with pytest.raises(ConfigError, match=r"plugins\.missing.*installed: installed_one"):
        registry.check_plugins(load_config(overrides={"plugins": {"missing": {"enabled": True}}}))


# --- the shared verdict path: stage_error isolation ------------------------------------------------
class _Fragile(StageCore):
    """Raises on any record whose text contains "boom", quoting the text (as real errors may)."""

    name = "fragile"

    def process(self, record):
        if "boom" in record["text"]:
            raise ValueError(f"cannot handle {record['text']!r}")
        return drop("short") if len(record["text"]) < 4 else keep()


class _BatchFails(_Fragile):
    calls = 0

    def process_batch(self, records):
        type(self).calls += 1
        raise MemoryError("the vectorised path failed")


def test_a_core_raising_on_one_record_quarantines_only_that_record():
    records = [_record(0, "fine text"), _record(1, "boom alice@example.com"), _record(2, "ok")]
    kept, rows = run_core_on_batch(_Fragile(None), records, "run-1")
    assert [r["doc_id"] for r in kept] == ["d0"]
    by_doc = {row["doc_id"]: row for row in rows}
    assert by_doc["d1"]["action"] == "quarantine" and by_doc["d1"]["reason"] == "stage_error"
    assert by_doc["d1"]["stage"] == "fragile"
    assert "alice@example.com" not in repr(by_doc["d1"])  # only the exception type is kept
    assert "ValueError" in repr(by_doc["d1"])
    assert by_doc["d2"]["action"] == "drop" and by_doc["d2"]["reason"] == "short"


class _Busy(StageCore):
    """Spends CPU on each record (about 20 ms), so its stage-core CPU is well above zero."""

    name = "busy"

    def process(self, record):
        started = time.thread_time()
        while time.thread_time() - started < 0.02:
            pass
        return keep()


def test_stage_core_cpu_is_kept_per_process_when_asked(tmp_path, monkeypatch):
    from pipeline import verdicts

    monkeypatch.setattr(verdicts, "_stage_cpu", {})
    records = [_record(i, "text") for i in range(5)]
    run_core_on_batch(_Busy(None), records, "run-1")  # not asked: nothing written
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(verdicts.STAGE_CPU_ENV, str(tmp_path))
    run_core_on_batch(_Busy(None), records, "run-1")
    run_core_on_batch(_Fragile(None), [_record(0, "fine text"), _record(1, "boom")], "run-1")
    run_core_on_batch(_Busy(None), records[:2], "run-1")
    (path,) = tmp_path.iterdir()
    assert path.name == f"stage-cpu-{os.getpid()}.json"
    got = json.loads(path.read_text(encoding="utf-8"))
    assert set(got) == {"busy", "fragile"}
    assert got["busy"]["records"] == 7 and got["fragile"]["records"] == 2
    assert 0.12 <= got["busy"]["cpu_s"] < 2.0  # seven records of 20 ms each


def test_a_failing_batch_call_falls_back_to_one_record_at_a_time():
    records = [_record(0, "fine text"), _record(1, "boom"), _record(2, "more fine text")]
    kept, rows = run_core_on_batch(_BatchFails(None), records, "run-1")
    assert _BatchFails.calls == 1
    assert [r["doc_id"] for r in kept] == ["d0", "d2"]
    assert [(row["doc_id"], row["reason"]) for row in rows] == [("d1", "stage_error")]


class _Malformed(StageCore):
    """A careless plugin: returns a string, a bad action, or a verdict count that does not match."""

    name = "careless"

    def process(self, record):
        return {"a": "keep", "b": Verdict("delete"), "c": drop("fine")}[record["text"]]

    def process_batch(self, records):
        return [keep()]  # one verdict for a batch of three


def test_malformed_verdicts_quarantine_their_records_not_the_run():
    records = [_record(0, "a"), _record(1, "b"), _record(2, "c")]
    kept, rows = run_core_on_batch(_Malformed(None), records, "run-1")
    assert kept == []
    assert [(row["doc_id"], row["action"], row["reason"]) for row in rows] == [
        ("d0", "quarantine", "stage_error"), ("d1", "quarantine", "stage_error"), ("d2", "drop", "fine")]
    assert "InvalidVerdict" in repr(rows[0])


# --- Beam metrics ------------------------------------------------------------------------------------
class _Sorter(StageCore):
    name = "sorter"

    def process(self, record):
        if record["text"].startswith("q"):
            return quarantine("odd")
        return drop("short") if len(record["text"]) < 4 else keep()


class _SorterFailingOnBoom(_Sorter):
    def process(self, record):
        if record["text"] == "boom":
            raise RuntimeError("boom")
        return super().process(record)


def test_stage_dofn_counts_every_stage_action_reason_in_beam_metrics():
    texts = ["long enough", "abc", "qqqq", "another long one", "xy", "quiet", "boom"]
    batches = [[_record(i, t) for i, t in enumerate(texts[:4])], [_record(i, t) for i, t in enumerate(texts[4:], 4)]]
    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = pipeline | beam.Create(batches, reshuffle=False) | beam.ParDo(StageDoFn(functools.partial(_SorterFailingOnBoom, None), "run-1")).with_outputs("decisions", main="kept")
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    got = {c.key.metric.name: c.committed for c in counters}
    assert got == {"sorter/keep/kept": 2, "sorter/drop/short": 2, "sorter/quarantine/odd": 2, "sorter/quarantine/stage_error": 1}


# --- a new built-in stage is one module ------------------------------------------------------------
TOY_STAGE_MODULE = '''
from dataclasses import dataclass

from pipeline.stages.base import StageCore, drop, keep
from pipeline.stages.registry import register_stage
from pipeline.verdicts import RecordStage


@dataclass
class ShoutConfig:
    enabled: bool = True
    max_upper_share: float = 0.5


class ShoutFilter(StageCore):
    name = "shout"

    def process(self, record):
        letters = [c for c in record["text"] if c.isalpha()]
        share = sum(c.isupper() for c in letters) / max(len(letters), 1)
        if share > self.config.shout.max_upper_share:
            return drop("shouting", {"share": round(share, 2)})
        return keep()


@register_stage(name="shout", order=35, config_class=ShoutConfig, reasons=["shouting"])
class ShoutStage(RecordStage):
    core_class = ShoutFilter
'''
SHOUT_TEXTS = {
    "calm": "The ferry leaves the harbour at seven every weekday morning.",
    "loud": "EVERYONE MUST READ THIS RIGHT NOW, it is urgent.",
    "mixed": "NASA and ESA share data; the rest of this sentence is ordinary prose.",
}


@pytest.fixture
def toy_stage(tmp_path, monkeypatch):
    """The module above, written to a temporary folder and imported: its decorator is the only
    declaration of the stage and of its `shout:` config section."""
    import importlib
    import sys

    registry.stages()  # the built-ins first, so the copy below holds them
    monkeypatch.setattr(registry, "_STAGES", dict(registry._STAGES))
    (tmp_path / "toy_shout_stage.py").write_text(TOY_STAGE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("toy_shout_stage")
    yield module
    sys.modules.pop("toy_shout_stage", None)


def test_a_stage_module_alone_declares_its_config_section(toy_stage, tmp_path, capsys):
    from pipeline.cli import main

    cfg = load_config()
    assert cfg.shout == toy_stage.ShoutConfig() and cfg.to_dict()["shout"] == {"enabled": True, "max_upper_share": 0.5}
    assert list(cfg.to_dict()).index("quality") < list(cfg.to_dict()).index("shout") < list(cfg.to_dict()).index("pii")
    path = tmp_path / "shout.yaml"
    path.write_text("shout: {max_upper_share: 0.9}\n", encoding="utf-8")
    assert load_config(path).shout.max_upper_share == 0.9 and load_config(path).shout.enabled
    path.write_text("shout: {max_upper: 0.9}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown config key 'shout\.max_upper'"):
        load_config(path)
    assert main(["run", "--input", str(tmp_path), "--output", str(tmp_path / "out"), "--config", str(path)]) == 2
    assert "shout.max_upper" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_stage_module_alone_places_the_stage_in_graph_summary_and_manifest(toy_stage, tmp_path):
    import json

    from pipeline.api import curate

    assert registry.stage_order() == ["ingest", "license", "langid", "quality", "shout", "pii", "dedup", "output"]
    assert graph.stage_switches(load_config(overrides={"shout": {"enabled": False}}))["shout"] == "off"
    corpus = tmp_path / "in" / "notes.jsonl"
    corpus.parent.mkdir()
    corpus.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in SHOUT_TEXTS.items()), encoding="utf-8")
    stages_off = {s: {"enabled": False} for s in ("license", "langid", "quality", "pii", "dedup")}
    result = curate([corpus], tmp_path / "out", config=stages_off)
    assert result.summary["stages"]["shout"] == "on"
    assert result.summary["dropped_by_reason"] == {"shout/shouting": 1}  # only "loud": 28 of its 38 letters are upper case
    assert result.manifest["config"]["shout"] == {"enabled": True, "max_upper_share": 0.5}
    assert list(result.manifest["stage_counts"]) == ["ingest", "shout", "output"]
    assert result.manifest["stage_counts"]["shout"] == {"in": 3, "out": 2, "dropped": {"shouting": 1}, "quarantined": {}}


def test_a_config_section_declared_by_two_stages_is_refused(monkeypatch):
    from dataclasses import dataclass

    registry.stages()
    monkeypatch.setattr(registry, "_STAGES", dict(registry._STAGES))

    @dataclass
    class AnotherQualityConfig:
        enabled: bool = True

    with pytest.raises(RuntimeError, match="'quality' is declared by stages 'quality' and 'quality_v2'"):
        registry.declare_stage("quality_v2", 31, config_section="quality", config_class=AnotherQualityConfig)

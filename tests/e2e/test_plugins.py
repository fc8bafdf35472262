"""Plugin stages end to end: the example package of tests/data/plugin_example is made installed (a
dist-info with its entry point, on sys.path and PYTHONPATH, so it also reaches subprocesses and
multi-processing workers) and real runs show its verdicts in decisions, summary and manifest.
Also the Python API (pipeline.api.curate) it is driven through."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline import audit
from pipeline.api import curate
from pipeline.config import ConfigError
from pipeline.io.manifest import verify

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "data" / "plugin_example"
STAGES_OFF = {s: {"enabled": False} for s in ("license", "langid", "quality", "pii", "dedup")}
TEXTS = [
    "The harbour office opens at nine and closes early on public holidays.",
    "Our gardening club swaps tomato seedlings every spring in the village hall.",
    "This paragraph mentions a forbidden word: Zorblax, twice — zorblax.",
    "Weather notes: light rain in the valley, snow above two thousand metres.",
    "Another zorblax sighting was reported near the old mill last Tuesday.",
    "The library extended its opening hours for the exam season.",
]
BANNED = {2, 4}  # indexes of TEXTS holding the banned word, counted by hand


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """The example plugin as an installed distribution, visible to this process and its children."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "curate_banned_words", site / "curate_banned_words")
    info = site / "curate_banned_words-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: curate-banned-words\nVersion: 0.1.0\n", encoding="utf-8")
    # The same entry point the example's pyproject.toml declares.
    project = _pyproject_entry_points()
    lines = ["[curation_pipeline.stages]", *(f"{k} = {v}" for k, v in project.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")]))
    return site


def _pyproject_entry_points() -> dict:
    import tomllib

    data = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    return data["project"]["entry-points"]["curation_pipeline.stages"]


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "notes.jsonl"
    path.write_text("".join(json.dumps({"id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    return path


def _decisions(out: Path) -> list[dict]:
    return [row for shard in sorted((out / "decisions").glob("*.parquet")) for row in pq.read_table(shard).to_pylist()]


def _plugin_config(**extra) -> dict:
    return {**STAGES_OFF, "plugins": {"banned_words": {"enabled": True, "words": ["zorblax"], **extra}}}


def test_plugin_drops_land_in_decisions_summary_and_manifest(plugin_path, tmp_path):
    corpus = _corpus(tmp_path / "in")
    out = tmp_path / "out"
    result = curate([corpus], out, config=_plugin_config())

    dropped = {row["source_id"]: row for row in _decisions(out) if row["action"] == "drop"}
    assert {f"n{i}" for i in BANNED} == set(dropped)
    assert {row["stage"] for row in dropped.values()} == {"banned_words"}
    assert {row["reason"] for row in dropped.values()} == {"banned_word"}
    assert result.summary["kept"] == len(TEXTS) - len(BANNED)
    assert result.summary["dropped_by_reason"] == {"banned_words/banned_word": len(BANNED)}
    assert result.summary["stages"]["banned_words"] == "on"
    counts = result.manifest["stage_counts"]
    assert counts["banned_words"] == {"in": len(TEXTS), "out": len(TEXTS) - len(BANNED),
                                      "dropped": {"banned_word": len(BANNED)}, "quarantined": {}}
    assert list(counts) == ["ingest", "banned_words", "output"]
    assert verify(str(out)) == []
    _cols, rows = audit.query(str(out), (REPO / "manifests" / "queries" / "stage_counts.sql").read_text())
    assert [r[0] for r in rows] == ["ingest", "banned_words", "output"]


def test_plugin_runs_after_the_builtin_stages_and_before_dedup(plugin_path, tmp_path):
    corpus = _corpus(tmp_path / "in")
    config = _plugin_config()
    config["pii"] = {"enabled": True}
    config["dedup"] = {"enabled": True}
    result = curate([corpus], tmp_path / "out", config=config)
    stages = result.summary["stages"]
    assert list(stages).index("pii") < list(stages).index("banned_words") < list(stages).index("dedup")
    counts = result.manifest["stage_counts"]
    assert list(counts).index("banned_words") < list(counts).index("output")
    assert counts["banned_words"]["in"] == len(TEXTS)
    assert counts["output"]["in"] == len(TEXTS) - len(BANNED)


def test_plugin_in_a_cli_run_with_multi_processing_workers(plugin_path, tmp_path):
    corpus = _corpus(tmp_path / "in")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_plugin_config()), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--input", str(corpus), "--output", str(out), "--config", str(config),
         "--quiet", "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(r["source_id"] for r in _decisions(out) if r["stage"] == "banned_words") == sorted(f"n{i}" for i in BANNED)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["summary"]["dropped_by_reason"] == {"banned_words/banned_word": len(BANNED)}


def test_unknown_plugin_exits_2_naming_it_and_the_installed_ones(plugin_path, tmp_path):
    corpus = _corpus(tmp_path / "in")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"plugins": {"no_such_stage": {"enabled": True}}}), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--input", str(corpus), "--output", str(tmp_path / "out"), "--config", str(config)],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )
    assert proc.returncode == 2
    assert "no_such_stage" in proc.stderr and "banned_words" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_plugin_may_not_take_a_builtin_name(tmp_path, monkeypatch):
    from pipeline.stages import registry

    monkeypatch.setattr(registry, "installed_plugins", lambda: {"dedup": None})
    with pytest.raises(ConfigError, match="built-in"):
        curate([_corpus(tmp_path / "in")], tmp_path / "out", config={"plugins": {"dedup": {"enabled": True}}})


def test_api_takes_a_yaml_path_and_refuses_a_non_empty_output(tmp_path):
    corpus = _corpus(tmp_path / "in")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(STAGES_OFF), encoding="utf-8")
    result = curate(corpus, tmp_path / "out", config=config)
    assert result.summary["kept"] == len(TEXTS)
    assert result.summary["stages"] == {s: "off" for s in ("license", "langid", "quality", "pii", "dedup", "trajectories")}
    from pipeline.io.outdir import OutputRefused

    with pytest.raises(OutputRefused):
        curate(corpus, tmp_path / "out", config=config)
    assert curate(corpus, tmp_path / "out", config=config, overwrite=True).summary["kept"] == len(TEXTS)

"""Relative file paths in the config are made absolute for runners whose workers run elsewhere."""
import os

from pipeline.config import load_config
from pipeline.run import WORKER_FILE_KEYS, with_absolute_file_paths


def _get(cfg, key):
    for name in key.split("."):
        cfg = getattr(cfg, name)
    return cfg


def test_relative_paths_become_absolute_against_the_launchers_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(overrides={
        "trajectories": {"seeds": ["seeds/a.jsonl", "/abs/b.jsonl"], "decontaminate": ["bench.txt"],
                         "teacher": {"path": "replay.jsonl"}},
        "dedup": {"against": ["old/signatures", "gs://bucket/sig/*.parquet"]},
        "quality": {"rules": "my-quality.yaml"},
    })
    out = with_absolute_file_paths(cfg)
    assert out.trajectories.seeds == [str(tmp_path / "seeds/a.jsonl"), "/abs/b.jsonl"]
    assert out.trajectories.decontaminate == [str(tmp_path / "bench.txt")]
    assert out.trajectories.teacher.path == str(tmp_path / "replay.jsonl")
    assert out.dedup.against == [str(tmp_path / "old/signatures"), "gs://bucket/sig/*.parquet"]
    assert out.quality.rules == str(tmp_path / "my-quality.yaml")
    # The launcher's own config is left as written (the manifest of a local run records it so).
    assert cfg.trajectories.seeds == ["seeds/a.jsonl", "/abs/b.jsonl"]
    for key in WORKER_FILE_KEYS:
        value = _get(out, key)
        for v in value if isinstance(value, list) else [value]:
            assert v in (None, "") or "://" in v or os.path.isabs(v), key

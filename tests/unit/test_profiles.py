"""Runner profiles through the real CLI: resolution, usage errors (exit 2), and a real run."""
from __future__ import annotations

import json

import pytest

from pipeline import profiles
from pipeline.cli import main
from pipeline.io.manifest import read_manifest


def test_every_shipped_profile_loads_and_names_its_runner():
    shipped = profiles.available()
    assert {"local-mp", "portable-embed", "dataflow", "dataflow-container", "spark", "flink", "portable", "dask"} <= set(shipped)
    for name in shipped:
        profile = profiles.load(name)
        assert profile["description"] and profile["options"]["runner"], name


def test_lists_repeat_flags_booleans_become_switches_and_defaults_apply(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("options:\n  runner: DataflowRunner\n  experiments: [a, b]\n  no_use_public_ips: true\n"
                    "  save_main_session: false\n  region: ${R:-eu}\n", encoding="utf-8")
    assert profiles.to_args(str(path), env={}) == ["--runner=DataflowRunner", "--experiments=a", "--experiments=b", "--no_use_public_ips", "--region=eu"]
    assert profiles.to_args(str(path), env={"R": "us"})[-1] == "--region=us"


@pytest.mark.parametrize("argv, message", [
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--profile", "dataflow"], "--project needs ${GCP_PROJECT}"),
])
def test_profile_usage_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.delenv("GCP_PROJECT", raising=False)
    code = main(["run", "--input", str(tmp_path), "--output", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_run_with_a_profile_uses_its_runner(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "a", "text": "A note on pruning apple trees in winter."}) + "\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("".join(f"{s}: {{enabled: false}}\n" for s in ("license", "langid", "quality", "pii", "dedup")), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", "--profile", "portable-embed", "--input", str(tmp_path / "in"), "--output", str(out), "--config", str(config), "--quiet"])
    assert code == 0, capsys.readouterr().err
    manifest = read_manifest(str(out))
    assert manifest["runner"] == "PortableRunner" and manifest["summary"]["kept"] == 1

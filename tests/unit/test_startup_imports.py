"""Commands that build no pipeline start without Apache Beam: each runs in a fresh interpreter and
reports whether ``apache_beam`` ended up in ``sys.modules``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs `curate ARGS` in-process and prints {"rc": exit code, "beam": apache_beam imported?}.
PROBE = """
import json, sys
from pipeline.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
print(json.dumps({"rc": rc, "beam": "apache_beam" in sys.modules}))
"""


def curate_in_fresh_interpreter(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def finished_release(tmp_path_factory):
    """A real run's OUT (written in a subprocess, so this module's interpreter state does not matter)."""
    out = tmp_path_factory.mktemp("release") / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "pipeline", "run", "--input", str(ROOT / "examples" / "corpus"),
                    "--output", str(out), "--quiet", "--config", str(stages_off_config(out.parent))],
                   check=True, env=env, timeout=600, cwd=ROOT, capture_output=True)
    return out


def stages_off_config(folder: Path) -> Path:
    path = folder / "fast.yaml"
    path.write_text("langid: {enabled: false}\npii: {enabled: false}\ndedup: {enabled: false}\n", encoding="utf-8")
    return path


def test_a_config_error_exits_2_without_importing_beam(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("langid:\n  no_such_key: 1\n", encoding="utf-8")
    got = curate_in_fresh_interpreter("run", "--input", str(ROOT / "examples" / "corpus"), "--output", str(tmp_path / "out"), "--config", str(bad))
    assert got == {"rc": 2, "beam": False}


def test_a_missing_config_file_exits_2_without_importing_beam(tmp_path):
    got = curate_in_fresh_interpreter("run", "--input", str(ROOT / "examples" / "corpus"), "--output", str(tmp_path / "out"), "--config", str(tmp_path / "absent.yaml"))
    assert got == {"rc": 2, "beam": False}


def test_version_does_not_import_beam():
    assert curate_in_fresh_interpreter("--version") == {"rc": 0, "beam": False}


def test_verify_of_a_real_release_passes_without_importing_beam(finished_release):
    assert curate_in_fresh_interpreter("verify", str(finished_release)) == {"rc": 0, "beam": False}


def test_verify_still_finds_a_changed_shard_without_beam(finished_release, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished_release, copy)
    shard = next((copy / "documents").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes() + b"x")
    (copy / "stray.txt").write_text("not listed", encoding="utf-8")
    assert curate_in_fresh_interpreter("verify", str(copy)) == {"rc": 1, "beam": False}


def test_audit_does_not_import_beam(finished_release):
    assert curate_in_fresh_interpreter("audit", str(finished_release), "--query", "drop_reasons") == {"rc": 0, "beam": False}


def test_the_config_and_every_stage_declaration_load_without_beam():
    code = ("import sys; from pipeline.config import load_config; from pipeline.stages import registry; "
            "cfg = load_config(); names = [s.name for s in registry.stages()]; "
            "print('apache_beam' in sys.modules, 'dedup' in names and 'langid' in names)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True).stdout.split()
    assert out == ["False", "True"]


def test_a_stage_transform_named_lazily_resolves_to_its_beam_class():
    import apache_beam as beam

    from pipeline.stages import registry

    for info in registry.record_stages() + [registry.get("dedup")]:
        assert issubclass(info.transform.resolve(), beam.PTransform), info.name
    from pipeline.stages.langid import LanguageStage  # the old import path still works
    from pipeline.stages.transforms import LanguageStage as moved

    assert LanguageStage is moved

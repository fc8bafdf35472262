"""Shared fixtures: a config builder and an in-process `curate run` over real files."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.config import load_config

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

ALL_STAGES_OFF = {
    "license": {"enabled": False},
    "langid": {"enabled": False},
    "quality": {"enabled": False},
    "pii": {"enabled": False},
    "dedup": {"enabled": False},
}


@pytest.fixture(autouse=True)
def _quiet_beam():
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    yield


@pytest.fixture
def make_config():
    """``make_config(overrides=None, stages_off=False)`` → a validated Config."""

    def _make(overrides: dict | None = None, stages_off: bool = False):
        data: dict = {}
        if stages_off:
            data.update({k: dict(v) for k, v in ALL_STAGES_OFF.items()})
        for key, value in (overrides or {}).items():
            if isinstance(value, dict):
                data[key] = {**data.get(key, {}), **value}
            else:
                data[key] = value
        return load_config(overrides=data)

    return _make


@pytest.fixture
def curate(tmp_path):
    """Run the pipeline in-process: ``curate(cfg, inputs, out=None, beam_args=())`` → RunResult."""
    from pipeline.run import run

    def _run(cfg, inputs, out=None, beam_args=(), overwrite=False):
        out = str(out or tmp_path / "out")
        return run(cfg, [str(i) for i in inputs], out, list(beam_args), overwrite=overwrite)

    return _run

"""spaCy's command-line modules are imported only when used (pipeline.pii.deferred_imports).

Each check runs in a fresh interpreter: the test process has imported spaCy already. Oracles:
``sys.modules`` (what was imported), the module files on disk, and the PII engine's output on a
fixed text, which must not depend on whether the CLI modules were imported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


_SCRUB = """
from pipeline.config import load_config
from pipeline.pii.engine import PiiEngine
engine = PiiEngine.from_config(load_config(None))
texts = ["Call 010-1234-5678 or +44 20 7946 0958, mail jane.doe@example.org.",
         "ssn 078051121 and card 4111 1111 1111 1111", "사업자등록번호 220-81-62517 입니다"]
scrubbed = [engine.scrub(t, lang) for t, lang in zip(texts, ["en", "en", "ko"])]
"""


def test_engine_works_without_importing_spacys_cli():
    got = _run("import sys, json\nimport pipeline.stages.pii\n" + _SCRUB + """
print(json.dumps({"scrubbed": scrubbed, "cli": [m for m in sys.modules if m.startswith("spacy.cli.") and m != "spacy.cli.info"],
                  "typer": "typer" in sys.modules, "weasel": "weasel" in sys.modules}))
""")
    assert got["cli"] == [] and not got["typer"] and not got["weasel"]
    # the same text scrubbed with spaCy imported as usual (its CLI modules loaded first)
    ref = _run("import sys, json\nimport spacy.cli\nimport pipeline.stages.pii\n" + _SCRUB + """
print(json.dumps({"scrubbed": scrubbed, "typer": "typer" in sys.modules}))
""")
    assert ref["typer"]  # the reference did import them
    assert got["scrubbed"] == ref["scrubbed"]
    assert [c for _, c in got["scrubbed"]] == [{"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 2},
                                                {"CREDIT_CARD": 1, "US_SSN": 1}, {"KR_BRN": 1}]


def test_spacys_cli_is_there_when_used():
    got = _run("""
import json, sys
import pipeline.pii, spacy
deferred = type(sys.modules["spacy.cli"]).__name__
import spacy.cli.download as download_module  # a submodule imports while the package is deferred
still = type(sys.modules["spacy.cli"]).__name__
from spacy.cli import setup_cli, download  # an attribute read imports the real package
import spacy.cli.info
print(json.dumps({"deferred": deferred, "still": still, "real": type(sys.modules["spacy.cli"]).__name__,
                  "attr_is_module": spacy.cli is sys.modules["spacy.cli"],
                  "file": sys.modules["spacy.cli"].__file__, "info_file": sys.modules["spacy.cli.info"].__file__,
                  "download_is_module_fn": download is download_module.download,
                  "info": callable(spacy.info) and isinstance(spacy.info(), dict), "cli": callable(setup_cli)}))
""")
    assert got["deferred"] == got["still"] == "_Deferred"
    assert got["real"] == "module" and got["attr_is_module"]
    assert Path(got["file"]).name == "__init__.py" and Path(got["file"]).parent.name == "cli"
    assert Path(got["info_file"]).name == "info.py"
    assert got["download_is_module_fn"] and got["info"] and got["cli"]


def test_nothing_is_deferred_when_spacy_came_first():
    got = _run("""
import json, sys
import spacy
from pipeline.pii.deferred_imports import defer_spacy_cli
print(json.dumps({"installed": defer_spacy_cli(), "kind": type(sys.modules["spacy.cli"]).__name__}))
""")
    assert got == {"installed": False, "kind": "module"}

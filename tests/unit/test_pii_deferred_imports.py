"""spaCy's command-line modules are imported only when used, and presidio's built-in patterns are
not compiled for validation while presidio imports (pipeline.pii.deferred_imports).

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


_UNTRUSTED = "import sys\nimport pipeline.pii\nsys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != '_TrustPresidioPatterns']\n"


def test_presidios_own_patterns_skip_validation_only_while_presidio_imports():
    got = _run("""
import json, sys
import pipeline.pii
import presidio_analyzer
from pipeline.pii import deferred_imports
skipped = deferred_imports.skipped_validations
try:
    presidio_analyzer.Pattern("unbalanced", "(ab", 0.5)
    raised = None
except ValueError as exc:
    raised = str(exc)
print(json.dumps({"skipped": skipped, "after": deferred_imports.skipped_validations, "raised": raised,
                  "finders": [type(f).__name__ for f in sys.meta_path]}))
""")
    assert got["skipped"] > 100  # presidio's recognizer modules build their patterns as they import
    assert got["after"] == got["skipped"]  # the Pattern built afterwards was validated ...
    assert got["raised"] and "Invalid regex" in got["raised"]  # ... and rejected, as presidio does
    assert "_TrustPresidioPatterns" not in got["finders"]


def test_every_pattern_presidio_builds_at_import_is_a_valid_regex():
    # What the skipped validation checked: each built-in pattern compiles (the `regex` module,
    # as presidio's Pattern uses). Patterns are collected as presidio's own Pattern builds them.
    got = _run(_UNTRUSTED + """
import json
import presidio_analyzer.pattern as pattern_module
seen = []
init = pattern_module.Pattern.__init__
def recording(self, name, regex, score):
    seen.append(regex)
    init(self, name, regex, score)
pattern_module.Pattern.__init__ = recording
import importlib, pkgutil
import presidio_analyzer.predefined_recognizers as pre
for info in pkgutil.walk_packages(pre.__path__, pre.__name__ + "."):
    module = importlib.import_module(info.name)
    for value in vars(module).values():
        if isinstance(value, type):
            for p in getattr(value, "PATTERNS", None) or ():
                seen.append(p.regex)
import regex
bad = []
for r in set(seen):
    try:
        regex.compile(r)
    except regex.error as exc:
        bad.append((r[:80], str(exc)))
print(json.dumps({"count": len(set(seen)), "bad": bad}))
""")
    assert got["count"] > 100 and got["bad"] == []


def test_engine_output_is_the_same_with_presidios_patterns_validated():
    trusted = _run("import json\nimport pipeline.stages.pii\n" + _SCRUB + "print(json.dumps(scrubbed))")
    validated = _run(_UNTRUSTED + "import json\nimport pipeline.stages.pii\n" + _SCRUB + """
from pipeline.pii import deferred_imports
assert deferred_imports.skipped_validations == 0
print(json.dumps(scrubbed))
""")
    assert trusted == validated
    assert [c for _, c in trusted] == [{"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 2}, {"CREDIT_CARD": 1, "US_SSN": 1}, {"KR_BRN": 1}]

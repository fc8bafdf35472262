"""The license stage's first test, "does the text hold any signal keyword": one Aho-Corasick pass
over all keywords (pipeline.compliance.literals.LiteralScan) must accept exactly the texts in which
some keyword of rules/licenses.yaml and rules/copyright.yaml occurs (oracle: a plain ``in`` per
keyword, all of them, on the lower-cased text)."""
from __future__ import annotations

import json
from pathlib import Path

from license_support import REPO, core  # noqa: F401 - core is a fixture

LANGID = REPO / "tests" / "data" / "langid" / "paragraphs.jsonl"
LICENSE_CASES = REPO / "tests" / "data" / "license"


def _oracle(core, low: str) -> bool:  # noqa: F811
    return any(k in low for k in core.keywords)


def _texts(core) -> list[str]:  # noqa: F811
    texts = [json.loads(line)["text"] for line in LANGID.read_text(encoding="utf-8").splitlines()]
    for f in sorted(LICENSE_CASES.glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines()]
    hosts = ["plain ascii words around ", "texte français autour ", "日本語の文章の中に", "한국어 문장 안에 ", "русский текст "]
    for k in core.keywords:  # every keyword alone, in ASCII and in other scripts, at the start, middle, end
        for h in hosts:
            texts += [k + h, h + k + h, h + k, k.upper() + h, h + k[:-1]]
    texts += ["", "x", "©", "ⓒ", "(c) 2020", "a" * 10000 + "許可證", "é" * 10000, "licen", "lice n", "gp l"]
    return texts


def test_signal_test_accepts_exactly_the_texts_holding_a_keyword(core):  # noqa: F811
    texts = _texts(core)
    got = [core.has_signal(t.lower()) for t in texts]
    want = [_oracle(core, t.lower()) for t in texts]
    assert got == want
    assert 0 < sum(want) < len(want)  # both answers occur
    assert any(w and not t.isascii() and not any(k in t.lower() for k in core.keywords if k.isascii())
               for t, w in zip(texts, want))  # some texts are accepted by a non-ASCII keyword alone

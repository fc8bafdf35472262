"""Rebuild labelled.jsonl: real English/Korean paragraphs with planted PII and decoys.

    .venv/bin/python tests/data/pii/build_labelled.py

Paragraphs come from Debian documentation on the build machine (see benchmarks/pii_corpus.py);
the output is committed so the tests do not depend on those packages. Each line: ``lang``,
``text``, ``pii`` ([{type, start, end}]) and ``decoys`` ([{kind, start, end}]).
"""
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "benchmarks"))

import pii_corpus as pc  # noqa: E402


def main() -> None:
    rng = random.Random(20240601)
    paras = {lang: pc.paragraphs(lang, 400) for lang in ("en", "ko")}
    with open(HERE / "labelled.jsonl", "w", encoding="utf-8") as fh:
        for i in range(240):
            lang = "en" if i % 2 else "ko"
            doc = pc.planted_doc(rng, lang, paras[lang], n_plants=rng.randint(1, 3), n_decoys=rng.randint(1, 3))
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

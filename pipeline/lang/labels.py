"""fasttext labels → stable language codes, driven by ``rules/langid_labels.yaml``.

``__label__en`` (lid.176) → ``en``; ``__label__eng_Latn`` (GlotLID) → ``en``; ``__label__kor_Hang`` →
``ko``; ``__label__zho_Hans`` / ``__label__cmn_Hani`` → ``zh``; ``__label__ceb`` → ``ceb``. The same
normaliser is applied to the codes a user writes in ``langid.allowed`` / ``langid.min_scores``, so
``kor``, ``ko`` and ``KO`` all mean Korean.
"""
from __future__ import annotations

from pathlib import Path

from pipeline import ruleyaml

PREFIX = "__label__"
UNDETERMINED = "und"


class LabelNormalizer:
    def __init__(self, table: dict) -> None:
        self._to1 = {str(k).lower(): str(v).lower() for k, v in (table.get("iso639_3_to_1") or {}).items()}
        self._macro = {str(k).lower(): str(v).lower() for k, v in (table.get("individual_to_macro") or {}).items()}
        self._alias = {str(k).lower(): str(v).lower() for k, v in (table.get("aliases") or {}).items()}
        self._cache: dict[str, str] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> "LabelNormalizer":
        with open(path, encoding="utf-8") as fh:
            return cls(ruleyaml.safe_load(fh) or {})

    def __call__(self, label: str) -> str:
        hit = self._cache.get(label)
        if hit is None:
            hit = self._cache[label] = self._normalise(label)
        return hit

    def _normalise(self, label: str) -> str:
        code = label[len(PREFIX):] if label.startswith(PREFIX) else label
        code = code.strip().lower().replace(" ", "")
        if not code:
            return UNDETERMINED
        if code in self._alias:
            return self._alias[code]
        has_script = False
        if "_" in code:  # GlotLID / NLLB style: <iso639-3>_<Script>
            code, _, _script = code.partition("_")
            has_script = True
        elif "-" in code:  # BCP 47 style written by a user: zh-Hans, pt-BR
            code = code.partition("-")[0]
        code = self._alias.get(code, code)
        if has_script and code in self._macro:
            code = self._macro[code]
        return self._to1.get(code, code)

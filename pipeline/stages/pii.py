"""Stage `pii`: replace personal data in every field of a record before anything is shuffled or written.

What it decides: nothing is dropped here. Every record is kept with ``text`` scrubbed in place —
only the detected spans are replaced, by typed placeholders (``<EMAIL_ADDRESS>``,
``<PHONE_NUMBER>``, ``<KR_RRN>`` …) or, with ``pii.operator: pseudonym``, by keyed pseudonyms
(``<EMAIL_ADDRESS:3f2a9c1d>``, HMAC-SHA256 with the secret from ``pii.secret_env``; the same value
gives the same token). ``pii_counts`` gets the number of replacements per entity type, and the keep
verdict carries the same counts as detail. Raw values never reach decisions, logs or errors.

The other fields a record carries are personal-data channels too (docs/pii.md, "Channels"):

* ``copyright`` notices are pieces of the text: each is analysed with the words around it in the
  text (same engine, language, context words and pseudonyms as the text), and a replacement that
  touches the notice is taken whole, also when the notice cut a value in half (``…, jane@example``
  of ``jane@example.org``);
* ``source_id`` and ``url`` are scrubbed by the same engine: a URL piece by piece (user info, path
  segments, query names and values, fragment; percent-decoded first), so scheme, host, path and
  parameter names stay and only the personal values become the operator's replacement;
* string values inside stage notes (the final ``keep`` decision's detail) are scrubbed;
* the raw HTTP headers, HTML meta tags, JSONL ``meta``, ``source`` and declared ``license`` were read
  by the license stage (opt-out, policy) and nothing after it reads them: they are emptied here, so
  they never reach the dedup stage's held batches or a shuffle.

Decisions rows written before this stage (ingest, license, langid, quality drops) never pass
through it: :class:`ScrubDecisionFields` scrubs their ``source_id`` and detail strings the same way
(wired in :mod:`pipeline.graph` right where those rows are made).

Why this way: detection is presidio (analyzer + anonymizer) configured by ``rules/pii/`` in
presidio's own YAML, so a reviewer adds a recognizer without code; validation that needs code
(checksums for cards, IBANs, Korean RRN/FRN/BRN, offline e-mail domains) lives in
:mod:`pipeline.pii.recognizers`. The record's language (set by langid) picks the context words;
languages without their own pipeline use the fallback set, and so do ids, URLs and notes. The
engine is built once per worker and analyses a batch at a time, sending presidio only the windows
the combined prefilter selects (:mod:`pipeline.pii.prefilter`), with findings identical to presidio
on the whole text.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal
from urllib.parse import quote, unquote, unquote_plus

from pipeline.config import ConfigError, unit_interval
from pipeline.records import K_DECLARED_LICENSE, K_HTML_META, K_HTTP_HEADERS, K_META, K_NOTES, K_SOURCE
from pipeline.stages.base import StageCore, Verdict, keep
from pipeline.stages.registry import beam_half, declare_stage

# Internal fields only the license stage reads (opt-out signals, per-source policy), and the
# empty value each is given here.
READ_BEFORE_PII = {K_HTTP_HEADERS: {}, K_HTML_META: {}, K_META: None, K_SOURCE: None, K_DECLARED_LICENSE: None}

# A URL: "scheme://…", or one of the schemes without an authority that carry a person's address.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://|(?i:mailto|tel|sms|callto|xmpp|sip):")
_WS = re.compile(r"\s+")
# Characters a replaced URL piece keeps literally: placeholders and pseudonyms stay readable.
_URL_SAFE = "<>:@!$'()*,;=-._~"


# --- identifiers and URLs -------------------------------------------------------------------
USERINFO = "URL_USERINFO"  # the count name of a removed ``user:password@``
URL_PARAMETERS_FILE = "pii/url_parameters.yaml"
_PATH, _QUERY = "path", "query"
_NAME_NOISE = re.compile(r"[\s_.\-\[\]]+")


def url_pieces(value: str) -> list[tuple[int, int, str, str | None]] | None:
    """The pieces of a URL that can hold personal data, as ``(start, end, kind, parameter)``: the
    user info (kind ``URL_USERINFO``, its ``@`` included), each path segment (``path``), each query
    name and value and the fragment's parts (``query``: ``+`` is a space; a value carries its
    parameter's name). Scheme, host and port are not pieces. ``None`` when ``value`` is not a URL
    (no ``scheme:``)."""
    m = _SCHEME.match(value)
    if m is None:
        return None
    pieces: list[tuple[int, int, str, str | None]] = []
    n = len(value)
    pos = m.end()
    if value.endswith("//", 0, pos):  # an authority: [user info@]host[:port]
        auth_end = min((i for i in (value.find(c, pos) for c in "/?#") if i >= 0), default=n)
        at = value.rfind("@", pos, auth_end)
        if at >= 0:
            pieces.append((pos, at + 1, USERINFO, None))
        pos = auth_end
    path_end = min((i for i in (value.find(c, pos) for c in "?#") if i >= 0), default=n)
    pieces += _split(value, pos, path_end, "/", _PATH)
    if path_end < n and value[path_end] == "?":
        frag = value.find("#", path_end)
        query_end = n if frag < 0 else frag
        pieces += _query(value, path_end + 1, query_end)
        path_end = query_end
    if path_end < n and value[path_end] == "#":  # a fragment: "a=1&b=2", "/route?a=1" or "section"
        start = path_end + 1
        ask = value.find("?", start)
        if ask >= 0:
            pieces += _split(value, start, ask, "/", _PATH) + _query(value, ask + 1, n)
        elif "=" in value[start:]:
            pieces += _query(value, start, n)
        else:
            pieces += _split(value, start, n, "/", _PATH)
    return pieces


def _split(value: str, start: int, end: int, sep: str, kind: str) -> list[tuple[int, int, str, None]]:
    out = []
    for part in value[start:end].split(sep):
        if part:
            out.append((start, start + len(part), kind, None))
        start += len(part) + 1
    return out


def _query(value: str, start: int, end: int) -> list[tuple[int, int, str, str | None]]:
    out = []
    for a, b, _, _ in _split(value, start, end, "&", _QUERY):
        eq = value.find("=", a, b)
        if eq < 0:
            out.append((a, b, _QUERY, None))
        else:
            if eq > a:
                out.append((a, eq, _QUERY, None))
            if b > eq + 1:
                out.append((eq + 1, b, _QUERY, value[a:eq]))
    return out


def parameter_key(name: str) -> str:
    """``User_Name``, ``user-name``, ``user[name]`` → ``username``."""
    return _NAME_NOISE.sub("", unquote_plus(name)).lower()


def load_url_parameters(config) -> dict[str, str]:
    """``rules/pii/url_parameters.yaml`` → {parameter key: entity}."""
    import yaml

    path = config.rule_file(URL_PARAMETERS_FILE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise ConfigError(f"rules file {path}: invalid YAML") from None
    entities = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(entities, dict):
        raise ConfigError(f"rules file {path}: 'parameters' must map an entity name to a list of parameter names")
    out: dict[str, str] = {}
    for entity, names in entities.items():
        if not isinstance(names, list) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(entity)):
            raise ConfigError(f"rules file {path}: entity {entity!r} needs an UPPER_CASE name and a list of parameter names")
        for name in names:
            out[parameter_key(str(name))] = str(entity)
    return out


class FieldScrubber:
    """Scrubs identifier-like values (``source_id``, ``url``, strings in decision details) with a
    :class:`~pipeline.pii.engine.PiiEngine`, many values per engine call."""

    def __init__(self, engine) -> None:
        from pipeline.pii.engine import pseudonym_key

        self.engine = engine
        self.parameters = load_url_parameters(engine.config)
        self._key = pseudonym_key(engine.config)

    def _whole(self, entity: str, value: str) -> str:
        """The operator's replacement of a whole parameter value: ``<ENTITY>``, or with
        ``pii.operator: pseudonym`` the keyed token the engine gives (``<ENTITY:hmac8>``)."""
        if self._key is None:
            return f"<{entity}>"
        from pipeline.pii.engine import pseudonym_token

        return pseudonym_token(self._key, entity, value)

    def scrub_values(self, values: list) -> list[tuple[object, dict[str, int]]]:
        """``(value, counts)`` per value: a URL piece by piece (percent-decoded; a replaced piece is
        re-encoded around the replacement; user info is removed: it names an account, and may hold
        a password; the value of a parameter named in ``rules/pii/url_parameters.yaml`` is replaced
        whole), any other string whole; non-strings unchanged."""
        plans: list[tuple[str, list] | None] = []
        texts: list[str] = []
        for value in values:
            if not isinstance(value, str) or not value:
                plans.append(None)
                continue
            pieces = url_pieces(value)
            if pieces is None:
                plans.append((value, [(0, len(value), False, len(texts))]))
                texts.append(value)
                continue
            plan = []
            for a, b, kind, parameter in pieces:
                if kind == USERINFO:
                    plan.append((a, b, False, ("", {USERINFO: 1})))
                    continue
                raw = value[a:b]
                decoded = unquote_plus(raw) if kind == _QUERY else unquote(raw)
                entity = self.parameters.get(parameter_key(parameter)) if parameter else None
                if entity is not None:
                    plan.append((a, b, decoded != raw, (self._whole(entity, decoded), {entity: 1})))
                    continue
                plan.append((a, b, decoded != raw, len(texts)))
                texts.append(decoded)
            plans.append((value, plan))
        scrubbed = self.engine.scrub_batch(texts, [None] * len(texts)) if texts else []
        out: list[tuple[object, dict[str, int]]] = []
        for value, plan in zip(values, plans):
            if plan is None:
                out.append((value, {}))
                continue
            original, spans = plan
            counts: dict[str, int] = {}
            parts, last = [], 0
            for a, b, encoded, result in spans:
                text, found = scrubbed[result] if isinstance(result, int) else result
                if not found:
                    continue
                for entity, n in found.items():
                    counts[entity] = counts.get(entity, 0) + n
                parts += [original[last:a], quote(text, safe=_URL_SAFE) if encoded else text]
                last = b
            if not counts:
                out.append((original, {}))
                continue
            parts.append(original[last:])
            out.append(("".join(parts), dict(sorted(counts.items()))))
        return out

    def scrub_detail(self, detail):
        """A JSON-able detail with every string value (not key) scrubbed; ``(detail, changed)``."""
        leaves: list[str] = []
        _collect(detail, leaves)
        if not leaves:
            return detail, False
        done = self.scrub_values(leaves)
        if not any(c for _, c in done):
            return detail, False
        it = iter(v for v, _ in done)
        return _rebuild(detail, it), True


def _collect(value, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, out)


def _rebuild(value, it):
    if isinstance(value, str):
        return next(it)
    if isinstance(value, dict):
        return {k: _rebuild(v, it) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rebuild(v, it) for v in value]
    return value


# --- copyright notices ----------------------------------------------------------------------
NOTICE_MARGIN = 100  # characters of text on each side analysed with a notice: its context words
_SPACE = re.compile(r"\s")
_WORDS = re.compile(r"\s+|\S+")


def notice_window(text: str, notice: str) -> tuple[int, int, int, int] | None:
    """``(window start, window end, notice start, notice end)`` in ``text``: the notice (found
    again, whitespace as the extractor collapsed it) with about ``NOTICE_MARGIN`` characters on each
    side, cut at whitespace, and never ending inside a word — so a value the extractor cut
    (``jane@example`` of ``jane@example.org``) is whole in it. ``None`` when the notice is not there."""
    at = text.find(notice)
    if at >= 0:
        s, e = at, at + len(notice)
    else:
        words = notice.split()
        m = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
        if m is None:
            return None
        s, e = m.span()
    ws = max(0, s - NOTICE_MARGIN)
    if ws > 0:
        m = _SPACE.search(text, ws, s)
        ws = m.end() if m else s
    m = _SPACE.search(text, e, e + NOTICE_MARGIN)  # the end of the word the notice ends in
    word_end = m.start() if m else min(len(text), e + NOTICE_MARGIN)
    we = min(len(text), word_end + NOTICE_MARGIN)
    if we < len(text):
        cut = max(text.rfind(" ", word_end, we), text.rfind("\n", word_end, we))
        we = cut if cut >= word_end else word_end
    return ws, we, s, e


def notice_from_scrubbed(window: str, scrubbed: str, s: int, e: int) -> str:
    """The notice at ``[s, e)`` of ``window`` as ``scrubbed`` (the window scrubbed) has it.

    The two are aligned word by word (whitespace runs and the words between them), so a
    replacement — a placeholder or a pseudonym's hex digits — never lines up with pieces of the
    value it replaced; every changed word that touches the notice is taken whole. Built only from
    pieces of ``scrubbed``."""
    if window == scrubbed:
        return _WS.sub(" ", window[s:e]).strip()
    words, new_words = _WORDS.findall(window), _WORDS.findall(scrubbed)
    at, new_at = _offsets(words), _offsets(new_words)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, words, new_words, autojunk=False).get_opcodes():
        lo, hi = at[i1], at[i2]
        if tag == "equal":
            a, b = max(lo, s), min(hi, e)
            if a < b:
                out.append(scrubbed[new_at[j1] + a - lo : new_at[j1] + b - lo])
        elif (lo < e and hi > s) if lo < hi else s < lo < e:
            out.append(scrubbed[new_at[j1] : new_at[j2]])
    return _WS.sub(" ", "".join(out)).strip().rstrip(",;")


def _offsets(words: list[str]) -> list[int]:
    out = [0]
    for w in words:
        out.append(out[-1] + len(w))
    return out


# --- the stage ------------------------------------------------------------------------------
class PiiScrubber(StageCore):
    name = "pii"
    version = "2"

    def __init__(self, config) -> None:
        super().__init__(config)
        self._engine = None
        self._fields: FieldScrubber | None = None

    def setup(self) -> None:
        from pipeline.pii.engine import PiiEngine

        self._engine = PiiEngine.from_config(self.config)
        self._fields = FieldScrubber(self._engine)

    def process(self, record: dict) -> Verdict:
        return self.process_batch([record])[0]

    def process_batch(self, records: list[dict]) -> list[Verdict]:
        if self._engine is None:
            self.setup()
        # Everything is computed before any record is changed: a failure leaves the batch as it was.
        idx = [i for i, r in enumerate(records) if isinstance(r.get("text"), str) and r["text"]]
        scrubbed = self._engine.scrub_batch([records[i]["text"] for i in idx], [records[i].get("lang") for i in idx])
        texts: dict[int, tuple[str, dict]] = dict(zip(idx, scrubbed))
        notices = self._notices(records, texts)
        ids = self._fields.scrub_values([r.get("source_id") for r in records])
        urls = self._fields.scrub_values([r.get("url") for r in records])
        notes = [self._fields.scrub_detail(r.get(K_NOTES) or {}) for r in records]

        verdicts = []
        for i, record in enumerate(records):
            text, counts = texts.get(i, (record.get("text"), {}))
            record["text"] = text
            record["pii_counts"] = counts
            fields = {}
            for name, (value, found) in (("source_id", ids[i]), ("url", urls[i])):
                record[name] = value
                if found:
                    fields[name] = found
            if i in notices:
                record["copyright"] = notices[i]
            if notes[i][1]:
                record[K_NOTES] = notes[i][0]
            for key, empty in READ_BEFORE_PII.items():
                if record.get(key):
                    record[key] = dict(empty) if isinstance(empty, dict) else empty
            detail = {}
            if counts:
                detail["pii_counts"] = counts
            if fields:
                detail["fields"] = fields
            verdicts.append(keep(detail=detail) if detail else keep())
        return verdicts

    def _notices(self, records: list[dict], texts: dict[int, tuple[str, dict]]) -> dict[int, list[str]]:
        """Each record's notices with the same engine's replacements: each notice is analysed with
        the words around it in the text (its window), in one engine call for the batch. A record
        whose text had no findings keeps its notices; a notice not found in the text is analysed
        on its own."""
        out: dict[int, list[str]] = {}
        jobs: list[tuple[int, int, int, int]] = []  # (record, notice position, start, end) in the analysed string
        strings: list[str] = []
        langs: list[str | None] = []
        for i, record in enumerate(records):
            notices = list(record.get("copyright") or ())
            if not notices or not texts.get(i, (None, {}))[1]:
                continue
            out[i] = notices
            text = record["text"]
            for k, notice in enumerate(notices):
                at = notice_window(text, notice)
                ws, we, s, e = at if at is not None else (0, 0, 0, len(notice))
                jobs.append((i, k, s - ws, e - ws))
                strings.append(text[ws:we] if at is not None else notice)
                langs.append(record.get("lang"))
        for (i, k, s, e), window, (scrubbed, _) in zip(jobs, strings, self._engine.scrub_batch(strings, langs)):
            out[i][k] = notice_from_scrubbed(window, scrubbed, s, e)
        return {i: list(dict.fromkeys(n for n in notices if n)) for i, notices in out.items()}


@dataclass
class PiiConfig:
    enabled: bool = True
    operator: Literal["placeholder", "pseudonym"] = "placeholder"
    secret_env: str = "CURATE_PII_SECRET"  # pseudonym HMAC key comes from this environment variable
    spacy_model: str | None = None  # an installed spaCy NER model turns PERSON/LOCATION on
    entities: list[str] | None = None  # restrict to these entity types; default: every recognizer
    score_threshold: float = 0.5
    languages: list[str] = field(default_factory=lambda: ["en", "ko", "ja", "zh"])

    RANGES: ClassVar[list[tuple]] = unit_interval("score_threshold")

    def invalid(self) -> tuple[str, str] | None:
        if self.entities is not None and not self.entities:
            return "entities", "must not be empty (set pii.enabled: false to turn PII scrubbing off)"
        if not self.languages:
            return "languages", "must list at least one language"
        if not self.secret_env:
            return "secret_env", "must name an environment variable"
        return None


declare_stage("pii", 40, config_section="pii", config_class=PiiConfig, reasons=[],  # scrubs and keeps: no drops of its own
              transform="pipeline.stages.transforms:PiiStage")


__getattr__ = beam_half(__name__, ("PiiStage", "ScrubDecisionFields",))  # the PTransform: pipeline.stages.transforms


def scrub_decision_row(fields: FieldScrubber, row: dict) -> dict:
    """One decisions row with ``source_id`` and every string in ``detail`` scrubbed; a value the
    engine fails on (or a detail that is not JSON) is written as null."""
    from pipeline.pii.engine import PiiError

    row = dict(row)
    try:
        row["source_id"] = fields.scrub_values([row.get("source_id")])[0][0]
    except PiiError:
        row["source_id"] = None
    if row.get("detail"):
        try:
            detail, changed = fields.scrub_detail(json.loads(row["detail"]))
            if changed:
                row["detail"] = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        except (PiiError, ValueError):
            row["detail"] = None
    return row


def scrub_decision_rows(fields: FieldScrubber, rows: list[dict]) -> list[dict]:
    """:func:`scrub_decision_row` of each row, with one engine call for all the ids and one for
    all the detail strings (an engine call costs far more than a short value in it). When the
    engine fails on the batch, the rows are scrubbed one by one, so a failure nulls only the
    field it happened in."""
    from pipeline.pii.engine import PiiError

    out = [dict(row) for row in rows]
    details: list = []  # per row: (parsed detail, its strings' end in ``leaves``), or None
    leaves: list[str] = []
    for row in out:
        detail = None
        if row.get("detail"):
            try:
                detail = json.loads(row["detail"])
            except ValueError:
                row["detail"] = None  # not JSON: written as null
        if detail is not None:
            _collect(detail, leaves)
        details.append(None if detail is None else (detail, len(leaves)))
    try:
        ids = fields.scrub_values([row.get("source_id") for row in out])
        done = fields.scrub_values(leaves) if leaves else []
    except PiiError:
        return [scrub_decision_row(fields, row) for row in rows]
    at = 0
    for row, (source_id, _), parsed in zip(out, ids, details):
        row["source_id"] = source_id
        if parsed is None:
            continue
        detail, end = parsed
        mine, at = done[at:end], end
        if any(found for _, found in mine):
            changed = _rebuild(detail, iter(value for value, _ in mine))
            row["detail"] = json.dumps(changed, ensure_ascii=False, sort_keys=True, default=str)
    return out


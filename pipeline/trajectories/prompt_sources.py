"""Where the trajectory stage's prompts come from: seeds and replay files, templates over kept
documents, and the join that keeps only items whose source documents were all kept.

Seeds and replay lines naming ``source_doc_ids`` are joined (CoGroupByKey) against the kept
documents, by ``doc_id`` or by the input's own ``id`` (``source_id``). An item whose sources are
not all kept is dropped (``source_dropped``) and never generated; the others get the resolved
doc_ids and inherit their licenses (several → ``A AND B``). Document prompts come from kept
documents by construction.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from pipeline.beam_outputs import StageOutputs
from pipeline.records import DROP
from pipeline.trajectories.rows import DECISIONS, candidate_row

SOURCE_DROPPED = "source_dropped"


def combine_licenses(licenses) -> str | None:
    found = sorted({lic for lic in licenses if lic})
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return " AND ".join(f"({x})" if " " in x else x for x in found)


class _ReadFileFn(beam.DoFn):
    """A seeds or replay file → items (main) and bad-line decisions."""

    def __init__(self, kind: str, run_id: str, max_line_bytes: int) -> None:
        self._kind = kind
        self._run_id = run_id
        self._max_line_bytes = max_line_bytes

    def process(self, path: str):
        if self._kind == "replay":
            from pipeline.trajectories.teachers.replay import BAD_REPLAY as bad, parse_replay as parser
        else:
            from pipeline.trajectories.seeds import BAD_SEED as bad, parse_seed as parser
        from pipeline.records import make_doc_id
        from pipeline.trajectories.seeds import LINE_TOO_LARGE, read_lines

        try:
            lines = list(read_lines(path, parser, self._max_line_bytes))
        except OSError as exc:
            raise RuntimeError(f"cannot read trajectories {self._kind} file {path}: {type(exc).__name__}") from None
        for index, item, error in lines:
            if item is None:
                pseudo = {"prompt_id": make_doc_id(path, index), "source_uri": path, "record_index": index}
                if error == LINE_TOO_LARGE:
                    reason, detail = LINE_TOO_LARGE, {"max_line_bytes": self._max_line_bytes}
                else:
                    reason, detail = bad, {"error": error}
                yield pvalue.TaggedOutput(DECISIONS, candidate_row(pseudo, run_id=self._run_id, action=DROP, reason=reason, detail=detail))
            else:
                item["_key"] = f"{path}\x00{index}"
                yield item


class ReadPromptFiles(beam.PTransform):
    """Pipeline start → ``.prompts`` from seeds or replay files (``kind``) and ``.decisions`` for
    their bad lines."""

    def __init__(self, kind: str, paths, run_id: str, max_line_bytes: int) -> None:
        super().__init__()
        self._kind = kind
        self._paths = list(paths)
        self._run_id = run_id
        self._max_line_bytes = max_line_bytes

    def expand(self, pbegin):
        out = (
            pbegin
            | "files" >> beam.Create(self._paths)
            | "read" >> beam.ParDo(_ReadFileFn(self._kind, self._run_id, self._max_line_bytes)).with_outputs(DECISIONS, main="items")
        )
        return StageOutputs(prompts=out.items, decisions=out[DECISIONS])


class _DocumentPromptsFn(beam.DoFn):
    def __init__(self, config) -> None:
        self._config = config

    def setup(self) -> None:
        from pipeline.trajectories.templates import DocumentTemplates, load_templates

        data = load_templates(self._config.rule_file("trajectories/templates.yaml"))
        self._templates = DocumentTemplates(data, self._config.trajectories.max_prompts_per_doc)

    def process(self, batch):
        for doc in batch:
            for item in self._templates.prompts(doc):
                item["_key"] = f"{item['source_uri']}\x00{item['record_index']}"
                yield item


class DocumentPrompts(beam.PTransform):
    """Kept-document batches → prompt items from ``rules/trajectories/templates.yaml``."""

    def __init__(self, config) -> None:
        super().__init__()
        self._config = config

    def expand(self, docs):
        return docs | "templates" >> beam.ParDo(_DocumentPromptsFn(self._config))


def _doc_keys(batch):
    """Kept documents as join keys: their doc_id and, when different, their input id."""
    for doc in batch:
        value = (doc["doc_id"], doc.get("license"))
        yield doc["doc_id"], value
        sid = doc.get("source_id")
        if sid is not None and str(sid) != doc["doc_id"]:
            yield str(sid), value


def _refs_to_items(element):
    ref, grouped = element
    docs = list(grouped["docs"])
    for key in grouped["refs"]:
        yield key, (ref, docs)


class _JoinSourcesFn(beam.DoFn):
    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, element):
        _key, grouped = element
        sources = list(grouped["src"])
        for item in grouped["item"]:
            missing = [ref for ref, docs in sources if not docs]
            wanted = set(item["source_doc_ids"])
            if missing or len({ref for ref, _ in sources}) < len(wanted):
                n_missing = len(wanted) - sum(1 for ref, docs in sources if docs)
                yield pvalue.TaggedOutput(
                    DECISIONS,
                    candidate_row(item, run_id=self._run_id, action=DROP, reason=SOURCE_DROPPED, detail={"sources": len(wanted), "not_kept": n_missing}),
                )
                continue
            doc_ids = sorted({d for _ref, docs in sources for d, _lic in docs})
            licenses = [lic for _ref, docs in sources for _d, lic in docs]
            item["source_doc_ids"] = doc_ids
            item["license"] = combine_licenses(licenses + ([item["license"]] if item.get("license") else []))
            yield item


class JoinSources(beam.PTransform):
    """``{"prompts": loaded items, "docs": kept-document batches}`` → ``.prompts`` (those without sources
    as they are, those with sources resolved) and ``.decisions`` (``source_dropped``)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self._run_id = run_id

    def expand(self, inputs):
        need, free = inputs["prompts"] | "has-sources" >> beam.Partition(lambda it, _n: 0 if it["source_doc_ids"] else 1, 2)
        kept = inputs["docs"] | "kept-keys" >> beam.FlatMap(_doc_keys)
        refs = need | "refs" >> beam.FlatMap(lambda it: [(ref, it["_key"]) for ref in sorted(set(it["source_doc_ids"]))])
        per_item = (
            {"refs": refs, "docs": kept}
            | "join-docs" >> beam.CoGroupByKey()
            | "refs-to-items" >> beam.FlatMap(_refs_to_items)
        )
        joined = (
            {"item": need | "key-items" >> beam.Map(lambda it: (it["_key"], it)), "src": per_item}
            | "join-items" >> beam.CoGroupByKey()
            | "resolve" >> beam.ParDo(_JoinSourcesFn(self._run_id)).with_outputs(DECISIONS, main="items")
        )
        items = (joined.items, free) | "items" >> beam.Flatten()
        return StageOutputs(prompts=items, decisions=joined[DECISIONS])

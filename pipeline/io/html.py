"""HTML → (main text, meta tags): the one extraction ingest and the compliance stage share.

Main text comes from trafilatura (a maintained boilerplate-removal library) in its fast mode: the
main extractor only, no readability/justext fallback, no comments, no metadata pass, nothing fetched
(``extract`` never touches the network; ``url`` is only a hint). The document is parsed once with
trafilatura's own ``load_html`` (which also guesses the encoding of bytes input); the meta tags are
read from that tree before extraction, so opt-out signals survive even when no text is extracted.

Meta tags: every ``<meta name=... content=...>`` and ``<meta http-equiv=... content=...>`` (and
``property=`` for Open Graph), keyed by the lower-cased name. Repeated names are joined with
``", "`` (so two ``robots`` tags read like one ``X-Robots-Tag`` header). ``robots``,
``tdm-reservation`` and ``tdm-policy`` are the ones the compliance stage reads; all are kept.
"""
from __future__ import annotations

import logging

_LOG = logging.getLogger("pipeline.ingest")

# trafilatura logs an ERROR for every page lxml cannot parse (empty bodies, binary junk); over a
# crawl that is noise, and the pipeline already records such pages (``empty`` drops). Quieten it
# unless the user configured that logger themselves.
if logging.getLogger("trafilatura").level == logging.NOTSET:
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_html_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def looks_like_html(body: bytes) -> bool:
    """Sniff a body without a Content-Type: a doctype or an <html> tag near the start."""
    head = body[:1024].lstrip().lower()
    return head.startswith(b"<!doctype html") or b"<html" in head


def _meta_from_tree(tree) -> dict[str, str]:
    meta: dict[str, str] = {}
    for el in tree.iter("meta"):
        name = el.get("name") or el.get("http-equiv") or el.get("property")
        content = el.get("content")
        if not name or content is None:
            continue
        key = name.strip().lower()
        value = content.strip()
        if key in meta and value and value != meta[key]:
            meta[key] = f"{meta[key]}, {value}"
        else:
            meta.setdefault(key, value)
    return meta


def html_meta(html: bytes | str) -> dict[str, str]:
    """Only the meta tags of a document (lower-cased name → content)."""
    from trafilatura.utils import load_html

    if not html or not html.strip():
        return {}
    tree = load_html(html)
    return {} if tree is None else _meta_from_tree(tree)


def extract(html: bytes | str, url: str | None = None) -> tuple[str, dict[str, str]]:
    """Main text and meta tags of an HTML document. Text is ``""`` when nothing was extracted.

    Raises only on a bug in the libraries; callers treat an exception as an unparseable record.
    """
    import trafilatura
    from trafilatura.utils import load_html

    if not html or not html.strip():
        return "", {}
    tree = load_html(html)
    if tree is None:
        return "", {}
    meta = _meta_from_tree(tree)
    text = trafilatura.extract(
        tree,
        url=url,
        fast=True,  # main extractor only: no readability/justext fallback pass
        favor_precision=False,
        favor_recall=False,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
        output_format="txt",
    )
    return (text or "").strip(), meta

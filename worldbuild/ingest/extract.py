"""HTML → page text with the extractor a world is built with, plus its language (`language.py`).

An extractor is part of a world's settings, so of its snapshot id: the same archives extracted
another way are another world. Three are offered (measured in docs/benchmarks.md):

- `trafilatura/markdown`: trafilatura's full cascade (its extractor compared with readability
  and jusText) as Markdown, with title and publication date from its metadata pass.
- `trafilatura/fast`: trafilatura's own extractor alone (`fast=True`) as Markdown, without the
  metadata pass (htmldate's date search is most of its cost); the title is the page's <title>.
- `resiliparse/text`: resiliparse's main-content heuristics over its own HTML parser, as plain
  text with paragraphs and list bullets; the title is the page's <title>; no date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from worldbuild.ingest.language import check_identifier, identify, warm_up as load_identifier
from worldbuild.records import EXTRACTORS, IngestSettings


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published_date: str
    lang: str


class UnknownExtractor(ValueError):
    """A world names an extractor this version does not have."""


def strip_front_matter(text: str) -> str:
    """trafilatura puts metadata as YAML front matter before the Markdown body; drop it."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return text[end + 5 :].lstrip("\n")
    return text


def warm_up(settings: IngestSettings) -> None:
    """Load the extractor's library and its pages' language identifier once in the parent, so
    forked workers start with them (`ingest` has checked that they can run: `check_can_run`).
    py3langid's model (0.45 s of CPU to load) is left to a worker that asks for it (a corpus
    without languages) when pages are identified otherwise."""
    _extractor(settings.extractor)
    load_identifier(settings.page_language_id)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _trafilatura_markdown(html: str, url: str, settings: IngestSettings) -> tuple[str, str, str] | None:
    """What `trafilatura.extract_with_metadata(output_format="markdown")` gives, less the work
    whose result we drop: its content fingerprint and YAML front matter (4% of the call)."""
    import trafilatura
    from trafilatura.utils import normalize_unicode
    from trafilatura.xml import xmltotxt

    document = trafilatura.bare_extraction(
        html,
        url=url,
        output_format="markdown",
        with_metadata=True,
        include_comments=settings.include_comments,
        include_tables=settings.include_tables,
    )
    if document is None:
        return None
    # trafilatura's own Markdown rendering (core.determine_returnstring), without the header
    text = xmltotxt(document.body, True)
    if document.commentsbody is not None:
        text = f"{text}\n{xmltotxt(document.commentsbody, True)}".strip()
    text = normalize_unicode(text)
    return (document.title or "").strip(), text.lstrip("\n"), document.date or ""


def _trafilatura_fast(html: str, url: str, settings: IngestSettings) -> tuple[str, str, str] | None:
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    text = trafilatura.extract(
        tree,
        url=url,
        fast=True,
        output_format="markdown",
        include_comments=settings.include_comments,
        include_tables=settings.include_tables,
    )
    return (_one_line(tree.findtext(".//title")), text, "") if text else None


def _resiliparse_text(html: str, url: str, settings: IngestSettings) -> tuple[str, str, str] | None:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, main_content=True, comments=settings.include_comments)
    return _one_line(tree.title), text, ""


_RUNNERS: dict[str, Callable[[str, str, IngestSettings], tuple[str, str, str] | None]] = {
    "trafilatura/markdown": _trafilatura_markdown,
    "trafilatura/fast": _trafilatura_fast,
    "resiliparse/text": _resiliparse_text,
}
assert tuple(_RUNNERS) == EXTRACTORS, "every extractor named in records.EXTRACTORS has a runner"


def check_extractor(name: str) -> None:
    """Raise UnknownExtractor (one line) unless `name` can run here."""
    _extractor(name)


def check_can_run(settings: IngestSettings) -> None:
    """Raise UnknownExtractor or UnknownLanguageId (one line) unless the settings' extractor and
    language identifiers can run here: before any work, not as a skip per page."""
    check_extractor(settings.extractor)
    for identifier in {settings.page_language_id, settings.record_language_id}:
        check_identifier(identifier)


def _extractor(name: str) -> Callable[[str, str, IngestSettings], tuple[str, str, str] | None]:
    try:
        runner = _RUNNERS[name]
    except KeyError:
        raise UnknownExtractor(f"unknown extractor {name!r} (this version has: {', '.join(EXTRACTORS)})") from None
    if name.startswith("resiliparse"):
        try:
            import resiliparse  # noqa: F401
        except ImportError:
            raise UnknownExtractor(f"extractor {name} needs resiliparse: pip install 'worldbuild[fast]'") from None
    return runner


def extract_text(html: str, url: str, settings: IngestSettings) -> tuple[str, str, str] | None:
    """(title, text, published date) by the settings' extractor, before any cleaning; None when
    it finds nothing. This is the extractor's whole cost: what the benchmarks time as "bare"."""
    return _extractor(settings.extractor)(html, url, settings)


def extract_page(html: str, url: str, settings: IngestSettings) -> Extracted | None:
    """Main text with title, date and language; None when nothing is extractable."""
    found = extract_text(html, url, settings)
    if found is None:
        return None
    title, text, date = found
    text = text.strip()
    if not text:
        return None
    return Extracted(title=title.strip(), text=text, published_date=date,
                     lang=identify(text, settings.page_language_id))

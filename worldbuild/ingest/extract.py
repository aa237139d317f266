"""HTML → Markdown page content with trafilatura, plus a language guess with py3langid."""

from __future__ import annotations

from dataclasses import dataclass

import trafilatura

from worldbuild.records import IngestSettings


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published_date: str
    lang: str


def _strip_front_matter(text: str) -> str:
    """trafilatura puts metadata as YAML front matter before the Markdown body; drop it."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return text[end + 5 :].lstrip("\n")
    return text


def detect_lang(text: str) -> str:
    import py3langid  # loads its model on first use; keep import cost off `worldbuild --help`

    lang, _ = py3langid.classify(text[:3000])
    return lang


def warm_up() -> None:
    """Load the language model once in the parent, so forked workers start with it."""
    detect_lang("warm up the language identifier")


def extract_page(html: str, url: str, settings: IngestSettings) -> Extracted | None:
    """Main text as Markdown with title, date and language; None when nothing is extractable."""
    document = trafilatura.extract_with_metadata(
        html,
        url=url,
        output_format="markdown",
        include_comments=settings.include_comments,
        include_tables=settings.include_tables,
    )
    if document is None or not document.text:
        return None
    text = _strip_front_matter(document.text).strip()
    if not text:
        return None
    title = (document.title or "").strip()
    return Extracted(title=title, text=text, published_date=document.date or "", lang=detect_lang(text))

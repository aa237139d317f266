"""Browse(url, goal) without an LLM: a window of the page, with the passages most relevant to
the goal put first (marked as such) so an agent with a small context sees the evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from worldbuild.index.bm25 import QueryTerms
from worldbuild.index.snippets import passage_text, rank_passages
from worldbuild.records import Page

DEFAULT_MAX_CHARS = 8000
GOAL_SHARE = 0.4  # at most this share of max_chars goes to goal passages


@dataclass(frozen=True)
class BrowseResult:
    url: str
    canonical_url: str
    title: str
    crawl_date: str
    content: str
    offset: int
    next_offset: int | None  # where the next window starts, None at the end of the page
    total_chars: int
    goal_passages: int  # how many goal-relevant passages lead the content
    redirected_from: str | None = None  # the URL asked for, when the archive recorded it redirecting here

    def to_dict(self) -> dict:
        return asdict(self)


def _window(text: str, offset: int, max_chars: int) -> tuple[str, int]:
    """text[offset:] cut to max_chars at a paragraph or word break; returns (window, end)."""
    end = min(len(text), offset + max_chars)
    if end < len(text):
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, offset + max_chars // 2, end)
            if cut != -1:
                end = cut + len(sep)
                break
    return text[offset:end], end


def redirect_note(redirected_from: str | None, url: str) -> str:
    """The line a text view starts with when the page was reached through a recorded redirect."""
    return f"(redirected from {redirected_from} to {url}, as recorded in the archive)\n\n" if redirected_from else ""


def render(page: Page, terms: QueryTerms | None, offset: int = 0, max_chars: int = DEFAULT_MAX_CHARS,
           redirected_from: str | None = None) -> BrowseResult:
    text = page.text
    offset = max(0, min(offset, len(text)))
    lead, count = "", 0
    if terms is not None and offset == 0:
        budget = int(max_chars * GOAL_SHARE)
        chosen = []
        for _score, start, end in rank_passages(text, terms, size=max(150, min(700, budget // 2)), lang=page.lang):
            if sum(e - s for s, e in chosen) + (end - start) > budget:
                break
            chosen.append((start, end))
        if chosen:
            count = len(chosen)
            parts = [f"[chars {s}-{e} of {len(text)}]\n{passage_text(text, s, e)}" for s, e in chosen]
            lead = "## Most relevant to the goal\n\n" + "\n\n".join(parts) + "\n\n## Page text\n\n"
    window, end = _window(text, offset, max(200, max_chars - len(lead)))
    return BrowseResult(
        url=page.url, canonical_url=page.canonical_url, title=page.title, crawl_date=page.crawl_date,
        content=lead + window, offset=offset, next_offset=end if end < len(text) else None,
        total_chars=len(text), goal_passages=count, redirected_from=redirected_from,
    )

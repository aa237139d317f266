"""How tool results read to the agent: the text the system prompt promises (a ranked list of
title / URL / snippet; a page with its title, URL and date), cut to a budget, with control tags
neutralised. Training (verl tools) and our runner share these functions, so a policy sees the
same observations in both."""

from __future__ import annotations

import re

ERROR_PREFIX = "[error] "
TRUNCATED = "\n…(truncated)"


# Tags the agent loop and the reward read, and chat-template markers (<|im_end|>, <|endoftext|>,
# DeepSeek's fullwidth <｜…｜>): a page that quotes one must not end an observation, open a
# tool call or hand the reward an answer the policy never wrote.
CONTROL_TAG = re.compile(r"<(\s*/?\s*(?:answer|think|tool_call|tool_response|tools)\b[^<>]{0,200})>", re.IGNORECASE)
TEMPLATE_MARKER = re.compile(r"<([|｜][^<>|｜\s]{1,80}[|｜])>")


def neutralise(text: str) -> str:
    """The text with every control tag and template marker written as HTML entities
    (`&lt;answer&gt;`): still readable, never parsed as a tag or tokenised as a special token."""
    while True:  # each pass removes a '<'; a second one catches tags nested in tags
        cleaned = TEMPLATE_MARKER.sub(r"&lt;\1&gt;", CONTROL_TAG.sub(r"&lt;\1&gt;", text))
        if cleaned == text:
            return text
        text = cleaned


def is_error(observation: str) -> bool:
    """Error observations start with ERROR_PREFIX (the SFT filter counts them)."""
    return observation.startswith(ERROR_PREFIX)


def error(message: str) -> str:
    return ERROR_PREFIX + neutralise(" ".join(message.split()))


def cut(text: str, budget: int) -> str:
    """At most `budget` characters, marked when something was cut."""
    if budget <= 0 or len(text) <= budget:
        return text
    return text[: max(0, budget - len(TRUNCATED))].rstrip() + TRUNCATED


def search_results(query: str, hits: list[dict], budget: int) -> str:
    if not hits:
        return f'No results for "{query}". Try other words.'
    lines = [f'Results for "{query}":']
    for rank, hit in enumerate(hits, 1):
        lines.append(f"\n{rank}. {hit.get('title') or '(untitled)'}\nURL: {hit['url']}")
        if hit.get("crawl_date"):
            lines.append(f"Date: {hit['crawl_date'][:10]}")
        lines.append(" ".join((hit.get("snippet") or "").split()))
    return cut(neutralise("\n".join(lines)), budget)


def page(result: dict, budget: int) -> str:
    head = [f"Title: {result.get('title') or '(untitled)'}", f"URL: {result['url']}"]
    if result.get("redirected_from"):
        head.append(f"(redirected from {result['redirected_from']}, as recorded in the archive)")
    if result.get("crawl_date"):
        head.append(f"Date: {result['crawl_date'][:10]}")
    shown = f"{result.get('offset', 0)}-{result.get('offset', 0) + len(result.get('content', ''))}"
    if result.get("mode") == "summary":
        head.append("(a summary of the page for your goal)")
    elif result.get("next_offset") is not None:
        head.append(f"(characters {shown} of {result.get('total_chars')}; the rest of the page is not shown)")
    return cut(neutralise("\n".join(head) + "\n\n" + (result.get("content") or "").strip()), budget)

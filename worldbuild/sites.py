"""`site:` in a query, as Google's operator means it: which hosts a search may answer from.

Agents trained on web search write `site:` (`who founded it site:wikipedia.org`), and the search
APIs they call take the same as a field (Exa's `includeDomains`, Tavily's `include_domains`,
Perplexity's `search_domain_filter`, Custom Search's `siteSearch`). Here:

- `site:example.com` keeps the pages of example.com and of its subdomains; `site:example.com/docs`
  those whose path starts with `/docs`;
- several `site:` keep the pages of any of them (agents write `site:a OR site:b`);
- `-site:example.com` leaves that site's pages out;
- the operators are taken out of the words that are searched.

A host is read as the store groups pages (`urls.domain_of`: no scheme, port or leading `www.`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import quote

from worldbuild.urls import BadURL, canonical_url, domain_of

_OPERATOR = re.compile(r"(?<![^\s(])(-?)site:([^\s)]*)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # a host as the store keeps it (IDNA: ASCII only)
_WHITESPACE_OR_PAREN = re.compile(r"[\s()]")  # what would end an operator early, escaped in `with_sites`


@dataclass(frozen=True)
class Sites:
    """The sites a query keeps (any of; none: every site) and leaves out, as `host[/path]`."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


NO_SITES = Sites()


def site_of(value: str) -> str:
    """`host[/path]` of a site as agents and APIs spell it (`https://www.Example.com/docs/`,
    `*.example.com`, `"example.com",`, `münchen.de`); "" when it names no host."""
    value = _SCHEME.sub("", value.strip().strip("\"'()")).lstrip("*.").rstrip(",;:!?")
    host, _, path = value.partition("/")
    host = host.split("?", 1)[0].split("#", 1)[0].rstrip(".")
    path = path.split("?", 1)[0].split("#", 1)[0].strip("/")
    try:  # (the host and path as stored URLs spell them: IDNA, percent-escapes)
        canonical = canonical_url(f"https://{host}/{path}") if host else ""
    except BadURL:
        return ""
    host = domain_of(canonical) if canonical else ""
    if not _HOST.fullmatch(host):
        return ""
    path = canonical.split("://", 1)[-1].partition("/")[2].strip("/") if path else ""
    return host + (f"/{path}" if path else "")


def split_sites(query: str) -> tuple[str, Sites]:
    """The query's words without its `site:` operators, and the sites they name."""
    if "site:" not in query.lower():  # (most queries: no regex run)
        return query, NO_SITES
    include: list[str] = []
    exclude: list[str] = []

    def take(match: re.Match) -> str:
        site = site_of(match.group(2))
        if not site:  # (`site: example.com`, `site:!`: words, not an operator)
            return match.group(0)
        (exclude if match.group(1) else include).append(site)
        return " "

    words = " ".join(_OPERATOR.sub(take, query).split())  # (an `OR` left between two is a stopword)
    return words, Sites(tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)))


def with_sites(query: str, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> str:
    """`query` with `site:` operators for an API's domain fields, each as the field spells it (read
    once, by `split_sites`); names that are no site are left out (`is_site` tells them apart first)."""
    operators = [f"{sign}site:{_WHITESPACE_OR_PAREN.sub(lambda m: quote(m.group()), name.strip())}"
                 for sign, names in (("", include), ("-", exclude)) for name in names if site_of(name)]
    return " ".join([query, *operators]) if operators else query


def signed(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(kept, left out) of a list whose `-` before a site leaves it out (Perplexity's filter)."""
    names = list(names)
    return [n for n in names if not n.startswith("-")], [n[1:] for n in names if n.startswith("-")]


def one_site(name: str | None, keep: bool) -> tuple[list[str], list[str]]:
    """(kept, left out) of a one-site field and its include/exclude switch (Google's `siteSearch` /
    `as_sitesearch`)."""
    named = [name] if name else []
    return (named, []) if keep else ([], named)


def is_site(name: str) -> bool:
    """True when `name` names a site (a host, with or without scheme and path)."""
    return bool(site_of(name))

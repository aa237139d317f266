"""Seed pages: long enough, spread over domains (round robin), none used before."""

from __future__ import annotations

from worldbuild.world import World


def select_seeds(world: World, max_pages: int, min_chars: int = 1500, used: set[str] = frozenset()) -> list[dict]:
    by_domain: dict[str, list[tuple[int, str, str]]] = {}
    for doc_id, url, title, domain in world.store.long_pages(min_chars):
        if url not in used:
            by_domain.setdefault(domain, []).append((doc_id, url, title))
    seeds, round_ = [], 0
    while len(seeds) < max_pages and any(len(pages) > round_ for pages in by_domain.values()):
        for domain in sorted(by_domain):
            if round_ < len(by_domain[domain]) and len(seeds) < max_pages:
                doc_id, url, title = by_domain[domain][round_]
                seeds.append({"key": url, "url": url, "title": title, "domain": domain, "doc_id": doc_id})
        round_ += 1
    return seeds

"""How the synthesis stages see a world: search, page text and masks. In process (a World)
here; the same three operations over HTTP (`worldbuild serve`) fit the same shape."""

from __future__ import annotations

from worldbuild.world import World


class LocalWorld:
    def __init__(self, world: World):
        self.world = world
        self.snapshot = world.snapshot

    def search(self, query: str, k: int = 10, mask: list[str] | None = None) -> list[str]:
        return [hit.url for hit in self.world.search(query, k=k, mask=mask)]

    def text(self, url: str, mask: list[str] | None = None) -> str | None:
        page = self.world.page(url, mask=mask)
        return page.text if page else None

    def mask_for(self, urls: list[str]) -> list[str]:
        """The URLs a task must hide: its sources and every page with the same content."""
        ids = self.world.masked_ids(urls)
        pages = self.world.store.by_ids(ids)
        return sorted(set(urls) | {page.url for page in pages.values()})

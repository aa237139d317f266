"""How the synthesis stages see a world: search, page text and masks, either in process (a
World) or over HTTP (a running `worldbuild serve`). The stages call the same four members."""

from __future__ import annotations

from worldbuild.client import WorldClient
from worldbuild.world import World

FULL_PAGE = 200_000  # browse window that holds any page worth reading whole


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
        """The URLs a task must hide: its sources and every page of their mirror clusters."""
        return sorted(set(urls) | set(self.world.masked_urls(urls)))


class RemoteWorld:
    """The same operations against `worldbuild serve` (masks resolved by the service)."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        self.client = WorldClient(base_url, timeout=timeout)
        self.snapshot = self.client.health()["snapshot"]

    def search(self, query: str, k: int = 10, mask: list[str] | None = None) -> list[str]:
        return [hit["url"] for hit in self.client.search(query, k=k, mask=mask)]

    def text(self, url: str, mask: list[str] | None = None) -> str | None:
        page = self.client.browse(url, mask=mask, max_chars=FULL_PAGE)
        return page["content"] if page else None

    def mask_for(self, urls: list[str]) -> list[str]:
        return sorted(set(urls) | set(self.client.mask(urls)))

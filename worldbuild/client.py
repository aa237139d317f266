"""Talk to `worldbuild serve` from Python: the same operations as `World`, sync and async,
with timeouts and retries (connection errors, timeouts, 429 and 5xx, with jitter and `Retry-After`:
`worldbuild.retry`; 4xx answers are final)."""

from __future__ import annotations

from typing import Any, Iterable

import httpx

from worldbuild.retry import Backoff, arequest, request


class WorldError(RuntimeError):
    """The service refused the request (4xx) or stayed unreachable after the retries."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _body(**fields: Any) -> dict:
    return {k: v for k, v in fields.items() if v is not None and not (k == "mask" and not v)}


def _warming(response: httpx.Response) -> bool:
    """/health answers 503 "warming" while the service compiles and loads: an answer, not a fault."""
    if response.status_code != 503:
        return False
    try:
        return response.json().get("status") == "warming"
    except ValueError:
        return False


def _result(response: httpx.Response) -> dict:
    if response.status_code == 404:
        return {}
    if _warming(response):
        return response.json()
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise WorldError(f"{response.status_code}: {message}", response.status_code)
    return response.json()


class _Requests:
    """What both clients build: each operation's route and body."""

    @staticmethod
    def search(query: str, k: int = 10, mode: str = "bm25", mask: Iterable[str] | None = None):
        return "/search", _body(query=query, k=k, mode=mode, mask=list(mask or []))

    @staticmethod
    def browse(url: str, goal: str | None = None, mask: Iterable[str] | None = None,
               max_chars: int | None = None, offset: int | None = None):
        return "/browse", _body(url=url, goal=goal, mask=list(mask or []), max_chars=max_chars, offset=offset)

    @staticmethod
    def retrieve(queries: list[str], topk: int = 3, return_scores: bool = True, mask: Iterable[str] | None = None):
        return "/retrieve", _body(queries=queries, topk=topk, return_scores=return_scores,
                                  mask=list(mask or []))


class WorldClient:
    """Blocking client. `search` returns the hit list, `browse` the page dict or None."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5):
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.backoff = Backoff(retries=retries, base=backoff)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return _result(request(self.http, method, path, self.backoff, json=body))
        except httpx.TransportError as exc:
            raise WorldError(f"world service unreachable at {self.http.base_url}: {exc}") from exc

    def search(self, query: str, k: int = 10, mode: str = "bm25", mask: Iterable[str] | None = None) -> list[dict]:
        return self._call("POST", *_Requests.search(query, k, mode, mask)).get("results", [])

    def browse(self, url: str, goal: str | None = None, mask: Iterable[str] | None = None,
               max_chars: int | None = None, offset: int | None = None) -> dict | None:
        return self._call("POST", *_Requests.browse(url, goal, mask, max_chars, offset)) or None

    def retrieve(self, queries: list[str], topk: int = 3, return_scores: bool = True,
                 mask: Iterable[str] | None = None) -> list[list[dict]]:
        return self._call("POST", *_Requests.retrieve(queries, topk, return_scores, mask))["result"]

    def mask(self, urls: list[str]) -> list[str]:
        """The stored URLs a mask of `urls` hides (every spelling, their whole mirror clusters)."""
        return self._call("POST", "/mask", {"urls": urls})["urls"]

    def stats(self) -> dict:
        return self._call("GET", "/stats")

    def health(self) -> dict:
        """The service's snapshot and status; one try (a probe), and "warming" is an answer."""
        try:
            return _result(self.http.get("/health"))
        except httpx.TransportError as exc:
            raise WorldError(f"world service unreachable at {self.http.base_url}: {exc}") from exc

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "WorldClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncWorldClient:
    """The same operations for asyncio code (rollouts issue many calls at once)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, max_connections: int = 256):
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)
        self.backoff = Backoff(retries=retries, base=backoff)

    async def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return _result(await arequest(self.http, method, path, self.backoff, json=body))
        except httpx.TransportError as exc:
            raise WorldError(f"world service unreachable at {self.http.base_url}: {exc}") from exc

    async def search(self, query: str, k: int = 10, mode: str = "bm25", mask: Iterable[str] | None = None) -> list[dict]:
        return (await self._call("POST", *_Requests.search(query, k, mode, mask))).get("results", [])

    async def browse(self, url: str, goal: str | None = None, mask: Iterable[str] | None = None,
                     max_chars: int | None = None, offset: int | None = None) -> dict | None:
        return (await self._call("POST", *_Requests.browse(url, goal, mask, max_chars, offset))) or None

    async def retrieve(self, queries: list[str], topk: int = 3, return_scores: bool = True,
                       mask: Iterable[str] | None = None) -> list[list[dict]]:
        return (await self._call("POST", *_Requests.retrieve(queries, topk, return_scores, mask)))["result"]

    async def stats(self) -> dict:
        return await self._call("GET", "/stats")

    async def health(self) -> dict:
        """The service's snapshot and status; one try (a probe), and "warming" is an answer."""
        try:
            return _result(await self.http.get("/health"))
        except httpx.TransportError as exc:
            raise WorldError(f"world service unreachable at {self.http.base_url}: {exc}") from exc

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "AsyncWorldClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

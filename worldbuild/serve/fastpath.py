"""Search-R1's `/retrieve` on its hot path: plain ASGI, and concurrent requests answered together.

A training stack sends one small `/retrieve` POST per rollout turn from many workers at once.
Through FastAPI each request pays for routing and pydantic validation, and each query for its own
BM25 call; here a request in the common shape (a JSON object whose fields already have their
types) is read with orjson, and every such request that arrives while the event loop is busy
waits for the next turn of the loop, where all of them are ranked in one `search_many` call
(bm25s scores a list of queries in one compiled pass). A request of any other shape (a `topk` sent
as a string, a dense mode, a malformed body) goes on to the FastAPI route, which validates and
answers it as before: both paths build the same body (`peers.retrieve_body`).
"""

from __future__ import annotations

import asyncio
from typing import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from worldbuild.serve.bodies import read_body, replay
from worldbuild.serve.masks import address_mask, route_path
from worldbuild.serve.models import DEFAULT_TOPK, MAX_BATCH_HITS, MAX_K, MAX_MASK, MAX_RETRIEVE_QUERIES, OFF_LOOP_HITS

PATH = "/retrieve"
BATCHED_QUERIES = 64  # requests with fewer queries are gathered; a training batch runs alone, in a thread


def plain_request(body: bytes) -> dict | None:
    """The request's fields when the body is a JSON object in the common shape, every field of
    the type the route wants (bm25 mode only); None sends it to the validating route."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    queries, topk = data.get("queries"), data.get("topk")
    scores, mode, mask = data.get("return_scores", False), data.get("mode", "bm25"), data.get("mask", [])
    if not (isinstance(queries, list) and len(queries) <= MAX_RETRIEVE_QUERIES
            and all(type(query) is str for query in queries)):
        return None
    if topk is not None and not (type(topk) is int and 0 <= topk <= MAX_K):
        return None
    if len(queries) * (topk or DEFAULT_TOPK) > MAX_BATCH_HITS:  # the route answers why not
        return None
    if type(scores) is not bool or mode != "bm25":
        return None
    if not (isinstance(mask, list) and len(mask) <= MAX_MASK and all(type(url) is str for url in mask)):
        return None
    return {"queries": queries, "topk": topk, "return_scores": scores, "mask": mask}


class Gatherer:
    """Collects the query lists of concurrent requests and ranks them in one call per mask and k,
    on the next turn of the event loop (no timer: a lone request waits for nothing)."""

    def __init__(self, search_many: Callable[[list[str], int, list[str]], list]):
        self.search_many = search_many
        self.waiting: list[tuple[list[str], int, tuple[str, ...], asyncio.Future]] = []

    def ask(self, queries: list[str], k: int, mask: list[str]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.waiting:
            loop.call_soon(self.flush)
        self.waiting.append((queries, k, tuple(mask), future))
        return future

    def flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        groups: dict[tuple, list] = {}
        for item in waiting:
            groups.setdefault((item[1], item[2]), []).append(item)
        for (k, mask), items in groups.items():
            queries = [query for item in items for query in item[0]]
            try:
                lists = self.search_many(queries, k, list(mask)) if queries else []
            except Exception as exc:  # each request of the group answers the error
                for *_, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for asked, _, _, future in items:
                if not future.done():  # (the client may have gone)
                    future.set_result(lists[start:start + len(asked)])
                start += len(asked)


class RetrieveFastPath:
    """ASGI middleware answering plain `/retrieve` POSTs itself (see the module's docstring).
    `search(queries, k, mask)` ranks (hits per query); `usable(queries)` gives the indexes of
    the queries that are searched (the others answer []); `answer(request, searched, lists)`
    is the body's bytes; `default_topk` stands for a missing or 0 topk."""

    def __init__(self, app: ASGIApp, search, usable, answer, default_topk: int, snapshot: str):
        self.app = app
        self.search, self.usable, self.answer = search, usable, answer
        self.default_topk = default_topk
        self.gatherer = Gatherer(search)
        self.headers = [(b"content-type", b"application/json"), (b"x-world-snapshot", snapshot.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or route_path(scope) != PATH:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away
            return
        request = plain_request(body)
        if request is None:
            await self.app(scope, replay(body, receive), send)
            return
        request["mask"] = [*address_mask(scope), *request["mask"]]
        searched = self.usable(request["queries"])
        queries = [request["queries"][i] for i in searched]
        k = request["topk"] or self.default_topk
        if not queries:
            lists = []
        elif len(queries) >= BATCHED_QUERIES:  # a training batch: single requests keep being served meanwhile
            lists = await asyncio.to_thread(self.search, queries, k, request["mask"])
        else:
            lists = await self.gatherer.ask(queries, k, request["mask"])
        if len(queries) * k > OFF_LOOP_HITS:  # a very large answer is built off the loop too
            payload = await asyncio.to_thread(self.answer, request, searched, lists)
        else:
            payload = self.answer(request, searched, lists)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*self.headers, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

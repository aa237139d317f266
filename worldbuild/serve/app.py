"""HTTP routes over one World. Every route reads the world only and never opens a connection
out; every response carries the world's snapshot id (in the body where JSON, and as the
`X-World-Snapshot` header). Handlers are `async` and do their ~1 ms of work inline: no thread
hand-off, and one SQLite connection per process. Scale with `--workers`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from contextlib import asynccontextmanager
from typing import Callable

from fastapi import FastAPI, Request
import orjson
from fastapi.responses import Response

from worldbuild.index.ann import AnnSearch
from worldbuild.serve import apis, errors, mcp_tools, peers, relay
from worldbuild.serve.errors import NOT_AVAILABLE
from worldbuild.serve.fastpath import RetrieveFastPath
from worldbuild.serve.masks import MaskPrefix, MaskRegistry, address_mask, default_directory, normalise
from worldbuild.serve.models import BrowseRequest, MaskRequest, SearchRequest
from worldbuild.serve.pool import SearchPool
from worldbuild.serve.summarize import Summarizer
from worldbuild.world import ModeUnavailable, World, default_world_dir



def _memory() -> dict:
    """This worker's memory: RSS counts shared index pages in every worker, PSS splits them."""
    import psutil

    try:
        memory = psutil.Process().memory_full_info()
    except psutil.Error:  # a system that hides PSS: RSS alone
        memory = psutil.Process().memory_info()
    return {"pid": os.getpid(), "rss_mb": round(memory.rss / 2**20, 1),
            **({"pss_mb": round(memory.pss / 2**20, 1)} if hasattr(memory, "pss") else {})}


POOL_QUERIES = 256  # a batch this large is shared by the search processes (when there are any)


class Served:
    """What every route shares: the world, the summarizer, the search processes (a large batch
    uses every core: `worldbuild.serve.pool`), and how to answer."""

    def __init__(self, world: World, summarizer: Summarizer | None, pool: SearchPool | None = None):
        self.world, self.summarizer, self.pool = world, summarizer, pool

    def reply(self, body: dict, status: int = 200) -> Response:
        snapshot = self.world.snapshot
        return Response(orjson.dumps({**body, "snapshot": snapshot}), status_code=status,
                        media_type="application/json", headers={"X-World-Snapshot": snapshot})

    def json(self, body, status: int = 200) -> Response:
        """A body exactly as a peer's server shapes it (no snapshot key; the header says it)."""
        return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                        headers={"X-World-Snapshot": self.world.snapshot})

    def not_available(self, url: str) -> Response:
        return errors.error(404, f"{NOT_AVAILABLE}: {url[:200]}", self.world.snapshot)

    @staticmethod
    def mask(request: Request, body_mask: list[str] = ()) -> list[str]:
        """The request's mask: what its address carried (/m/<id>/...) plus its body's."""
        return [*address_mask(request.scope), *body_mask]

    def search_many(self, queries: list[str], k: int, mode: str, mask: list[str], snippet_chars: int = 240,
                    offset: int = 0):
        try:
            if self.pool is not None and mode == "bm25" and len(queries) >= POOL_QUERIES:
                return self.pool.search_many(self.world, queries, k, snippet_chars, mask, mode, offset)
            return self.world.search_many(queries, k=k, mask=mask, mode=mode, snippet_chars=snippet_chars,
                                          offset=offset)
        except ModeUnavailable as exc:
            raise errors.HTTPException(400, str(exc)) from None

    def search(self, query: str, k: int, mode: str, mask: list[str], snippet_chars: int = 240, offset: int = 0):
        return self.search_many([query], k, mode, mask, snippet_chars, offset)[0]

    async def browse(self, url: str, goal: str | None, mask: list[str], offset: int = 0,
                     max_chars: int = 8000) -> dict | None:
        """Browse's body: a window of the page, goal passages first; with a goal and a summarizer,
        the LLM's evidence + summary (the raw window, and why, when it fails). None when absent."""
        result = self.world.browse(url, goal=goal, offset=offset, max_chars=max_chars, mask=mask)
        if result is None:
            return None
        body = {**result.to_dict(), "mode": "window"}
        if goal and goal.strip() and self.summarizer is not None and offset == 0:
            page = self.world.page(url, mask=mask)
            summary, failure = await self.summarizer.summarize(page, goal)
            if summary is None:
                body["summary_error"] = failure
            else:
                evidence = summary["evidence"].strip() or "(none)"
                body.update(mode="summary", summary=summary,
                            content=f"Evidence:\n{evidence}\n\nSummary:\n{summary['summary']}")
        return body


def create_app(world_dir: str | None = None, warm_up: bool = True, summarizer: Summarizer | None = None,
               mask_dir: str | None = None, on_ready: Callable[[float], None] | None = None,
               search_processes: int = 0, ann_search: AnnSearch | None = None,
               processes_at_start: bool = False) -> FastAPI:
    """The service for the world at `world_dir` (default $WORLDBUILD_WORLD or ./world). With a
    summarizer, browse with a goal answers an LLM's evidence + summary (raw window on failure).
    Masks registered through POST /masks live in `mask_dir` (see `masks.default_directory`).

    The world opens at once (memory-mapped); the warm-up (BM25 kernels, the dense model) runs in
    the background once serving starts, so the port answers from the first second. /health says
    "warming" (503) until the warm-up is done, then "ok"; `on_ready(seconds)` is called then.
    With `search_processes` of 2 or more, a batch of POOL_QUERIES or more is shared by that many
    processes: started with the first such batch, or (`processes_at_start`) during the warm-up,
    so that a trainer's first batch is shared too. `ann_search` sets how hard the dense ANN index
    searches (efSearch / nprobe; default: what the world recorded)."""
    world_dir = world_dir or default_world_dir()
    opened = World.open(world_dir, backend="numba" if warm_up else "numpy", ann_search=ann_search)
    state = {"status": "warming" if warm_up else "ok"}

    def warm() -> float:
        began = time.perf_counter()
        opened.index.warmup()  # compile (or load from numba's cache) now, not on an agent's query
        if opened.has_dense:
            try:
                opened.dense()  # load the embedding model now, not on the first dense query
            except ModeUnavailable as exc:
                logging.getLogger("worldbuild.serve").warning("dense and hybrid modes unavailable: %s", exc)
        if processes_at_start and served.pool is not None:
            try:
                served.pool.warmup()  # ready means they answer
            except Exception as exc:  # large batches stay in this worker; it still serves
                logging.getLogger("worldbuild.serve").warning("search processes did not start: %s", exc)
        gc.freeze()  # the world's long-lived objects leave the collector's scans: no multi-ms GC stalls
        return time.perf_counter() - began

    async def warm_in_background() -> None:
        seconds = await asyncio.to_thread(warm)
        state["status"] = "ok"
        if on_ready is not None:
            on_ready(seconds)

    if not warm_up:
        gc.freeze()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        warming = asyncio.create_task(warm_in_background()) if warm_up else None
        # several workers: MCP calls reach the worker holding their session (`relay`)
        own = relay.WorkerSocket(app, relay.sockets_dir()) if has_mcp and relay.sockets_dir() else None
        if own is not None:
            await own.start()
        yield
        if own is not None:
            await own.stop()
        if warming is not None and not warming.done():
            await asyncio.wait([warming], timeout=60)
        if served.pool is not None:
            served.pool.close(wait=True)
        if summarizer is not None:
            await summarizer.aclose()
        opened.close()

    app = FastAPI(title="worldbuild", version="1", lifespan=lifespan,
                  description="Search and browse a frozen lite web: native, Search-R1, ASearcher, LiteResearcher, "
                              "Serper and Jina-reader shapes; /m/<mask id>/ before any route applies a mask.")
    pool = SearchPool(world_dir, search_processes, ann_search) if search_processes >= 2 and warm_up else None
    served = Served(opened, summarizer, pool)
    app.add_middleware(RetrieveFastPath, **peers.fast_path(served))  # inside the body limit and mask prefix
    errors.install(app)
    registry = MaskRegistry(mask_dir or default_directory(world_dir, opened.snapshot))
    app.add_middleware(MaskPrefix, registry=registry, on_unknown=lambda found: errors.error(
        404, f"unknown mask id {found[:40]!r}: register the mask with POST /masks first", opened.snapshot))

    @app.post("/search", summary="Ranked pages with query-biased snippets")
    async def search(request: SearchRequest, http: Request) -> Response:
        hits = served.search(request.query, request.k, request.mode, served.mask(http, request.mask))
        return served.reply({"results": [{"title": h.title, "url": h.url, "snippet": h.snippet, "score": h.score,
                                          "crawl_date": h.crawl_date} for h in hits]})

    @app.post("/browse", summary="A page as Markdown; with a goal, its most relevant passages first "
                                 "(or an LLM's evidence + summary when the server has a summarizer)")
    async def browse(request: BrowseRequest, http: Request) -> Response:
        body = await served.browse(request.url, request.goal, served.mask(http, request.mask), request.offset,
                                   request.max_chars)
        return served.not_available(request.url) if body is None else served.reply(body)

    @app.post("/mask", summary="What a mask hides: every stored URL of the mirror clusters it covers")
    async def mask(request: MaskRequest, http: Request) -> Response:
        return served.reply({"urls": opened.masked_urls(served.mask(http, request.urls))})

    @app.post("/masks", summary="Register a mask; /m/<id>/ before any route then applies it")
    async def register_mask(request: MaskRequest) -> Response:
        canonical, ignored = normalise(request.urls)
        if not canonical:
            return errors.error(422, "urls: none is an http(s) URL, so the mask would hide nothing", opened.snapshot)
        found = registry.register(canonical)
        return served.reply({"id": found, "prefix": f"/m/{found}", "urls": canonical, "ignored": ignored})

    @app.get("/masks/{found}", summary="The URLs a registered mask id stands for")
    async def show_mask(found: str) -> Response:
        try:
            canonical = registry.lookup(found)
        except KeyError:
            return errors.error(404, f"unknown mask id {found[:40]!r}", opened.snapshot)
        return served.reply({"id": found, "prefix": f"/m/{found}", "urls": canonical})

    @app.get("/health", summary="Readiness and the snapshot served: 503 'warming' until warmed up, then 'ok'")
    async def health() -> Response:
        return served.reply({"status": state["status"], "pages": len(opened)}, 200 if state["status"] == "ok" else 503)

    @app.get("/stats", summary="The world's manifest and this worker's memory")
    async def stats() -> Response:
        manifest = {k: v for k, v in opened.manifest.items() if k not in ("history", "snapshot")}
        processes = None if served.pool is None else {"processes": served.pool.processes, "pids": served.pool.pids}
        ann = opened.dense_ann_search
        return served.reply({**manifest, "worker": _memory(), "search_processes": processes,
                             "dense_ann_search": None if ann is None else vars(ann)})

    peers.install(app, served)
    apis.install(app, served)
    has_mcp = mcp_tools.install(app, served)
    return app


def announce_ready(base: str) -> Callable[[float], None]:
    """The line `worldbuild serve` prints once a worker answers warm."""

    def announce(seconds: float) -> None:
        print(f"ready: {base} answers (worker {os.getpid()}, warmed up in {seconds:.1f} s)", file=sys.stderr,
              flush=True)

    return announce

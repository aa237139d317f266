"""HTTP routes over one World. Every route reads the world only and never opens a connection
out; every response carries the world's snapshot id (in the body where JSON, and as the
`X-World-Snapshot` header). Handlers are `async` and do their ~1 ms of work inline: no thread
hand-off, and one SQLite connection per process. Scale with `--workers`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import sys
import time
from contextlib import asynccontextmanager
from typing import Callable

from fastapi import FastAPI, Header, Request
import orjson
from fastapi.responses import PlainTextResponse, Response

from worldbuild.serve import errors
from worldbuild.serve.models import BrowseRequest, MaskRequest, RetrieveRequest, SearchRequest, SerperRequest
from worldbuild.serve.summarize import Summarizer
from worldbuild.world import ModeUnavailable, World, default_world_dir

RETRIEVE_PASSAGE_CHARS = 600
NOT_AVAILABLE = "page not available in this world"
_SCHEME_SLASHES = re.compile(r"^(https?|doc):/+", re.IGNORECASE)


def _memory() -> dict:
    """This worker's memory: RSS counts shared index pages in every worker, PSS splits them."""
    found = {}
    for name, key in (("/proc/self/status", "VmRSS"), ("/proc/self/smaps_rollup", "Pss")):
        try:
            with open(name) as handle:
                for line in handle:
                    if line.startswith(key + ":"):
                        found[f"{key.lower().replace('vm', '')}_mb"] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            continue
    return {"pid": os.getpid(), **found}


def create_app(world_dir: str | None = None, warm_up: bool = True, summarizer: Summarizer | None = None,
               on_ready: Callable[[float], None] | None = None) -> FastAPI:
    """The service for the world at `world_dir` (default $WORLDBUILD_WORLD or ./world). With a
    summarizer, browse with a goal answers an LLM's evidence + summary (raw window on failure).

    The world opens at once (memory-mapped); the warm-up (BM25 kernels, the dense model) runs in
    the background once serving starts, so the port answers from the first second. /health says
    "warming" (503) until the warm-up is done, then "ok"; `on_ready(seconds)` is called then."""
    opened = World.open(world_dir or default_world_dir(), backend="numba" if warm_up else "numpy")
    state = {"status": "warming" if warm_up else "ok"}

    def warm() -> float:
        began = time.perf_counter()
        opened.index.warmup()  # compile (or load from numba's cache) now, not on an agent's query
        if opened.has_dense:
            try:
                opened.dense()  # load the embedding model now, not on the first dense query
            except ModeUnavailable as exc:
                logging.getLogger("worldbuild.serve").warning("dense and hybrid modes unavailable: %s", exc)
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
        yield
        if warming is not None and not warming.done():
            await asyncio.wait([warming], timeout=60)
        opened.close()

    app = FastAPI(title="worldbuild", version="1", lifespan=lifespan,
                  description="Search and browse a frozen lite web: native, Search-R1, Serper and Jina-reader shapes.")
    errors.install(app)

    def world() -> World:
        return opened

    def reply(body: dict, status: int = 200) -> Response:
        snapshot = world().snapshot
        return Response(orjson.dumps({**body, "snapshot": snapshot}), status_code=status, media_type="application/json",
                        headers={"X-World-Snapshot": snapshot})

    def search_hits(query: str, k: int, mode: str, mask: list[str], snippet_chars: int = 240):
        try:
            return world().search(query, k=k, mask=mask, mode=mode, snippet_chars=snippet_chars)
        except ModeUnavailable as exc:
            raise errors.HTTPException(400, str(exc)) from None

    @app.post("/search", summary="Ranked pages with query-biased snippets")
    async def search(request: SearchRequest) -> Response:
        hits = search_hits(request.query, request.k, request.mode, request.mask)
        return reply({"results": [{"title": h.title, "url": h.url, "snippet": h.snippet, "score": h.score,
                                   "crawl_date": h.crawl_date} for h in hits]})

    @app.post("/browse", summary="A page as Markdown; with a goal, its most relevant passages first "
                                 "(or an LLM's evidence + summary when the server has a summarizer)")
    async def browse(request: BrowseRequest) -> Response:
        result = world().browse(request.url, goal=request.goal, offset=request.offset,
                                max_chars=request.max_chars, mask=request.mask)
        if result is None:
            return errors.error(404, f"{NOT_AVAILABLE}: {request.url[:200]}", world().snapshot)
        body = {**result.to_dict(), "mode": "window"}
        if request.goal and request.goal.strip() and summarizer is not None and request.offset == 0:
            page = world().page(request.url, mask=request.mask)
            summary, failure = await summarizer.summarize(world().snapshot, page, request.goal)
            if summary is None:
                body["summary_error"] = failure
            else:
                evidence = summary["evidence"].strip() or "(none)"
                body.update(mode="summary", summary=summary,
                            content=f"Evidence:\n{evidence}\n\nSummary:\n{summary['summary']}")
        return reply(body)

    @app.post("/retrieve", summary="Search-R1 / verl retriever shape")
    async def retrieve(request: RetrieveRequest) -> Response:
        topk = request.topk or 3
        result = []
        for query in request.queries:
            hits = search_hits(query, topk, request.mode, request.mask, RETRIEVE_PASSAGE_CHARS)
            docs = [{"id": str(h.doc_id), "contents": f'"{h.title}"\n{h.snippet}', "url": h.url} for h in hits]
            if request.return_scores:
                result.append([{"document": doc, "score": hit.score} for doc, hit in zip(docs, hits)])
            else:
                result.append(docs)
        return reply({"result": result})

    @app.post("/serper/search", summary="Serper search shape")
    async def serper(request: SerperRequest) -> Response:
        hits = search_hits(request.q, request.num, request.mode, request.mask)
        organic = [{"title": h.title, "link": h.url, "snippet": h.snippet, "position": rank, "date": h.crawl_date}
                   for rank, h in enumerate(hits, 1)]
        return reply({"searchParameters": {"q": request.q, "num": request.num, "type": "search",
                                           "engine": "worldbuild"}, "organic": organic})

    @app.get("/r/{target:path}", response_class=PlainTextResponse, summary="Jina-reader shape: a page as Markdown")
    async def reader(target: str, request: Request,
                     x_worldbuild_mask: str | None = Header(None, description="Comma-separated URLs to hide")):
        url = _SCHEME_SLASHES.sub(r"\1://", target)
        if request.url.query:
            url = f"{url}?{request.url.query}"
        mask = [u.strip() for u in (x_worldbuild_mask or "").split(",") if u.strip()]
        page = world().page(url, mask=mask)
        if page is None:
            return errors.error(404, f"{NOT_AVAILABLE}: {url[:200]}", world().snapshot)
        text = (f"Title: {page.title}\n\nURL Source: {page.url}\n\nPublished Time: {page.crawl_date}\n\n"
                f"Markdown Content:\n{page.text}\n")
        return PlainTextResponse(text, headers={"X-World-Snapshot": world().snapshot})

    @app.post("/mask", summary="What a mask hides: every stored URL of the mirror clusters it covers")
    async def mask(request: MaskRequest) -> Response:
        return reply({"urls": world().masked_urls(request.urls)})

    @app.get("/health", summary="Readiness and the snapshot served: 503 'warming' until warmed up, then 'ok'")
    async def health() -> Response:
        return reply({"status": state["status"], "pages": len(world())}, 200 if state["status"] == "ok" else 503)

    @app.get("/stats", summary="The world's manifest and this worker's memory")
    async def stats() -> Response:
        manifest = {k: v for k, v in world().manifest.items() if k not in ("history", "snapshot")}
        return reply({**manifest, "worker": _memory()})

    return app


def summarizer_from_env() -> Summarizer | None:
    url, model = os.environ.get("WORLDBUILD_SUMMARIZER_URL"), os.environ.get("WORLDBUILD_SUMMARIZER_MODEL")
    if not (url and model):
        return None
    return Summarizer(url, model, cache_path=os.environ["WORLDBUILD_SUMMARY_CACHE"],
                      timeout=float(os.environ.get("WORLDBUILD_SUMMARIZER_TIMEOUT", "60")))


def announce_ready(base: str) -> Callable[[float], None]:
    """The line `worldbuild serve` prints once a worker answers warm."""

    def announce(seconds: float) -> None:
        print(f"ready: {base} answers (worker {os.getpid()}, warmed up in {seconds:.1f} s)", file=sys.stderr,
              flush=True)

    return announce


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` with several workers (settings come from the env)."""
    return create_app(os.environ.get("WORLDBUILD_WORLD"), summarizer=summarizer_from_env(),
                      on_ready=announce_ready(os.environ.get("WORLDBUILD_SERVE_URL", "the service")))

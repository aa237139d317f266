"""The routes that speak other services' shapes, so a training stack that already talks to one
changes only its base URL: Search-R1's retriever (also verl's search tool and ASearcher), ASearcher's
page access, BrowseComp-Plus's one-query retriever, the LiteResearcher authors' search and browse
services (under /lr, where their route names meet ours), OpenResearcher's search service (under /or),
Serper's search, Jina's reader and search, Bing, Brave, Tavily and SearXNG's search APIs. Each
answers what that service's own clients read; docs/peers.md lists the shapes."""

from __future__ import annotations

import re
import time
from typing import Callable, TypeVar
from urllib.parse import parse_qsl, urlparse

import orjson
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from worldbuild.serve import errors
from worldbuild.serve.errors import NOT_AVAILABLE
from worldbuild.serve.models import (DEFAULT_TOPK, MAX_QUERY_CHARS, OFF_LOOP_HITS, AccessRequest, JinaRequest, JinaSearchRequest,
                                     LiteBatchSearchRequest, LiteBrowseRequest, LiteSearchRequest, LiteUrlRequest,
                                     LiteUrlsRequest, OpenResearcherContentRequest, OpenResearcherSearchRequest,
                                     RetrieveRequest, SearxngRequest, SerperRequest, TavilyRequest)
from worldbuild.sites import is_site, with_sites

RETRIEVE_PASSAGE_CHARS = 600
OFF_LOOP_QUERIES = 64  # batches this large are answered in a thread, off the event loop
SEARXNG_PAGE = 10  # results per SearXNG page (`pageno`)
BROWSECOMP_K = 5  # BrowseComp-Plus's servers' default `--k`: a one-`query` body, and its MCP search
SEARCH_TYPES = {"sparse": "bm25", "dense": "dense", "hybrid": "hybrid"}
_SCHEME = re.compile(r"^(https?|doc):/*", re.IGNORECASE)


def _retrieve_doc(hit) -> dict:
    """A passage as Search-R1's corpus holds one: `"Title"` on the first line, text after."""
    return {"id": str(hit.doc_id), "contents": f'"{hit.title}"\n{hit.snippet}', "url": hit.url}


def whole_pages(served, query: str, k: int, mode: str, mask: list[str]) -> list[tuple]:
    """The k best (hit, stored page) for `query`, for the shapes that answer whole pages (no
    snippet is made): BrowseComp-Plus's retriever and its MCP search. A blank or over-long query
    finds nothing, as in a batch."""
    if skip_reason(query):
        return []
    hits = served.search(query, k, mode, mask, snippet_chars=0)
    pages = served.world.store.by_ids(h.doc_id for h in hits)
    return [(h, pages[h.doc_id]) for h in hits]


def usable_queries(queries: list[str]) -> list[int]:
    """The indexes of the queries that are searched (a blank or over-long one answers [])."""
    return [index for index, query in enumerate(queries) if skip_reason(query) is None]


async def batch_hits(served, queries: list[str], k: int, mode: str, mask: list[str]) -> tuple[list[int], list[list]]:
    """The indexes of the queries searched (`usable_queries`) and their hits, passages of
    RETRIEVE_PASSAGE_CHARS; a training batch is ranked in a thread, so single queries keep being
    served meanwhile."""
    searched = usable_queries(queries)
    if not searched:
        return searched, []
    args = ([queries[i] for i in searched], k, mode, mask, RETRIEVE_PASSAGE_CHARS)
    if len(searched) >= OFF_LOOP_QUERIES:
        return searched, await run_in_threadpool(served.search_many, *args)
    return searched, served.search_many(*args)


async def built(answer: Callable[[], Response], hits: int) -> Response:
    """`answer()`, built (and serialised) off the event loop when it holds more than OFF_LOOP_HITS hits."""
    return await run_in_threadpool(answer) if hits > OFF_LOOP_HITS else answer()


def retrieve_body(queries: list[str], return_scores: bool, searched: list[int], lists: list[list]) -> dict:
    """Search-R1's answer: a list of documents per query, in order; `skipped` says why a query
    was not searched. `lists` holds the hits of the `searched` queries."""
    result: list[list] = [[] for _ in queries]
    for index, hits in zip(searched, lists):
        if return_scores:
            result[index] = [{"document": _retrieve_doc(hit), "score": hit.score} for hit in hits]
        else:
            result[index] = [_retrieve_doc(hit) for hit in hits]
    body: dict = {"result": result}
    if len(searched) < len(queries):
        done = set(searched)
        body["skipped"] = [{"index": i, "reason": skip_reason(q)} for i, q in enumerate(queries) if i not in done]
    return body


def fast_path(served) -> dict:
    """What `worldbuild.serve.fastpath.RetrieveFastPath` needs to answer `/retrieve` as the route does."""
    snapshot = served.world.snapshot

    def answer(request: dict, searched: list[int], lists: list[list]) -> bytes:
        body = retrieve_body(request["queries"], request["return_scores"], searched, lists)
        return orjson.dumps({**body, "snapshot": snapshot})

    return {"search": lambda queries, k, mask: served.search_many(queries, k, "bm25", mask, RETRIEVE_PASSAGE_CHARS),
            "usable": usable_queries, "answer": answer, "default_topk": DEFAULT_TOPK, "snapshot": snapshot}


def skip_reason(query: str) -> str | None:
    if not query.strip():
        return "blank query"
    if len(query) > MAX_QUERY_CHARS:
        return f"query over {MAX_QUERY_CHARS} characters"
    return None


def reader_url(target: str) -> str:
    """The URL in a Jina reader address: `http:/x` (slashes merged by a proxy) repaired, and a
    scheme-less `example.com/a` read as https (stored pages match under either scheme)."""
    target = target.strip()
    if _SCHEME.match(target):
        return _SCHEME.sub(lambda m: m.group(1).lower() + "://", target, count=1)
    return "https://" + target.lstrip("/")


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], fields: dict) -> M:
    """`fields` as the peer's request `model`; invalid fields answer 422 as FastAPI's own validation does."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


async def body_fields(http: Request) -> dict:
    """The body's fields for a peer's request model (none when the body is not an object)."""
    body = await parsed_body(http)
    return body if isinstance(body, dict) else {}


async def parsed_body(http: Request):
    """The request's JSON (or form-encoded) body, or None when there is none."""
    raw = await http.body()
    if not raw.strip():
        return None
    if http.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8")))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.HTTPException(400, f"malformed JSON body: {exc}") from None


def _meta_url(url: str) -> dict:
    """Brave's parts of a result's URL."""
    parts = urlparse(url)
    return {"scheme": parts.scheme, "netloc": parts.netloc, "hostname": parts.hostname or "", "path": parts.path}


def openapi_body(model) -> dict:
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def install(app: FastAPI, served) -> None:
    world = served.world

    # -- Search-R1 / verl SearchTool / ASearcher ------------------------------------------------
    @app.post("/retrieve", summary="Search-R1's retriever: a whole training batch of queries in one request")
    async def retrieve(request: RetrieveRequest, http: Request) -> Response:
        if request.queries is None:
            if request.top_k is not None or request.k is not None:
                return rllm_retrieve(request, http)
            return one_query_retrieve(request, http)
        k = request.topk or DEFAULT_TOPK
        searched, lists = await batch_hits(served, request.queries, k, request.mode, served.mask(http, request.mask))
        return await built(lambda: served.reply(retrieve_body(request.queries, request.return_scores, searched, lists)),
                           len(searched) * k)

    def one_query_retrieve(request: RetrieveRequest, http: Request) -> Response:
        """BrowseComp-Plus's Search-R1 server: `{"query"}` -> `{"result": [{"document": {"title",
        "text"}, "docid"}]}`, whole pages (its default), k from the server (its default, 5)."""
        found = whole_pages(served, request.query or "", request.topk or BROWSECOMP_K, request.mode,
                            served.mask(http, request.mask))
        result = [{"document": {"title": h.title, "text": page.text}, "docid": str(h.doc_id),
                   **({"score": h.score} if request.return_scores else {})} for h, page in found]
        return served.reply({"result": result})

    def rllm_retrieve(request: RetrieveRequest, http: Request) -> Response:
        """rllm's retriever (its deep-research example): `{"query", "top_k"}` (or `k`) -> `{"results":
        [{"id", "content", "score"}]}`, each content a passage under its quoted title, as it parses."""
        k = request.top_k or request.k  # as its server reads them
        query = request.query or ""
        kind = request.retriever_type
        mode, note = lite_mode(kind) if kind in SEARCH_TYPES else (request.mode, None)
        hits = served.search(query, k, mode, served.mask(http, request.mask),
                             RETRIEVE_PASSAGE_CHARS) if not skip_reason(query) else []
        results = [{"id": str(h.doc_id), "content": _retrieve_doc(h)["contents"], "score": h.score} for h in hits]
        method = {ours: theirs for theirs, ours in SEARCH_TYPES.items()}[mode] if kind in SEARCH_TYPES else mode
        return served.json({"query": query, "method": method, "results": results, "num_results": len(results),
                            **({"note": note} if note else {})})

    @app.post("/access", summary="ASearcher's page access: each URL's page text, null where absent")
    async def access(request: AccessRequest, http: Request) -> Response:
        mask = served.mask(http, request.mask)
        hidden = world.masked_ids(mask)
        result = []
        for url in request.urls:
            found = world.store.by_url_with_id(url) if url.strip() else None
            if found is None or found[0] in hidden:
                result.append(None)
                continue
            page = found[1]
            result.append({"contents": f'"{page.title}"\n{page.text}', "url": page.url, "title": page.title,
                           "crawl_date": page.crawl_date})
        return served.reply({"result": result})

    # -- Serper ----------------------------------------------------------------------------------
    def serper_answer(fields: dict, mask: list[str]) -> dict:
        request = validated(SerperRequest, fields)
        hits = served.search(request.q, request.num, request.mode, [*mask, *request.mask],
                             offset=(request.page - 1) * request.num)
        first = (request.page - 1) * request.num
        organic = [{"title": h.title, "link": h.url, "snippet": h.snippet, "position": first + rank,
                    "date": h.crawl_date} for rank, h in enumerate(hits, 1)]
        return {"searchParameters": {"q": request.q, "num": request.num, "page": request.page, "type": "search",
                                     "engine": "worldbuild"}, "organic": organic, "credits": 1}

    async def serper(http: Request) -> Response:
        params = dict(http.query_params)
        body = await parsed_body(http)
        mask = served.mask(http)
        if isinstance(body, list):  # Serper's batch form: one answer per query object
            if not 1 <= len(body) <= 100 or not all(isinstance(item, dict) for item in body):
                return errors.error(422, "a batch body must be a list of 1-100 query objects", world.snapshot)
            return served.json([serper_answer({**params, **item}, mask) for item in body])
        if body is not None and not isinstance(body, dict):
            return errors.error(400, "request body must be a JSON object or a list of them", world.snapshot)
        return served.reply(serper_answer({**params, **(body or {})}, mask))

    for method in ("GET", "POST"):
        app.add_api_route("/serper/search", serper, methods=[method], summary="Serper's search: a JSON body, "
                          "URL query parameters (q, num, page), or a list of query objects",
                          openapi_extra=openapi_body(SerperRequest) if method == "POST" else None,
                          name=f"serper_{method.lower()}")

    # -- Jina reader -----------------------------------------------------------------------------
    def reader_answer(url: str, http: Request, header_mask: str | None) -> Response:
        mask = served.mask(http, [u.strip() for u in (header_mask or "").split(",") if u.strip()])
        page = world.page(url, mask=mask)
        as_json = "application/json" in http.headers.get("accept", "")
        if page is None:
            if as_json:
                return served.json({"code": 404, "status": 40400, "name": "NotFound", "data": None,
                                    "message": f"{url[:200]}: {NOT_AVAILABLE}"}, 404)
            return served.not_available(url)
        if as_json:
            return served.json({"code": 200, "status": 20000, "data": {
                "title": page.title, "description": "", "url": page.url, "content": page.text,
                "publishedTime": page.published_date or page.crawl_date, "crawlDate": page.crawl_date}})
        text = (f"Title: {page.title}\n\nURL Source: {page.url}\n\nPublished Time: {page.crawl_date}\n\n"
                f"Markdown Content:\n{page.text}\n")
        return PlainTextResponse(text, headers={"X-World-Snapshot": world.snapshot})

    mask_header = Header(None, description="Comma-separated URLs to hide")

    @app.get("/r/{target:path}", summary="Jina reader: a page as Markdown (JSON envelope with "
                                         "Accept: application/json); the URL may lack its scheme")
    async def reader(target: str, http: Request, x_worldbuild_mask: str | None = mask_header) -> Response:
        url = reader_url(target)
        if http.url.query:
            url = f"{url}?{http.url.query}"
        return reader_answer(url, http, x_worldbuild_mask)

    @app.post("/r/", summary="Jina reader, POST form: the URL in a JSON or form body",
              openapi_extra=openapi_body(JinaRequest))
    async def reader_post(http: Request, x_worldbuild_mask: str | None = mask_header) -> Response:
        request = validated(JinaRequest, await body_fields(http))
        return reader_answer(reader_url(request.url), http, x_worldbuild_mask)

    # -- Jina search, Bing Web Search, Tavily ----------------------------------------------------
    def jina_search_answer(query: str, count: int, http: Request) -> Response:
        """Jina search's answer; its `site` parameters (or `X-Site` header) keep those sites' pages."""
        sites = [*http.query_params.getlist("site"), *filter(None, map(str.strip, http.headers.get("x-site", "").split(",")))]
        for site in sites:
            if not is_site(site):
                return errors.error(422, f"not a site: {site!r}", world.snapshot)
        hits = served.search(with_sites(query, sites), count, "bm25", served.mask(http)) if not skip_reason(query) else []
        pages = world.store.by_ids(h.doc_id for h in hits)
        with_content = http.headers.get("x-respond-with", "") != "no-content"
        if "application/json" in http.headers.get("accept", ""):
            return served.json({"code": 200, "status": 20000, "data": [
                {"title": h.title, "url": h.url, "description": h.snippet, "date": h.crawl_date,
                 **({"content": pages[h.doc_id].text} if with_content else {})} for h in hits]})
        blocks = []
        for rank, h in enumerate(hits, 1):
            lines = [f"[{rank}] Title: {h.title}", f"[{rank}] URL Source: {h.url}", f"[{rank}] Description: {h.snippet}",
                     f"[{rank}] Date: {h.crawl_date}"]
            if with_content:
                lines.append(f"[{rank}] Markdown Content:\n{pages[h.doc_id].text}")
            blocks.append("\n".join(lines))
        return PlainTextResponse("\n\n".join(blocks) + "\n", headers={"X-World-Snapshot": world.snapshot})

    @app.get("/s/{query:path}", summary="Jina search: top pages for the query in the path (or ?q=)")
    async def jina_search(query: str, http: Request, num: int = 5) -> Response:
        return jina_search_answer(query or http.query_params.get("q", ""), max(1, min(num, 20)), http)

    @app.post("/s/", summary="Jina search, POST form: {\"q\": ...}", openapi_extra=openapi_body(JinaSearchRequest))
    async def jina_search_post(http: Request) -> Response:
        request = validated(JinaSearchRequest, await body_fields(http))
        return jina_search_answer(request.q, request.num, http)

    @app.get("/bing/v7.0/search", summary="Bing Web Search v7: webPages.value with name, url, snippet")
    async def bing(http: Request, q: str = Query(min_length=1, max_length=MAX_QUERY_CHARS), count: int = 10,
                   offset: int = 0) -> Response:
        count, offset = max(1, min(count, 50)), max(0, min(offset, 1000))
        hits = served.search(q, count, "bm25", served.mask(http), offset=offset) if not skip_reason(q) else []
        value = [{"id": f"https://api.bing.microsoft.com/api/v7/#WebPages.{offset + i}", "name": h.title, "url": h.url,
                  "displayUrl": h.url, "snippet": h.snippet, "dateLastCrawled": h.crawl_date, "language": "en"}
                 for i, h in enumerate(hits)]
        return served.json({"_type": "SearchResponse", "queryContext": {"originalQuery": q},
                            "webPages": {"webSearchUrl": "", "totalEstimatedMatches": len(value), "value": value}})

    @app.get("/brave/res/v1/web/search", summary="Brave Search's web search: web.results with title, url, "
             "description")
    async def brave(http: Request, q: str = Query(min_length=1, max_length=MAX_QUERY_CHARS),
                    count: int = Query(20, ge=1, le=20), offset: int = Query(0, ge=0, le=9)) -> Response:
        hits = served.search(q, count, "bm25", served.mask(http), offset=offset * count) if not skip_reason(q) else []
        results = [{"type": "search_result", "title": h.title, "url": h.url, "description": h.snippet,
                    "page_age": h.crawl_date, "family_friendly": True, "meta_url": _meta_url(h.url)} for h in hits]
        return served.json({"type": "search", "query": {"original": q, "more_results_available": len(hits) == count},
                            "web": {"type": "search", "results": results, "family_friendly": True}})

    @app.post("/tavily/search", summary="Tavily search: results with title, url, content, score")
    async def tavily(request: TavilyRequest, http: Request) -> Response:
        began = time.perf_counter()
        query = with_sites(request.query, request.include_domains or (), request.exclude_domains or ())
        hits = served.search(query, request.max_results, "bm25", served.mask(http, request.mask)) \
            if not skip_reason(request.query) else []
        pages = world.store.by_ids(h.doc_id for h in hits) if request.include_raw_content else {}
        results = [{"title": h.title, "url": h.url, "content": h.snippet, "score": h.score,
                    "raw_content": pages[h.doc_id].text if pages else None} for h in hits]
        return served.reply({"query": request.query, "answer": None, "images": [], "results": results,
                             "response_time": round(time.perf_counter() - began, 4)})

    # -- SearXNG's JSON API: GET / and /search (our own /search is POST), and under /searxng -----------
    async def searxng(http: Request) -> Response:
        body = await parsed_body(http)
        if body is not None and not isinstance(body, dict):
            return errors.error(400, "request body must be a form or a JSON object", world.snapshot)
        request = validated(SearxngRequest, {**http.query_params, **(body or {})})
        first = (request.pageno - 1) * SEARXNG_PAGE
        hits = served.search(request.q, SEARXNG_PAGE, "bm25", served.mask(http), offset=first) \
            if not skip_reason(request.q) else []
        results = [{"url": h.url, "title": h.title, "content": h.snippet, "engine": "worldbuild",
                    "engines": ["worldbuild"], "positions": [first + rank], "score": h.score, "category": "general",
                    "parsed_url": list(urlparse(h.url)),
                    "template": "default.html", "publishedDate": None} for rank, h in enumerate(hits, 1)]
        return served.json({"query": request.q, "number_of_results": len(results), "results": results,
                            "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
                            "unresponsive_engines": []})

    for path in ("/", "/search"):  # a client given the bare base URL: LangChain GETs the base itself
        app.add_api_route(path, searxng, methods=["GET"], name=f"searxng_get{path.replace('/', '_')}",
                          summary="SearXNG's search API (format=json): results with url, title, content")
    for path in ("/searxng", "/searxng/search"):  # a client's base URL, or the base plus /search
        app.add_api_route(path, searxng, methods=["GET", "POST"], name=f"searxng{path.replace('/', '_')}",
                          summary="SearXNG's search API: q, pageno, format=json, from the URL or a form")

    # -- OpenResearcher's search service (its browser's local backend), under /or -------------------
    @app.get("/or/", summary="OpenResearcher's search service: what it serves")
    async def open_researcher_info() -> Response:
        return served.json({"service": "worldbuild", "active_searcher": "bm25",
                            "endpoints": ["/search", "/get_content"]})

    @app.post("/or/search", summary="OpenResearcher's search: results with url, title, summary")
    async def open_researcher_search(request: OpenResearcherSearchRequest, http: Request) -> Response:
        hits = served.search(request.query, request.topn, "bm25", served.mask(http, request.mask)) \
            if not skip_reason(request.query) else []
        return served.json({"results": [{"url": h.url, "title": h.title, "summary": h.snippet} for h in hits]})

    @app.post("/or/get_content", summary="OpenResearcher's page content: title and text; 404 where absent")
    async def open_researcher_content(request: OpenResearcherContentRequest, http: Request) -> Response:
        page = world.page(request.url, mask=served.mask(http, request.mask))
        if page is None:
            return served.not_available(request.url)
        return served.json({"title": page.title, "content": page.text})

    # -- LiteResearcher's search and browse services ---------------------------------------------
    def lite_mode(search_type: str) -> tuple[str, str | None]:
        """Our mode for their search type, and a note when this world cannot do it."""
        mode = SEARCH_TYPES[search_type]
        if mode != "bm25" and not world.has_dense:
            return "bm25", f"this world has no dense index; {search_type} search answered with BM25 (sparse)"
        return mode, None

    def lite_results(hits) -> list[dict]:
        return [{"link": h.url, "title": h.title, "snippet": h.snippet, "score": h.score} for h in hits]

    def lite_search_many(queries: list[str], request, http: Request) -> tuple[list[list], str, str | None]:
        mode, note = lite_mode(request.search_type)
        usable = [i for i, q in enumerate(queries) if not skip_reason(q)]
        lists = served.search_many([queries[i] for i in usable], request.limit, mode,
                                   served.mask(http, request.mask)) if usable else []
        found: list[list] = [[] for _ in queries]
        for index, hits in zip(usable, lists):
            found[index] = lite_results(hits)
        used = {v: k for k, v in SEARCH_TYPES.items()}[mode]
        return found, used, note

    def lite_meta(request, used: str, note: str | None, began: float) -> dict:
        meta = {"search_time": round(time.perf_counter() - began, 6), "embedding_time": 0.0, "milvus_time": 0.0,
                "search_type": used, "sparse_weight": request.sparse_weight, "dense_weight": request.dense_weight,
                "server_id": "worldbuild", "index_type": "bm25" if used == "sparse" else used}
        return {**meta, "note": note} if note else meta

    @app.post("/lr/search", summary="LiteResearcher's search: results carry a link")
    async def lite_search(request: LiteSearchRequest, http: Request) -> Response:
        began = time.perf_counter()
        (results,), used, note = lite_search_many([request.query], request, http)
        return served.reply({"results": results, "total": len(results), **lite_meta(request, used, note, began)})

    @app.post("/lr/batch_search", summary="LiteResearcher's batch search (up to 100 queries)")
    async def lite_batch_search(request: LiteBatchSearchRequest, http: Request) -> Response:
        began = time.perf_counter()
        lists, used, note = lite_search_many(request.queries, request, http)
        query_results = [{"query": q, "results": r, "total": len(r)} for q, r in zip(request.queries, lists)]
        return served.reply({"query_results": query_results, "total_queries": len(request.queries),
                             **lite_meta(request, used, note, began)})

    def present(url: str, hidden: set[int]) -> bool:
        found = world.store.by_url_with_id(url)
        return found is not None and found[0] not in hidden

    @app.post("/lr/check_url", summary="LiteResearcher's URL check: is this page in the world")
    async def lite_check_url(request: LiteUrlRequest, http: Request) -> Response:
        hidden = world.masked_ids(served.mask(http, request.mask))
        return served.reply({"exists": present(request.url, hidden), "url": request.url})

    @app.post("/lr/batch_check_url", summary="LiteResearcher's batch URL check")
    async def lite_batch_check_url(request: LiteUrlsRequest, http: Request) -> Response:
        began = time.perf_counter()
        hidden = world.masked_ids(served.mask(http, request.mask))
        results = {url: present(url, hidden) for url in request.urls}
        return served.reply({"results": results, "total": len(request.urls), "found": sum(results.values()),
                             "query_time": round(time.perf_counter() - began, 6)})

    @app.post("/lr/web_parser", summary="LiteResearcher's full text by URL")
    async def lite_web_parser(request: LiteUrlRequest, http: Request) -> Response:
        page = world.page(request.url, mask=served.mask(http, request.mask))
        if page is None:
            return served.reply({"found": False, "url": request.url, "title": "", "text": ""})
        return served.reply({"found": True, "url": page.url, "title": page.title, "text": page.text})

    async def lite_browse(request: LiteBrowseRequest, http: Request) -> Response:
        """Their browse tool's service: what the page holds for the question, through the
        goal-conditioned path (and the summarizer when the server has one)."""
        body = await served.browse(request.url, request.question or None, served.mask(http, request.mask))
        if body is None:
            return served.reply({"success": False, "result": "", "from_cache": False,
                                 "error": f"{NOT_AVAILABLE}: {request.url[:200]}"})
        lead = f"The useful information in {request.url} for user goal {request.question} as follows: \n\n"
        if body["mode"] == "summary":
            summary = body["summary"]
            text = f"{lead}Evidence in page: \n{summary['evidence'].strip()}\n\nSummary: \n{summary['summary']}\n\n"
        else:
            text = lead + body["content"]
        return served.reply({"success": True, "result": text, "from_cache": False, "error": "",
                             "title": body["title"], "url": body["url"], "mode": body["mode"]})

    for path in ("/lr/query", "/lr/browse"):
        app.add_api_route(path, lite_browse, methods=["POST"], name=f"lite_browse{path.replace('/', '_')}",
                          summary="LiteResearcher's browse service: {url, question} -> {success, result}")

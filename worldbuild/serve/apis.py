"""More services' shapes, each under a prefix of its own so that a client's only change is its base
URL: the commercial search and reading APIs whose clients take one (Exa, Firecrawl, Perplexity,
SerpAPI, Google Custom Search, Tavily's extract) and the local retrievers of FlashRAG (ReCall, ReSearch), R1-Searcher
and WebThinker's page parser. Each answers what that service's clients read; docs/peers.md lists
the shapes and the clients run against them."""

from __future__ import annotations

import hashlib
import html
from urllib.parse import urlparse

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from worldbuild.index.plaintext import plain_text
from worldbuild.index.snippets import passage_text, passages, rank_passages
from worldbuild.serve.errors import NOT_AVAILABLE
from worldbuild.serve.models import (CustomSearchRequest, ExaContents, ExaContentsRequest, ExaResults, ExaSearchRequest,
                                     ExaSimilarRequest, FirecrawlScrapeRequest, FirecrawlSearchRequest, FlashRagRequest,
                                     ParseUrlsRequest, PerplexitySearchRequest, SerpApiRequest,
                                     TavilyExtractRequest, WikiQueriesRequest)
from worldbuild.serve.peers import RETRIEVE_PASSAGE_CHARS, batch_hits, built, skip_reason, validated
from worldbuild.sites import one_site, signed, split_sites, with_sites

EXA_TEXT_CHARS = 10_000  # exa-py's default `maxCharacters`
HIGHLIGHT_CHARS = 300
PERPLEXITY_QUERIES = 5
TAVILY_URLS = 20
TAVILY_CHUNK_CHARS = 500  # about Tavily's chunk (500 tokens at most)
SIMILAR_WORDS = 40  # findSimilar asks for pages like one: its title and opening words as the query
SERPAPI_LAST_START = 1000  # the largest `start` served (SerpApiRequest)
GOOGLE_REACHABLE = 100  # Google (and so Custom Search) lets a client page through its first 100 results


def _passage(doc_id: int, title: str, text: str) -> dict:
    """A passage as FlashRAG's corpus holds one: the quoted title on the first line, text after."""
    return {"id": str(doc_id), "contents": f'"{title}"\n{text}'}


def _request_id(*parts) -> str:
    """A stable id for an answer: the same request (query, options, mask) gets the same id, as
    it gets the same answer from a frozen world."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _wants(option: bool | dict | None) -> bool:
    return option is True or isinstance(option, dict)


def _formats(formats: list[str | dict]) -> set[str]:
    """Firecrawl's `formats`: names, or objects with a `type` (v2)."""
    return {item if isinstance(item, str) else str(item.get("type", "")) for item in formats}


def _one_or_many(value: str | list[str], most: int, field: str) -> list[str]:
    """A field that takes one item or a list of 1 to `most` (Perplexity's query, Tavily's urls), as a
    list; an empty or too long list answers 422."""
    items = [value] if isinstance(value, str) else value
    if not 1 <= len(items) <= most:
        raise HTTPException(422, f"{field}: give one, or a list of 1-{most}")
    return items


def _date(value: str) -> str | None:
    """A page's date as the search APIs give one (YYYY-MM-DD), None when unknown."""
    return value[:10] or None


def install(app: FastAPI, served) -> None:
    world = served.world

    def searched(query: str, k: int, http: Request, mask: list[str] = (), snippet_chars: int = 240, offset: int = 0,
                 sites: tuple[list[str], list[str]] = ([], [])):
        """Hits for `query` (none for a blank or over-long one) under the address's and body's mask,
        within the `sites` an API's fields name (kept, left out): `site:` operators not counted in its length."""
        if skip_reason(query):
            return []
        return served.search(with_sites(query, *sites), k, "bm25", served.mask(http, list(mask)), snippet_chars, offset)

    # -- Exa: POST /exa/search, /exa/contents (exa-py's `Exa(base_url=...)`) --------------------------
    def exa_result(page, url: str, options: ExaContents, highlight: str | None, score: float | None) -> dict:
        """One of Exa's results: text and highlights only when asked (a highlight is the snippet)."""
        result = {"id": url, "url": page.url, "title": page.title, "publishedDate": page.published_date or None,
                  "author": None}
        if score is not None:
            result["score"] = score
        if _wants(options.text):
            limit = options.text.get("maxCharacters", EXA_TEXT_CHARS) if isinstance(options.text, dict) else None
            result["text"] = page.text[:limit] if type(limit) is int and limit > 0 else page.text
        if _wants(options.highlights):
            result["highlights"] = [highlight or page.text[:HIGHLIGHT_CHARS]]
            result["highlightScores"] = [1.0]
        return result

    def exa_results(query: str, request: ExaResults, http: Request, mask: list[str]) -> list[dict]:
        """Search's and findSimilar's results: the hits for `query`, with what `contents` asks for."""
        hits = searched(query, request.numResults, http, mask, HIGHLIGHT_CHARS,
                        sites=(request.includeDomains or [], request.excludeDomains or []))
        pages = world.store.by_ids(h.doc_id for h in hits)
        return [exa_result(pages[h.doc_id], h.url, request.contents or request, h.snippet, h.score) for h in hits]

    @app.post("/exa/search", summary="Exa's search: results with url, title, score; text and highlights when asked")
    async def exa_search(request: ExaSearchRequest, http: Request) -> Response:
        results = exa_results(request.query, request, http, request.mask)
        return served.json({"requestId": _request_id("exa", request.model_dump(), served.mask(http)),
                            "resolvedSearchType": "keyword", "results": results,
                            "searchTime": 0, "costDollars": {"total": 0}})

    @app.post("/exa/findSimilar", summary="Exa's findSimilar: pages like the one at url (it and its copies "
                                          "left out)")
    async def exa_similar(request: ExaSimilarRequest, http: Request) -> Response:
        mask = served.mask(http, request.mask)
        page = world.page(request.url, mask=mask)
        if page is None:
            return served.not_available(request.url)
        query = split_sites(" ".join(f"{page.title} {plain_text(page.text[:2000])}".split()[:SIMILAR_WORDS]))[0]
        results = exa_results(query, request, http, [*request.mask, request.url])
        return served.json({"requestId": _request_id("exa-similar", request.model_dump(), mask),
                            "results": results, "costDollars": {"total": 0}})

    @app.post("/exa/contents", summary="Exa's contents: each URL's page text; a status per URL")
    async def exa_contents(request: ExaContentsRequest, http: Request) -> Response:
        mask = served.mask(http, request.mask)
        options = request if _wants(request.text) or _wants(request.highlights) else ExaContents(text=True)
        results, statuses = [], []
        urls = [*request.urls, *request.ids]
        for url, page in zip(urls, world.pages(urls, mask)):
            if page is None:
                statuses.append({"id": url, "status": "error", "error": {"tag": "CRAWL_NOT_FOUND", "httpStatusCode": 404}})
                continue
            results.append(exa_result(page, url, options, None, None))
            statuses.append({"id": url, "status": "success", "source": "cached"})
        return served.json({"requestId": _request_id("exa-contents", request.model_dump(), mask),
                            "results": results, "statuses": statuses, "costDollars": {"total": 0}})

    # -- Firecrawl: /firecrawl/v1|v2/scrape|search (`Firecrawl(api_url=...)`) -------------------------
    def firecrawl_metadata(page, asked: str) -> dict:
        """A scraped page's metadata: `sourceURL` as asked, `url` as stored (after any redirect)."""
        return {"title": page.title, "sourceURL": asked, "url": page.url, "statusCode": 200,
                "language": page.lang, "publishedTime": page.published_date or None,
                "contentType": "text/markdown"}

    async def firecrawl_scrape(request: FirecrawlScrapeRequest, http: Request) -> Response:
        page = world.page(request.url, mask=served.mask(http, request.mask))
        if page is None:
            return served.json({"success": False, "error": f"{NOT_AVAILABLE}: {request.url[:200]}"}, 404)
        data = {"markdown": page.text, "metadata": firecrawl_metadata(page, request.url)}
        if "links" in _formats(request.formats):
            data["links"] = []
        unkept = sorted(_formats(request.formats) & {"html", "rawHtml", "screenshot", "json", "summary"})
        if unkept:
            data["warning"] = f"not kept in this world: {', '.join(unkept)} (its pages are Markdown)"
        return served.json({"success": True, "data": data})

    async def firecrawl_search(request: FirecrawlSearchRequest, http: Request) -> Response:
        hits = searched(request.query, request.limit, http, request.mask)
        scrape = request.scrapeOptions is not None and "markdown" in _formats(request.scrapeOptions.formats)
        pages = world.store.by_ids(h.doc_id for h in hits) if scrape else {}
        web = [{"url": h.url, "title": h.title, "description": h.snippet, "position": rank,
                **({"markdown": pages[h.doc_id].text,
                    "metadata": firecrawl_metadata(pages[h.doc_id], h.url)} if scrape else {})}
               for rank, h in enumerate(hits, 1)]
        v1 = http.url.path.rstrip("/").endswith("/v1/search")
        return served.json({"success": True, "data": web if v1 else {"web": web}})

    # firecrawl-py 4's client joins "/v2/..." to its api_url, dropping any path: v2 is served at the root too
    for prefix, version in (("", "v1"), ("", "v2"), ("/firecrawl", "v1"), ("/firecrawl", "v2")):
        name = f"firecrawl{prefix.replace('/', '_')}_{version}"
        app.add_api_route(f"{prefix}/{version}/scrape", firecrawl_scrape, methods=["POST"], name=name + "_scrape",
                          summary="Firecrawl's scrape: a page as Markdown with its metadata")
        app.add_api_route(f"{prefix}/{version}/search", firecrawl_search, methods=["POST"], name=name + "_search",
                          summary="Firecrawl's search: url, title, description (Markdown with scrapeOptions)")

    # -- Perplexity: POST /perplexity/search (`Perplexity(base_url=...)`, PERPLEXITY_BASE_URL) ----------
    @app.post("/perplexity/search", summary="Perplexity's search: title, url, snippet per result; a list of "
                                            "queries gives a list per query")
    async def perplexity(request: PerplexitySearchRequest, http: Request) -> Response:
        queries = _one_or_many(request.query, PERPLEXITY_QUERIES, "query")
        chars = 4 * request.max_tokens_per_page
        usable = [q for q in queries if not skip_reason(q)]
        mask = served.mask(http, request.mask)
        sites = signed(request.search_domain_filter or [])
        asked = [with_sites(q, *sites) for q in usable]
        found = dict(zip(usable, served.search_many(asked, request.max_results, "bm25", mask, chars))) if usable else {}
        pages = world.store.by_ids(h.doc_id for hits in found.values() for h in hits)
        lists = [[{"title": h.title, "url": h.url, "snippet": h.snippet, "date": _date(pages[h.doc_id].published_date),
                   "last_updated": _date(h.crawl_date)} for h in found.get(q, [])] for q in queries]
        return served.json({"id": _request_id("perplexity", request.model_dump(), mask),
                            "results": lists[0] if isinstance(request.query, str) else lists, "server_time": None})

    # -- Tavily's extract: POST /tavily/extract (`TavilyClient(api_base_url=...)`; search is in peers) --
    @app.post("/tavily/extract", summary="Tavily's extract: each URL's page (with a query, its most relevant "
                                         "chunks); failed_results for the others")
    async def tavily_extract(request: TavilyExtractRequest, http: Request) -> Response:
        urls = _one_or_many(request.urls, TAVILY_URLS, "urls")
        mask = served.mask(http, request.mask)
        terms = world.index.terms(request.query) if request.query and request.query.strip() else None
        results, failed = [], []
        for url, page in zip(urls, world.pages(urls, mask)):
            if page is None:
                failed.append({"url": url, "error": NOT_AVAILABLE})
                continue
            if terms is not None:
                best = [(start, end) for _, start, end in
                        rank_passages(page.text, terms, TAVILY_CHUNK_CHARS, page.lang)[:request.chunks_per_source]]
                chunks = sorted(best) or passages(page.text, TAVILY_CHUNK_CHARS)[:1]  # nothing matched: its opening
                as_text = request.format == "text"  # (Markdown chunks as stored, else their words)
                content = " [...] ".join(passage_text(page.text, start, end) if as_text else page.text[start:end].strip()
                                         for start, end in chunks)
            else:
                content = plain_text(page.text) if request.format == "text" else page.text
            results.append({"url": url, "raw_content": content, "images": []})
        return served.json({"results": results, "failed_results": failed, "response_time": 0,
                            "request_id": _request_id("tavily-extract", request.model_dump(), mask)})

    # -- SerpAPI: GET /serpapi/search(.json) (the clients' BACKEND / BASE_DOMAIN, or a search URL) -----
    async def serpapi(http: Request) -> Response:
        request = validated(SerpApiRequest, dict(http.query_params))
        if request.engine != "google" or request.output != "json":
            return served.json({"error": f"only engine=google and output=json are served here "
                                         f"(asked: {request.engine}, {request.output})"}, 400)
        if not request.q.strip():
            return served.json({"error": "Missing query `q` parameter."}, 400)
        hits = searched(request.q, request.num, http, offset=request.start,
                        sites=one_site(request.as_sitesearch, request.as_dt == "i"))
        pages = world.store.by_ids(h.doc_id for h in hits)
        organic = [{"position": request.start + rank, "title": h.title, "link": h.url, "displayed_link": h.url,
                    "snippet": h.snippet, "source": urlparse(h.url).hostname or "",
                    **({"date": _date(pages[h.doc_id].published_date)} if pages[h.doc_id].published_date else {})}
                   for rank, h in enumerate(hits, 1)]
        answer = {"search_metadata": {"id": _request_id("serpapi", request.model_dump(), served.mask(http)),
                                      "status": "Success"},
                  "search_parameters": {"engine": "google", "q": request.q, "num": request.num, "start": request.start},
                  "search_information": {"organic_results_state": "Results for exact spelling"},
                  "organic_results": organic}
        if len(hits) == request.num and request.start + request.num <= SERPAPI_LAST_START:  # pagination() follows `next`
            following = str(http.url.include_query_params(start=request.start + request.num))
            answer["serpapi_pagination"] = {"current": request.start // request.num + 1, "next": following,
                                            "next_link": following}
        return served.json(answer)

    for path in ("/serpapi/search", "/serpapi/search.json"):
        app.add_api_route(path, serpapi, methods=["GET"], name=f"serpapi{path.replace('/', '_').replace('.', '_')}",
                          summary="SerpAPI's Google search: organic_results with title, link, snippet")

    # -- Google Custom Search JSON API: GET /customsearch/v1 ------------------------------------------
    @app.get("/customsearch/v1", summary="Google Custom Search: items with title, link, snippet")
    async def custom_search(http: Request) -> Response:
        request = validated(CustomSearchRequest, dict(http.query_params))
        if not request.q.strip():
            return served.json({"error": {"code": 400, "message": "Missing query parameter q.",
                                          "status": "INVALID_ARGUMENT"}}, 400)
        num = min(request.num, GOOGLE_REACHABLE + 1 - request.start)
        sites = one_site(request.siteSearch, request.siteSearchFilter == "i")
        hits = searched(request.q, num, http, offset=request.start - 1, sites=sites)
        # totalResults: how many of the first 100 match (all a client can page through), counted without snippets
        reachable = len(searched(request.q, GOOGLE_REACHABLE, http, snippet_chars=0, sites=sites))
        items = [{"kind": "customsearch#result", "title": h.title, "htmlTitle": html.escape(h.title), "link": h.url,
                  "displayLink": urlparse(h.url).hostname or "", "snippet": h.snippet,
                  "htmlSnippet": html.escape(h.snippet),
                  "pagemap": {"metatags": [{"og:title": h.title, "og:description": h.snippet}]}} for h in hits]
        asked = {"searchTerms": request.q, "count": num, "startIndex": request.start}
        queries = {"request": [asked]}
        if request.start - 1 + len(items) < reachable:  # (reachable <= 100: the next start is too)
            queries["nextPage"] = [{**asked, "count": request.num, "startIndex": request.start + num}]
        return served.json({"kind": "customsearch#search", "queries": queries,
                            "searchInformation": {"searchTime": 0, "totalResults": str(reachable)},
                            **({"items": items} if items else {})})

    # -- FlashRAG's retriever server (ReCall, ReSearch): /flashrag/search, /flashrag/batch_search -------
    @app.post("/flashrag/search", summary="FlashRAG's retriever: a list of {id, contents}; with return_score, "
                                          "[documents, scores]")
    async def flashrag_search(request: FlashRagRequest, http: Request) -> Response:
        if not isinstance(request.query, str):
            return served.json({"detail": "one query here; a list goes to /batch_search"}, 422)
        if not request.query.strip():
            return served.json({"detail": "Query content cannot be empty"}, 400)  # as their server answers
        hits = searched(request.query, request.top_n, http, request.mask, RETRIEVE_PASSAGE_CHARS)
        docs = [_passage(h.doc_id, h.title, h.snippet) for h in hits]
        return served.json([docs, [h.score for h in hits]] if request.return_score else docs)

    @app.post("/flashrag/batch_search", summary="FlashRAG's batch retriever: a list of documents per query")
    async def flashrag_batch(request: FlashRagRequest, http: Request) -> Response:
        queries = [request.query] if isinstance(request.query, str) else request.query
        lists = await batch_lists(queries, request.top_n, http, request.mask)

        def answer() -> Response:
            docs = [[_passage(h.doc_id, h.title, h.snippet) for h in hits] for hits in lists]
            return served.json([docs, [[h.score for h in hits] for hits in lists]] if request.return_score else docs)
        return await built(answer, len(queries) * request.top_n)

    @app.get("/flashrag/health", summary="FlashRAG's retriever: ready")
    async def flashrag_health() -> Response:
        return served.json({"status": "healthy", "retrievers": {"total": 1, "available": 1}})

    async def batch_lists(queries: list[str], k: int, http: Request, mask: list[str]) -> list[list]:
        """The hits of each query, in order ([] for a blank or over-long one)."""
        searched, found = await batch_hits(served, queries, k, "bm25", served.mask(http, mask))
        lists: list[list] = [[] for _ in queries]
        for i, hits in zip(searched, found):
            lists[i] = hits
        return lists

    # -- R1-Searcher's wiki retriever: POST /queries -------------------------------------------------
    @app.post("/queries", summary="R1-Searcher's retriever: answers, k passages per query (each its id, "
                                  "then the quoted title and text)")
    async def wiki_queries(request: WikiQueriesRequest, http: Request) -> Response:
        lists = await batch_lists(request.queries, request.k, http, request.mask)

        def answer() -> Response:
            answers = [[f'{h.doc_id}\t"{h.title}"\n{h.snippet}' for h in hits] for hits in lists]
            return served.json({"queries": request.queries, "answers": answers})
        return await built(answer, len(request.queries) * request.k)

    # -- WebThinker's page parser: POST /parse_urls ----------------------------------------------------
    @app.post("/parse_urls", summary="WebThinker's page parser: per URL, success and the page's text")
    async def parse_urls(request: ParseUrlsRequest, http: Request) -> Response:
        results = []
        for url, page in zip(request.urls, world.pages(request.urls, served.mask(http, request.mask))):
            results.append({"success": True, "content": page.text} if page is not None else
                           {"success": False, "content": "", "error": f"{NOT_AVAILABLE}: {url[:200]}"})
        return served.json({"results": results})

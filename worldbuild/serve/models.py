"""Request bodies of every route, with the limits that keep one request from hurting others."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worldbuild.sites import is_site

MAX_QUERY_CHARS = 1000
MAX_K = 100
MAX_RETRIEVE_QUERIES = 8192
DEFAULT_TOPK = 3  # Search-R1's server default (`--topk 3`) when a request has none or 0
MAX_BATCH_HITS = 8192 * 10  # hits one batch may ask for (queries x k): its answer is built in memory
# an answer of more hits than this is built off the event loop (a Search-R1 batch, 2,560 x 3, is not:
# handing its answer to a thread cost 3-11% more CPU, bench/out/retrieve_batch_answer_thread_ab.json)
OFF_LOOP_HITS = 16_384
RLLM_FIELDS = ("top_k", "k", "retriever_type", "method")
MAX_ACCESS_URLS = 256
MAX_PAGE = 10
MAX_MASK = 200
MAX_URL_CHARS = 4096

Query = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to search for")
Mode = Field("bm25", description="bm25, dense (page vectors) or hybrid (reciprocal rank fusion of both)")
Mask = Field(default_factory=list, max_length=MAX_MASK,
             description="URLs hidden from this request: every spelling of each, and pages with the same content")


def _count(value) -> int | None:
    """A positive count sent as a number or as digits; None for anything else."""
    if type(value) is int or (isinstance(value, str) and value.strip().isdigit()):
        return int(value) if int(value) >= 1 else None
    return None


def _within_batch(queries: int, k: int) -> None:
    if queries * k > MAX_BATCH_HITS:
        raise ValueError(f"{queries} queries x {k} hits is over {MAX_BATCH_HITS} hits in one request: "
                         "ask fewer hits, or split the batch")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


MAX_SITES = 300  # sites an API's domain field may name (Tavily's own limit for its include_domains)


def _sites(values: list[str] | str | None):
    """An API's domain field: each entry names a site (Perplexity's may start with `-`)."""
    if isinstance(values, str) and not values.strip():
        return None  # (an empty `siteSearch=`: no site)
    for value in [values] if isinstance(values, str) else values or ():
        if not is_site(value.removeprefix("-")):
            raise ValueError(f"not a site: {value!r}")
    return values


class Strict(BaseModel):
    """JSON types are checked as sent (no "10" for 10); unknown fields are ignored, as peers send extras."""

    model_config = ConfigDict(strict=True, extra="ignore")


class SearchRequest(Strict):
    query: str = Query
    k: int = Field(10, ge=1, le=MAX_K)
    mode: Literal["bm25", "dense", "hybrid"] = Mode
    mask: list[str] = Mask

    _blank = field_validator("query")(_not_blank)


class BrowseRequest(Strict):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    goal: str | None = Field(None, max_length=MAX_QUERY_CHARS, description="What the agent looks for on the page")
    mask: list[str] = Mask
    max_chars: int = Field(8000, ge=200, le=200_000)
    offset: int = Field(0, ge=0)


class Lax(BaseModel):
    """A peer's request as its own server reads it: pydantic's default coercion ("3" for 3),
    unknown fields ignored."""

    model_config = ConfigDict(extra="ignore")


class RetrieveRequest(Lax):
    """Search-R1's retriever request, as its training loop, verl's search tool and ASearcher send
    it: every active rollout's query in one body. A blank or over-long query answers [] for that
    item (the batch never fails for one bad item); topk 0 or missing means the default, 3. Or one
    `query`, as BrowseComp-Plus's Search-R1 server takes it (its client sends nothing else)."""

    queries: list[str] | None = Field(None, max_length=MAX_RETRIEVE_QUERIES,
                                      description=f"Up to {MAX_RETRIEVE_QUERIES} queries, answered in order")
    query: str | None = Field(None, description="One query, as BrowseComp-Plus's Search-R1 server takes it "
                                                "(then `result` is one list of whole pages)")
    topk: int | None = Field(None, ge=0, le=MAX_K)
    top_k: int | None = Field(None, ge=1, le=MAX_K, description="With one `query`: rllm's retriever (then the "
                                                                  "answer is its `results`)")
    k: int | None = Field(None, ge=1, le=MAX_K, description="rllm's retriever: used when `top_k` is not given")
    retriever_type: str | None = Field(
        None, description="rllm's retriever: sparse is bm25 (method, its server's other name for it, too)")
    return_scores: bool = False
    mode: Literal["bm25", "dense", "hybrid"] = Mode
    mask: list[str] = Mask

    @model_validator(mode="before")
    @classmethod
    def _rllm_fields_with_one_query(cls, data):
        """rllm's fields are read only in its shape (one query), and only where they make sense
        there: a batch with a stray `k`, or a one-query body with a `top_k` of 0, is answered as
        before (and as the fast path answers it)."""
        if not isinstance(data, dict):
            return data
        kept = {key: value for key, value in data.items() if key not in RLLM_FIELDS}
        if data.get("queries") is not None:
            return kept
        for name in ("top_k", "k"):
            count = _count(data.get(name))
            if count is not None:
                kept[name] = min(count, MAX_K)
        kind = data.get("retriever_type", data.get("method"))
        if isinstance(kind, str):
            kept["retriever_type"] = kind
        return kept

    @model_validator(mode="after")
    def _one_shape(self):
        if self.queries is None and self.query is None:
            raise ValueError("give 'queries' (a list) or 'query' (one string)")
        _within_batch(len(self.queries or ()), self.topk or DEFAULT_TOPK)
        return self


class AccessRequest(Lax):
    """ASearcher's page access: the pages of these URLs, in order (null where absent)."""

    urls: list[str] = Field(max_length=MAX_ACCESS_URLS)
    mask: list[str] = Mask


class MaskRequest(Strict):
    urls: list[str] = Field(min_length=1, max_length=MAX_MASK)


class SerperRequest(Lax):
    """Serper's search request, from a JSON body or URL query parameters (`num` and `page` may be
    strings, as in a query string; `gl`, `hl` and the like are accepted and ignored)."""

    q: str = Query
    num: int = Field(10, ge=1, le=MAX_K)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    mode: Literal["bm25", "dense", "hybrid"] = Mode
    mask: list[str] = Mask

    _blank = field_validator("q")(_not_blank)


class LiteSearchOptions(Lax):
    """What the LiteResearcher authors' search requests share (`search_type`: hybrid, dense or sparse)."""

    limit: int = Field(10, ge=1, le=50)
    search_type: Literal["hybrid", "dense", "sparse"] = "hybrid"
    sparse_weight: float = Field(0.7, ge=0.0, le=2.0)
    dense_weight: float = Field(1.0, ge=0.0, le=2.0)
    mask: list[str] = Mask


class LiteSearchRequest(LiteSearchOptions):
    query: str = Field(max_length=MAX_QUERY_CHARS)


class LiteBatchSearchRequest(LiteSearchOptions):
    queries: list[str] = Field(min_length=1, max_length=100)


class LiteUrlRequest(Lax):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    mask: list[str] = Mask


class LiteUrlsRequest(Lax):
    urls: list[str] = Field(min_length=1, max_length=1000)
    mask: list[str] = Mask


class LiteBrowseRequest(Lax):
    """The LiteResearcher browse tool's request: a page and what to find on it."""

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    question: str = Field("", max_length=MAX_QUERY_CHARS)
    mask: list[str] = Mask


class JinaRequest(Lax):
    """Jina reader's POST body."""

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)


class JinaSearchRequest(Lax):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    num: int = Field(5, ge=1, le=20)


class TavilyRequest(Lax):
    """Tavily's search request (`api_key`, `search_depth` and the like are accepted and ignored)."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    max_results: int = Field(5, ge=1, le=MAX_K)
    include_raw_content: bool = False
    include_domains: list[str] | None = Field(None, max_length=MAX_SITES, description="Only pages of these sites (`site:`)")
    exclude_domains: list[str] | None = Field(None, max_length=MAX_SITES, description="No pages of these sites (`-site:`)")
    mask: list[str] = Mask

    _named = field_validator("include_domains", "exclude_domains")(_sites)


class TavilyExtractRequest(Lax):
    """Tavily's extract request: up to 20 URLs; with a `query`, each page's `chunks_per_source` most
    relevant passages instead of the whole page (`extract_depth`, `include_images` are ignored)."""

    urls: str | list[str] = Field(description="A URL or a list of up to 20")
    query: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    chunks_per_source: int = Field(3, ge=1, le=5)
    format: Literal["markdown", "text"] = "markdown"
    mask: list[str] = Mask


class SearxngRequest(Lax):
    """SearXNG's search API parameters (docs.searxng.org/dev/search_api.html), from the URL or a
    form; `categories`, `engines`, `language`, `time_range` and `safesearch` are accepted and
    ignored (one world, one engine). Only its JSON format is served. A mask comes through the
    address (`/m/<id>/search`): SearXNG's parameters have no field for one."""

    q: str = Field(max_length=MAX_QUERY_CHARS)
    format: Literal["json"] = "json"
    pageno: int = Field(1, ge=1, le=100)


class OpenResearcherSearchRequest(Lax):
    """OpenResearcher's search service request (`topn`: its browser's max_search_results)."""

    query: str = Field(max_length=MAX_QUERY_CHARS)
    topn: int = Field(10, ge=1, le=MAX_K)
    mask: list[str] = Mask


class OpenResearcherContentRequest(Lax):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    mask: list[str] = Mask


class FlashRagRequest(Lax):
    """FlashRAG's retriever server (ReCall, ReSearch): one query, or a list at /batch_search."""

    query: str | Annotated[list[str], Field(max_length=MAX_RETRIEVE_QUERIES)] = Field(
        description="One query (/search) or a list (/batch_search)")
    top_n: int = Field(10, ge=1, le=MAX_K)
    return_score: bool = False
    mask: list[str] = Mask

    @model_validator(mode="after")
    def _bounded(self):
        _within_batch(1 if isinstance(self.query, str) else len(self.query), self.top_n)
        return self


class WikiQueriesRequest(Lax):
    """R1-Searcher's wiki retriever: a batch of queries, k passages each."""

    queries: list[str] = Field(max_length=MAX_RETRIEVE_QUERIES)
    k: int = Field(3, ge=1, le=MAX_K)
    mask: list[str] = Mask

    @model_validator(mode="after")
    def _bounded(self):
        _within_batch(len(self.queries), self.k)
        return self


class ParseUrlsRequest(Lax):
    """WebThinker's page parser: the pages of these URLs, each with whether it was found."""

    urls: list[str] = Field(max_length=MAX_ACCESS_URLS)
    mask: list[str] = Mask


class ExaContents(Lax):
    """What Exa adds to each result: `text` (true or {maxCharacters}), `highlights` (true or
    {numSentences, highlightsPerUrl, query}); a summary needs a model and is left out."""

    text: bool | dict | None = None
    highlights: bool | dict | None = None


class ExaResults(ExaContents):
    """What Exa's search and findSimilar share, in its own camelCase."""

    numResults: int = Field(10, ge=1, le=MAX_K)
    contents: ExaContents | None = None
    includeDomains: list[str] | None = Field(None, max_length=MAX_SITES, description="Only pages of these sites (`site:`)")
    excludeDomains: list[str] | None = Field(None, max_length=MAX_SITES, description="No pages of these sites (`-site:`)")
    mask: list[str] = Mask

    _named = field_validator("includeDomains", "excludeDomains")(_sites)


class ExaSearchRequest(ExaResults):
    """Exa's search body (`type` and the date and text filters are accepted and ignored)."""

    query: str = Query

    _blank = field_validator("query")(_not_blank)


class ExaSimilarRequest(ExaResults):
    """Exa's findSimilar: pages like the one at `url` (that page and its copies left out)."""

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)


class ExaContentsRequest(ExaContents):
    urls: list[str] = Field(default_factory=list, max_length=MAX_ACCESS_URLS)
    ids: list[str] = Field(default_factory=list, max_length=MAX_ACCESS_URLS, description="Older clients' name for urls")
    mask: list[str] = Mask


class FirecrawlScrapeRequest(Lax):
    """Firecrawl's scrape body (v1 and v2): a page as Markdown (`formats` entries may be names
    or {"type": name}; only markdown, summary-free, is kept in a world)."""

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    formats: list[str | dict] = Field(default_factory=lambda: ["markdown"])
    mask: list[str] = Mask


class FirecrawlScrapeOptions(Lax):
    formats: list[str | dict] = Field(default_factory=list)


class FirecrawlSearchRequest(Lax):
    """Firecrawl's search body: with `scrapeOptions` asking for markdown, each result carries its page."""

    query: str = Query
    limit: int = Field(5, ge=1, le=MAX_K)
    scrapeOptions: FirecrawlScrapeOptions | None = None
    mask: list[str] = Mask

    _blank = field_validator("query")(_not_blank)


class PerplexitySearchRequest(Lax):
    """Perplexity's search body: one query or a list of up to 5 (results then per query);
    `max_tokens_per_page` sizes each snippet (about 4 characters a token); `search_domain_filter`
    keeps pages of its sites (one written `-site` is left out). Other filters are ignored."""

    query: str | list[str] = Field(description="A query, or a list of up to 5")
    max_results: int = Field(10, ge=1, le=20)
    max_tokens_per_page: int = Field(512, ge=16, le=2048)
    search_domain_filter: list[str] | None = Field(None, max_length=20)

    _named = field_validator("search_domain_filter")(_sites)
    mask: list[str] = Mask


class SerpApiRequest(Lax):
    """SerpAPI's Google search parameters (`api_key`, `gl`, `hl`, `location`, `tbs`, `source` ... are
    accepted and ignored); `start` counts results, as Google's does; `as_sitesearch` keeps a site's
    pages (`as_dt=e`: leaves them out), as Google's advanced search does."""

    q: str = Field("", max_length=MAX_QUERY_CHARS)
    engine: str = "google"
    num: int = Field(10, ge=1, le=MAX_K)
    start: int = Field(0, ge=0, le=1000)
    output: str = "json"
    as_sitesearch: str | None = None
    as_dt: Literal["e", "i"] = "i"

    _named = field_validator("as_sitesearch")(_sites)


class CustomSearchRequest(Lax):
    """Google Custom Search JSON API parameters (`key`, `cx`, `lr`, `safe` ... accepted and ignored);
    as Google's, only the first 100 results are reachable (a page past the 100th is cut there)."""

    q: str = Field("", max_length=MAX_QUERY_CHARS)
    num: int = Field(10, ge=1, le=10)
    start: int = Field(1, ge=1, le=100)
    siteSearch: str | None = Field(None, description="A site the results keep (`i`) or leave out (`e`)")
    siteSearchFilter: Literal["e", "i"] = "i"

    _named = field_validator("siteSearch")(_sites)

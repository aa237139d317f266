"""Search and reading APIs' own client packages, unchanged but for their base URL, against a live
`worldbuild serve` of the sample world: Exa (exa-py), Firecrawl (firecrawl-py), Perplexity
(perplexityai), SerpAPI (google-search-results) and Tavily (tavily-python). Each builds its request and parses our answer
into its own types, as an agent framework would use it; the test reads what the agent is given.
Then the local retrievers whose clients are not packages (FlashRAG's, R1-Searcher's, rllm's,
WebThinker's page parser, Google Custom Search) in the requests their clients send."""

import httpx
import pytest

ROOT_SERVERS = "http://www.iana.org/domains/root/servers"
FAQ = "https://commoncrawl.org/faq"


@pytest.fixture(scope="module")
def masked(server):
    """The server's address with a mask of the root-servers page in it (another spelling)."""
    registered = httpx.post(server + "/masks", json={"urls": ["https://iana.org/domains/root/servers/"]}).json()
    return server + registered["prefix"]


def test_exa_py_search_contents_and_mask(server, masked):
    exa_py = pytest.importorskip("exa_py")
    exa = exa_py.Exa(api_key="unused", base_url=server + "/exa")
    found = exa.search("root servers", num_results=3)  # 2.x asks for text (10,000 characters) by default
    first = found.results[0]
    assert first.url == ROOT_SERVERS and first.title == "Root Servers" and first.score > 0
    assert "root" in first.text.lower() and len(found.results) == 3
    bare = exa.search("root servers", num_results=2, contents=False).results
    assert [r.url for r in bare] == [r.url for r in found.results[:2]] and bare[0].text is None
    highlighted = exa.search("root servers", num_results=1, contents={"highlights": True}).results[0]
    assert highlighted.highlights and "root" in highlighted.highlights[0].lower()
    read = exa.get_contents([ROOT_SERVERS, "https://example.com/not-in-the-world"], text={"max_characters": 120})
    assert [r.url for r in read.results] == [ROOT_SERVERS] and len(read.results[0].text) == 120
    assert [s.status for s in read.statuses] == ["success", "error"]
    assert read.statuses[1].error.http_status_code == 404
    hidden = exa_py.Exa(api_key="unused", base_url=masked + "/exa").search("root servers", num_results=3)
    assert hidden.results and ROOT_SERVERS not in [r.url for r in hidden.results]
    with pytest.raises(ValueError, match="422"):
        exa.search("   ")
    similar = exa.find_similar(ROOT_SERVERS, num_results=3).results
    assert similar and ROOT_SERVERS not in [r.url for r in similar]  # the page itself (and its copies) left out


def test_firecrawl_py_scrape_search_and_missing_page(server, masked):
    firecrawl = pytest.importorskip("firecrawl")
    app = firecrawl.Firecrawl(api_key="unused", api_url=server)  # (v2 joins its paths to the host alone)
    page = app.scrape(FAQ, formats=["markdown"])
    assert page.metadata.title and page.metadata.source_url == FAQ and page.metadata.status_code == 200
    assert "Common Crawl" in page.markdown
    results = app.search("root servers", limit=3)
    assert results.web[0].url == ROOT_SERVERS and results.web[0].title == "Root Servers" and results.web[0].description
    scraped = app.search("root servers", limit=1, scrape_options={"formats": ["markdown"]}).web[0]
    assert scraped.markdown and scraped.metadata.url == ROOT_SERVERS  # a result with content is a Document
    with pytest.raises(Exception, match="not available in this world"):
        app.scrape("https://example.com/not-in-the-world")
    for odd in ([1], None):  # formats the client would never send, but a hand-made request might
        answer = httpx.post(server + "/v2/search", json={"query": "root servers", "scrapeOptions": {"formats": odd}})
        assert answer.status_code == 422 and not answer.json().get("success")
    v1 = firecrawl.V1FirecrawlApp(api_key="unused", api_url=server + "/firecrawl")
    assert "Common Crawl" in v1.scrape_url(FAQ, formats=["markdown"]).markdown
    assert v1.search("root servers", limit=2).data[0]["url"] == ROOT_SERVERS
    with pytest.raises(Exception, match="not available in this world"):
        firecrawl.V1FirecrawlApp(api_key="unused", api_url=masked + "/firecrawl").scrape_url(ROOT_SERVERS)


def test_perplexity_search_one_query_and_several(server, masked):
    perplexity = pytest.importorskip("perplexity")
    client = perplexity.Perplexity(api_key="unused", base_url=server + "/perplexity", max_retries=0)
    one = client.search.create(query="root servers", max_results=3)
    assert one.results[0].url == ROOT_SERVERS and one.results[0].title == "Root Servers"
    assert "root" in one.results[0].snippet.lower() and len(one.results) == 3
    several = client.search.create(query=["root servers", "common crawl"], max_results=2)
    urls = [[item.url for item in results] for results in several.results]  # one list per query (its docs)
    assert urls[0][0] == ROOT_SERVERS and urls[1] and urls[1] != urls[0]
    hidden = perplexity.Perplexity(api_key="unused", base_url=masked + "/perplexity", max_retries=0)
    assert ROOT_SERVERS not in [r.url for r in hidden.search.create(query="root servers").results]
    with pytest.raises(perplexity.UnprocessableEntityError):
        client.search.create(query=[f"q{i}" for i in range(6)])


def test_serpapi_google_search_results_client(server, masked, monkeypatch):
    serpapi = pytest.importorskip("serpapi")
    if not hasattr(serpapi, "GoogleSearch"):
        pytest.skip("the `serpapi` package installed is the newer client; google-search-results is tested")
    monkeypatch.setattr(serpapi.SerpApiClient, "BACKEND", server + "/serpapi")  # the client's one knob
    answer = serpapi.GoogleSearch({"q": "root servers", "num": 3, "api_key": "unused"}).get_dict()
    organic = answer["organic_results"]
    assert organic[0]["link"] == ROOT_SERVERS and organic[0]["title"] == "Root Servers" and organic[0]["snippet"]
    assert [r["position"] for r in organic] == [1, 2, 3] and "error" not in answer
    later = serpapi.GoogleSearch({"q": "root servers", "num": 2, "start": 1}).get_dict()["organic_results"]
    assert [r["link"] for r in later] == [r["link"] for r in organic[1:3]] and later[0]["position"] == 2
    assert "error" in serpapi.GoogleSearch({"q": "root servers", "engine": "bing"}).get_dict()
    pages = list(serpapi.GoogleSearch({"q": "root servers", "num": 2}).pagination(start=0, end=6, page_size=2))
    linked = [r["link"] for page in pages for r in page["organic_results"]]
    assert len(pages) == 3 and linked[:2] == [r["link"] for r in organic[:2]] and len(set(linked)) == 6
    # (after the first page the client sends start + 1: it asks start=3 for its second page of 2, as to SerpAPI)
    assert [page["organic_results"][0]["position"] for page in pages] == [1, 4, 6]
    monkeypatch.setattr(serpapi.SerpApiClient, "BACKEND", masked + "/serpapi")
    hidden = serpapi.GoogleSearch({"q": "root servers"}).get_dict()["organic_results"]
    assert hidden and ROOT_SERVERS not in [r["link"] for r in hidden]


def test_tavily_python_search_and_extract(server, masked):
    tavily = pytest.importorskip("tavily")
    client = tavily.TavilyClient(api_key="tvly-unused", api_base_url=server + "/tavily")
    found = client.search("root servers", max_results=3)["results"]
    assert found[0]["url"] == ROOT_SERVERS and found[0]["title"] == "Root Servers" and found[0]["content"]
    read = client.extract([FAQ, "https://example.com/not-in-the-world"])
    assert [r["url"] for r in read["results"]] == [FAQ] and "Common Crawl" in read["results"][0]["raw_content"]
    assert read["failed_results"][0]["url"] == "https://example.com/not-in-the-world"
    whole = read["results"][0]["raw_content"]
    focused = client.extract(FAQ, query="crawl data format", chunks_per_source=2)["results"][0]["raw_content"]
    assert focused != whole and len(focused) < len(whole) and "crawl" in focused.lower()
    focused_text = client.extract(FAQ, query="crawl data format", chunks_per_source=2, format="text")
    text_chunks = focused_text["results"][0]["raw_content"]
    assert text_chunks.count(" [...] ") == focused.count(" [...] ") == 1  # the same two chunks
    assert "## Technical Questions" in focused and "## " not in text_chunks and "Technical Questions" in text_chunks
    as_text = client.extract(FAQ, format="text")["results"][0]["raw_content"]
    assert "Common Crawl" in as_text and "](" not in as_text  # plain words, no Markdown links
    hidden = tavily.TavilyClient(api_key="tvly-unused", api_base_url=masked + "/tavily")
    assert ROOT_SERVERS not in [r["url"] for r in hidden.search("root servers")["results"]]
    from tavily.errors import BadRequestError

    with pytest.raises(BadRequestError, match="not a site: 'not a site'"):  # the reason reaches the agent
        client.search("root servers", include_domains=["not a site"])
    with pytest.raises(BadRequestError, match="urls"):
        hidden.extract([f"https://example.com/{i}" for i in range(21)])
    assert hidden.extract([ROOT_SERVERS])["failed_results"][0]["url"] == ROOT_SERVERS


def test_domain_filters_of_the_clients_keep_and_leave_out_sites(server):
    """Each client's own domain fields, as an agent framework passes them on (`site:` underneath)."""
    def site_of(url: str) -> str:
        return httpx.URL(url).host.removeprefix("www.")

    exa_py = pytest.importorskip("exa_py")
    exa = exa_py.Exa(api_key="unused", base_url=server + "/exa")
    kept = exa.search("root servers", num_results=3, include_domains=["commoncrawl.org"], contents=False).results
    assert kept and {site_of(r.url) for r in kept} == {"commoncrawl.org"}
    left = exa.search("root servers", num_results=3, exclude_domains=["iana.org"], contents=False).results
    assert left and "iana.org" not in {site_of(r.url) for r in left}
    many = [f"site{i}.example.org" for i in range(60)] + ["iana.org"]  # (not counted in the query's length)
    left = exa.search("root servers", num_results=3, exclude_domains=many, contents=False).results
    assert left and "iana.org" not in {site_of(r.url) for r in left}
    tavily = pytest.importorskip("tavily")
    client = tavily.TavilyClient(api_key="tvly-unused", api_base_url=server + "/tavily")
    found = client.search("root servers", max_results=5, include_domains=["https://commoncrawl.org"])["results"]
    assert found and {site_of(r["url"]) for r in found} == {"commoncrawl.org"}
    found = client.search("root servers", max_results=5, exclude_domains=["iana.org"])["results"]
    assert found and "iana.org" not in {site_of(r["url"]) for r in found}
    perplexity = pytest.importorskip("perplexity")
    search = perplexity.Perplexity(api_key="unused", base_url=server + "/perplexity", max_retries=0).search
    kept = search.create(query="root servers", max_results=5, search_domain_filter=["commoncrawl.org"]).results
    assert kept and {site_of(r.url) for r in kept} == {"commoncrawl.org"}
    left = search.create(query="root servers", max_results=5, search_domain_filter=["-iana.org"]).results
    assert left and "iana.org" not in {site_of(r.url) for r in left}


def test_google_custom_search_json_api(server):
    found = httpx.get(server + "/customsearch/v1", params={"q": "root servers", "key": "k", "cx": "c", "num": 2}).json()
    assert [item["link"] for item in found["items"]][0] == ROOT_SERVERS and found["items"][0]["snippet"]
    total = int(found["searchInformation"]["totalResults"])  # matches among the first 100, as Google pages
    assert found["queries"]["nextPage"][0]["startIndex"] == 3 and 2 < total <= 100
    second = httpx.get(server + "/customsearch/v1", params={"q": "root servers", "num": 1, "start": 2}).json()
    assert second["items"][0]["link"] == found["items"][1]["link"]
    last = httpx.get(server + "/customsearch/v1", params={"q": "root servers", "num": 10, "start": total - 1}).json()
    assert len(last["items"]) == 2 and "nextPage" not in last["queries"]
    assert "items" not in httpx.get(server + "/customsearch/v1", params={"q": "zzqxv"}).json()  # as Google: no key
    blank = httpx.get(server + "/customsearch/v1", params={"q": " "})
    assert blank.status_code == 400 and blank.json()["error"]["message"]


def test_flashrag_retriever_as_recall_and_research_call_it(server, masked):
    one = httpx.post(server + "/flashrag/search", json={"query": "root servers", "top_n": 3}).json()
    assert len(one) == 3 and one[0]["contents"].startswith('"Root Servers"\n')  # what wikipedia_search joins
    docs, scores = httpx.post(server + "/flashrag/search",
                              json={"query": "root servers", "top_n": 2, "return_score": True}).json()
    assert [d["id"] for d in docs] == [d["id"] for d in one[:2]] and scores[0] >= scores[1] > 0
    assert httpx.post(server + "/flashrag/search", json={"query": " "}).status_code == 400  # as their server
    batch = httpx.post(server + "/flashrag/batch_search", json={"query": ["root servers", "", "common crawl"],
                                                               "top_n": 2}).json()
    assert batch[0] == one[:2] and batch[1] == [] and "Common Crawl" in batch[2][0]["contents"]
    hidden = httpx.post(masked + "/flashrag/search", json={"query": "root servers"}).json()
    assert hidden and not any(d["contents"].startswith('"Root Servers"') for d in hidden)


def test_r1_searcher_wiki_queries(server):
    answer = httpx.post(server + "/queries", json={"queries": ["root servers", "common crawl"], "k": 2}).json()
    assert answer["queries"] == ["root servers", "common crawl"] and [len(a) for a in answer["answers"]] == [2, 2]
    first = answer["answers"][0][0]
    doc_id, rest = first.split("\t", 1)  # their evaluation strips the leading id (re.sub(r'^\d+\s+', ''))
    assert doc_id.isdigit() and rest.startswith('"Root Servers"\n')


def test_rllm_retriever_one_query_with_top_k(server):
    answer = httpx.post(server + "/retrieve", json={"query": "root servers", "top_k": 2}).json()
    assert answer["num_results"] == 2 and answer["results"][0]["content"].startswith('"Root Servers"\n')
    assert answer["results"][0]["score"] > 0 and answer["query"] == "root servers"
    assert httpx.post(server + "/retrieve", json={"query": "root servers", "top_k": 4, "k": 1}).json()["num_results"] == 4
    sparse = httpx.post(server + "/retrieve", json={"query": "root servers", "k": 2, "retriever_type": "sparse"}).json()
    assert sparse["method"] == "sparse" and sparse["results"] == answer["results"]
    named = httpx.post(server + "/retrieve", json={"query": "root servers", "top_k": "2", "method": "sparse"}).json()
    assert named["method"] == "sparse" and named["results"] == answer["results"]  # its server's other name
    zero = httpx.post(server + "/retrieve", json={"query": "root servers", "top_k": 0})  # not rllm's: BrowseComp's
    assert zero.status_code == 200 and "document" in zero.json()["result"][0]
    hybrid = httpx.post(server + "/retrieve", json={"query": "root servers", "top_k": 2, "retriever_type": "hybrid"})
    assert hybrid.json()["method"] == "hybrid" or "no dense index" in hybrid.json()["note"]
    stray = httpx.post(server + "/retrieve", json={"queries": ["root servers"], "topk": "2", "k": 500})
    assert stray.status_code == 200 and len(stray.json()["result"][0]) == 2  # a batch's stray k is not rllm's
    browsecomp = httpx.post(server + "/retrieve", json={"query": "root servers"}).json()  # no top_k: BrowseComp-Plus's
    assert "document" in browsecomp["result"][0]


def test_training_batches_on_the_batch_routes(server):
    """/queries and /flashrag/batch_search take bodies past 1 MiB, as /retrieve does, and refuse a
    batch whose hits (queries x k) would be over the limit, in one line."""
    queries = [f"root servers {i} " + "word " * 30 for i in range(7000)]  # about 1.2 MB
    big = httpx.post(server + "/queries", json={"queries": queries, "k": 1}, timeout=300)
    assert big.status_code == 200 and len(big.json()["answers"]) == 7000 and big.json()["answers"][0]
    over = httpx.post(server + "/flashrag/batch_search", json={"query": ["root servers"] * 8192, "top_n": 11})
    assert over.status_code == 422 and "hits" in over.json()["error"]
    also = httpx.post(server + "/retrieve", json={"queries": ["root servers"] * 8192, "topk": 11})  # (the fast path's)
    assert also.status_code == 422 and "hits" in also.json()["error"]
    many = [f"root servers {i}" for i in range(6000)]  # 18,000 hits asked: the answer is built off the loop
    for topk in (3, "3"):  # the fast path's body, and the validating route's
        answer = httpx.post(server + "/retrieve", json={"queries": many, "topk": topk}, timeout=300)
        assert answer.status_code == 200 and [len(docs) for docs in answer.json()["result"]] == [3] * 6000


def test_webthinker_parse_urls(server, masked):
    answer = httpx.post(server + "/parse_urls", json={"urls": [FAQ, "https://example.com/not-in-the-world"]}).json()
    found, missing = answer["results"]
    assert found["success"] and "Common Crawl" in found["content"]
    assert not missing["success"] and "not available" in missing["error"]
    assert httpx.post(server + "/parse_urls", json={"urls": [ROOT_SERVERS]}).json()["results"][0]["success"]
    assert not httpx.post(masked + "/parse_urls", json={"urls": [ROOT_SERVERS]}).json()["results"][0]["success"]
    many = [f"https://example.com/{i}" for i in range(199)] + [ROOT_SERVERS]  # a long body mask, resolved once
    both = httpx.post(server + "/parse_urls", json={"urls": [FAQ, ROOT_SERVERS] * 100, "mask": many}).json()["results"]
    assert [r["success"] for r in both] == [True, False] * 100


def test_a_mask_named_by_the_api_key_for_clients_that_keep_only_the_host(server, masked):
    """firecrawl-py 4 joins its paths to the host alone, dropping /m/<id>: the key carries the mask."""
    firecrawl = pytest.importorskip("firecrawl")
    key = "wbmask-" + masked.rsplit("/m/", 1)[1]
    assert firecrawl.Firecrawl(api_key="fc-unused", api_url=server).scrape(ROOT_SERVERS).markdown
    hidden = firecrawl.Firecrawl(api_key=key, api_url=server)
    with pytest.raises(Exception, match="not available in this world"):
        hidden.scrape(ROOT_SERVERS)
    assert ROOT_SERVERS not in [r.url for r in hidden.search("root servers", limit=5).web]
    as_param = httpx.get(server + "/serpapi/search", params={"q": "root servers", "api_key": key}).json()
    assert ROOT_SERVERS not in [r["link"] for r in as_param["organic_results"]]
    as_header = httpx.post(server + "/exa/search", json={"query": "root servers"}, headers={"x-api-key": key}).json()
    assert ROOT_SERVERS not in [r["url"] for r in as_header["results"]]
    unknown = httpx.post(server + "/v2/scrape", json={"url": FAQ}, headers={"authorization": "Bearer wbmask-" + "0" * 24})
    assert unknown.status_code == 404  # an id never registered: never an unmasked answer
    for headers, params in (({"authorization": "WBMASK-" + key[7:]}, {}),  # no Bearer, the prefix in any case
                            ({"x-subscription-token": key}, {}),  # Brave's key header
                            ({}, {"key": key})):  # Custom Search's key parameter
        found = httpx.get(server + "/customsearch/v1", params={"q": "root servers", **params}, headers=headers)
        assert ROOT_SERVERS not in [item["link"] for item in found.json()["items"]]
    other = httpx.post(server + "/masks", json={"urls": [FAQ]}).json()["prefix"]  # an address mask and a key: both
    both = httpx.post(server + other + "/search", json={"query": "root servers common crawl faq", "k": 10},
                      headers={"x-api-key": key}).json()["results"]
    assert both and not {ROOT_SERVERS, FAQ} & {hit["url"] for hit in both}


# Each new route, through a masked address: the masked page is gone, and without the mask it is there.
MASKED_ROUTES = [
    ("post", "/exa/contents", {"urls": [ROOT_SERVERS]}, lambda a: [r["url"] for r in a["results"]]),
    ("post", "/v2/search", {"query": "root servers"}, lambda a: [r["url"] for r in a["data"]["web"]]),
    ("post", "/firecrawl/v1/search", {"query": "root servers"}, lambda a: [r["url"] for r in a["data"]]),
    ("post", "/perplexity/search", {"query": ["root servers", "root zone"]},
     lambda a: [r["url"] for results in a["results"] for r in results]),
    ("get", "/customsearch/v1", {"q": "root servers"}, lambda a: [r["link"] for r in a.get("items", [])]),
    ("post", "/queries", {"queries": ["root servers"]}, lambda a: [p.split("\n")[0] for p in a["answers"][0]]),
    ("post", "/retrieve", {"query": "root servers", "top_k": 5}, lambda a: [r["content"] for r in a["results"]]),
    ("post", "/flashrag/batch_search", {"query": ["root servers"]}, lambda a: [d["contents"] for d in a[0]]),
    ("post", "/tavily/extract", {"urls": [ROOT_SERVERS]}, lambda a: [r["url"] for r in a["results"]]),
]


@pytest.mark.parametrize("method,path,request_,seen", MASKED_ROUTES, ids=[route[1] for route in MASKED_ROUTES])
def test_a_mask_in_the_address_holds_on_every_new_route(server, masked, method, path, request_, seen):
    def shown(base):
        sent = httpx.get(base + path, params=request_) if method == "get" else httpx.post(base + path, json=request_)
        assert sent.status_code == 200, sent.text
        return " ".join(seen(sent.json()))
    assert "Root Servers" in shown(server) or ROOT_SERVERS in shown(server)
    hidden = shown(masked)
    assert "Root Servers" not in hidden and ROOT_SERVERS not in hidden

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
    as_text = client.extract(FAQ, format="text")["results"][0]["raw_content"]
    assert "Common Crawl" in as_text and "](" not in as_text  # plain words, no Markdown links
    hidden = tavily.TavilyClient(api_key="tvly-unused", api_base_url=masked + "/tavily")
    assert ROOT_SERVERS not in [r["url"] for r in hidden.search("root servers")["results"]]
    assert hidden.extract([ROOT_SERVERS])["failed_results"][0]["url"] == ROOT_SERVERS


def test_google_custom_search_json_api(server):
    found = httpx.get(server + "/customsearch/v1", params={"q": "root servers", "key": "k", "cx": "c", "num": 2}).json()
    assert [item["link"] for item in found["items"]][0] == ROOT_SERVERS and found["items"][0]["snippet"]
    assert found["queries"]["nextPage"][0]["startIndex"] == 3 and found["searchInformation"]["totalResults"] == "2"
    second = httpx.get(server + "/customsearch/v1", params={"q": "root servers", "num": 1, "start": 2}).json()
    assert second["items"][0]["link"] == found["items"][1]["link"]
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
    assert httpx.post(server + "/retrieve", json={"query": "root servers", "top_k": 5, "k": 1}).json()["num_results"] == 1
    browsecomp = httpx.post(server + "/retrieve", json={"query": "root servers"}).json()  # no top_k: BrowseComp-Plus's
    assert "document" in browsecomp["result"][0]


def test_webthinker_parse_urls(server, masked):
    answer = httpx.post(server + "/parse_urls", json={"urls": [FAQ, "https://example.com/not-in-the-world"]}).json()
    found, missing = answer["results"]
    assert found["success"] and "Common Crawl" in found["content"]
    assert not missing["success"] and "not available" in missing["error"]
    assert not httpx.post(masked + "/parse_urls", json={"urls": [ROOT_SERVERS]}).json()["results"][0]["success"]

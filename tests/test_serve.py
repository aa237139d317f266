"""`worldbuild serve` over real HTTP: every route, masking by URL variants, bad input, the
Search-R1 request as its clients send it, the Python clients, and several workers."""

import asyncio
import json
import os
import time

import httpx
import pytest

from tests.conftest import needs_extra
from tests.services import free_port, start_server
from worldbuild.client import AsyncWorldClient, WorldClient, WorldError

ROOT_SERVERS = "http://www.iana.org/domains/root/servers"
VARIANTS = [
    ROOT_SERVERS,
    "https://www.iana.org/domains/root/servers",
    "http://iana.org/domains/root/servers",
    "http://www.iana.org/domains/root/servers/",
    "http://www.iana.org/domains/root/servers#list",
    "http://www.iana.org/domains/root/servers?utm_source=newsletter&utm_medium=mail",
    "HTTP://WWW.IANA.ORG/domains/root/servers",
    "https://IANA.org:443/domains/root/servers/",
]


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def snapshot(sample_world):
    return sample_world[1].manifest["snapshot"]


def one_line_error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == response.status_code
    assert "\n" not in body["error"] and 0 < len(body["error"]) <= 300
    return body["error"]


# -- every route ----------------------------------------------------------------------------
def test_every_route_answers_with_the_snapshot(http, snapshot):
    search = http.post("/search", json={"query": "root servers", "k": 3})
    assert search.status_code == 200 and search.headers["X-World-Snapshot"] == snapshot
    body = search.json()
    assert body["snapshot"] == snapshot and body["results"][0]["url"] == ROOT_SERVERS
    assert set(body["results"][0]) == {"title", "url", "snippet", "score", "crawl_date"}

    browse = http.post("/browse", json={"url": "https://iana.org/domains/root/servers/", "max_chars": 2000})
    assert browse.status_code == 200 and browse.json()["title"] == "Root Servers"
    assert browse.json()["snapshot"] == snapshot

    retrieve = http.post("/retrieve", json={"queries": ["root servers", "common crawl"], "topk": 2,
                                            "return_scores": True}).json()
    assert len(retrieve["result"]) == 2 and len(retrieve["result"][0]) == 2
    assert retrieve["result"][0][0]["document"]["contents"].startswith('"Root Servers"\n')

    serper = http.post("/serper/search", json={"q": "root servers", "num": 3, "gl": "us"}).json()
    assert serper["organic"][0] == {**serper["organic"][0], "link": ROOT_SERVERS, "position": 1}
    assert serper["searchParameters"]["q"] == "root servers"

    reader = http.get("/r/" + ROOT_SERVERS)
    assert reader.status_code == 200 and reader.headers["X-World-Snapshot"] == snapshot
    assert reader.text.startswith("Title: Root Servers\n") and "Markdown Content:" in reader.text

    assert http.get("/health").json() == {"status": "ok", "pages": http.get("/stats").json()["pages"],
                                          "snapshot": snapshot}
    stats = http.get("/stats").json()
    assert stats["worker"]["rss_mb"] > 0 and stats["inputs"]
    schema = http.get("/openapi.json").json()
    assert {"/search", "/browse", "/retrieve", "/serper/search", "/r/{target}", "/r/", "/mask", "/masks", "/access",
            "/lr/search", "/lr/query", "/health", "/stats"} <= set(schema["paths"])
    assert http.post("/mask", json={"urls": ["https://IANA.org/domains/root/servers/"]}).json()["urls"] == [ROOT_SERVERS]


def test_browse_with_a_goal_puts_relevant_passages_first(http):
    plain = http.post("/browse", json={"url": ROOT_SERVERS, "max_chars": 1500}).json()
    goal = http.post("/browse", json={"url": ROOT_SERVERS, "max_chars": 1500,
                                      "goal": "which organisation manages the root server at 192.112.36.4"}).json()
    assert plain["goal_passages"] == 0 and goal["goal_passages"] >= 1
    assert goal["content"].startswith("## Most relevant to the goal")
    assert "192.112.36.4" in goal["content"].split("## Page text")[0]
    again = http.post("/browse", json={"url": ROOT_SERVERS, "max_chars": 1500,
                                       "goal": "which organisation manages the root server at 192.112.36.4"}).json()
    assert again == goal  # deterministic


def test_browse_windows_through_a_long_page(http):
    first = http.post("/browse", json={"url": "https://commoncrawl.org/faq", "max_chars": 1000}).json()
    assert first["next_offset"] and len(first["content"]) <= 1000
    second = http.post("/browse", json={"url": "https://commoncrawl.org/faq", "max_chars": 1000,
                                        "offset": first["next_offset"]}).json()
    assert second["offset"] == first["next_offset"] and second["content"] != first["content"]


def test_reader_keeps_the_target_query_and_repairs_slashes(http):
    assert http.get("/r/http:/www.iana.org/domains/root/servers").status_code == 200
    assert http.get("/r/http://www.iana.org/domains/root/servers?utm_source=x").status_code == 200


# -- masking --------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_masked_page_never_appears_on_any_route(http, variant):
    mask = [variant]
    search = http.post("/search", json={"query": "root servers", "k": 10, "mask": mask}).json()["results"]
    assert ROOT_SERVERS not in [hit["url"] for hit in search] and search
    serper = http.post("/serper/search", json={"q": "root servers", "num": 10, "mask": mask}).json()["organic"]
    assert ROOT_SERVERS not in [hit["link"] for hit in serper]
    retrieve = http.post("/retrieve", json={"queries": ["root servers"], "topk": 10, "mask": mask,
                                            "return_scores": True}).json()["result"][0]
    assert ROOT_SERVERS not in [d["document"]["url"] for d in retrieve]
    for url in VARIANTS:  # browse by any spelling, with the mask given in any spelling
        response = http.post("/browse", json={"url": url, "mask": mask})
        assert response.status_code == 404 and "not available" in one_line_error(response)
        assert http.get("/r/" + url, headers={"X-Worldbuild-Mask": variant}).status_code == 404


def test_mask_applies_before_top_k(http):
    unmasked = http.post("/search", json={"query": "iana domains root", "k": 5}).json()["results"]
    mask = [hit["url"] for hit in unmasked[:3]]
    masked = http.post("/search", json={"query": "iana domains root", "k": 5, "mask": mask}).json()["results"]
    assert len(masked) == 5 and not {h["url"] for h in masked} & set(mask)


def _captured_html(url: str) -> bytes:
    """The body of the first HTTP 200 capture of `url` in the sample corpus (what the world kept)."""
    from warcio.archiveiterator import ArchiveIterator

    from tests.conftest import CORPORA
    from worldbuild.urls import canonical_url

    for name in sorted(os.listdir(CORPORA)):
        if name.endswith(".warc.gz"):
            with open(os.path.join(CORPORA, name), "rb") as handle:
                for record in ArchiveIterator(handle):
                    if (record.rec_type == "response" and record.http_headers is not None
                            and record.http_headers.get_statuscode() == "200"
                            and canonical_url(record.rec_headers.get_header("WARC-Target-URI")) == canonical_url(url)):
                        return record.content_stream().read()
    raise AssertionError(f"{url} is not in the sample corpus")


def test_mask_covers_mirrors_ingested_later(sample_copy, tmp_path):
    """An exact copy and a near-copy of a page, on other hosts, added by a later ingest: the
    exact copy's URL becomes an alias, the near-copy joins the page's mirror cluster, and a mask
    of any of them hides all of them."""
    from tests.warcs import response, write_warc
    from worldbuild.ingest.pipeline import ingest
    from worldbuild.records import IngestSettings
    from worldbuild.world import World

    html = _captured_html(ROOT_SERVERS)
    near = html.replace(b"<h1>Root Servers</h1>",
                        b"<h1>Root Servers</h1><p>Mirrored from iana.org for our readers; see the original there.</p>", 1)
    assert near != html
    warc = write_warc(str(tmp_path / "mirrors.warc.gz"), [response("https://mirror.example/root", html),
                                                          response("https://syndicate.example/root", near)])
    with World.open(sample_copy) as world:
        settings = IngestSettings.of_world(world.manifest)
    result = ingest([warc], sample_copy, settings)
    assert result.report.skips["duplicate content"] == 1 and result.report.pages_kept == 1
    with World.open(sample_copy) as world:
        assert world.page("https://mirror.example/root").url == ROOT_SERVERS  # the alias reaches the kept page
        assert world.page("https://syndicate.example/root").url == "https://syndicate.example/root"
        for mask in (["https://iana.org/domains/root/servers/"], ["https://mirror.example/root"],
                     ["http://syndicate.example/root/"]):
            for url in (ROOT_SERVERS, "https://mirror.example/root", "https://syndicate.example/root"):
                assert world.page(url, mask=mask) is None and world.browse(url, mask=mask) is None
            shown = {hit.url for hit in world.search("root servers", k=10, mask=mask)}
            assert shown and not shown & {ROOT_SERVERS, "https://syndicate.example/root"}


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("path,body,status", [
    ("/search", b'{"query": "root', 400),
    ("/search", b"[1, 2, 3]", 400),
    ("/search", b'"just a string"', 400),
    ("/search", b'{"query": 42}', 422),
    ("/search", b'{"query": "x", "k": "10"}', 422),
    ("/search", b'{"query": "x", "mask": "http://a.example/"}', 422),
    ("/search", b'{"query": ""}', 422),
    ("/search", b'{"query": "   "}', 422),
    ("/search", json.dumps({"query": "word " * 2048}).encode(), 422),
    ("/search", b'{"query": "x", "k": 0}', 422),
    ("/search", b'{"query": "x", "k": -5}', 422),
    ("/search", b'{"query": "x", "k": 100000000}', 422),
    ("/search", b'{"query": "x", "mode": "telepathy"}', 422),
    ("/search", b'{"query": "x", "mode": "dense"}', 400),
    ("/search", b"{}", 422),
    ("/search", b'{"query": "caf\xe9 \xff\xfe"}', 400),
    ("/browse", b'{"url": ""}', 422),
    ("/browse", b'{"url": "http://nowhere.example/page"}', 404),
    ("/browse", b'{"url": "not even a url"}', 404),
    ("/browse", b'{"url": "http://www.iana.org/domains", "max_chars": 0}', 422),
    ("/browse", b'{"url": "http://www.iana.org/domains", "offset": -1}', 422),
    ("/retrieve", b'{"queries": "root servers"}', 422),
    ("/retrieve", b'{"queries": [7]}', 422),
    ("/retrieve", b'{"queries": ["x"], "topk": -1}', 422),
    ("/retrieve", b'{"queries": ["x"], "topk": "three"}', 422),
    ("/retrieve", json.dumps({"queries": ["x"] * 8193}).encode(), 422),
    ("/serper/search", b'{"q": "x", "page": 0}', 422),
    ("/serper/search", b'{"q": "x", "num": "lots"}', 422),
    ("/access", b'{"urls": "http://www.iana.org/"}', 422),
    ("/lr/search", b'{"query": "x", "search_type": "telepathy"}', 422),
    ("/lr/query", b'{"question": "x"}', 422),
    ("/masks", b'{"urls": ["not a url"]}', 422),
    ("/masks", b'{"urls": []}', 422),
    ("/serper/search", b'{"num": 3}', 422),
])
def test_bad_requests_get_a_one_line_4xx(http, path, body, status):
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    one_line_error(response)


def test_retrieve_answers_a_training_batch_item_by_item(http):
    """Search-R1 sends every rollout's query in one body: no search this turn, blank and
    over-long queries answer [] for their item and say why; the batch never fails for one."""
    assert http.post("/retrieve", json={"queries": []}).json()["result"] == []
    queries = ["root servers", "", "   ", "word " * 300, "the of and", "root servers"]
    body = http.post("/retrieve", json={"queries": queries, "topk": "2", "return_scores": "true"}).json()
    result = body["result"]
    assert [len(docs) for docs in result] == [2, 0, 0, 0, 0, 2] and result[0] == result[5]
    assert result[0][0]["document"]["url"] == ROOT_SERVERS and isinstance(result[0][0]["score"], float)
    assert body["skipped"] == [{"index": 1, "reason": "blank query"}, {"index": 2, "reason": "blank query"},
                               {"index": 3, "reason": "query over 1000 characters"}]
    big = http.post("/retrieve", json={"queries": ["root servers", "common crawl"] * 4096, "topk": 1}).json()["result"]
    alone = http.post("/retrieve", json={"queries": ["common crawl"], "topk": 1}).json()["result"][0]
    assert len(big) == 8192 and big[8190] == big[0] and big[8191] == big[1] == alone and alone


def test_masks_through_the_address_hold_on_every_route(http):
    registered = http.post("/masks", json={"urls": [VARIANTS[3], VARIANTS[1], "not a url"]}).json()
    again = http.post("/masks", json={"urls": [VARIANTS[6]]}).json()
    assert registered["id"] == again["id"] and registered["ignored"] == ["not a url"]  # one id per URL set
    assert http.get(f"/masks/{registered['id']}").json()["urls"] == registered["urls"]
    prefix = registered["prefix"]
    search = http.post(prefix + "/search", json={"query": "root servers", "k": 10}).json()["results"]
    assert search and ROOT_SERVERS not in [hit["url"] for hit in search]
    retrieve = http.post(prefix + "/retrieve", json={"queries": ["root servers"], "topk": 10}).json()["result"][0]
    assert retrieve and ROOT_SERVERS not in [doc["url"] for doc in retrieve]
    serper = http.get(prefix + "/serper/search", params={"q": "root servers", "num": "10"}).json()["organic"]
    assert serper and ROOT_SERVERS not in [hit["link"] for hit in serper]
    lite = http.post(prefix + "/lr/search", json={"query": "root servers", "search_type": "sparse"}).json()
    assert lite["results"] and ROOT_SERVERS not in [hit["link"] for hit in lite["results"]]
    opened = http.post(prefix + "/or/search", json={"query": "root servers", "topn": 10}).json()["results"]
    assert opened and ROOT_SERVERS not in [hit["url"] for hit in opened]
    brave = http.get(prefix + "/brave/res/v1/web/search", params={"q": "root servers"}).json()["web"]["results"]
    assert brave and ROOT_SERVERS not in [hit["url"] for hit in brave]
    searx = http.get(prefix + "/", params={"q": "root servers", "format": "json"}).json()["results"]
    assert searx and ROOT_SERVERS not in [hit["url"] for hit in searx]
    one = http.post(prefix + "/retrieve", json={"query": "root servers"}).json()["result"]
    assert one and "Root Servers" not in [doc["document"]["title"] for doc in one]
    for url in VARIANTS:
        assert http.post(prefix + "/browse", json={"url": url}).status_code == 404
        assert http.get(prefix + "/r/" + url).status_code == 404
        assert http.post(prefix + "/access", json={"urls": [url]}).json()["result"] == [None]
        assert http.post(prefix + "/lr/web_parser", json={"url": url}).json()["found"] is False
        assert http.post(prefix + "/or/get_content", json={"url": url}).status_code == 404
    assert http.post(prefix + "/mask", json={"urls": ["https://commoncrawl.org/faq"]}).json()["urls"] == [
        ROOT_SERVERS, "https://commoncrawl.org/faq"]
    assert http.post(prefix + "/browse", json={"url": "https://commoncrawl.org/faq"}).status_code == 200
    assert http.post(prefix + "/access", json={"urls": ["http://[unclosed", ""]}).json()["result"] == [None, None]
    unknown = http.post("/m/0123456789abcdef01234567/search", json={"query": "root servers"})
    assert unknown.status_code == 404 and "unknown mask id" in one_line_error(unknown)
    moved = http.get(prefix + "/or")  # a slash redirect keeps the address, mask and all
    assert moved.status_code == 307 and moved.headers["location"].endswith(prefix + "/or/")
    padded = "root servers " + "padding " * 120  # 1,200 of these: over the 1 MiB that other routes take
    batch = http.post(prefix + "/retrieve", json={"queries": [padded] * 1200, "topk": 10})
    assert batch.status_code == 200 and len(padded) * 1200 > 1 << 20
    assert batch.json()["result"][0] and ROOT_SERVERS not in [doc["url"] for doc in batch.json()["result"][0]]


@pytest.mark.slow
def test_mask_ids_survive_a_restart_and_are_shared_by_workers(sample_world, tmp_path, monkeypatch):
    """An id is a digest of the URL set, kept in a folder every worker reads: a mask registered
    on one worker holds on the other, and on a server started later."""
    monkeypatch.setenv("WORLDBUILD_MASK_DIR", str(tmp_path / "masks"))  # inherited by the servers

    def masked_search(base: str, found: str) -> list[str]:
        with httpx.Client(base_url=base, timeout=30) as fresh:  # a new connection: either worker
            response = fresh.post(f"/m/{found}/search", json={"query": "root servers"})
        assert response.status_code == 200, response.text
        return [hit["url"] for hit in response.json()["results"]]

    proc, base = start_server(sample_world[0], workers=2)
    try:
        found = httpx.post(base + "/masks", json={"urls": [ROOT_SERVERS]}, timeout=30).json()["id"]
        pids, deadline = set(), time.monotonic() + 30  # (a worker still warming up takes no connection)
        while len(pids) < 2 and time.monotonic() < deadline:
            assert ROOT_SERVERS not in masked_search(base, found)
            with httpx.Client(base_url=base, timeout=30) as fresh:
                pids.add(fresh.get("/stats").json()["worker"]["pid"])
        assert len(pids) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    proc, base = start_server(sample_world[0])
    try:
        assert ROOT_SERVERS not in masked_search(base, found) and masked_search(base, found)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serper_query_parameters_pages_and_batches(http):
    first = http.post("/serper/search", params={"q": "root servers", "num": "2", "gl": "us", "hl": "en"}).json()
    second = http.get("/serper/search", params={"q": "root servers", "num": "2", "page": "2"}).json()
    both = http.post("/serper/search", json={"q": "root servers", "num": "4"}).json()["organic"]
    assert [h["link"] for h in first["organic"] + second["organic"]] == [h["link"] for h in both]
    assert [h["position"] for h in second["organic"]] == [3, 4] and second["searchParameters"]["page"] == 2
    batch = http.post("/serper/search", json=[{"q": "root servers", "num": 1}, {"q": "common crawl", "num": 1}]).json()
    alone = http.post("/serper/search", json={"q": "common crawl", "num": 1}).json()["organic"]
    assert [answer["organic"] for answer in batch] == [both[:1], alone]


def test_jina_reader_json_post_and_scheme_less(http):
    as_json = http.get("/r/" + ROOT_SERVERS, headers={"Accept": "application/json"}).json()
    assert as_json["code"] == 200 and as_json["data"]["title"] == "Root Servers"
    assert as_json["data"]["url"] == ROOT_SERVERS and "a.root-servers.net" in as_json["data"]["content"]
    assert http.get("/r/www.iana.org/domains/root/servers").text.startswith("Title: Root Servers\n")
    assert http.post("/r/", json={"url": "iana.org/domains/root/servers"}).text.startswith("Title: Root Servers\n")
    assert http.post("/r/", data={"url": ROOT_SERVERS}, headers={"Accept": "application/json"}).json()["code"] == 200
    missing = http.get("/r/nowhere.example/page", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and missing.json()["code"] == 404 and missing.json()["data"] is None


def test_jina_search_bing_brave_and_tavily_shapes(http):
    text = http.get("/s/root servers", headers={"X-Respond-With": "no-content"}).text
    assert text.startswith(f"[1] Title: Root Servers\n[1] URL Source: {ROOT_SERVERS}\n") and "Markdown" not in text
    found = http.post("/s/", json={"q": "root servers", "num": 2}, headers={"Accept": "application/json"}).json()
    assert [hit["url"] for hit in found["data"]][:1] == [ROOT_SERVERS] and "a.root-servers.net" in found["data"][0]["content"]
    bing = http.get("/bing/v7.0/search", params={"q": "root servers", "count": 3}).json()["webPages"]["value"]
    later = http.get("/bing/v7.0/search", params={"q": "root servers", "count": 2, "offset": 1}).json()
    assert bing[0]["name"] == "Root Servers" and [h["url"] for h in later["webPages"]["value"]] == [
        h["url"] for h in bing[1:]]
    brave = http.get("/brave/res/v1/web/search", params={"q": "root servers", "count": "2", "extra_snippets": "1"})
    brave, on = brave.json()["web"]["results"], http.get("/brave/res/v1/web/search",
                                                         params={"q": "root servers", "count": 1, "offset": 1}).json()
    assert brave[0]["url"] == ROOT_SERVERS and brave[0]["title"] == "Root Servers" and brave[0]["description"]
    assert [hit["url"] for hit in on["web"]["results"]] == [brave[1]["url"]]  # offset counts pages of `count`
    assert brave[0]["meta_url"]["hostname"] == "www.iana.org"
    for params in ({"q": "root servers", "count": 21}, {"q": "root servers", "offset": 10}, {"count": 3}):
        refused = http.get("/brave/res/v1/web/search", params=params)
        assert refused.status_code == 422 and one_line_error(refused)
    tavily = http.post("/tavily/search", json={"query": "root servers", "max_results": 2, "api_key": "x"}).json()
    assert tavily["results"][0]["url"] == ROOT_SERVERS and tavily["results"][0]["content"]


def test_open_researcher_search_service_shape(http):
    """OpenResearcher's browser backend (TIGER-AI-Lab/OpenResearcher, browser.py) POSTs {query, topn}
    to {base}/search and reads each result's title, url and summary (all required), then POSTs {url}
    to {base}/get_content and reads a non-empty content and its title; base here: /or."""
    results = http.post("/or/search", json={"query": "root servers", "topn": 20}).json()["results"]
    assert results[0] == {"url": ROOT_SERVERS, "title": "Root Servers", "summary": results[0]["summary"]}
    assert "root" in results[0]["summary"].lower() and all(set(r) == {"url", "title", "summary"} for r in results)
    assert len(http.post("/or/search", json={"query": "root servers", "topn": 2}).json()["results"]) == 2
    assert http.post("/or/search", json={"query": " "}).json() == {"results": []}
    content = http.post("/or/get_content", json={"url": ROOT_SERVERS}).json()
    assert content["title"] == "Root Servers" and "a.root-servers.net" in content["content"]
    assert http.post("/or/get_content", json={"url": "http://nowhere.example/"}).status_code == 404
    assert http.get("/or/").json()["endpoints"] == ["/search", "/get_content"]


def test_browsecomp_plus_one_query_retrieve_shape(http):
    """BrowseComp-Plus's Search-R1 client (search_agent/search_r1_client.py) POSTs {"query": q} alone
    to /retrieve and reads result[i].document.title, .document.text and result[i].docid; its server
    answers 5 whole pages by default."""
    result = http.post("/retrieve", json={"query": "root servers"}).json()["result"]
    assert len(result) == 5 and all(set(doc) == {"document", "docid"} for doc in result)
    first = result[0]
    assert first["document"]["title"] == "Root Servers" and "a.root-servers.net" in first["document"]["text"]
    batch = http.post("/retrieve", json={"queries": ["root servers"], "topk": 5}).json()["result"][0]
    assert [doc["docid"] for doc in result] == [doc["id"] for doc in batch]  # the same pages as the batch shape
    assert http.post("/retrieve", json={"query": "root servers", "topk": 2, "return_scores": True}).json()[
        "result"][1]["score"] > 0
    assert http.post("/retrieve", json={"query": ""}).json()["result"] == []
    neither = http.post("/retrieve", json={"topk": 3})
    assert neither.status_code == 422 and "'queries' (a list) or 'query'" in one_line_error(neither)


async def _mcp_calls(base: str, docid: str | None = None, headers: dict | None = None):
    """One MCP session at `base`/mcp through the official client: the tools, a search, its first
    page read, and an unknown docid read."""
    from mcp.client.session import ClientSession
    from mcp.client.sse import sse_client

    async with sse_client(base + "/mcp", headers=headers) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        found = await session.call_tool("search", {"query": "root servers"})
        first = json.loads(found.content[0].text)
        page = await session.call_tool("get_document", {"docid": docid or first["docid"]})
        missing = await session.call_tool("get_document", {"docid": "nope"})
        return tools, found, first, page, missing


def test_browsecomp_plus_mcp_tools_over_sse(server):
    """BrowseComp-Plus's MCP agents connect over SSE to {host}/mcp and call its two tools,
    search(query) and get_document(docid); here through the official MCP client."""
    needs_extra("mcp", "mcp")
    tools, found, first, page, missing = asyncio.run(_mcp_calls(server))
    assert set(tools) == {"search", "get_document"}
    assert list(tools["search"].input_schema["properties"]) == ["query"]
    assert list(tools["get_document"].input_schema["properties"]) == ["docid"]
    results = [json.loads(item.text) for item in found.content]
    assert len(results) == 5 and all(set(r) == {"docid", "score", "snippet"} for r in results)
    assert first["snippet"].startswith("# Root Servers") and first["score"] > 0
    text = json.loads(page.content[0].text)
    assert text["docid"] == first["docid"] and "a.root-servers.net" in text["text"] and len(text["text"]) >= len(
        first["snippet"])
    assert not missing.is_error and missing.content == [] and missing.structured_content == {"result": None}
    # a mask in the address holds for the whole session: the page is neither found nor read
    prefix = httpx.post(server + "/masks", json={"urls": [ROOT_SERVERS]}).json()["prefix"]
    _, masked_found, masked_first, masked_page, _ = asyncio.run(_mcp_calls(server + prefix, first["docid"]))
    assert first["docid"] not in [json.loads(item.text)["docid"] for item in masked_found.content]
    assert masked_first["docid"] != first["docid"] and masked_page.structured_content == {"result": None}


def test_mcp_sessions_hold_with_several_workers(sample_world):
    """With two workers, an MCP client's stream and the calls it posts are separate connections,
    and the workers' balance puts them on different workers: every call still reaches the worker
    holding its session, session after session (each stream on either worker)."""
    needs_extra("mcp", "mcp")
    proc, base = start_server(sample_world[0], workers=2)
    try:
        for _ in range(3):
            tools, _, first, page, missing = asyncio.run(asyncio.wait_for(_mcp_calls(base), 60))
            assert set(tools) == {"search", "get_document"} and first["snippet"].startswith("# Root Servers")
            assert "a.root-servers.net" in json.loads(page.content[0].text)["text"]
            assert missing.structured_content == {"result": None}
        # a call for no session at all, at an address that must be passed on as sent: a plain 404
        unknown = httpx.post(base + "/mcp/messages/%0A?session_id=" + "0" * 32, json={"jsonrpc": "2.0"})
        assert unknown.status_code == 404
        # a mask named by the API key holds on every call, whichever worker takes it
        key = "wbmask-" + httpx.post(base + "/masks", json={"urls": [ROOT_SERVERS]}).json()["id"]
        for _ in range(3):
            _, found, hidden_first, _, _ = asyncio.run(asyncio.wait_for(
                _mcp_calls(base, headers={"Authorization": f"Bearer {key}"}), 60))
            assert found.content and first["docid"] not in [json.loads(item.text)["docid"] for item in found.content]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_unknown_route_wrong_method_and_huge_bodies(http):
    assert http.get("/nope").status_code == 404 and "no route" in one_line_error(http.get("/nope"))
    assert http.get("/browse").status_code == 405
    assert http.get("/search").status_code == 422 and "q" in one_line_error(http.get("/search"))  # SearXNG's GET
    huge = b'{"query": "' + b"a" * (2 << 20) + b'"}'
    response = http.post("/search", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "over" in one_line_error(response)

    def chunks():  # no Content-Length: the limit applies while streaming
        yield b'{"query": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    streamed = http.post("/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert http.get("/r/http://nowhere.example/").status_code == 404
    assert http.post("/search", json={"query": "root servers"}).status_code == 200  # still serving


# -- peers' clients, unchanged --------------------------------------------------------------
def test_search_r1_and_verl_request_bytes(server):
    """The bytes `requests.post(url, json=payload)` sends for Search-R1's retriever client and
    verl's search_r1_like_utils: json.dumps with default separators, these headers."""
    payload = {"queries": ["who manages the dns root servers"], "topk": 3, "return_scores": True}
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    response = httpx.post(server + "/retrieve", content=raw, headers=headers)
    assert response.status_code == 200
    results = response.json()["result"]
    assert len(results) == 1 and len(results[0]) == 3
    for item in results[0]:  # how their clients format a passage
        content = item["document"]["contents"]
        title, text = content.split("\n")[0], "\n".join(content.split("\n")[1:])
        assert title.startswith('"') and title.endswith('"') and text and isinstance(item["score"], float)
    plain = httpx.post(server + "/retrieve", content=json.dumps({"queries": ["root"], "topk": 2}).encode(),
                       headers=headers).json()["result"]
    assert set(plain[0][0]) >= {"id", "contents"}


# -- the Python clients ---------------------------------------------------------------------
def test_sync_client(server):
    with WorldClient(server) as client:
        hits = client.search("root servers", k=3, mask=["https://iana.org/domains/root/servers"])
        assert hits and ROOT_SERVERS not in [h["url"] for h in hits]
        page = client.browse("https://commoncrawl.org/faq", goal="what is CCBot", max_chars=1500)
        assert page["title"] == "Common Crawl - FAQ" and page["goal_passages"] >= 1
        assert client.browse("http://nowhere.example/") is None
        assert client.retrieve(["root servers"], topk=2)[0][0]["document"]["contents"]
        assert client.health()["status"] == "ok"
        with pytest.raises(WorldError) as refused:
            client.search("", k=3)
        assert refused.value.status == 422


def test_async_client_many_calls_at_once(server):
    async def run():
        async with AsyncWorldClient(server) as client:
            queries = ["root servers", "common crawl", "time zone database", "creative commons"] * 16
            results = await asyncio.gather(*(client.search(q, k=5) for q in queries))
            pages = await asyncio.gather(*(client.browse(ROOT_SERVERS, goal=q) for q in queries[:8]))
            return results, pages

    results, pages = asyncio.run(run())
    assert all(results) and len(results) == 64
    assert all(p["title"] == "Root Servers" for p in pages)


def test_client_gives_up_on_an_unreachable_service():
    client = WorldClient(f"http://127.0.0.1:{free_port()}", timeout=1, retries=2, backoff=0.01)
    with pytest.raises(WorldError, match="unreachable"):
        client.search("anything")


# -- several workers ------------------------------------------------------------------------
@pytest.mark.slow
def test_workers_share_the_index(sample_world):
    proc, base = start_server(sample_world[0], workers=2)
    try:
        seen = {}
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(60):
                with httpx.Client(base_url=base, timeout=30) as fresh:  # new connections spread over workers
                    worker = fresh.get("/stats").json()["worker"]
                seen[worker["pid"]] = worker
                if len(seen) == 2:
                    break
            assert client.post("/search", json={"query": "root servers"}).status_code == 200
        assert len(seen) == 2
        for worker in seen.values():
            assert worker["pss_mb"] < worker["rss_mb"]  # shared pages are split between the workers
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- property-based fuzz of the OpenAPI schema ----------------------------------------------
def test_fuzzed_requests_never_get_a_5xx(server):
    """Schemathesis generates requests from our OpenAPI schema (valid and not); none may 5xx."""
    schemathesis = needs_extra("schemathesis", "test")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(server + "/openapi.json")
    statuses: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            response = case.call(timeout=30)
            statuses.setdefault(f"{operation.method.upper()} {operation.path}", set()).add(response.status_code)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"

        no_server_error()
    assert len(statuses) >= 20 and 200 in statuses["POST /search"]


def test_searxng_json_api_at_search_and_under_searxng(http):
    """SearXNG's search API as its clients call it: GET {base}/search (GPT-Researcher and most
    scripts), GET {base} itself (LangChain's SearxSearchWrapper), or a form POST; `pageno` pages
    on, other parameters are ignored, and a mask comes through the address."""
    params = {"q": "root servers", "format": "json", "language": "en", "categories": "general", "safesearch": "0"}
    first = http.get("/search", params=params).json()
    assert first["results"][0]["url"] == ROOT_SERVERS and first["results"][0]["title"] == "Root Servers"
    assert first["results"][0]["content"] and first["results"][0]["parsed_url"][1] == "www.iana.org"
    assert [hit["positions"] for hit in first["results"]] == [[rank] for rank in range(1, len(first["results"]) + 1)]
    assert {"answers", "suggestions", "infoboxes", "number_of_results"} <= set(first)
    assert http.get("/searxng", params=params).json()["results"] == first["results"]
    assert http.get("/", params=params).json()["results"] == first["results"]
    assert http.post("/searxng/search", data=params).json()["results"] == first["results"]
    native = http.post("/search", json={"query": "root servers", "k": 20}).json()["results"]
    second = http.get("/searxng/search", params={**params, "pageno": "2"}).json()["results"]
    assert [hit["url"] for hit in first["results"] + second] == [hit["url"] for hit in native][:10 + len(second)]
    assert second == [] or second[0]["positions"] == [11]
    registered = http.post("/masks", json={"urls": [ROOT_SERVERS]}).json()
    masked = http.get(registered["prefix"] + "/search", params=params).json()["results"]
    assert masked and ROOT_SERVERS not in [hit["url"] for hit in masked]
    assert http.get("/search", params={"q": " ", "format": "json"}).json()["results"] == []
    refused = http.get("/search", params={"q": "root servers", "format": "csv"})
    assert refused.status_code == 422 and "format" in one_line_error(refused)
    listed = http.post("/searxng/search", json=["root servers"])
    assert listed.status_code == 400 and "form or a JSON object" in one_line_error(listed)

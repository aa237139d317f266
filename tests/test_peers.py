"""The peers' own client code, from ../shared/peers, unchanged but for the address, against a live
`worldbuild serve` of the sample world: each client builds its request and parses our answer as in
training, and the test reads what the model would see (titles, snippets, links, page text), with
and without a mask given through the address."""

import asyncio
import io
import json
import os
from contextlib import redirect_stdout

import httpx
import pytest

from tests import peer_code

pytestmark = pytest.mark.skipif(not os.path.isdir(peer_code.PEERS),
                                reason="../shared/peers (the peers' client code) is not beside the repo")

ROOT_SERVERS = "http://www.iana.org/domains/root/servers"
FAQ = "https://commoncrawl.org/faq"
QUERIES = ["root servers", "common crawl", "time zone database", "creative commons license"]


@pytest.fixture(scope="module")
def masked_base(server):
    """The server's address with a mask of the root-servers page in it (another spelling)."""
    registered = httpx.post(server + "/masks", json={"urls": ["https://iana.org/domains/root/servers/"]}).json()
    return server + registered["prefix"]


# -- Search-R1's training loop ---------------------------------------------------------------
def search_r1_loop(search_url: str, topk: int = 3):
    namespace = peer_code.class_with(
        "search-r1/search_r1/llm_agent/generation.py", "LLMGenerationManager",
        ["batch_search", "_batch_search", "_passages2string"],
        preamble="import requests\nfrom typing import List, Dict, Any, Tuple\nfrom dataclasses import dataclass\n",
        extra=["GenerationConfig"])
    config = namespace["GenerationConfig"](max_turns=2, max_start_length=256, max_prompt_length=1024,
                                           max_response_length=512, max_obs_length=512, num_gpus=0,
                                           search_url=search_url, topk=topk)
    loop = namespace["LLMGenerationManager"]()
    loop.config = config
    return loop


def test_search_r1_training_batch_of_2560_queries(server):
    """train_grpo.sh: train_batch_size 512 x n_agent 5 rollouts search in one POST; a blank query,
    an over-long one and a turn where nobody searched must not fail the batch."""
    loop = search_r1_loop(server + "/retrieve")
    queries = (QUERIES * 640)[:2560]
    queries[7], queries[11] = "   ", "word " * 300
    observations = loop.batch_search(queries)
    assert len(observations) == 2560
    assert observations[0].startswith('Doc 1(Title: "Root Servers") ') and "Doc 3(Title:" in observations[0]
    assert observations[7] == "" and observations[11] == ""
    assert all(observations[i] for i in range(2560) if i not in (7, 11))
    assert observations[1] == observations[5] and '"Common Crawl' in observations[1]
    assert loop.batch_search([]) == []


def test_search_r1_retrieval_request_example(server):
    """Their own example script: 400 queries at topk 5, raise_for_status, then print."""
    namespace = {"__name__": "__main__"}
    source = open(peer_code.path("search-r1/search_r1/search/retrieval_request.py")).read()
    address = 'url = "http://127.0.0.1:8000/retrieve"'
    assert address in source
    printed = io.StringIO()
    with redirect_stdout(printed):
        exec(compile(source.replace(address, f'url = "{server}/retrieve"'), "retrieval_request.py", "exec"), namespace)
    results = namespace["retrieved_data"]["result"]
    assert len(results) == 400 and all(len(docs) == 5 for docs in results)
    assert printed.getvalue().startswith("Response from server:")


def test_search_r1_topk_as_the_peer_coerces_it(server):
    as_string = httpx.post(server + "/retrieve", json={"queries": ["root servers"], "topk": "2"}).json()["result"]
    as_zero = httpx.post(server + "/retrieve", json={"queries": ["root servers"], "topk": 0}).json()["result"]
    assert len(as_string[0]) == 2 and len(as_zero[0]) == 3  # 0 or missing: the server's default, 3
    assert httpx.post(server + "/retrieve", json={"queries": ["x"], "topk": "many"}).status_code == 422


def test_search_r1_mask_through_the_address(server, masked_base):
    open_obs = search_r1_loop(server + "/retrieve").batch_search(["root servers"])[0]
    masked_obs = search_r1_loop(masked_base + "/retrieve").batch_search(["root servers"])[0]
    assert '(Title: "Root Servers")' in open_obs and '(Title: "Root Servers")' not in masked_obs
    assert masked_obs.count("Doc ") == 3  # the mask applies before the top-k cut


# -- verl's SearchTool helpers ---------------------------------------------------------------
def test_verl_search_r1_like_utils(server, masked_base):
    utils = peer_code.import_plain("verl/verl/tools/utils/search_r1_like_utils.py", "peer_verl_search_utils")
    text, metadata = utils.perform_single_search_batch(server + "/retrieve", ["root servers", "common crawl"], topk=3)
    assert metadata["status"] == "success" and metadata["total_results"] == 6
    result = json.loads(text)["result"]
    first, second = result.split("\n---\n")
    assert first.startswith('Doc 1 (Title: "Root Servers")\nRoot Servers') and '"Common Crawl' in second
    masked, metadata = utils.perform_single_search_batch(masked_base + "/retrieve", ["root servers"], topk=3)
    assert metadata["status"] == "success" and '"Root Servers"' not in json.loads(masked)["result"]


# -- ASearcher -------------------------------------------------------------------------------
def asearcher_module():
    return peer_code.import_plain("asearcher/AReaL/ASearcher/utils/search_utils.py", "peer_asearcher_search_utils")


def test_asearcher_local_search_and_access(server, masked_base, tmp_path, monkeypatch):
    """AsyncSearchBrowserClient reads the server's host:port from RAG_SERVER_ADDR_DIR files."""
    module = asearcher_module()

    def client(base: str):
        folder = tmp_path / base.rsplit("/", 1)[-1]
        folder.mkdir()
        (folder / "Host0_IP127.0.0.1.txt").write_text(base.removeprefix("http://"))
        monkeypatch.setenv("RAG_SERVER_ADDR_DIR", str(folder))
        return module.AsyncSearchBrowserClient()

    async def scenario(found):
        search = await found.query_async({"queries": ["root servers"], "topk": 5, "return_scores": False})
        pages = await found.access_async([ROOT_SERVERS, "http://nowhere.example/page"])
        return search, pages

    search, pages = asyncio.run(scenario(client(server)))
    assert search[0]["urls"][0] == ROOT_SERVERS and len(search[0]["documents"]) == 5
    assert search[0]["documents"][0].startswith('"Root Servers"\n')
    assert pages[0]["page"].startswith('"Root Servers"\n') and "a.root-servers.net" in pages[0]["page"]
    assert pages[1]["page"] == ""  # absent: null, which the client turns into an empty page

    search, pages = asyncio.run(scenario(client(masked_base)))
    assert ROOT_SERVERS not in search[0]["urls"] and len(search[0]["urls"]) == 5
    assert pages[0]["page"] == ""


def test_asearcher_serper_and_jina_client(server, masked_base, monkeypatch):
    """AsyncOnlineSearchClient: Serper search and Jina reader, their addresses pointed at us."""
    monkeypatch.setenv("SERPER_API_KEY", "not-needed")

    def client(base: str):
        module = peer_code.import_file("asearcher/AReaL/ASearcher/utils/search_utils.py", "peer_asearcher_online",
                                       replace={'"https://google.serper.dev"': f'"{base}/serper"',
                                                "https://r.jina.ai/": f"{base}/r/"})
        return module.AsyncOnlineSearchClient(enable_cache=False, use_jina=True, jina_api_key="not-needed")

    async def scenario(found):
        search = await found.query_async({"queries": ["root servers"], "topk": 3})
        pages = await found.access_async([ROOT_SERVERS])
        return search, pages

    with redirect_stdout(io.StringIO()):
        search, pages = asyncio.run(scenario(client(server)))
        masked_search, masked_pages = asyncio.run(scenario(client(masked_base)))
    assert search[0]["urls"][0] == ROOT_SERVERS and search[0]["documents"][0].startswith("Root Servers ")
    assert len(search[0]["urls"]) == 3
    assert pages[0]["type"] == "jina" and pages[0]["page"].startswith("Title: Root Servers\n")
    assert "a.root-servers.net" in pages[0]["page"]
    assert ROOT_SERVERS not in masked_search[0]["urls"] and len(masked_search[0]["urls"]) == 3
    assert masked_pages[0]["page"] == ""


# -- LiteResearcher's own RL tools -----------------------------------------------------------
def test_literesearcher_search_tool(server, masked_base):
    utils = peer_code.import_plain("literesearcher/training/verl/tools/utils/google_search_utils.py",
                                   "peer_lr_search_utils")
    text, metadata = utils.perform_single_google_search_batch(server + "/lr/search", "root servers", "hybrid", 5)
    result = json.loads(text)["result"]
    assert metadata["status"] == "success" and metadata["total_results"] == 5
    assert result.startswith("A Google search for 'root servers' found 5 results:\n\n## Web Results\n"
                             f"1. [Root Servers]({ROOT_SERVERS})\nRoot Servers")
    sparse, _ = utils.perform_single_google_search_batch(server + "/lr/search", "root servers", "sparse", 2)
    assert "found 2 results" in json.loads(sparse)["result"]
    masked, _ = utils.perform_single_google_search_batch(masked_base + "/lr/search", "root servers", "hybrid", 5)
    assert f"({ROOT_SERVERS})" not in json.loads(masked)["result"] and "found 5 results" in json.loads(masked)["result"]


def test_literesearcher_browse_tool(server, masked_base):
    utils = peer_code.import_plain("literesearcher/training/verl/tools/utils/browse_utils.py", "peer_lr_browse_utils")
    goal = "which organisation manages the root server at 192.112.36.4"
    text, metadata = utils.perform_single_browse_batch(server + "/lr/query", ROOT_SERVERS, goal)
    assert metadata["status"] == "success"
    assert text.startswith(f"The useful information in {ROOT_SERVERS} for user goal {goal} as follows: \n\n")
    relevant = text.split("## Page text")[0]
    assert "## Most relevant to the goal" in relevant and "192.112.36.4" in relevant
    missing, metadata = utils.perform_single_browse_batch(server + "/lr/query", "http://nowhere.example/", goal)
    assert missing.startswith("Browse error: page not available") and metadata["status"] == "api_error"
    hidden, _ = utils.perform_single_browse_batch(masked_base + "/lr/query", ROOT_SERVERS, goal)
    assert hidden.startswith("Browse error: page not available")


def test_literesearcher_server_routes(server):
    """The authors' server documents /batch_search, /check_url, /web_parser beside /search."""
    batch = httpx.post(server + "/lr/batch_search", json={"queries": QUERIES[:2], "limit": "3"}).json()
    assert [r["query"] for r in batch["query_results"]] == QUERIES[:2] and batch["total_queries"] == 2
    assert batch["query_results"][0]["results"][0]["link"] == ROOT_SERVERS
    assert httpx.post(server + "/lr/check_url", json={"url": ROOT_SERVERS + "/"}).json()["exists"] is True
    checked = httpx.post(server + "/lr/batch_check_url", json={"urls": [FAQ, "http://nowhere.example/"]}).json()
    assert checked["results"] == {FAQ: True, "http://nowhere.example/": False} and checked["found"] == 1
    full = httpx.post(server + "/lr/web_parser", json={"url": FAQ}).json()
    assert full["found"] and full["title"] == "Common Crawl - FAQ" and len(full["text"]) > 1000
    assert httpx.post(server + "/lr/search", json={"query": "x", "search_type": "telepathy"}).status_code == 422

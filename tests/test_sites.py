"""`site:` and `-site:` in queries (worldbuild/sites.py): parsed as agents write them, and searched
exactly: a site's pages come back however far down the whole ranking they stand."""

import httpx
import pytest

from worldbuild.sites import Sites, site_of, split_sites, with_sites
from worldbuild.urls import domain_of
from worldbuild.world import World

QUERY = "root servers"


@pytest.mark.parametrize("query, words, sites", [
    ("who founded it site:wikipedia.org", "who founded it", Sites(("wikipedia.org",))),
    ("a SITE:https://www.Example.com/docs/ -site:foo.org b", "a b", Sites(("example.com/docs",), ("foo.org",))),
    ("x (site:a.com OR site:b.com)", "x ( OR )", Sites(("a.com", "b.com"))),
    ("-site:*.b.org q site:b.org", "q", Sites(("b.org",), ("b.org",))),
    ("website:foo.org bar", "website:foo.org bar", Sites()),
    ("root servers site:iana.org, history", "root servers history", Sites(("iana.org",))),
    ("site: example.com", "site: example.com", Sites()),  # (a space after it: words)
    ("q site:münchen.de/Straße", "q", Sites(("xn--mnchen-3ya.de/Stra%C3%9Fe",))),
    ("plain words", "plain words", Sites()),
])
def test_site_operators_are_taken_out_of_the_words(query, words, sites):
    assert split_sites(query) == (words, sites)


def test_a_site_is_read_as_the_store_groups_pages():
    assert site_of("https://www.iana.org/domains/?x=1") == "iana.org/domains" == site_of("iana.org/domains")
    assert site_of(" ") == "" and site_of("http://") == ""
    assert domain_of("https://www.iana.org/") == site_of("WWW.IANA.ORG.")
    assert with_sites("q", ["iana.org", "", "a b"], ["www.archive.org"]) == "q site:iana.org -site:www.archive.org"
    for name in ["a.com) foo", "exa mple.com", "http://[", "www.m.example.com", "example.com/a b"]:  # read once, as given
        assert split_sites(with_sites("q", [name]))[1].include == ((site_of(name),) if site_of(name) else ())
    assert site_of("a.com) foo") == site_of("exa mple.com") == "" and site_of("www.m.example.com") == "m.example.com"


@pytest.fixture(scope="module")
def world(sample_world):
    opened = World.open(sample_world[0])
    yield opened
    opened.close()


def ranking(world, query: str) -> list:
    """The whole BM25 ranking of `query` (every page with a positive score)."""
    return world.search(query, 10_000, snippet_chars=0)


def on(site: str, url: str) -> bool:
    domain = domain_of(url)
    return domain == site or domain.endswith("." + site)


def test_site_keeps_a_sites_pages_in_the_order_of_the_whole_ranking(world):
    whole = ranking(world, QUERY)
    deep = whole[-1]  # the page standing last: any site's whole count is far below a top-3 cut
    site = domain_of(deep.canonical_url)
    expected = [h.canonical_url for h in whole if on(site, h.canonical_url)]
    found = world.search(f"{QUERY} site:{site}", len(expected) + 5, snippet_chars=0)
    assert [h.canonical_url for h in found] == expected and deep.canonical_url in expected
    assert [h.score for h in found] == pytest.approx([h.score for h in whole if on(site, h.canonical_url)], rel=1e-5)
    several = world.search(f"{QUERY} site:{site} OR site:iana.org", 10_000, snippet_chars=0)
    assert {h.canonical_url for h in several} == {h.canonical_url for h in whole
                                                   if on(site, h.canonical_url) or on("iana.org", h.canonical_url)}


def test_minus_site_leaves_a_site_out_and_keeps_the_rest_in_order(world):
    whole = ranking(world, QUERY)
    assert any(on("iana.org", h.canonical_url) for h in whole[:3])
    found = world.search(f"{QUERY} -site:www.iana.org", 3, snippet_chars=0)
    assert [h.canonical_url for h in found] == [h.canonical_url for h in whole if not on("iana.org", h.canonical_url)][:3]


def test_a_path_narrows_a_site_and_a_site_without_pages_finds_nothing(world):
    under = world.search(f"{QUERY} site:iana.org/domains", 50, snippet_chars=0)
    assert under and all(h.canonical_url.split("iana.org", 1)[1].startswith("/domains") for h in under)
    assert len(under) < len(world.search(f"{QUERY} site:iana.org", 50, snippet_chars=0))
    assert world.search(f"{QUERY} site:not-in-this-world.example", 5) == []


def test_site_alone_lists_the_sites_pages_as_google_does(world):
    pages = world.store.by_ids(range(len(world) + 1)).values()
    on_site = sorted((p.canonical_url for p in pages if on("iana.org", p.canonical_url)))
    listed = world.search("site:iana.org", 1_000)
    assert sorted(h.canonical_url for h in listed) == on_site and len(on_site) > 3
    assert all(h.score == 0 and h.snippet for h in listed)
    masked = world.search("site:iana.org", 1_000, mask=[listed[0].url])
    assert [h.canonical_url for h in masked] == [h.canonical_url for h in listed[1:]]
    assert world.search("-site:iana.org", 5) == []


def test_site_and_a_mask_together_and_snippets_without_the_operator(world):
    top = world.search(f"{QUERY} site:iana.org", 1)[0]
    assert "site" not in top.snippet.lower().replace("website", "")  # the snippet looks for the words alone
    masked = world.search(f"{QUERY} site:iana.org", 5, mask=[top.url])
    assert masked and top.canonical_url not in [h.canonical_url for h in masked]
    batch = world.search_many([QUERY, f"{QUERY} site:iana.org", f"{QUERY} -site:iana.org"], 3, snippet_chars=0)
    assert [h.canonical_url for h in batch[0]] == [h.canonical_url for h in world.search(QUERY, 3, snippet_chars=0)]
    assert batch[1] and all(on("iana.org", h.canonical_url) for h in batch[1])
    assert not any(on("iana.org", h.canonical_url) for h in batch[2])


def test_pages_of_results_and_repeated_queries_with_site(world):
    query = f"{QUERY} site:iana.org"
    whole = [h.canonical_url for h in world.search(query, 20, snippet_chars=0)]
    assert len(whole) > 4
    paged = world.search_many([query, QUERY, query], 2, snippet_chars=0, offset=2)
    assert [h.canonical_url for h in paged[0]] == whole[2:4] == [h.canonical_url for h in paged[2]]


def test_the_compiled_kernel_orders_a_site_as_its_whole_ranking(sample_world):
    """Servers rank with the compiled kernel: a `site:` query's order is the kernel's whole ranking
    filtered, not only numpy's."""
    with World.open(sample_world[0], backend="numba") as compiled:
        for query in [QUERY, "common crawl data", "internet archive", "time zone database"]:
            whole = compiled.search(query, 10_000, snippet_chars=0)
            for site in sorted({domain_of(h.canonical_url) for h in whole})[:12]:
                kept = [(h.canonical_url, h.score) for h in whole if on(site, h.canonical_url)][:5]
                found = [(h.canonical_url, h.score) for h in compiled.search(f"{query} site:{site}", 5, snippet_chars=0)]
                assert found == kept, (query, site)
                left = [(h.canonical_url, h.score) for h in whole if not on(site, h.canonical_url)][:5]
                assert [(h.canonical_url, h.score) for h in compiled.search(f"{query} -site:{site}", 5,
                                                                              snippet_chars=0)] == left


def test_a_large_left_out_site_is_scored_around_as_a_small_one_is_ranked_past(sample_world, monkeypatch):
    """`-site:` of many pages scores every other page (`search_among(inside=False)`); of few, the
    kernel ranks deeper: the same pages in the same order either way."""
    from worldbuild import site_search

    with World.open(sample_world[0], backend="numba") as compiled:
        queries = [f"{q} -site:{site}" for q in [QUERY, "common crawl data", "internet archive"]
                   for site in ["iana.org", "archive.org", "commoncrawl.org"]]
        deeper = [[(h.canonical_url, h.score) for h in compiled.search(q, 8, snippet_chars=0)] for q in queries]
        monkeypatch.setattr(site_search, "LEFT_OUT_BY_DEPTH", 0)
        around = [[(h.canonical_url, h.score) for h in compiled.search(q, 8, snippet_chars=0)] for q in queries]
        assert around == deeper and all(deeper)


def test_sites_kept_at_hand_are_bounded_and_read_again(world, monkeypatch):
    from worldbuild import site_search

    expected = [h.canonical_url for h in world.search(f"{QUERY} site:iana.org", 20, snippet_chars=0)]
    monkeypatch.setattr(site_search, "PAGES_KEPT", 5)  # fewer than iana.org's pages: never kept
    world.site_pages._kept.clear()
    assert [h.canonical_url for h in world.search(f"{QUERY} site:iana.org", 20, snippet_chars=0)] == expected
    assert "iana.org" not in world.site_pages._kept
    world.search(f"{QUERY} site:commoncrawl.org", 5)
    assert sum(map(len, world.site_pages._kept.values())) <= 5


def test_a_world_ingested_before_the_domain_index_finds_the_same_pages(sample_world, sample_copy):
    import sqlite3

    queries = [f"{QUERY} site:iana.org", f"{QUERY} site:iana.org/domains", "site:commoncrawl.org", f"{QUERY} -site:iana.org"]
    with World.open(sample_world[0]) as fresh:
        assert fresh.store.has_domain_index
        expected = [[h.canonical_url for h in fresh.search(q, 50, snippet_chars=0)] for q in queries]
    db = sqlite3.connect(f"{sample_copy}/pages.sqlite")
    db.execute("DROP INDEX pages_domain")  # as a world an earlier version ingested
    db.close()
    with World.open(sample_copy) as old:
        assert not old.store.has_domain_index
        assert [[h.canonical_url for h in old.search(q, 50, snippet_chars=0)] for q in queries] == expected


def test_dense_site_search_stops_when_a_backend_caps_its_answers(dense_world, monkeypatch):
    """Milvus answers at most 16,384 hits: going deeper must stop when no more come back."""
    opened = World.open(dense_world)
    real = opened.dense()
    asked = []

    class Capped:
        size = real.size

        def embed(self, query):
            return real.embed(query)

        def search_vector(self, vector, k, hidden=None, exact=False):
            asked.append(k)
            return real.search_vector(vector, min(k, 6), hidden, exact)

    monkeypatch.setattr(opened, "dense", lambda: Capped())
    try:
        top6 = [hit[0] for hit in real.search("common crawl", 6)]
        site = domain_of(opened.store.by_ids([top6[-1]])[top6[-1]].canonical_url)
        found = opened.search(f"common crawl site:{site}", 5, snippet_chars=0, mode="dense")
        assert found and all(on(site, h.canonical_url) for h in found) and len(asked) <= 2
        assert opened.search("common crawl site:not-in-this-world.example", 5, mode="dense") == []
        assert opened.search("-site:example.org", 5, mode="dense") == []  # (no words: nothing, in every mode)
    finally:
        opened.close()


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_site_in_dense_and_hybrid_modes(dense_world, mode):
    opened = World.open(dense_world)
    try:
        whole = opened.search("common crawl", 10_000, snippet_chars=0, mode="dense")
        site = domain_of(whole[-1].canonical_url)  # the farthest page's site, as in bm25 mode
        found = opened.search(f"common crawl site:{site}", 3, snippet_chars=0, mode=mode)
        assert found and all(on(site, h.canonical_url) for h in found)
        if mode == "dense":
            assert [h.canonical_url for h in found] == [h.canonical_url for h in whole if on(site, h.canonical_url)][:3]
    finally:
        opened.close()


def test_site_through_the_routes_agents_use(server):
    serper = httpx.post(server + "/serper/search", json={"q": f"{QUERY} site:commoncrawl.org", "num": 5}).json()
    assert serper["organic"] and all(on("commoncrawl.org", r["link"]) for r in serper["organic"])
    retrieved = httpx.post(server + "/retrieve", json={"queries": [f"{QUERY} -site:iana.org", QUERY], "topk": 3}).json()
    kept, whole = ([doc["url"] for doc in docs] for docs in retrieved["result"])  # (through the fast path)
    assert kept and not any(on("iana.org", url) for url in kept) and any(on("iana.org", url) for url in whole)
    google = httpx.get(server + "/customsearch/v1", params={"q": QUERY, "siteSearch": "iana.org"}).json()
    assert google["items"] and all(on("iana.org", item["link"]) for item in google["items"])
    assert google["queries"]["request"][0]["searchTerms"] == QUERY
    for path, body, status in [("/exa/search", {"query": QUERY, "includeDomains": ["http://["]}, 422),
                               ("/tavily/search", {"query": QUERY, "exclude_domains": ["not a site"]}, 400),
                               ("/perplexity/search", {"query": QUERY, "search_domain_filter": ["-exa mple.com"]}, 422)]:
        answer = httpx.post(server + path, json=body)  # a filter that names no site is refused, not dropped
        assert answer.status_code == status and "not a site" in answer.text  # (400: as Tavily's API answers)
    assert httpx.get(server + "/customsearch/v1", params={"q": QUERY, "siteSearch": "a b"}).status_code == 422
    refused = httpx.get(server + "/serpapi/search.json", params={"q": QUERY, "as_sitesearch": "http://["})
    assert refused.status_code == 422 and "not a site" in refused.json()["error"]
    assert httpx.get(server + "/customsearch/v1", params={"q": QUERY, "siteSearch": ""}).json()["items"]
    serpapi = httpx.get(server + "/serpapi/search.json", params={"q": QUERY, "as_sitesearch": "commoncrawl.org"}).json()
    assert serpapi["organic_results"] and all(on("commoncrawl.org", r["link"]) for r in serpapi["organic_results"])
    jina = httpx.get(server + "/s/" + QUERY, params={"site": "commoncrawl.org"}, headers={"Accept": "application/json"})
    assert jina.json()["data"] and all(on("commoncrawl.org", r["url"]) for r in jina.json()["data"])
    jina = httpx.get(server + "/s/" + QUERY, headers={"Accept": "application/json", "X-Site": "iana.org, archive.org"})
    assert {domain_of(r["url"]) for r in jina.json()["data"]} <= {"iana.org", "archive.org"} and jina.json()["data"]
    assert httpx.get(server + "/s/" + QUERY, params={"site": "a b"}).status_code == 422
    left_out = httpx.get(server + "/customsearch/v1", params={"q": QUERY, "siteSearch": "iana.org",
                                                              "siteSearchFilter": "e"}).json()
    assert left_out["items"] and not any(on("iana.org", item["link"]) for item in left_out["items"])

"""`/retrieve` on its hot path (worldbuild/serve/fastpath.py): concurrent requests are ranked
together, yet each answers exactly as it would alone, under its own mask; a body in any other
shape is answered by the validating route, with the same result."""

import asyncio

import httpx
import pytest

from worldbuild.serve.app import create_app
from worldbuild.serve.fastpath import plain_request
from worldbuild.world import World

ROOT_SERVERS = "http://www.iana.org/domains/root/servers"
QUERIES = ["root servers", "common crawl", "time zone database", "creative commons license", "root servers"]


@pytest.fixture(scope="module")
def app(sample_world, tmp_path_factory):
    return create_app(sample_world[0], warm_up=False, mask_dir=str(tmp_path_factory.mktemp("masks")))


@pytest.fixture
def rankings(monkeypatch):
    """The query lists `World.search_many` is called with, in order."""
    calls = []
    original = World.search_many

    def spy(self, queries, *args, **kwargs):
        calls.append(list(queries))
        return original(self, queries, *args, **kwargs)

    monkeypatch.setattr(World, "search_many", spy)
    return calls


def post_all(app, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Every request sent at once, on one event loop (as a server's concurrent clients arrive)."""

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://world") as client:
            return await asyncio.gather(*(client.post(path, json=body) for path, body in requests))

    return asyncio.run(run())


def test_concurrent_requests_are_ranked_together_and_answer_as_alone(app, rankings):
    bodies = [{"queries": [query], "topk": 3, "return_scores": True} for query in QUERIES]
    bodies += [{"queries": QUERIES[:2], "topk": 2}, {"queries": ["", "common crawl"]}]
    together = post_all(app, [("/retrieve", body) for body in bodies])
    gathered = list(rankings)
    alone = [post_all(app, [("/retrieve", body)])[0] for body in bodies]
    assert [r.status_code for r in together] == [200] * len(bodies)
    assert [r.json() for r in together] == [r.json() for r in alone]
    assert together[0].json()["result"][0][0]["document"]["url"] == ROOT_SERVERS
    assert together[-1].json()["skipped"] == [{"index": 0, "reason": "blank query"}]
    # one ranking per topk: the five topk-3 requests and the last (default topk 3) in one call
    # (which ranks its distinct queries once more), the topk-2 request in another
    assert gathered[0] == QUERIES + ["common crawl"] and gathered[-1] == QUERIES[:2] and len(gathered) == 3


def test_each_request_keeps_its_own_mask_within_a_gathered_batch(app):
    prefix = post_all(app, [("/masks", {"urls": ["https://iana.org/domains/root/servers/"]})])[0].json()["prefix"]
    body = {"queries": ["root servers"], "topk": 10}
    plain, by_address, by_body = post_all(app, [
        ("/retrieve", body), (prefix + "/retrieve", body),
        ("/retrieve", {**body, "mask": ["http://www.iana.org/domains/root/servers#list"]})])
    urls = [[doc["url"] for doc in r.json()["result"][0]] for r in (plain, by_address, by_body)]
    assert urls[0][0] == ROOT_SERVERS
    assert ROOT_SERVERS not in urls[1] and urls[1] == urls[2] and urls[1][:9] == urls[0][1:]


def test_other_shapes_go_to_the_validating_route_and_answer_alike(app):
    common = {"queries": ["root servers", "common crawl"], "return_scores": True}
    fast, coerced = post_all(app, [("/retrieve", {**common, "topk": 2}), ("/retrieve", {**common, "topk": "2"})])
    assert plain_request(b'{"queries": ["a"], "topk": 2}') is not None
    assert plain_request(b'{"queries": ["a"], "topk": "2"}') is None  # coerced by the route, as the peer does
    assert fast.json() == coerced.json() and len(fast.json()["result"][0]) == 2
    bad = post_all(app, [("/retrieve", {"queries": "root servers"}), ("/retrieve", {"queries": ["a"], "topk": -1})])
    assert [r.status_code for r in bad] == [422, 422]

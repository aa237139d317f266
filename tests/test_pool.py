"""A batch spread over search processes answers exactly as one process does, and survives a
process that dies."""

import os
import signal

import pytest

from worldbuild.serve.pool import SearchPool
from worldbuild.world import World

QUERIES = ["root zone database", "common crawl blog", "the of and", "Kindersitze Test", "time zones",
           "root zone database", "Wikipedia", "上海", "Erdbeben", "web archive"]


@pytest.fixture(scope="module")
def world(sample_world):
    with World.open(sample_world[0], backend="numba") as opened:
        yield opened


@pytest.fixture(scope="module")
def pool(sample_world):
    started = SearchPool(sample_world[0], 2)
    yield started
    started.close()


def test_a_batch_over_processes_answers_as_one_process(world, pool):
    pids = pool.warmup()
    assert len(pids) == 2 and os.getpid() not in pids
    mask = ["https://www.iana.org/domains/root/db"]
    for k, snippet_chars, offset in ((3, 600, 0), (5, 240, 2)):
        alone = world.search_many(QUERIES, k, snippet_chars, mask, "bm25", offset)
        assert pool.search_many(world, QUERIES, k, snippet_chars, mask, "bm25", offset) == alone
    assert any(alone) and all(hit.url != mask[0] for hits in alone for hit in hits)


def test_processes_start_with_the_first_batch_which_is_answered_meanwhile(world, sample_world):
    lazy = SearchPool(sample_world[0], 2)
    try:
        expected = world.search_many(QUERIES, 3, 600, [], "bm25")
        assert lazy.search_many(world, QUERIES, 3, 600, [], "bm25") == expected  # in this process
        assert lazy._ready.wait(120), "the processes never came up"
        assert lazy.search_many(world, QUERIES, 3, 600, [], "bm25") == expected  # in theirs
        assert lazy.search_many(world, [], 3, 600, [], "bm25") == []
    finally:
        lazy.close()


def test_a_process_that_dies_costs_no_answer(world, pool):
    expected = world.search_many(QUERIES, 3, 600, [], "bm25")
    for pid in pool.warmup():
        os.kill(pid, signal.SIGKILL)
    assert pool.search_many(world, QUERIES, 3, 600, [], "bm25") == expected  # searched in this process
    assert pool.search_many(world, QUERIES, 3, 600, [], "bm25") == expected  # a new pool
    assert len(pool.warmup()) == 2


def test_the_server_shares_a_training_batch_with_its_processes(sample_world):
    """A live `worldbuild serve --search-processes 2`: the processes answer once the server is
    ready (a trainer's first batch is shared), a Search-R1 batch answers as one process searches
    it, and they end with the server."""
    import time

    import httpx
    import psutil

    from tests.services import start_server
    from worldbuild.serve.peers import RETRIEVE_PASSAGE_CHARS

    queries = [f"{word} {number}" for number in range(60) for word in ("root zone", "crawl", "Kinder", "web", "zones")]
    proc, base = start_server(sample_world[0], extra=["--search-processes", "2"])
    try:
        assert httpx.get(base + "/health").json()["status"] == "ok"
        pids = httpx.get(base + "/stats").json()["search_processes"]["pids"]
        assert len(pids) == 2 and proc.pid not in pids  # up before the first batch
        body = {"queries": queries, "topk": 3, "return_scores": True}
        first = httpx.post(base + "/retrieve", json=body, timeout=120).json()
        assert len(first["result"]) == 300 and any(first["result"])
        with World.open(sample_world[0], backend="numba") as world:  # as the server ranks
            alone = world.search_many(queries, 3, RETRIEVE_PASSAGE_CHARS)
        assert [[(d["document"]["url"], d["document"]["contents"], d["score"]) for d in docs] for docs in first["result"]] \
            == [[(h.url, f'"{h.title}"\n{h.snippet}', h.score) for h in hits] for hits in alone]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids):
        assert time.monotonic() < deadline, "search processes outlived the server"
        time.sleep(0.5)


def test_processes_that_cannot_start_leave_a_server_that_serves(sample_world, monkeypatch, caplog):
    """Asked for at start, search processes that fail to come up are a warning: the server still
    gets ready, and a large batch is answered in its own process."""
    import time

    from fastapi.testclient import TestClient

    from worldbuild.serve.app import POOL_QUERIES, create_app

    def cannot(self):
        raise OSError("no processes here")

    monkeypatch.setattr(SearchPool, "warmup", cannot)
    monkeypatch.setattr(SearchPool, "_start_in_background", lambda self: None)
    queries = [f"root zone {n}" for n in range(POOL_QUERIES)]
    with TestClient(create_app(sample_world[0], search_processes=2, processes_at_start=True)) as client:
        deadline = time.monotonic() + 120
        while client.get("/health").json()["status"] != "ok":
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.2)
        assert "search processes did not start: no processes here" in caplog.text
        answer = client.post("/retrieve", json={"queries": queries, "topk": 3}).json()
        assert len(answer["result"]) == POOL_QUERIES and all(answer["result"])

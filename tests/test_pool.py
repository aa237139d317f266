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


def test_a_process_that_dies_costs_no_answer(world, pool):
    expected = world.search_many(QUERIES, 3, 600, [], "bm25")
    for pid in pool.warmup():
        os.kill(pid, signal.SIGKILL)
    assert pool.search_many(world, QUERIES, 3, 600, [], "bm25") == expected  # searched in this process
    assert pool.search_many(world, QUERIES, 3, 600, [], "bm25") == expected  # a new pool
    assert len(pool.warmup()) == 2

"""Workers share out connections evenly (worldbuild/serve/balance.py): against a live server with
two workers, and the ledger and loop on their own."""

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from tests.services import start_server
from worldbuild.serve import balance


def _crash_holding(path: str, connections: int) -> None:
    ledger = balance.Ledger(path)
    ledger.change(connections)
    os._exit(0)  # gone without releasing its slot, as a killed worker


@pytest.fixture
def ledger_path(monkeypatch):
    path = balance.new_ledger(workers=2)
    monkeypatch.setenv(balance.LEDGER_ENV, path)
    yield path
    os.unlink(path)


def _claim_and_exit(path: str) -> None:
    os._exit(balance.Ledger(path).slot)  # the slot it was given, as its exit code


def test_a_gone_workers_count_is_ignored_and_its_slot_taken_again(ledger_path):
    mine = balance.Ledger(ledger_path)
    try:
        assert mine.slot == 0
        fork = multiprocessing.get_context("fork")
        gone = fork.Process(target=_crash_holding, args=(ledger_path, 5))
        gone.start()
        gone.join()
        assert mine.allowance() is None  # its 5 do not count: alone, no limit
        later = fork.Process(target=_claim_and_exit, args=(ledger_path,))
        later.start()
        later.join()
        assert later.exitcode == 2  # the gone worker's slot (the second), not a third
    finally:
        mine.release()


class OtherWorker:
    """A live process holding a slot of the ledger with `connections` open, and taking none."""

    def __init__(self, path: str, connections: int):
        code = ("import sys, time; from worldbuild.serve.balance import Ledger; "
                f"Ledger({path!r}).change({connections}); print('held', flush=True); time.sleep(120)")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.proc.kill()
        self.proc.wait()


def test_a_worker_takes_connections_up_to_the_least_loaded_other(ledger_path):
    with OtherWorker(ledger_path, 3), OtherWorker(ledger_path, 7):
        mine = balance.Ledger(ledger_path)
        assert mine.allowance() == 4  # level with the least loaded other's 3, plus one
        mine.change(+4)
        assert mine.allowance() == 0
        mine.release()


def test_a_connection_is_taken_anyway_when_the_others_take_none(ledger_path):
    """A live worker holding no connection that never accepts (stuck in a long batch, or hung):
    this one still takes every connection, waiting PATIENCE first. Its slot is taken when it
    starts listening and freed when it stops."""
    with OtherWorker(ledger_path, 0):
        loop = balance.BalancedLoop()
        try:
            assert loop._ledger is None  # not listening yet: no slot
            answered, held, slot = loop.run_until_complete(_echo_three())
        finally:
            loop.close()
        assert answered == [b"0", b"1", b"2"]
        assert held == 3 and slot == 2  # all three here, in the slot after the other's
        with open(ledger_path, "rb") as handle:
            cells = memoryview(handle.read()).cast("i")
        assert cells[slot] == 0 and cells[0] != 0  # freed when it stopped listening; the other's kept


async def _echo_three() -> tuple[list[bytes], int | None, int | None]:
    async def echo(reader, writer):
        writer.write(await reader.read(1))
        await writer.drain()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    answered, kept = [], []
    for number in range(3):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.write(str(number).encode())
        answered.append(await asyncio.wait_for(reader.read(1), 5))
        kept.append(writer)  # held open: each counts against this worker
    ledger = asyncio.get_running_loop()._ledger
    held, slot = (ledger.count, ledger.slot) if ledger else (None, None)
    server.close()
    for writer in kept:
        writer.close()
    await asyncio.sleep(0.05)  # their ends arrive after the ledger was freed
    return answered, held, slot


def test_a_workers_own_unix_socket_is_neither_shared_out_nor_counted(ledger_path, tmp_path):
    """A worker's own Unix socket (`worldbuild.serve.relay`: the other workers hand it MCP calls)
    is not the shared public socket: serving on it takes no slot, and its connections are taken
    at once, though the ledger would have this worker leave new ones to an idle other."""
    with OtherWorker(ledger_path, 0):
        loop = balance.BalancedLoop()
        try:
            answered, slot_taken = loop.run_until_complete(_echo_three_unix(str(tmp_path / "own.sock")))
        finally:
            loop.close()
        assert answered == [b"0", b"1", b"2"] and not slot_taken


async def _echo_three_unix(path: str) -> tuple[list[bytes], bool]:
    async def echo(reader, writer):
        writer.write(await reader.read(1))
        await writer.drain()

    server = await asyncio.start_unix_server(echo, path)
    answered, kept = [], []
    for number in range(3):
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 5)
        writer.write(str(number).encode())
        answered.append(await asyncio.wait_for(reader.read(1), 5))
        kept.append(writer)
    slot_taken = asyncio.get_running_loop()._ledger is not None
    server.close()
    for writer in kept:
        writer.close()
    return answered, slot_taken


@pytest.mark.slow
def test_two_workers_take_equal_shares_of_kept_connections(sample_world):
    """Keep-alive connections opened one after another, as a trainer's pool opens them, split
    evenly between two workers (one shared socket alone let one worker take most of them)."""
    import psutil

    proc, base = start_server(sample_world[0], workers=2)
    clients = []
    try:
        ledgers = {env[balance.LEDGER_ENV] for child in psutil.Process(proc.pid).children()
                   if balance.LEDGER_ENV in (env := child.environ())}  # the workers' environment
        pids, deadline = set(), time.monotonic() + 60  # both workers serving first
        while len(pids) < 2 and time.monotonic() < deadline:
            with httpx.Client(base_url=base, timeout=30) as fresh:
                pids.add(fresh.get("/stats").json()["worker"]["pid"])
        assert len(pids) == 2
        time.sleep(0.5)  # those connections' ends reach the ledger
        served, worker_of = Counter(), []
        for _ in range(16):
            client = httpx.Client(base_url=base, timeout=30)
            clients.append(client)
            worker_of.append(client.get("/stats").json()["worker"]["pid"])
            served[worker_of[-1]] += 1
        # even, or nearly: on a loaded machine a worker not scheduled within PATIENCE leaves a few
        # to the other (without the ledger the first to wake took most: 11/53 of 64 in the bench)
        assert len(served) == 2 and max(served.values()) - min(served.values()) <= 2, served
        for client, worker in zip(clients, worker_of):  # each connection stays with its worker
            assert client.post("/retrieve", json={"queries": ["root servers"], "topk": 1}).status_code == 200
            assert client.get("/stats").json()["worker"]["pid"] == worker
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        proc.wait(timeout=30)
    assert len(ledgers) == 1  # one ledger for the server's workers...
    assert not os.path.exists(ledgers.pop())  # ...removed when it stops


def test_a_ledger_that_cannot_be_read_leaves_connections_to_asyncio(tmp_path, monkeypatch, caplog):
    """A ledger gone from the temp folder (or full): one warning, and the worker serves on,
    taking connections as asyncio does, rather than failing to start."""
    monkeypatch.setenv(balance.LEDGER_ENV, str(tmp_path / "gone"))
    loop = balance.BalancedLoop()
    try:
        with caplog.at_level("WARNING", logger=balance.__name__):
            answered = loop.run_until_complete(_echo_three())[0]
        assert answered == [b"0", b"1", b"2"] and loop._ledger is None
    finally:
        loop.close()
    warnings = [record.getMessage() for record in caplog.records if record.name == balance.__name__]
    assert len(warnings) == 1 and "not shared out evenly" in warnings[0] and "gone" in warnings[0]

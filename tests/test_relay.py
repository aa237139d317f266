"""MCP calls between workers (worldbuild/serve/relay.py), its failure paths on their own: a worker
whose own socket cannot listen, and a call whose session no live worker holds. (The working
path, two real workers and the official MCP client: tests/test_serve.py.)"""

import asyncio
import logging
import os

from worldbuild.serve import relay


async def _not_found(scope, receive, send):
    """An MCP message endpoint that holds no session."""
    await receive()
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Could not find session"})


def test_a_worker_socket_that_cannot_listen_is_one_warning_and_the_worker_serves_on(tmp_path, caplog):
    own = relay.WorkerSocket(_not_found, str(tmp_path / "gone"))  # its folder is missing

    async def start_and_stop():
        await own.start()
        await own.stop()

    with caplog.at_level(logging.WARNING, logger="worldbuild.serve"):
        asyncio.run(start_and_stop())
    warnings = [record.getMessage() for record in caplog.records if record.name == "worldbuild.serve"]
    assert len(warnings) == 1 and "\n" not in warnings[0] and own.path in warnings[0]
    assert own.server is None


def test_a_call_no_live_worker_holds_answers_this_workers_404(tmp_path):
    """A gone worker's socket file is left behind; the call is tried there, then answered as this
    worker answered it, body and all."""
    directory = str(tmp_path)
    open(os.path.join(directory, "worker-999999999.sock"), "w").close()  # no one listens
    sent = []

    async def receive():
        return {"type": "http.request", "body": b'{"jsonrpc": "2.0"}', "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/mcp/messages/", "raw_path": b"/mcp/messages/",
             "query_string": b"session_id=" + b"0" * 32, "headers": [(b"content-type", b"application/json")]}
    asyncio.run(relay.SessionRelay(_not_found, directory)(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 404 and sent[1]["body"] == b"Could not find session"

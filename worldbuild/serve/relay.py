"""MCP sessions across workers. An MCP client's SSE stream and the calls it posts are two
connections, and with several workers they land where the workers' balance puts them: the call
often reaches a worker that does not hold its session (the MCP SDK keeps sessions in the
worker's memory) and the client waits forever. So each worker also serves the app on a Unix
socket of its own, in the folder named by $WORLDBUILD_SERVE_SOCKETS (set by `serve.run` for two
or more workers), and a worker that answers a posted call "no such session" hands it to the
others' sockets: the one holding the session takes it."""

from __future__ import annotations

import contextlib
import glob
import logging
import os

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worldbuild.serve.bodies import read_body, replay

SOCKETS_ENV = "WORLDBUILD_SERVE_SOCKETS"
log = logging.getLogger("worldbuild.serve")
RELAYED = b"x-worldbuild-relayed"  # a call already handed on: answered where it lands, never handed on again


def sockets_dir() -> str | None:
    """The workers' socket folder, or None with one worker."""
    return os.environ.get(SOCKETS_ENV) or None


def _socket_path(directory: str, pid: int | str) -> str:
    return os.path.join(directory, f"worker-{pid}.sock")


class WorkerSocket:
    """This worker's own address: the app served by uvicorn on `<directory>/worker-<pid>.sock`,
    in the worker's event loop, beside its share of the public socket."""

    def __init__(self, app: ASGIApp, directory: str):
        self.app, self.path = app, _socket_path(directory, os.getpid())
        self.server = None

    async def start(self) -> None:
        """Listen; on failure (a path too long for a Unix socket, a folder gone) log why and serve
        on without it: only MCP calls that land on another worker than their session's fail then."""
        import uvicorn

        # no logging setup (the worker's is in place), no second lifespan (the app's runs once)
        config = uvicorn.Config(self.app, uds=self.path, lifespan="off", log_config=None, ws="none",
                                timeout_graceful_shutdown=5)
        try:
            config.load()
            server = uvicorn.Server(config)
            server.lifespan = config.lifespan_class(config)  # (as `Server.serve` sets it before `startup`)
            await server.startup()
        except OSError as exc:
            log.warning("MCP calls landing on another worker than their session's will fail: no socket at %s (%s)",
                        self.path, exc)
            return
        self.server = server
        logging.getLogger("mcp.server.sse").addFilter(_OtherWorkersSession())

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class SessionRelay:
    """ASGI wrapper of the MCP SSE app: a posted call this worker answers 404 (its session is
    another worker's) is handed to the other workers' sockets, and the first answer other than
    404 is the client's. GETs (the streams themselves) and calls with one worker pass through."""

    def __init__(self, app: ASGIApp, directory: str | None):
        self.app, self.directory = app, directory
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or self.directory is None
                or any(name == RELAYED for name, _ in scope.get("headers", []))):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away
            return
        missing: list[Message] = []  # this worker's answer while it says "no such session"

        async def answer(message: Message) -> None:
            if missing or (message["type"] == "http.response.start" and message["status"] == 404):
                missing.append(message)
            else:  # its session is here: the answer goes out as it comes
                await send(message)

        await self.app(scope, replay(body, receive), answer)
        if missing:
            for path in self._others():
                handed = await self._hand_on(path, scope, body)
                if handed is not None and handed.status_code != 404:
                    kind = handed.headers.get("content-type")
                    await send({"type": "http.response.start", "status": handed.status_code,
                                "headers": [(b"content-type", kind.encode("latin-1"))] if kind else []})
                    await send({"type": "http.response.body", "body": handed.content})
                    return
        for message in missing:
            await send(message)

    def _others(self) -> list[str]:
        own = _socket_path(self.directory, os.getpid())
        return sorted(path for path in glob.glob(_socket_path(self.directory, "*")) if path != own)

    async def _hand_on(self, path: str, scope: Scope, body: bytes) -> httpx.Response | None:
        """The call as the worker on `path` answers it; None when that worker is gone. The
        address is the one the client sent (`raw_path`, a mask's prefix included), with its
        headers (an API key naming a mask), and the other worker's app reads it as this one did."""
        client = self._clients.get(path)
        if client is None:  # one per worker, kept: a client's setup costs more than the call
            client = self._clients[path] = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=path, verify=False), timeout=30)  # (no TLS on a Unix socket)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        # the client's headers go along (an API key may carry its mask), less those of its own connection
        headers = [(name, value) for name, value in scope.get("headers", []) if name not in _CONNECTION_HEADERS]
        try:
            url = httpx.URL(scheme="http", host="worker", raw_path=target)
            return await client.post(url, content=body, headers=[*headers, (RELAYED, b"1")])
        except (httpx.HTTPError, httpx.InvalidURL):
            return None


_CONNECTION_HEADERS = {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"upgrade", b"te"}


class _OtherWorkersSession(logging.Filter):
    """Drops the MCP SDK's "Could not find session" warning: with several workers that is most
    calls' first answer, before the worker holding the session takes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Could not find session")

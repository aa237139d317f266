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
import os

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worldbuild.serve.bodies import read_body, replay

SOCKETS_ENV = "WORLDBUILD_SERVE_SOCKETS"
RELAYED = b"x-worldbuild-relayed"  # a call already handed on: answered where it lands, never handed on again


def sockets_dir() -> str | None:
    """The workers' socket folder, or None with one worker."""
    return os.environ.get(SOCKETS_ENV) or None


def _socket_path(directory: str, pid: int) -> str:
    return os.path.join(directory, f"worker-{pid}.sock")


class WorkerSocket:
    """This worker's own address: the app served by uvicorn on `<directory>/worker-<pid>.sock`,
    in the worker's event loop, beside its share of the public socket."""

    def __init__(self, app: ASGIApp, directory: str):
        self.app, self.path = app, _socket_path(directory, os.getpid())
        self.server = None

    async def start(self) -> None:
        import uvicorn

        # no logging setup (the worker's is in place), no second lifespan (the app's runs once)
        config = uvicorn.Config(self.app, uds=self.path, lifespan="off", log_config=None, ws="none")
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)  # (as `Server.serve` sets it before `startup`)
        await server.startup()
        self.server = server

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or self.directory is None
                or any(name == RELAYED for name, _ in scope.get("headers", []))):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away
            return
        answered: list[Message] = []

        async def keep(message: Message) -> None:
            answered.append(message)

        await self.app(scope, replay(body, receive), keep)
        if answered and answered[0]["type"] == "http.response.start" and answered[0]["status"] == 404:
            for path in self._others():
                handed = await _hand_on(path, scope, body)
                if handed is not None and handed.status_code != 404:
                    await send({"type": "http.response.start", "status": handed.status_code,
                                "headers": [(b"content-type", handed.headers.get("content-type", "text/plain").encode())]})
                    await send({"type": "http.response.body", "body": handed.content})
                    return
        for message in answered:
            await send(message)

    def _others(self) -> list[str]:
        own = _socket_path(self.directory, os.getpid())
        return sorted(path for path in glob.glob(_socket_path(self.directory, "*")) if path != own)


async def _hand_on(path: str, scope: Scope, body: bytes) -> httpx.Response | None:
    """The call as the worker on `path` answers it; None when that worker is gone."""
    target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])
               if name in (b"content-type", b"host")}
    try:
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=path), timeout=30) as client:
            return await client.post("http://worker" + target, content=body, headers={**headers, RELAYED.decode(): "1"})
    except httpx.HTTPError:
        return None

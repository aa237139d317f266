"""Every failure is a 4xx with one line that says why; nothing a client sends reaches a 500."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worldbuild.serve.masks import route_path

MAX_BODY_BYTES = 1 << 20
BATCH_BODY_BYTES = 16 << 20  # /retrieve: a training batch of up to 8,192 queries
BATCH_PATHS = ("/retrieve", "/queries", "/flashrag/batch_search")  # training batches of many queries
NOT_AVAILABLE = "page not available in this world"


def error(status: int, message: str, snapshot: str | None = None) -> JSONResponse:
    headers = {"X-World-Snapshot": snapshot} if snapshot else None
    return JSONResponse({"error": " ".join(message.split())[:300], "status": status}, status_code=status,
                        headers=headers)


def shaped(request: Request, status: int, message: str) -> JSONResponse:
    """`error`, in the shape of the API a route speaks where its clients read another: Tavily's
    clients raise the reason in `detail.error` on a 400 (on a 422 they give the status alone)."""
    if not route_path(request.scope).startswith("/tavily/"):
        return error(status, message)
    status = 400 if status == 422 else status
    line = " ".join(message.split())[:300]
    return JSONResponse({"detail": {"error": line}, "error": line, "status": status}, status_code=status)


def _describe(exc: RequestValidationError) -> tuple[int, str]:
    problems = exc.errors()
    first = problems[0] if problems else {}
    if first.get("type") in ("json_invalid", "json_type") or "JSON" in str(first.get("msg", "")):
        return 400, f"malformed JSON body: {first.get('ctx', {}).get('error', first.get('msg', 'cannot parse'))}"
    location = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    if location == "body" and first.get("type") in ("model_attributes_type", "dict_type", "model_type"):
        return 400, "request body must be a JSON object"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return 422, f"{location}: {first.get('msg', 'invalid')}{more}"


def install(app: FastAPI) -> None:
    """Exception handlers that answer in one line, and the request-size limit."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return shaped(request, *_describe(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and exc.detail == "Not Found":
            return error(404, f"no route {request.method} {request.url.path}")
        if exc.status_code == 405:
            return error(405, f"{request.method} is not allowed on {request.url.path}")
        return shaped(request, exc.status_code, str(exc.detail))

    @app.exception_handler(UnicodeDecodeError)
    async def not_utf8(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return error(400, "request body is not valid UTF-8")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug if seen
        return error(500, f"internal error ({type(exc).__name__}); the request was not served")

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)


class BodyLimit:
    """Refuse bodies over `limit` bytes (413), by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = BATCH_BODY_BYTES if route_path(scope) in BATCH_PATHS else self.limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await error(413, f"request body over {limit} bytes")(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await error(413, f"request body over {limit} bytes")(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes HTTP exceptions through body parsing."""

    def __init__(self) -> None:
        super().__init__(413, f"request body over {MAX_BODY_BYTES} bytes")

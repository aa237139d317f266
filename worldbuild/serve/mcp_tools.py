"""BrowseComp-Plus's MCP tools, so its MCP-speaking agents (Gemini, Qwen, OpenAI and Anthropic MCP
connectors) search the world with only the server address changed: `search(query)` and
`get_document(docid)` over SSE at /mcp, as its `searcher/mcp_server.py` serves them by default.

Its search answers the k best pages (its `--k`, 5) as {docid, score, snippet}, the snippet being the
start of the document (its first 512 tokens; here the first SNIPPET_CHARS characters);
get_document answers {docid, text}, or nothing for an unknown id. A mask in the address
(/m/<id>/mcp) holds for the whole session: the stream tells the client to post its calls under the
same prefix. Needs the `mcp` extra (the official SDK); without it there is no /mcp route."""

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from worldbuild.serve.masks import address_mask
from worldbuild.serve.peers import BROWSECOMP_K, whole_pages
from worldbuild.serve.relay import SessionRelay, sockets_dir

SNIPPET_CHARS = 2048  # about its 512-token document opening


def install(app: FastAPI, served) -> bool:
    """Mount the tools at /mcp (SSE: GET /mcp/, then POST /mcp/messages/); False without `mcp`."""
    try:
        from mcp.server.mcpserver import Context, MCPServer
        from mcp.server.transport_security import TransportSecuritySettings
    except ImportError:
        return False
    world = served.world
    server = MCPServer("worldbuild", instructions="Search a frozen lite web; read a page by its docid.")

    def mask_of(ctx: Context) -> list[str]:
        request = ctx.request_context.request  # the POST that carried this call
        return address_mask(request.scope) if request is not None else []

    @server.tool(description="Search the world: the top pages as {docid, score, snippet}.")
    def search(query: str, ctx: Context) -> list[dict]:
        found = whole_pages(served, query, BROWSECOMP_K, "bm25", mask_of(ctx))
        return [{"docid": str(h.doc_id), "score": h.score, "snippet": page.text[:SNIPPET_CHARS]} for h, page in found]

    @server.tool(description="A page's whole text by its docid (from search).")
    def get_document(docid: str, ctx: Context) -> dict | None:
        if not docid.strip().isdigit() or int(docid) in world.masked_ids(mask_of(ctx)):
            return None
        page = world.store.by_ids([int(docid)]).get(int(docid))
        return None if page is None else {"docid": docid, "text": page.text}

    # the service is reached by any host name it is served under, as the other routes are
    anywhere = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    sse = server.sse_app(sse_path="/", message_path="/messages/", transport_security=anywhere)
    app.mount("/mcp", SessionRelay(sse, sockets_dir()))  # (a call may land on a worker without its session)
    app.router.routes.append(Route("/mcp", _Bare(sse), methods=["GET"]))
    return True


class _Bare:
    """GET /mcp (no slash, as clients are told to connect) served as /mcp/, not redirected there:
    a client that does not follow redirects still connects. (A class: Starlette would wrap a
    plain function as a request handler, not as an ASGI app.)"""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app({**scope, "path": scope["path"] + "/", "root_path": scope.get("root_path", "") + "/mcp"},
                       receive, send)


"""BrowseComp-Plus's MCP tools, so its MCP-speaking agents (Gemini, Qwen, OpenAI and Anthropic MCP
connectors) search the world with only the server address changed: `search(query)` and
`get_document(docid)` over SSE at /mcp, as its `searcher/mcp_server.py` serves them by default.

Its search answers the k best pages (its `--k`, 5) as {docid, score, snippet}, the snippet being the
start of the document (its first 512 tokens; here the first SNIPPET_CHARS characters);
get_document answers {docid, text}, or nothing for an unknown id. Needs the `mcp` extra (the
official SDK); without it there is no /mcp route."""

from __future__ import annotations

import logging

from fastapi import FastAPI

SEARCH_K = 5  # BrowseComp-Plus's `--k` default
SNIPPET_CHARS = 2048  # about its 512-token document opening

log = logging.getLogger("worldbuild.serve")


def install(app: FastAPI, served) -> bool:
    """Mount the tools at /mcp (SSE: GET /mcp/, then POST /mcp/messages/); False without `mcp`."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.transport_security import TransportSecuritySettings
    except ImportError:
        return False
    world = served.world
    server = MCPServer("worldbuild", instructions="Search a frozen lite web; read a page by its docid.")

    @server.tool(description="Search the world: the top pages as {docid, score, snippet}.")
    def search(query: str) -> list[dict]:
        hits = served.search(query, SEARCH_K, "bm25", [], snippet_chars=0) if query.strip() else []
        pages = world.store.by_ids(h.doc_id for h in hits)
        return [{"docid": str(h.doc_id), "score": h.score, "snippet": pages[h.doc_id].text[:SNIPPET_CHARS]}
                for h in hits]

    @server.tool(description="A page's whole text by its docid (from search).")
    def get_document(docid: str) -> dict | None:
        if not docid.strip().isdigit():
            return None
        page = world.store.by_ids([int(docid)]).get(int(docid))
        return None if page is None else {"docid": docid, "text": page.text}

    # the service is reached by any host name it is served under, as the other routes are
    anywhere = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app.mount("/mcp", server.sse_app(sse_path="/", message_path="/messages/", transport_security=anywhere))
    return True

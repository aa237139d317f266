"""The search and browse tools through verl's own interfaces: loaded by verl's tool registry from
`recipes/config/tool_config.yaml`, called as verl's `tool_agent` loop calls them (create with
the row's create_kwargs, execute, release) against a live `worldbuild serve`."""

import asyncio
import os
import time


from tests.conftest import needs_extra

verl = needs_extra("verl", "rl")

from verl.tools.schemas import ToolResponse  # noqa: E402
from verl.tools.tool_registry import initialize_tools_from_config  # noqa: E402

from tests.conftest import REPO  # noqa: E402
from tests.services import free_port  # noqa: E402

TOOL_CONFIG = os.path.join(REPO, "recipes", "config", "tool_config.yaml")
SOURCE = "https://yorkspace.library.yorku.ca/xmlui/handle/10315/36158"
QUERY = "The Cost of a WARC: Analyzing Web Archives in the Cloud"
SPELLINGS = ["http://yorkspace.library.yorku.ca/xmlui/handle/10315/36158/",
             "https://YORKSPACE.library.yorku.ca/xmlui/handle/10315/36158?utm_source=x#top"]


def load_tools(monkeypatch, url: str) -> dict:
    monkeypatch.setenv("WORLD_URL", url)
    return {tool.name: tool for tool in initialize_tools_from_config(TOOL_CONFIG)}


async def call(tool, arguments: dict, mask: list[str] | None = None) -> tuple[ToolResponse, float, dict]:
    """What verl's ToolAgentLoop._call_tool does for a BaseTool, step by step."""
    create_kwargs = {"mask": mask} if mask is not None else {}
    instance_id, _ = await tool.create(create_kwargs=create_kwargs)
    try:
        return await tool.execute(instance_id, arguments, agent_data=None)
    finally:
        await tool.release(instance_id)
        assert instance_id not in tool.masks


def test_registry_loads_both_tools_with_openai_schemas(monkeypatch, server):
    tools = load_tools(monkeypatch, server)
    assert set(tools) == {"search", "browse"}
    schema = tools["browse"].get_openai_tool_schema().model_dump(exclude_none=True)
    assert schema["function"]["parameters"]["required"] == ["url", "goal"]
    assert tools["search"].tools.settings.base_url == server and tools["search"].tools.settings.top_k == 10


def test_search_and_browse_honour_the_row_mask(monkeypatch, server):
    tools = load_tools(monkeypatch, server)

    async def scenario():
        open_search, reward, metrics = await call(tools["search"], {"query": QUERY})
        masked_search, *_ = await call(tools["search"], {"query": QUERY}, mask=[SOURCE])
        page, *_ = await call(tools["browse"], {"url": SOURCE, "goal": "cost of storage"})
        hidden = [await call(tools["browse"], {"url": url, "goal": "cost"}, mask=[SOURCE]) for url in SPELLINGS]
        return open_search, reward, metrics, masked_search, page, hidden

    open_search, reward, metrics, masked_search, page, hidden = asyncio.run(scenario())
    assert SOURCE in open_search.text and reward == 0.0 and metrics["ok"] and metrics["hits"] == 10
    assert SOURCE not in masked_search.text and masked_search.text.count("\nURL: ") == 10  # k results still
    assert page.text.startswith(f"Title: {QUERY}\nURL: ") and "## Most relevant to the goal" in page.text
    for response, _reward, info in hidden:
        assert response.text.startswith("[error] ") and "not available" in response.text
        assert info["error"] == "not_found"


def test_long_pages_are_cut_to_the_budget(monkeypatch, server):
    monkeypatch.setenv("WORLD_URL", server)
    from worldbuild.agent.verl_tools import BrowseTool

    tool = BrowseTool({"type": "native", "base_url": server, "max_chars": 20000, "observation_chars": 1500})
    response, *_ = asyncio.run(call(tool, {"url": "http://www.archive.org/iathreads/forum-display.php?poster=rastamon",
                                           "goal": "posts"}))
    assert len(response.text) <= 1500 and response.text.endswith("…(truncated)")


def test_a_down_service_gives_an_error_observation():
    from worldbuild.agent.verl_tools import SearchTool

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tool = SearchTool({"type": "native", "base_url": dead, "timeout": 1, "retries": 1})
    began = time.monotonic()
    response, reward, metrics = asyncio.run(call(tool, {"query": "anything"}))
    assert response.text.startswith("[error] search failed") and "unreachable" in response.text
    assert metrics == {"ok": False, "error": "unavailable"} and reward == 0.0
    assert time.monotonic() - began < 15
    bad, *_ = asyncio.run(call(tool, {"q": "wrong argument name"}))
    assert "needs a non-empty 'query'" in bad.text


class SlowWorld:
    """A world service that answers /search only after `delay` seconds (a real HTTP server)."""

    def __init__(self, delay: float):
        self.delay, self.calls = delay, 0

    def __enter__(self):
        import threading

        from aiohttp import web

        async def search(request):
            self.calls += 1
            await asyncio.sleep(self.delay)
            return web.json_response({"results": [], "snapshot": "s"})

        self.loop, ready = asyncio.new_event_loop(), threading.Event()
        self.port = free_port()

        def serve():
            app = web.Application()
            app.router.add_post("/search", search)
            runner = web.AppRunner(app)
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        async def cancel_handlers():
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(cancel_handlers(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_a_slow_service_times_out_into_an_error_observation():
    from worldbuild.agent.verl_tools import SearchTool

    world = SlowWorld(delay=5)
    with world as url:
        tool = SearchTool({"type": "native", "base_url": url, "timeout": 0.5, "retries": 1})
        began = time.monotonic()
        response, _reward, metrics = asyncio.run(call(tool, {"query": "anything"}))
    assert response.text.startswith("[error] search failed") and metrics["error"] == "unavailable"
    assert world.calls == 2 and time.monotonic() - began < 4  # one retry, then give up

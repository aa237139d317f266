"""verl tool parser "hermes_lenient" (`actor_rollout_ref.rollout.multi_turn.format=hermes_lenient`):
verl's hermes format plus the calls small models write in their content instead (fenced or
bare JSON, HTML-escaped quotes), read by the same code as `worldbuild rollout --tool-format
hermes_lenient` (`worldbuild.agent.toolcalls`). Importing `worldbuild.agent.verl_tools`, which
verl does when it loads `recipes/config/tool_config.yaml`, registers it."""

from __future__ import annotations

from verl.experimental.agent_loop.tool_parser import FunctionCall, ToolParser
from verl.utils.ray_utils import get_event_loop

from worldbuild.agent import toolcalls

NAME = "hermes_lenient"


@ToolParser.register(NAME)
class LenientToolParser(ToolParser):
    async def extract_tool_calls(self, responses_ids: list[int], tools=None) -> tuple[str, list[FunctionCall]]:
        text = await get_event_loop().run_in_executor(None, self.tokenizer.decode, responses_ids)
        names = [tool.function.name for tool in tools] if tools else None
        content, calls = toolcalls.parse(text, NAME, names)
        return content, [FunctionCall(name=c["function"]["name"], arguments=c["function"]["arguments"]) for c in calls]

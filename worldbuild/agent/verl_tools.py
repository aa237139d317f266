"""verl's tool interface over `WorldTools`: `recipes/config/tool_config.yaml` names these classes.

verl (0.9) calls `create(create_kwargs=row.extra_info.tools_kwargs[<tool>].create_kwargs)`,
then `execute(instance_id, arguments)`, then `release(instance_id)` once per tool call; the
task's mask arrives in `create_kwargs["mask"]` and is kept per instance."""

from __future__ import annotations

from typing import Any, Optional
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from worldbuild.agent import verl_parser  # noqa: F401  (registers the hermes_lenient tool parser)
from worldbuild.agent.tools import BROWSE_SCHEMA, SEARCH_SCHEMA, ToolSettings, WorldTools


class _WorldTool(BaseTool):
    kind = ""  # which world tool this class runs, whatever name a config gives it
    schema: dict = {}

    def __init__(self, config: dict, tool_schema: Optional[OpenAIFunctionToolSchema] = None):
        super().__init__(config, tool_schema or OpenAIFunctionToolSchema.model_validate(self.schema))
        self.tools = WorldTools(ToolSettings.from_config(config or {}))
        self.masks: dict[str, list[str]] = {}

    async def create(self, instance_id: Optional[str] = None, **kwargs) -> tuple[str, ToolResponse]:
        instance_id = instance_id or uuid4().hex
        create_kwargs = kwargs.get("create_kwargs") or {}
        mask = create_kwargs.get("mask")
        self.masks[instance_id] = [str(url) for url in (mask if mask is not None else [])]
        return instance_id, ToolResponse()

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs) -> tuple[ToolResponse, float, dict]:
        observation = await self.tools.call(self.kind, parameters, self.masks.get(instance_id, []))
        return ToolResponse(text=observation.text), 0.0, {"ok": observation.ok, **observation.metrics}

    async def release(self, instance_id: str, **kwargs) -> None:
        self.masks.pop(instance_id, None)


class SearchTool(_WorldTool):
    kind, schema = "search", SEARCH_SCHEMA


class BrowseTool(_WorldTool):
    kind, schema = "browse", BROWSE_SCHEMA

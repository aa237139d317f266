"""Request bodies of every route, with the limits that keep one request from hurting others."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_QUERY_CHARS = 1000
MAX_K = 100
MAX_QUERIES = 64
MAX_MASK = 200
MAX_URL_CHARS = 4096

Query = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to search for")
Mode = Field("bm25", description="bm25, dense (page vectors) or hybrid (reciprocal rank fusion of both)")
Mask = Field(default_factory=list, max_length=MAX_MASK,
             description="URLs hidden from this request: every spelling of each, and pages with the same content")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class Strict(BaseModel):
    """JSON types are checked as sent (no "10" for 10); unknown fields are ignored, as peers send extras."""

    model_config = ConfigDict(strict=True, extra="ignore")


class SearchRequest(Strict):
    query: str = Query
    k: int = Field(10, ge=1, le=MAX_K)
    mode: Literal["bm25", "dense", "hybrid"] = Mode
    mask: list[str] = Mask

    _blank = field_validator("query")(_not_blank)


class BrowseRequest(Strict):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    goal: str | None = Field(None, max_length=MAX_QUERY_CHARS, description="What the agent looks for on the page")
    mask: list[str] = Mask
    max_chars: int = Field(8000, ge=200, le=200_000)
    offset: int = Field(0, ge=0)


class RetrieveRequest(Strict):
    """Search-R1's retriever request, as its clients and verl's search tool send it."""

    queries: list[str] = Field(min_length=1, max_length=MAX_QUERIES)
    topk: int | None = Field(None, ge=1, le=MAX_K)
    return_scores: bool = False
    mode: Literal["bm25", "dense", "hybrid"] = Mode
    mask: list[str] = Mask

    @field_validator("queries")
    @classmethod
    def _queries(cls, value: list[str]) -> list[str]:
        for query in value:
            if not query.strip() or len(query) > MAX_QUERY_CHARS:
                raise ValueError(f"each query must be 1-{MAX_QUERY_CHARS} characters and not blank")
        return value


class MaskRequest(Strict):
    urls: list[str] = Field(min_length=1, max_length=MAX_MASK)


class SerperRequest(Strict):
    """Serper's search request (`gl`, `hl`, `page` and the like are accepted and ignored)."""

    q: str = Query
    num: int = Field(10, ge=1, le=MAX_K)
    mode: Literal["bm25", "dense", "hybrid"] = Mode
    mask: list[str] = Mask

    _blank = field_validator("q")(_not_blank)

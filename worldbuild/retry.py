"""One retry policy for every HTTP client of the project (world client, expansion sources, LLM
endpoints): retry connection errors, timeouts, 429 and 5xx; sleep what the server asks for in
`Retry-After` when it says, else exponential backoff with full jitter, so many clients that
failed together do not come back together. httpx is imported by the calls that use it, so the
LLM client and verl's reward function, which need only `Backoff`, do not load it."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import httpx

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
                        ) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3); None
    when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now()).total_seconds())


@dataclass(frozen=True)
class Backoff:
    retries: int = 3  # tries after the first
    base: float = 0.5  # seconds; attempt n waits up to base * 2**n
    cap: float = 30.0  # the longest backoff sleep
    max_retry_after: float = 300.0  # the longest server-requested sleep honoured

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before try `attempt + 1` (attempt counts from 0)."""
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return min(asked, self.max_retry_after)
        return random.uniform(0.0, min(self.cap, self.base * 2**attempt))


def _retry_after(response: httpx.Response) -> str | None:
    return response.headers.get("retry-after")


def request(client: httpx.Client, method: str, url: str, backoff: Backoff = Backoff(),
            sleep: Callable[[float], None] = time.sleep, **kwargs) -> httpx.Response:
    """The first answer that is not retryable, or the last one; raises the transport error
    (`httpx.TransportError`, timeouts included) when the last try could not connect."""
    import httpx

    for attempt in range(backoff.retries + 1):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == backoff.retries:
                raise
            sleep(backoff.delay(attempt))
            continue
        if response.status_code not in RETRY_STATUS or attempt == backoff.retries:
            return response
        sleep(backoff.delay(attempt, _retry_after(response)))
    raise AssertionError("unreachable")


async def arequest(client: httpx.AsyncClient, method: str, url: str, backoff: Backoff = Backoff(),
                   **kwargs) -> httpx.Response:
    """`request` for asyncio clients."""
    import httpx

    for attempt in range(backoff.retries + 1):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == backoff.retries:
                raise
            await asyncio.sleep(backoff.delay(attempt))
            continue
        if response.status_code not in RETRY_STATUS or attempt == backoff.retries:
            return response
        await asyncio.sleep(backoff.delay(attempt, _retry_after(response)))
    raise AssertionError("unreachable")

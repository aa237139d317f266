"""Masks given through the address, for clients whose only knob is a base URL.

`POST /masks {"urls": [...]}` answers an id; `http://host/m/<id>/<any route>` then serves that
route with the mask applied exactly as a body `mask` would be. The id is a digest of the mask's
canonical URL set, so registering the same set (in any spelling or order) always gives the same
id, on any worker, before and after a restart. Each registered set is one small file named by its
id: workers of one server share the folder, files are written once and never change, and a
restarted server still knows every id handed out before.

Some clients keep only the host of their base URL (firecrawl-py 4, WebThinker's page parser); the
ones that send an API key can carry the mask in it instead: `wbmask-<id>` as the key (a bearer
token, an `X-API-Key` header, or an `api_key` / `key` query parameter).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from worldbuild.atomic import write_json_atomic
from worldbuild.urls import BadURL, canonical_url, url_key

MASK_ID = re.compile(r"^[0-9a-f]{24}$")
SCOPE_KEY = "worldbuild.mask"
KEY_PREFIX = "wbmask-"  # an API key that names a registered mask


class UnknownMask(KeyError):
    """An address names a mask id this server never registered."""


def normalise(urls: list[str]) -> tuple[list[str], list[str]]:
    """(one canonical URL per page identity, sorted; the entries that are not http(s) URLs and
    so hide nothing). Spellings that differ only in scheme or `www.` hide the same pages (a mask
    matches by `url_key` too), so they count once and give the same id."""
    by_key: dict[str, str] = {}
    ignored = []
    for url in urls:
        try:
            canonical = canonical_url(url)
        except BadURL:
            ignored.append(url)
            continue
        key = url_key(canonical)
        by_key[key] = min(by_key.get(key, canonical), canonical)
    return sorted(by_key.values()), ignored


def mask_id(canonical: list[str]) -> str:
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()[:24]


class MaskRegistry:
    """Mask id -> canonical URLs, one JSON file per id under `directory`."""

    def __init__(self, directory: str):
        self.directory = directory
        self._known: dict[str, list[str]] = {}

    def register(self, canonical: list[str]) -> str:
        found = mask_id(canonical)
        path = os.path.join(self.directory, f"{found}.json")
        if found not in self._known and not os.path.exists(path):
            os.makedirs(self.directory, exist_ok=True)
            write_json_atomic(path, canonical)  # another worker never reads half a file
        self._known[found] = canonical
        return found

    def lookup(self, found: str) -> list[str]:
        if found in self._known:
            return self._known[found]
        if not MASK_ID.match(found):
            raise UnknownMask(found)
        try:
            with open(os.path.join(self.directory, f"{found}.json")) as handle:
                canonical = json.load(handle)
        except (OSError, ValueError):
            raise UnknownMask(found) from None
        self._known[found] = canonical
        return canonical


def default_directory(world_dir: str, snapshot: str) -> str:
    """$WORLDBUILD_MASK_DIR, else WORLD/.cache/masks when the world is writable, else a folder
    in the system's temp dir named by the snapshot."""
    if os.environ.get("WORLDBUILD_MASK_DIR"):
        return os.environ["WORLDBUILD_MASK_DIR"]
    cache = os.path.join(world_dir, ".cache")
    if os.access(world_dir, os.W_OK) and (not os.path.exists(cache) or os.access(cache, os.W_OK)):
        return os.path.join(cache, "masks")
    return os.path.join(tempfile.gettempdir(), f"worldbuild-masks-{snapshot}")


def address_mask(scope: Scope) -> list[str]:
    """The mask the request's address carried (empty when it had no /m/<id> prefix)."""
    return scope.get(SCOPE_KEY, [])


def key_mask_id(scope: Scope) -> str | None:
    """The mask id a request's API key names, if one does: any header whose value is `wbmask-<id>`
    (or `Bearer wbmask-<id>`: `Authorization`, `X-API-Key`, `X-Subscription-Token` ...), or any
    query parameter's (`api_key`, `key` ...); the prefix in any case."""
    prefix = KEY_PREFIX.encode()
    headers = scope.get("headers", [])
    if b"wbmask" in b"\n".join(value for _, value in headers).lower():  # (most requests carry none: one look)
        found = _key_in_headers(headers, prefix)
        if found is not None:
            return found
    query = scope.get("query_string", b"")
    if b"wbmask" in query.lower():
        for _, value in parse_qsl(query.decode("latin-1")):
            if value.strip().lower().startswith(KEY_PREFIX):
                return value.strip()[len(KEY_PREFIX):]
    return None


def _key_in_headers(headers: list[tuple[bytes, bytes]], prefix: bytes) -> str | None:
    """The id of the first header value that is a mask's key, bare or as a bearer token."""
    for _, value in headers:
        value = value.strip()
        if value[:7].lower() == b"bearer ":
            value = value[7:].strip()
        if value[:len(prefix)].lower() == prefix:
            return value[len(prefix):].decode("latin-1")
    return None


def route_path(scope: Scope) -> str:
    """The path the routes answer: the address without its root path (a mask's /m/<id>)."""
    path, root = scope["path"], scope.get("root_path", "")
    return (path[len(root):] or "/") if root and path.startswith(root) else path


class MaskPrefix:
    """ASGI middleware: `/m/<id>/rest` is served as `/rest` with the id's URLs as the mask.
    The prefix becomes the root path (ASGI's place for where an app is mounted), so the routes
    see `/rest` while every address the service builds (a slash redirect, the message path of
    the MCP stream) keeps the prefix, and with it the mask."""

    def __init__(self, app: ASGIApp, registry: MaskRegistry, on_unknown):
        self.app, self.registry, self.on_unknown = app, registry, on_unknown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        in_path = path[len("/m/"):].split("/", 1)[0] if path.startswith("/m/") else None
        in_key = key_mask_id(scope) if path else None
        if in_path is None and in_key is None:
            await self.app(scope, receive, send)
            return
        canonical: list[str] = []
        for found in (in_path, in_key):  # both given: both masks apply
            if found is not None:
                try:
                    canonical += self.registry.lookup(found)
                except UnknownMask:
                    await self.on_unknown(found)(scope, receive, send)
                    return
        if in_path is None:  # named by the API key: the address stays as it is
            await self.app({**scope, SCOPE_KEY: canonical}, receive, send)
            return
        root = scope.get("root_path", "") + f"/m/{in_path}"
        await self.app({**scope, "root_path": root, SCOPE_KEY: canonical}, receive, send)

"""Canonical URLs: one spelling per page, so dedup, browse and masking agree.

`canonical_url` keeps the scheme (DESIGN.md §2); `url_key` also forgets the scheme and a
leading `www.`/`m.`, so that an agent asking for `http://www.example.com/a/` finds the page
stored as `https://example.com/a`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACKING_PARAMS = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_id", "rb_clickid", "s_cid", "ref_src",
}
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
MOBILE_OR_WWW = re.compile(r"^(?:www\d*|m|mobile)\.")
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


class BadURL(ValueError):
    """The string cannot be read as an http(s) URL."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _clean_host(netloc: str, scheme: str) -> str:
    host_port = netloc.rsplit("@", 1)[-1]  # credentials never belong to a page's identity
    host, _, port = host_port.partition(":") if not host_port.startswith("[") else (host_port, "", "")
    host = host.strip().rstrip(".").lower()
    if not host:
        raise BadURL("URL has no host")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # keep the lower-cased unicode host rather than reject the page
    if port and port.isdigit() and int(port) != DEFAULT_PORTS.get(scheme):
        return f"{host}:{int(port)}"
    return host


def _clean_path(path: str) -> str:
    path = quote(path, safe=_SAFE_PATH)  # spaces and non-ASCII become escapes
    path = _PERCENT_ESCAPE.sub(lambda m: m.group(0).upper(), path)
    path = re.sub(r"/{2,}", "/", path) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


def canonical_url(url: str) -> str:
    """Normalise `url`: lower-case scheme/host, no default port, fragment, credentials or
    tracking parameters, sorted query, no trailing slash except the root."""
    raw = url.strip().strip("<>").strip()
    if "://" not in raw:
        raise BadURL(f"not an absolute URL: {url[:120]!r}")
    try:
        parts = urlsplit(raw)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise BadURL(f"cannot parse {url[:120]!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadURL(f"unsupported URL scheme {scheme!r}")
    host = _clean_host(parts.netloc, scheme)
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k))
    return urlunsplit((scheme, host, _clean_path(parts.path), urlencode(query, safe="/:@!$'()*,;-._~"), ""))


def url_key(url: str) -> str:
    """A scheme-free, `www.`-free key: the looser match browse falls back to."""
    canonical = canonical_url(url)
    rest = canonical.split("://", 1)[1]
    return MOBILE_OR_WWW.sub("", rest)


def domain_of(canonical: str) -> str:
    """Host without port or a leading `www.`: what stats group pages by."""
    host = canonical.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return MOBILE_OR_WWW.sub("", host)

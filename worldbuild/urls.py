"""Canonical URLs: one spelling per page, so dedup, browse and masking agree.

The base is w3lib's `canonicalize_url` (the one Scrapy dedups requests with): sorted query,
percent-escapes normalised without losing bytes (`?q=caf%E9` and `?q=caf%E8` stay apart),
unreserved escapes decoded (`%7E` is `~`), dot segments resolved (`/a/../b` is `/b`), `//`
inside a path kept, IDNA hosts. On top, the project's rules: no credentials, default port,
fragment, trailing slash (except the root) or tracking parameters (`url_query_cleaner`).

`canonical_url` keeps the scheme (DESIGN.md §2); `url_key` also forgets the scheme and a
leading `www.`/`m.`/`mobile.` label, so that an agent asking for `http://www.example.com/a/`
finds the page stored as `https://example.com/a`. That label is dropped only when it is not
part of the registrable domain (by the public-suffix list bundled with tldextract, read
offline): `m.mobile.de` → `mobile.de`, and `mobile.de` stays itself.

A document from a corpus that has no URL gets a synthetic one, `doc://<corpus>/<id>`: the
`doc` scheme goes through the same rules (host = corpus name), so browse and masks treat it
like any page, and it never collides with a web URL.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, url_query_cleaner

DEFAULT_PORTS = {"http": 80, "https": 443}
SYNTHETIC_SCHEME = "doc"  # documents without a URL: doc://<corpus>/<id>
SCHEMES = (*DEFAULT_PORTS, SYNTHETIC_SCHEME)
TRACKING_PARAMS = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_id", "rb_clickid", "s_cid", "ref_src",
}
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
MOBILE_OR_WWW = re.compile(r"^(?:www\d*|m|mobile)\.")


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


def canonical_url(url: str) -> str:
    """Normalise `url` (see the module docstring); raises BadURL for what is not http(s)."""
    raw = url.strip().strip("<>").strip()
    if "://" not in raw:
        raise BadURL(f"not an absolute URL: {url[:120]!r}")
    try:
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise BadURL(f"unsupported URL scheme {scheme!r}")
        host = _clean_host(parts.netloc, scheme)
        cleaned = urlunsplit((scheme, host, parts.path or "/", parts.query, ""))
        tracking = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _is_tracking(k)})
        if tracking:
            cleaned = url_query_cleaner(cleaned, tracking, remove=True, unique=False)
        canonical = canonicalize_url(cleaned, keep_blank_values=True)
    except BadURL:
        raise
    except ValueError as exc:
        raise BadURL(f"unreadable URL {url[:120]!r}: {exc}") from None
    parts = urlsplit(canonical)
    if len(parts.path) > 1 and parts.path.endswith("/"):
        canonical = urlunsplit(parts._replace(path=parts.path[:-1]))
    return canonical


@functools.lru_cache(maxsize=1)
def _public_suffixes():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the bundled list: no network


@functools.lru_cache(maxsize=65536)
def _loose_host(host: str) -> str:
    """`host` without a leading www/m/mobile label, unless that label is the registrable domain."""
    if not MOBILE_OR_WWW.match(host):
        return host
    name, _, port = host.partition(":")
    if not _public_suffixes()(name).subdomain:
        return host
    return MOBILE_OR_WWW.sub("", host)


def url_key(url: str) -> str:
    """A scheme-free, `www.`-free key: the looser match browse falls back to."""
    canonical = canonical_url(url)
    scheme, rest = canonical.split("://", 1)
    if scheme == SYNTHETIC_SCHEME:
        return canonical  # a corpus name is no host: no www. to forget, and never a web page's key
    host, slash, path = rest.partition("/")
    return _loose_host(host) + slash + path


def synthetic_url(corpus: str, doc_id: str) -> str:
    """The stable URL of a corpus document that has none: `doc://<corpus>/<id>`."""
    host = re.sub(r"[^a-z0-9.-]+", "-", corpus.lower()).strip(".-") or "corpus"
    return f"{SYNTHETIC_SCHEME}://{host}/{quote(str(doc_id), safe='')}"


def domain_of(canonical: str) -> str:
    """Host without port or a leading `www.`: what stats group pages by."""
    host = canonical.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return _loose_host(host)

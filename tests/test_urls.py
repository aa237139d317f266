import pytest

from worldbuild.urls import BadURL, canonical_url, domain_of, url_key


@pytest.mark.parametrize("variant", [
    "https://example.com/a/b",
    "https://example.com/a/b/",
    "HTTPS://EXAMPLE.COM/a/b",
    "https://example.com:443/a/b",
    "https://example.com/a/b#section-2",
    "https://example.com/a/b?utm_source=x&utm_medium=y",
    "https://example.com/a/b?fbclid=abc",
    " <https://example.com/a/b> ",
    "https://example.com/a/./c/../b",
    "https://example.com/%61/b",
    "https://user:pw@example.com/a/b",
    "https://example.com./a/b",
])
def test_variants_share_one_canonical_form(variant):
    assert canonical_url(variant) == "https://example.com/a/b"


def test_query_is_kept_but_sorted_and_cleaned():
    assert canonical_url("http://x.org/p?b=2&a=1&utm_campaign=z") == "http://x.org/p?a=1&b=2"


def test_path_case_and_non_default_port_are_kept():
    assert canonical_url("http://X.org:8080/Path") == "http://x.org:8080/Path"


def test_root_keeps_its_slash_and_spaces_are_escaped():
    assert canonical_url("http://x.org") == "http://x.org/"
    assert canonical_url("http://x.org/a b") == "http://x.org/a%20b"
    assert canonical_url("http://x.org/%7e") == canonical_url("http://x.org/~") == "http://x.org/~"


def test_url_key_forgets_scheme_and_www():
    assert url_key("http://www.example.com/a/") == url_key("https://example.com/a") == "example.com/a"
    assert url_key("https://m.example.com/a") == "example.com/a"


def test_domain():
    assert domain_of(canonical_url("https://www.Example.com:8443/x")) == "example.com"


@pytest.mark.parametrize("bad", ["dns:example.com", "ftp://x.org/f", "/relative/path", "", "http:///nohost"])
def test_not_web_urls_are_refused(bad):
    with pytest.raises(BadURL):
        canonical_url(bad)


def test_no_two_pages_share_a_canonical_url():
    """Bytes that are not UTF-8 keep their escapes; a double slash is part of the path; a
    repeated parameter keeps every value."""
    spellings = ["http://x.org/s?q=caf%E9", "http://x.org/s?q=caf%E8", "http://x.org/s?q=caf%C3%A9",
                 "http://x.org/a//b", "http://x.org/a/b", "http://x.org/p?a=1&a=2", "http://x.org/p?a=1",
                 "http://x.org/a%2Fb", "http://x.org/Path", "http://x.org/path"]
    assert len({canonical_url(u) for u in spellings}) == len(spellings)


@pytest.mark.parametrize("one,other", [
    ("http://x.org/%7Euser/", "http://x.org/~user"),
    ("http://x.org/a/../b", "http://x.org/b"),
    ("http://x.org/caf%c3%a9", "http://x.org/café"),
    ("http://Bücher.example/x", "http://xn--bcher-kva.example/x"),
    ("http://x.org/p?b=2&a=1&utm_source=n&Fbclid=z", "http://x.org/p?a=1&b=2"),
    ("http://x.org/p?q=a+b", "http://x.org/p?q=a%20b"),
])
def test_spellings_of_one_page_meet(one, other):
    assert canonical_url(one) == canonical_url(other)


def test_mobile_labels_are_dropped_only_below_the_registrable_domain():
    assert url_key("https://mobile.de/auto") == "mobile.de/auto"
    assert url_key("https://m.mobile.de/auto") == "mobile.de/auto"
    assert url_key("https://www.m.com/") == "m.com/" and url_key("https://m.com/") == "m.com/"
    assert url_key("https://m.bbc.co.uk/news") == url_key("https://www.bbc.co.uk/news") == "bbc.co.uk/news"
    assert domain_of(canonical_url("https://mobile.de/x")) == "mobile.de"
    assert url_key("http://127.0.0.1:8080/x") == "127.0.0.1:8080/x"

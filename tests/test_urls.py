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
    " <https://example.com/a//b> ",
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
    assert canonical_url("http://x.org/%7e") == "http://x.org/%7E"


def test_url_key_forgets_scheme_and_www():
    assert url_key("http://www.example.com/a/") == url_key("https://example.com/a") == "example.com/a"
    assert url_key("https://m.example.com/a") == "example.com/a"


def test_domain():
    assert domain_of(canonical_url("https://www.Example.com:8443/x")) == "example.com"


@pytest.mark.parametrize("bad", ["dns:example.com", "ftp://x.org/f", "/relative/path", "", "http:///nohost"])
def test_not_web_urls_are_refused(bad):
    with pytest.raises(BadURL):
        canonical_url(bad)

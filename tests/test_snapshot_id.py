"""The snapshot id covers every stored field of every page: a world that differs in any field a
consumer sees (title, language, dates, the text's case and line breaks, the URL as crawled, where
it came from) has another id. Each variant goes through a real ingest of a real WARC."""

import pytest

from tests.warcs import LOREM, response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import PAGE_COLUMNS, IngestSettings
from worldbuild.world import World

URL = "https://example.org/harbour"
DATE = "2024-05-01T12:00:00Z"


def page(title: str = "Valdora harbour records", words: str = "lighthouse keeper", split: bool = False,
         published: str = "2019-03-04") -> str:
    paragraphs = [f"{LOREM.format(n=100 + i)} The {words} wrote it down." for i in range(8)]
    if split:  # the same words, one paragraph broken in two: only whitespace differs
        first, second = paragraphs[0].split(". ", 1)
        paragraphs[0:1] = [first + ".", second]
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html><html><head><title>{title}</title>'
            f'<meta property="article:published_time" content="{published}T08:00:00+00:00"></head>'
            f"<body><article>{body}</article></body></html>")


def build(tmp_path, name: str, records: list[dict], file_name: str = "pages.warc.gz"):
    folder = tmp_path / name
    folder.mkdir()
    warc = write_warc(str(folder / file_name), records, gzip=file_name.endswith(".gz"))
    result = ingest([warc], str(folder / "world"), IngestSettings(), LocalExecutor(1))
    with World.open(str(folder / "world")) as world:
        (stored,) = world.store.by_ids(range(1, len(world) + 5)).values()
    return result.manifest["snapshot"], stored.to_dict()


VARIANTS = {
    # name: (records, WARC file name, the fields that must differ from the base page)
    "url as crawled": ([response(URL + "?utm_source=news", page())], None, {"url"}),
    "host": ([response("https://other.example.org/harbour", page())], None, {"url", "canonical_url", "domain"}),
    "title": ([response(URL, page(title="Valdora harbour ledger"))], None, {"title"}),
    "text case": ([response(URL, page(words="Lighthouse Keeper"))], None, {"text"}),
    "text whitespace": ([response(URL, page(split=True))], None, {"text", "length"}),
    "text": ([response(URL, page(words="lighthouse keepers"))], None, {"text", "content_hash", "length"}),
    "crawl date": ([response(URL, page(), date="2024-06-01T12:00:00Z")], None, {"crawl_date"}),
    "published date": ([response(URL, page(published="2020-07-08"))], None, {"published_date"}),
    "source file": ([response(URL, page())], "renamed.warc.gz", {"source"}),
    # a request record before the page (uncompressed: the offset is the same in every rerun)
    "source offset": ([{"type": "request", "url": URL}, response(URL, page())], "pages.warc", {"source"}),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build(tmp_path_factory.mktemp("base"), "base", [response(URL, page())])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_field_changes_the_snapshot_id(base, tmp_path, name):
    records, file_name, fields = VARIANTS[name]
    snapshot, stored = build(tmp_path, "variant", records, file_name or "pages.warc.gz")
    changed = {field for field in PAGE_COLUMNS if stored[field] != base[1][field]}
    assert changed == fields, (name, changed)  # the variant changes what it means to, nothing else
    assert snapshot != base[0], name
    again, _ = build(tmp_path, "again", records, file_name or "pages.warc.gz")
    assert again == snapshot  # and the id is still a function of the content alone


def test_language_changes_the_snapshot_id(base, tmp_path, monkeypatch):
    """The same text classified as another language (a newer language identifier, say)."""
    import worldbuild.ingest.extract as extract

    detected = base[1]["lang"]
    monkeypatch.setattr(extract, "identify", lambda text, identifier: "nl" if detected != "nl" else "de")
    snapshot, stored = build(tmp_path, "lang", [response(URL, page())])
    assert {field for field in PAGE_COLUMNS if stored[field] != base[1][field]} == {"lang"}
    assert snapshot != base[0]


def test_every_field_is_covered_by_a_variant():
    covered = set().union(*(fields for _, _, fields in VARIANTS.values())) | {"lang"}
    assert covered == set(PAGE_COLUMNS)

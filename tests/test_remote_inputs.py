"""Inputs named by URL (fsspec: s3://, gs://, http(s)://, ...) are read by byte range and give
the same world as local files; here over a local HTTP server with Range support."""

import json

from tests.cdx_server import CdxServer
from tests.conftest import CORPORA, FAST
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings

FILES = ("sample-crawls.warc.gz", "sample-pages.warc.gz")


def test_urls_give_the_same_world_as_local_files(fast_sample_world, tmp_path):
    server = CdxServer(CORPORA)
    with server as base:
        result = ingest([f"{base}/warcs/{name}" for name in FILES], str(tmp_path / "w"), FAST, LocalExecutor(2))
    assert result.manifest["snapshot"] == fast_sample_world[1].manifest["snapshot"]
    assert [item["name"] for item in result.manifest["inputs"]] == list(FILES)
    assert [item["sha256"] for item in result.manifest["inputs"]] == [
        item["sha256"] for item in fast_sample_world[1].manifest["inputs"]]
    # workers read their units by byte range, from offsets inside the files
    starts = [int(wanted[6:].split("-")[0]) for _, wanted in server.ranges if wanted.startswith("bytes=")]
    assert any(start > 0 for start in starts)


def test_a_url_that_names_nothing_is_reported(tmp_path):
    with CdxServer(CORPORA) as base:
        result = ingest([f"{base}/warcs/missing.warc.gz"], str(tmp_path / "w"), IngestSettings(), LocalExecutor(1))
    assert "URL matches no files" in json.dumps(result.report.to_dict())

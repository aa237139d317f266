"""Every framing of a real WARC is read (per-record gzip, whole-stream gzip, LZ4 frame, zstd,
plain); a file that breaks mid-way keeps what came before it; special files and directory loops
get a one-line reason; nothing in a directory is passed over silently; `--retry-errors`."""

import gzip
import os
import subprocess
import sys

import lz4.frame
import pytest
import zstandard

from tests.conftest import REPO, SHARED_WARC, needs_shared
from tests.warcs import article, response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings

pytestmark = needs_shared
REAL = os.path.join(SHARED_WARC, "dolma-sample-0000.warc.gz")  # a real wget crawl, gzip per record


def pages_of(world_dir) -> list[tuple]:
    """Every page as (canonical URL, title, text hash, crawl date): what an agent is served."""
    from worldbuild.records import PAGE_COLUMNS
    from worldbuild.world import World

    kept = [PAGE_COLUMNS.index(name) for name in ("canonical_url", "title", "content_hash", "crawl_date")]
    with World.open(str(world_dir)) as world:
        return sorted(tuple(row[i] for i in kept) for row in world.store.identities())


def run(paths, world_dir, **kwargs):
    return ingest([str(p) for p in paths], str(world_dir), IngestSettings(), LocalExecutor(1), **kwargs)


def _one_line(text: str) -> bool:
    return "\n" not in text and 0 < len(text) < 400


@pytest.fixture(scope="module")
def plain_bytes():
    with gzip.open(REAL, "rb") as handle:  # every member, in order: the WARC as written
        return handle.read()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The real file in its own (per-record gzip) framing: what every other framing must match."""
    world_dir = tmp_path_factory.mktemp("ref") / "w"
    result = run([REAL], world_dir)
    assert result.manifest["pages"] >= 10
    result.world_dir = world_dir
    return result


@pytest.mark.parametrize("name,pack,framing", [
    ("plain.warc", lambda b: b, "plain"),
    ("whole.warc.gz", gzip.compress, "gzip-stream"),
    ("frames.warc.lz4", lz4.frame.compress, "lz4"),
    ("stream.warc.zst", zstandard.ZstdCompressor().compress, "zstd"),
])
def test_every_framing_reads_every_record(tmp_path, plain_bytes, reference, name, pack, framing):
    path = tmp_path / name
    path.write_bytes(pack(plain_bytes))
    result = run([path], tmp_path / "w")
    (entry,) = result.manifest["inputs"]
    assert entry["framing"] == framing
    assert result.report.records_read == reference.report.records_read
    assert result.manifest["pages"] == reference.manifest["pages"] and not result.report.file_errors
    # the same pages, whatever the framing (the snapshot id also covers each page's source file and
    # offset, which differ between framings by design)
    assert pages_of(tmp_path / "w") == pages_of(reference.world_dir)


def test_zstd_with_the_dictionary_frame_of_warc_zst(tmp_path, plain_bytes, reference):
    """The WARC-zstd layout: a skippable frame holding the dictionary, then one frame per record."""
    import struct

    from warcio.archiveiterator import ArchiveIterator

    records = []
    with open(REAL, "rb") as handle:
        iterator = ArchiveIterator(handle)
        for record in iterator:
            iterator.read_to_end(record)
            records.append((iterator.get_record_offset(), iterator.get_record_length()))
    chunks = [gzip.decompress(open(REAL, "rb").read()[o:o + n]) for o, n in records]
    dictionary = zstandard.train_dictionary(4096, chunks * 4)
    compressor = zstandard.ZstdCompressor(dict_data=dictionary)
    blob = b"\x5d\x2a\x4d\x18" + struct.pack("<I", len(dictionary.as_bytes())) + dictionary.as_bytes()
    blob += b"".join(compressor.compress(chunk) for chunk in chunks)
    path = tmp_path / "dict.warc.zst"
    path.write_bytes(blob)
    result = run([path], tmp_path / "w")
    assert result.manifest["pages"] == reference.manifest["pages"] and not result.report.file_errors


@pytest.mark.parametrize("pack", [gzip.compress, lambda b: b], ids=["whole-gzip", "plain"])
def test_a_file_that_breaks_mid_way_keeps_what_came_before(tmp_path, plain_bytes, reference, pack):
    path = tmp_path / "broken.warc.gz"
    data = pack(plain_bytes)
    path.write_bytes(data[: len(data) // 2])
    result = run([path], tmp_path / "w")
    (problem,) = result.report.file_errors
    assert _one_line(problem["error"]) and not problem["error"].startswith("not a WARC/ARC file")
    assert 0 < result.manifest["pages"] < reference.manifest["pages"]


def test_garbage_after_good_records_is_a_break_not_a_format(tmp_path, plain_bytes):
    path = tmp_path / "tail.warc"
    path.write_bytes(plain_bytes + b"<!doctype html><html>stray bytes, not a record</html>\n" * 20)
    result = run([path], tmp_path / "w")
    (problem,) = result.report.file_errors
    assert problem["error"].startswith("archive breaks mid-way") and result.manifest["pages"] >= 10


def test_special_files_and_loops_never_hang(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_warc(str(folder / "good.warc.gz"), [response("https://s.example/a", article("Special A", "ibis"))])
    os.mkfifo(folder / "pipe.warc")
    (folder / "null.warc").symlink_to("/dev/null")
    (folder / "loop").symlink_to(folder)
    fifo_named = tmp_path / "named.warc"
    os.mkfifo(fifo_named)
    args = [sys.executable, "-m", "worldbuild", "ingest", str(folder), str(fifo_named), "--world", str(tmp_path / "w"),
            "--json", "-j", "1"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=REPO)
    import json

    report = json.loads(done.stdout)
    errors = {os.path.basename(p["file"]): p["error"] for p in report["file_errors"]}
    assert errors["pipe.warc"] == "not a regular file (FIFO): not read"
    assert errors["named.warc"] == "not a regular file (FIFO): not read"
    assert errors["null.warc"] == "not a regular file (character device): not read"
    assert errors["loop"].startswith("directory loop")
    assert all(_one_line(e) for e in errors.values())
    assert report["pages_in_world"] == 1


def test_nothing_in_a_directory_is_passed_over_silently(tmp_path, plain_bytes, reference):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "crawl.warc.lz4").write_bytes(lz4.frame.compress(plain_bytes))
    (folder / "crawl-00001").write_bytes(gzip.compress(plain_bytes))  # a WARC by content, not by name
    (folder / "index.cdx").write_text(" CDX N b a m s k r M S V g\n")
    (folder / "notes.txt").write_text("crawl notes\n")
    result = run([folder], tmp_path / "w")
    names = sorted(entry["name"] for entry in result.manifest["inputs"])
    assert names == ["crawl-00001", "crawl.warc.lz4"]
    assert result.manifest["pages"] == reference.manifest["pages"]  # the same records twice: pages once
    assert result.report.skips["in a directory: not a WARC/ARC file (by name and content)"] == 2


def test_retry_errors_reads_a_failed_file_again(tmp_path, monkeypatch):
    """A file recorded with failures is passed over by a rerun, and read again with --retry-errors
    (after an upgrade: here the failure is an extraction bug that goes away)."""
    import worldbuild.ingest.warc_steps as warc_steps

    warc = write_warc(str(tmp_path / "r.warc.gz"), [
        response("https://r.example/1", article("Retry one", "plover")),
        response("https://r.example/2", article("Retry two", "dunlin")),
    ])
    real = warc_steps.extract_page

    def broken(html, url, settings):
        if url.endswith("/2"):
            raise RuntimeError("a bug fixed by the next release")
        return real(html, url, settings)

    monkeypatch.setattr(warc_steps, "extract_page", broken)
    first = run([warc], tmp_path / "w")
    assert first.manifest["pages"] == 1 and first.manifest["inputs"][0]["failed_records"] == 1
    monkeypatch.setattr(warc_steps, "extract_page", real)
    again = run([warc], tmp_path / "w")
    assert again.known_inputs == ["r.warc.gz"] and again.manifest["pages"] == 1
    retried = run([warc], tmp_path / "w", retry_errors=True)
    assert retried.new_inputs == ["r.warc.gz"] and retried.manifest["pages"] == 2
    assert retried.report.skips["duplicate URL"] == 1  # the page kept the first time stays as it was
    assert run([warc], tmp_path / "w", retry_errors=True).known_inputs == ["r.warc.gz"]  # fixed: not retried

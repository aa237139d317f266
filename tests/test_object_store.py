"""Inputs and map shards on an object store: `worldbuild ingest s3://… --staging s3://…` gives the
same world as local files, workers (separate processes) write their shards as objects, a relaunch
resumes from them, and the staging prefix is emptied once merged. The store is moto's S3 server,
a stand-in that speaks the S3 HTTP protocol, reached through s3fs exactly as AWS would be."""

import os

import pytest

from tests.conftest import CORPORA, FAST, REPO, StopsAfter, needs_extra
from tests.services import free_port
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest

moto_server = needs_extra("moto.server", "test")
s3fs = needs_extra("s3fs", "s3")

FILES = ("sample-crawls.warc.gz", "sample-pages.warc.gz")


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()
    store = s3fs.S3FileSystem()
    store.mkdir("crawl")
    store.mkdir("scratch")
    for name in FILES:
        store.put_file(os.path.join(CORPORA, name), f"crawl/warcs/{name}")
    yield store
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def test_inputs_and_shards_on_s3_give_the_same_world(s3, fast_sample_world, tmp_path):
    inputs = [f"s3://crawl/warcs/{name}" for name in FILES]
    world = str(tmp_path / "w")
    with pytest.raises(KeyboardInterrupt):
        ingest(inputs, world, FAST, StopsAfter(LocalExecutor(2), 3), staging="s3://scratch/run")
    s3.invalidate_cache()
    written = [path for path in s3.find("scratch/run") if path.endswith(".json")]
    assert len(written) >= 3  # finished shards are objects in the bucket, written by the worker processes
    assert not os.path.exists(os.path.join(world, ".ingest"))  # nothing staged inside the world
    result = ingest(inputs, world, FAST, LocalExecutor(2), staging="s3://scratch/run")
    assert result.resumed_units >= 3  # read back from the bucket, not extracted again
    assert result.manifest["snapshot"] == fast_sample_world[1].manifest["snapshot"]
    assert result.manifest["pages"] == fast_sample_world[1].manifest["pages"]
    walked = "in a directory:"  # the sample world was ingested from the folder: its other files are counted
    local_skips = fast_sample_world[1].report.to_dict()["skips"]
    assert result.report.to_dict()["skips"] == {reason: n for reason, n in local_skips.items()
                                                if not reason.startswith(walked)}
    s3.invalidate_cache()
    assert s3.find("scratch/run") == []  # merged shards are removed


def test_cli_names_a_staging_store_it_cannot_use(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", CORPORA, "--world", str(tmp_path / "w"),
                             "--staging", "nosuchscheme://bucket/x"], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 2
    assert "cannot use --staging nosuchscheme://bucket/x" in result.stderr
    assert not os.path.exists(tmp_path / "w")


def test_storage_that_fails_mid_run_is_one_line_and_keeps_finished_shards(s3, tmp_path, monkeypatch):
    """The bucket disappears while finished shards are being folded into the world: the CLI says
    so in one line, the world is not created, and the finished shards are still in the staging
    place for a rerun."""
    from typer.testing import CliRunner

    import worldbuild.ingest.pipeline as pipeline
    from worldbuild.cli import app

    needs_extra("resiliparse", "fast")

    def bucket_gone(*args, **kwargs):
        raise PermissionError("Access Denied: s3://scratch/gone")

    monkeypatch.setattr(pipeline, "_shard_pages", bucket_gone)
    world = str(tmp_path / "w")
    result = CliRunner().invoke(app, ["ingest", "s3://crawl/warcs/sample-pages.warc.gz", "--world", world,
                                      "--staging", "s3://scratch/gone", "--workers", "2",
                                      "--extractor", FAST.extractor])
    assert result.exit_code == 2, result.output
    assert "error: PermissionError: Access Denied: s3://scratch/gone. The world is unchanged" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not os.path.exists(os.path.join(world, "world.json"))
    s3.invalidate_cache()
    assert [path for path in s3.find("scratch/gone") if path.endswith(".json")]  # finished shards kept

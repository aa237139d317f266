"""`worldbuild serve` start-up: it binds before warming up (a taken port fails at once, in one line),
answers while warming, says "warming" on /health until ready, and prints "ready" only then."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO
from tests.services import free_port


def test_a_taken_port_fails_in_one_line_before_any_warm_up(sample_world):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "worldbuild", "serve", "--world", sample_world[0],
                                 "--port", str(port)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_health_says_warming_until_ready_and_ready_is_printed_after(sample_world):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "worldbuild", "serve", "--world", sample_world[0], "--port",
                             str(port)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen, deadline = [], time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            seen.append((reply.status_code, reply.json()["status"]))
            if reply.status_code == 200:
                break
            answered = httpx.post(f"http://127.0.0.1:{port}/search", json={"query": "root servers", "k": 2}, timeout=60)
            assert answered.status_code == 200 and answered.json()["results"]  # warming still answers
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert seen and seen[-1] == (200, "ok")
    assert set(seen[:-1]) <= {(503, "warming")}
    lines = stderr.splitlines()
    assert lines[0].startswith("serving ") and "warming up" in lines[0]
    assert any(line.startswith(f"ready: http://127.0.0.1:{port} answers") for line in lines[1:])


def test_the_config_reaches_every_worker_through_one_variable(sample_world, monkeypatch, tmp_path):
    from fastapi import FastAPI

    from worldbuild.serve.run import CONFIG_ENV, ServeConfig, app_from_config

    config = ServeConfig(sample_world[0], port=8123, workers=2, summarizer_url="http://127.0.0.1:9/v1",
                         summarizer_model="m", summarizer_timeout=5.0)
    assert ServeConfig.from_json(config.to_json()) == config
    assert config.summary_cache_path == os.path.join(sample_world[0], ".cache", "summaries.sqlite")
    cached = ServeConfig(**{**vars(config), "summary_cache": str(tmp_path / "s.sqlite")})
    summarizer = cached.summarizer()
    assert summarizer.llm.model == "m" and summarizer.llm.client.timeout == 5.0
    assert os.path.exists(tmp_path / "s.sqlite")
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(RuntimeError, match=CONFIG_ENV):
        app_from_config()
    monkeypatch.setenv(CONFIG_ENV, ServeConfig(sample_world[0]).to_json())
    assert isinstance(app_from_config(), FastAPI)


def test_a_summarizer_needs_its_model_and_says_so_in_one_line(sample_world):
    result = subprocess.run([sys.executable, "-m", "worldbuild", "serve", "--world", sample_world[0],
                             "--summarizer-url", "http://127.0.0.1:9/v1"], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --summarizer-url and --summarizer-model go together"]

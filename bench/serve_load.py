"""Load on `worldbuild serve`: mixed search/browse at 64 and 256 clients, and Search-R1-style
`/retrieve` at 1/16/64/256 clients, from wrk (a C load generator, its own process); and, with
`--peers`, the peers' real shapes: Search-R1 trainers each POSTing a 2,560-query batch at once,
and verl's SearchTool pool of 120 workers (Python threads with requests, as those clients send).

    apt-get install wrk      # Debian's package
    python bench/serve_load.py [--pages 100000] [--seconds 60] [--workers 2]
    python bench/serve_load.py --peers [--world DIR | --pages 100000] [--trainers 4] [--verl-seconds 30]

Worlds (built like bench/search.py, from real page text):
- the mixed load: 100,000 pages recombined from real paragraphs; queries are 2-5 real words,
  browse targets are random pages (half of them with a goal);
- the /retrieve load: 100,000 documents of 12 random real sentences each (the corpus shape the
  Search-R1 peer was measured on), one query per request, topk 3.
Closed loop: each connection sends its next request when the previous answer arrives. The
70/30 mix runs as two wrk processes at once (70% and 30% of the connections), so each route
has its own latency distribution. RSS is read from /proc for every server process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import DATE, REPO, save_results  # noqa: E402
from tests.services import free_port  # noqa: E402
from bench.search import build_pool, build_world, load_pool, make_queries, world_queries  # noqa: E402
from worldbuild.records import IngestSettings, Page, content_hash  # noqa: E402
from worldbuild.writer import WorldWriter  # noqa: E402

_SENTENCE = re.compile(r"[^.!?\n]{30,300}[.!?]")

LUA = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, "%(path)s", nil, bodies[(counter %% #bodies) + 1])
end
"""


def sentence_world(pool: str, world_dir: str, size: int) -> None:
    """Documents of 12 random real sentences each (the shape of the peer's measured corpus)."""
    paragraphs, titles = load_pool(pool)
    sentences = [s.strip() for p in paragraphs for s in _SENTENCE.findall(p)]
    writer = WorldWriter(world_dir, IngestSettings(min_chars=200))
    for i in range(size):
        rng = random.Random(i)
        text = " ".join(sentences[rng.randrange(len(sentences))] for _ in range(12))
        title = titles[rng.randrange(len(titles))][0]
        url = f"https://doc{i % 991}.example/{i}"
        writer.add(Page(url=url, canonical_url=url, title=title, text=text, crawl_date=DATE, lang="en",
                        domain=f"doc{i % 991}.example", content_hash=content_hash(text), source=f"bench#{i}",
                        length=len(text)))
    writer.commit([])


def start_server(world_dir: str, workers: int, extra: list[str] = ()) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "worldbuild", "serve", "--world", world_dir, "--port", str(port),
                             "--workers", str(workers), *extra], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    import httpx

    from worldbuild.serve.wait import wait_ready

    why = wait_ready(base, 600, proc.pid)  # ready: warmed up (two workers compile numba at once; slow on a shared machine)
    if why:
        proc.kill()
        raise RuntimeError(f"server did not start: {why}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # every worker answers
        try:
            ready = {httpx.get(base + "/stats", timeout=2).json()["worker"]["pid"] for _ in range(workers * 4)}
            if len(ready) >= workers or workers == 1:
                return proc, base
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start")


def server_rss_mb(proc: subprocess.Popen) -> dict:
    """RSS of the server and its worker processes."""
    found = {}
    server = psutil.Process(proc.pid)
    for process in [server, *server.children()]:
        try:
            found[process.pid] = round(process.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            continue
    return found


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> dict:
    result = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
              "requests": int(re.search(r"(\d+) requests in", output).group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.MULTILINE)
        result[f"p{pct}_ms"] = round(_ms(match.group(1)), 2) if match else None
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["errors"] = (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0) + (
        int(non_2xx.group(1)) if non_2xx else 0)
    result["timeouts"] = int(socket_errors.group(4)) if socket_errors else 0
    return result


def wrk(base: str, path: str, bodies: list[dict], connections: int, seconds: int, scratch: str) -> subprocess.Popen:
    body_file = os.path.join(scratch, f"bodies-{path.strip('/').replace('/', '-')}-{connections}.txt")
    with open(body_file, "w") as handle:
        handle.write("\n".join(json.dumps(b) for b in bodies) + "\n")
    script = os.path.join(scratch, f"load-{path.strip('/').replace('/', '-')}-{connections}.lua")
    with open(script, "w") as handle:
        handle.write(LUA % {"bodies": body_file, "path": path})
    threads = max(1, min(2, connections))
    return subprocess.Popen(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
                             "--latency", "-s", script, base + path], stdout=subprocess.PIPE, text=True)


def mixed_load(base, queries, urls, connections, seconds, scratch) -> dict:
    rng = random.Random(connections)
    search_bodies = [{"query": q, "k": 10} for q in queries]
    browse_bodies = [{"url": u, **({"goal": rng.choice(queries)} if i % 2 else {})} for i, u in enumerate(urls)]
    search_conns = round(connections * 0.7)
    runs = {"search": wrk(base, "/search", search_bodies, search_conns, seconds, scratch),
            "browse": wrk(base, "/browse", browse_bodies, connections - search_conns, seconds, scratch)}
    return {route: parse_wrk(proc.communicate()[0]) for route, proc in runs.items()}


def percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


def timed_posts(url: str, bodies, workers: int, seconds: float | None = None, rounds: int | None = None) -> dict:
    """`workers` threads, each a closed loop of POSTs with requests (as verl's SearchTool and
    Search-R1 send them: `requests.post(url, json=..., headers=...)`), for `seconds` or `rounds`
    POSTs per thread; the statuses, latencies and errors of all."""
    import threading

    import requests

    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    latencies, errors, lock = [], [], threading.Lock()
    deadline = time.monotonic() + seconds if seconds else None

    def loop(worker: int) -> None:
        session, count = requests.Session(), 0
        while (deadline is None or time.monotonic() < deadline) and (rounds is None or count < rounds):
            body = bodies(worker, count)
            began = time.perf_counter()
            try:
                response = session.post(url, json=body, headers=headers, timeout=120)
                ok = response.status_code == 200 and len(response.json()["result"]) == len(body["queries"])
                problem = None if ok else f"status {response.status_code}: {response.text[:120]}"
            except (requests.RequestException, ValueError, KeyError) as exc:
                problem = f"{type(exc).__name__}: {exc}"[:160]
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if problem:
                    errors.append(problem)
            count += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return {"posts": len(latencies), "errors": len(errors), "first_errors": errors[:3], "wall_s": round(wall, 1),
            "posts_per_s": round(len(latencies) / wall, 1), **percentiles(latencies)}


def peer_shapes(base: str, queries: list[str], trainers: int, trainer_batches: int, batch: int,
                verl_workers: int, verl_seconds: float) -> dict:
    """Search-R1: `trainers` training loops at once, each POSTing one batch of `batch` queries
    (every rollout's query, topk 3) per step; verl's SearchTool: its pool of `verl_workers`
    threads, one query per POST (its config: num_workers 120, rate_limit 120)."""
    url = base + "/retrieve"

    def trainer_body(worker: int, step: int) -> dict:
        start = ((worker * trainer_batches + step) * batch) % len(queries)
        chosen = (queries[start:] + queries[:start])[:batch]
        return {"queries": chosen, "topk": 3, "return_scores": True}

    def verl_body(worker: int, step: int) -> dict:
        return {"queries": [queries[(worker * 7919 + step) % len(queries)]], "topk": 3, "return_scores": True}

    found = {"search_r1_trainers": {"trainers": trainers, "queries_per_post": batch,
                                    **timed_posts(url, trainer_body, trainers, rounds=trainer_batches)},
             "verl_search_tool_pool": {"workers": verl_workers, "seconds": verl_seconds,
                                       **timed_posts(url, verl_body, verl_workers, seconds=verl_seconds)}}
    for name, row in found.items():
        print(f"{name}: {json.dumps(row)}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=60, help="per mixed-load level")
    parser.add_argument("--retrieve-seconds", type=int, default=30, help="per /retrieve level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mixed", type=int, nargs="*", default=[64, 256], help="client counts for the mixed load")
    parser.add_argument("--retrieve", type=int, nargs="*", default=[1, 16, 64, 256], help="client counts for /retrieve")
    parser.add_argument("--out", default=os.path.join("bench", "out", "serve_load.json"))
    parser.add_argument("--peers", action="store_true",
                        help="only the peers' shapes (Search-R1 trainers, verl's SearchTool pool); no wrk needed")
    parser.add_argument("--world", help="with --peers: an existing world (else one of --pages pages is built)")
    parser.add_argument("--trainers", type=int, default=4, help="Search-R1 training loops POSTing at once")
    parser.add_argument("--trainer-batches", type=int, default=3, help="batches each trainer POSTs")
    parser.add_argument("--batch", type=int, default=2560, help="queries per trainer POST (512 x 5 rollouts)")
    parser.add_argument("--verl-workers", type=int, default=120)
    parser.add_argument("--verl-seconds", type=float, default=30)
    args = parser.parse_args()
    if args.peers:
        peers_main(args)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    scratch = tempfile.mkdtemp(prefix="wb-bench-serve-")
    pool = build_pool(scratch)
    paragraphs, _ = load_pool(pool)
    queries = make_queries(paragraphs, 2000)
    results = {"pages": args.pages, "workers": args.workers, "mixed": {}, "retrieve": {}}

    world_dir = os.path.join(scratch, "mixed-world")
    build_world(args.pages, pool, world_dir)
    urls = [f"https://site{i % 997}.example/page/{i}" for i in random.Random(3).sample(range(args.pages), 2000)]
    proc, base = start_server(world_dir, args.workers)
    try:
        for connections in args.mixed:
            row = mixed_load(base, queries, urls, connections, args.seconds, scratch)
            row["server_rss_mb"] = server_rss_mb(proc)
            results["mixed"][connections] = row
            print(f"mixed 70/30, {connections:>3} clients, {args.seconds} s | "
                  + " | ".join(f"{r}: {v['requests_per_s']:.0f} req/s, p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, "
                               f"errors {v['errors']}" for r, v in row.items() if r != "server_rss_mb")
                  + f" | RSS MB {row['server_rss_mb']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    shutil.rmtree(world_dir, ignore_errors=True)

    if not args.retrieve:
        save_results(args.out, results)
        shutil.rmtree(scratch, ignore_errors=True)
        return
    world_dir = os.path.join(scratch, "sentence-world")
    sentence_world(pool, world_dir, args.pages)
    proc, base = start_server(world_dir, args.workers)
    try:
        bodies = [{"queries": [q], "topk": 3, "return_scores": True} for q in queries]
        for connections in args.retrieve:
            row = parse_wrk(wrk(base, "/retrieve", bodies, connections, args.retrieve_seconds, scratch).communicate()[0])
            row["server_rss_mb"] = server_rss_mb(proc)
            results["retrieve"][connections] = row
            print(f"/retrieve topk 3, {connections:>3} clients | {row['requests_per_s']:.0f} req/s, p50 {row['p50_ms']} ms, "
                  f"p99 {row['p99_ms']} ms, errors {row['errors']} | RSS MB {row['server_rss_mb']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    save_results(args.out, results)
    shutil.rmtree(scratch, ignore_errors=True)


def peers_main(args) -> None:
    scratch = tempfile.mkdtemp(prefix="wb-bench-peers-")
    try:
        world_dir = args.world
        if world_dir is None:
            world_dir = os.path.join(scratch, "world")
            build_world(args.pages, build_pool(scratch), world_dir)
        queries = world_queries(world_dir, args.batch * 2)  # distinct: no answer is shared
        proc, base = start_server(world_dir, args.workers)
        try:
            import httpx

            pages = httpx.get(base + "/health").json()["pages"]
            results = {"pages": pages, "workers": args.workers, "cores": os.cpu_count(),
                       "load_average_1m_before": os.getloadavg()[0],
                       **peer_shapes(base, queries, args.trainers, args.trainer_batches, args.batch,
                                     args.verl_workers, args.verl_seconds),
                       "load_average_1m_after": os.getloadavg()[0], "server_rss_mb": server_rss_mb(proc)}
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = args.out if args.out != os.path.join("bench", "out", "serve_load.json") else os.path.join(
        "bench", "out", "serve_load_peers.json")
    save_results(out, results)


if __name__ == "__main__":
    main()

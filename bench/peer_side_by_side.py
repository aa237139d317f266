"""`worldbuild serve` and Search-R1's own retrieval server under ../shared/tools/peer_bench's load
generator (`load_tree.py`, the kit that measured the peer): one query per `/retrieve` POST at topk 3,
closed loop at 1/16/64/256 clients, server CPU summed over each server's process tree.

    python bench/peer_side_by_side.py --world DIR --sentences sentences.jsonl [--duration 30] [--workers 2]
    python bench/peer_side_by_side.py ... --peer-python VENV/bin/python --peer-index LUCENE_DIR \\
        --peer-corpus corpus.jsonl [--runs 2]                  # the peer too, alternated with ours

`--world` is a world of 100,000 documents of 12 random real sentences each (bench/serve_load.py's
`sentence_world`, the shape of the kit's corpus); `--sentences` is the kit's sentence pool
(`make_corpus.py` writes it, with `corpus.jsonl`), from which the kit draws its queries. The peer is
`search_r1/search/retrieval_server.py` from ../shared/peers/search-r1, run unmodified with its BM25
back end in the venv the kit's README describes (pyserini, Java 17) over a Lucene index of the same
corpus; it binds port 8000 itself. Each run measures the peer, then ours, so the ratios come from
alternating runs on one machine. The kit waits up to 240 s before each level for other processes to
go quiet; `--quiet-wait` caps that wait (the kit still records the foreign CPU of each level).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402
from bench.serve_load import start_server  # noqa: E402

SHARED = os.path.join(os.path.dirname(REPO), "shared")
KIT = os.path.join(SHARED, "tools", "peer_bench")
PEER_SERVER = os.path.join(SHARED, "peers", "search-r1", "search_r1", "search", "retrieval_server.py")
PEER_URL = "http://127.0.0.1:8000"  # the peer's own choice of address


def measure(load_tree, url: str, pid: int, args, label: str, out: str) -> dict:
    sys.argv = ["load_tree.py", "--url", url + "/retrieve", "--pid", str(pid), "--levels", args.levels,
                "--duration", str(args.duration), "--sentences", args.sentences, "--out", out, "--label", label]
    asyncio.run(load_tree.main())
    with open(out) as handle:
        return json.load(handle)


def start_peer(args) -> subprocess.Popen:
    """The peer's server, unmodified, once it answers a query."""
    import httpx

    env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "unused")}  # pyserini 0.25 needs one
    proc = subprocess.Popen([args.peer_python, PEER_SERVER, "--index_path", args.peer_index, "--corpus_path",
                             args.peer_corpus, "--topk", "3", "--retriever_name", "bm25"],
                            cwd=os.path.dirname(PEER_SERVER), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            probe = {"queries": ["hello world"], "topk": 3, "return_scores": True}  # (without scores it answers 500)
            if httpx.post(PEER_URL + "/retrieve", json=probe, timeout=5).is_success:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "the peer's server ended while starting"
        time.sleep(1)
    proc.kill()
    raise RuntimeError("the peer's server did not answer within 600 s")


def summary(levels: list[dict]) -> list[dict]:
    return [{key: level.get(key) for key in ("concurrency", "rps", "p50_ms", "p99_ms", "errors", "timeouts",
                                             "server_tree_cpu_ms_per_ok_req", "server_tree_cores_used",
                                             "foreign_cpu_s", "loadgen_cpu_s")} for level in levels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--sentences", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--quiet-wait", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--peer-python", help="the peer venv's python (pyserini); without it only ours runs")
    parser.add_argument("--peer-index", help="the peer's Lucene index of --peer-corpus")
    parser.add_argument("--peer-corpus", help="the kit's corpus.jsonl")
    parser.add_argument("--out", default=os.path.join("bench", "out", "peer_bench_ours.json"))
    args = parser.parse_args()
    if not os.path.isdir(KIT):
        sys.exit(f"{KIT} is missing: the kit's load generator is needed")
    if args.peer_python and not (args.peer_index and args.peer_corpus and os.path.exists(PEER_SERVER)):
        sys.exit("--peer-python needs --peer-index, --peer-corpus and ../shared/peers/search-r1")
    sys.path.insert(0, KIT)
    import load_tree

    load_tree.wait_quiet = functools.partial(load_tree.wait_quiet, max_wait=args.quiet_wait)
    scratch = args.out + ".level.json"
    runs = []
    for number in range(1, args.runs + 1):
        run = {"run": number}
        if args.peer_python:
            peer = start_peer(args)
            try:
                run["peer"] = summary(measure(load_tree, PEER_URL, peer.pid, args, f"peer-run{number}",
                                              scratch)["levels"])
            finally:
                peer.terminate()
                peer.wait(timeout=60)
        proc, base = start_server(args.world, args.workers)
        try:
            run["ours"] = summary(measure(load_tree, base, proc.pid, args, f"ours-run{number}", scratch)["levels"])
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        if "peer" in run:
            run["ours_over_peer_rps"] = {str(o["concurrency"]): round(o["rps"] / p["rps"], 2)
                                         for o, p in zip(run["ours"], run["peer"])}
        runs.append(run)
        print(json.dumps(run.get("ours_over_peer_rps", run["ours"])), flush=True)
    os.remove(scratch)
    save_results(args.out, {"workers": args.workers, "duration_s": args.duration, "cores": os.cpu_count(),
                            "runs": runs})


if __name__ == "__main__":
    main()

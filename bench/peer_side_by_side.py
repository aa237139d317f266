"""`worldbuild serve` under ../shared/tools/peer_bench's load generator (`load_tree.py`, the kit that
measured Search-R1's own retrieval server): one query per `/retrieve` POST at topk 3, closed loop
at 1/16/64/256 clients, server CPU summed over the server's process tree.

    python bench/peer_side_by_side.py --world DIR --sentences sentences.jsonl [--duration 30] [--workers 2]

`--world` is a world of 100,000 documents of 12 random real sentences each (bench/serve_load.py's
`sentence_world`, the shape of the kit's corpus); `--sentences` is the kit's sentence pool
(`make_corpus.py` writes it), from which the kit draws its queries. The kit waits up to 240 s
before each level for other processes to go quiet; on a shared machine that never happens, so
`--quiet-wait` caps the wait (the kit still records the foreign CPU of each level). The peer's
figures to compare with are the kit's own (side_by_side_2026-11-28.md) unless it is run too.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO  # noqa: E402
from bench.serve_load import start_server  # noqa: E402

KIT = os.path.join(os.path.dirname(REPO), "shared", "tools", "peer_bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--sentences", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--quiet-wait", type=float, default=20.0)
    parser.add_argument("--out", default=os.path.join("bench", "out", "peer_bench_ours.json"))
    args = parser.parse_args()
    if not os.path.isdir(KIT):
        sys.exit(f"{KIT} is missing: the kit's load generator is needed")
    sys.path.insert(0, KIT)
    import load_tree

    load_tree.wait_quiet = functools.partial(load_tree.wait_quiet, max_wait=args.quiet_wait)
    proc, base = start_server(args.world, args.workers)
    try:
        sys.argv = ["load_tree.py", "--url", base + "/retrieve", "--pid", str(proc.pid), "--levels", args.levels,
                    "--duration", str(args.duration), "--sentences", args.sentences, "--out", args.out,
                    "--label", f"worldbuild serve --workers {args.workers}"]
        asyncio.run(load_tree.main())
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()

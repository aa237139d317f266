"""DataTrove's own WARC-to-text pipeline, built as its README builds one: `WarcReader` ->
`Trafilatura` (its defaults: plain text, favour precision, a 1 s timeout per page) ->
`JsonlWriter`, run by `LocalPipelineExecutor`. It runs in a Python that has
`datatrove[io,processing]` (DataTrove pins its own trafilatura), not in ours:
`bench/datatrove_side_by_side.py` starts it and times it from outside.

    VENV/bin/python bench/datatrove_pipeline.py --inputs DIR --out DIR --logs DIR --tasks N --workers N

Prints one JSON line: the documents written and DataTrove's version.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from importlib.metadata import version


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", required=True, help="a folder of WARC files (read recursively)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    LocalPipelineExecutor(
        pipeline=[WarcReader(args.inputs), Trafilatura(favour_precision=True), JsonlWriter(args.out)],
        tasks=args.tasks, workers=args.workers, logging_dir=args.logs,
    ).run()
    documents = 0
    for name in os.listdir(args.out):
        with gzip.open(os.path.join(args.out, name), "rt") as handle:
            documents += sum(1 for _ in handle)
    print(json.dumps({"documents": documents, "datatrove": version("datatrove"), "trafilatura": version("trafilatura")}))


if __name__ == "__main__":
    main()

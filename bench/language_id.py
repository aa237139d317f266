"""Language identifiers on real pages: CPU per page, accuracy where the language is known, and
agreement with each other.

    python bench/language_id.py [--repeats 3] [--out bench/out/language_id.json]

Input: every real HTML page in `../shared/data/html` and `../shared/data/html-intl`, extracted by
the default extractor (untimed), then identified as ingest does (`language.identify`: the text's
first 3,000 characters). html-intl's `pages.jsonl` records each page's language (160 pages in 16
languages): accuracy compares its primary subtag (zh-Hans: zh). CPU is `time.process_time` over all
pages, the best of `--repeats` passes after one untimed pass.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import SHARED, save_results  # noqa: E402
from worldbuild.ingest.decode import decode_html  # noqa: E402
from worldbuild.ingest.extract import extract_text  # noqa: E402
from worldbuild.ingest.language import check_identifier, identify  # noqa: E402
from worldbuild.records import LANGUAGE_IDS, IngestSettings  # noqa: E402


def pages(folder: str) -> list[tuple[str, str, str | None]]:
    """(file, extracted text, known language or None) of a folder's pages with text."""
    settings = IngestSettings()
    out = []
    for line in open(os.path.join(SHARED, folder, "pages.jsonl"), encoding="utf-8"):
        row = json.loads(line)
        path = os.path.join(SHARED, folder, row["file"])
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            html = decode_html(handle.read())[0]
        found = extract_text(html, row.get("url") or "", settings)
        if found and found[1].strip():
            language = row.get("language")
            out.append((row["file"], found[1].strip(), language.split("-")[0] if language else None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("bench", "out", "language_id.json"))
    args = parser.parse_args()
    texts = pages("html") + pages("html-intl")
    known = [i for i, (_, _, language) in enumerate(texts) if language]
    print(f"{len(texts)} pages with text, {len(known)} with a known language", flush=True)
    results = {"pages": len(texts), "known": len(known), "identifiers": {}}
    found: dict[str, list[str]] = {}
    for identifier in LANGUAGE_IDS:
        check_identifier(identifier)
        found[identifier] = [identify(text, identifier) for _, text, _ in texts]  # untimed: loads the model
        best = float("inf")
        for _ in range(args.repeats):
            began = time.process_time()
            for _, text, _ in texts:
                identify(text, identifier)
            best = min(best, time.process_time() - began)
        right = sum(found[identifier][i] == texts[i][2] for i in known)
        wrong = [f"{texts[i][0]}: {texts[i][2]} as {found[identifier][i]}" for i in known
                 if found[identifier][i] != texts[i][2]]
        results["identifiers"][identifier] = {"ms_per_page": 1000 * best / len(texts), "known_right": right,
                                              "known_accuracy": right / len(known), "known_wrong": wrong}
        print(f"{identifier}: {1000 * best / len(texts):.3f} ms a page, {right}/{len(known)} known right",
              flush=True)
    results["agreement"] = {f"{a} / {b}": sum(x == y for x, y in zip(found[a], found[b]))
                            for n, a in enumerate(LANGUAGE_IDS) for b in LANGUAGE_IDS[n + 1:]}
    print(json.dumps(results["agreement"]))
    save_results(args.out, results)


if __name__ == "__main__":
    main()

"""Where the map step's time goes, per page: each step of `record_to_page`
(worldbuild/ingest/warc_steps.py) and `write_shard`.

    python bench/map_profile.py [--extractor NAME ...] [--out bench/out/map_profile.json]

Input: every real page in `../shared/data` in one WARC (as bench/ingest.py's "one file").
The real map step (`map_unit` over every work unit, in this process) runs with each stage's
function wrapped by a CPU-time counter (`time.process_time`, so other load on the machine
does not count); what no wrapper covers (WARC framing and record parsing, the loop, the
report) is "WARC reading, other". One untimed pass runs first: the figures are a long run's
steady state (a cold process spends seconds compiling dateparser's regexes per locale). Stages nest as shown by indentation: trafilatura's own
parts are inside "extraction". Per-page figures divide by the HTML pages extracted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import trafilatura  # noqa: E402
import trafilatura.core  # noqa: E402

from bench.realdata import save_results, write_one_file  # noqa: E402
from worldbuild.ingest import extract, mapstep, steps, warc_steps  # noqa: E402
from worldbuild.ingest.inputs import describe  # noqa: E402
from worldbuild.ingest.warc import plan_units  # noqa: E402
from worldbuild.records import EXTRACTORS, IngestSettings  # noqa: E402

# (label, module, attribute): the stages, outermost first; an indented label is inside the one above
STAGES = [
    ("read body (de-chunk, Content-Encoding)", warc_steps.ReadPayload, "__call__"),
    ("sniff payload type", warc_steps, "payload_kind"),
    ("charset decode", warc_steps, "decode_html"),
    ("extraction (the extractor's call)", extract, "extract_text"),
    ("  HTML parsing (trafilatura)", trafilatura.core, "load_html"),
    ("  HTML parsing (trafilatura, fast path)", trafilatura, "load_html"),
    ("  metadata: title, date, author (trafilatura)", trafilatura.core, "extract_metadata"),
    ("  main content + fallbacks (trafilatura)", trafilatura.core, "trafilatura_sequence"),
    ("  fingerprint (trafilatura)", trafilatura.core, "content_fingerprint"),
    ("  Markdown rendering (trafilatura)", trafilatura.core, "determine_returnstring"),
    ("language id (the world's identifier)", extract, "identify"),
    ("content hash", steps, "content_hash"),
    ("shard writing (Parquet + summary)", mapstep, "write_shard"),
    ("  MinHash signature", mapstep, "signature"),
]


class Timers:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.saved: list[tuple[object, str, object]] = []

    def wrap(self, label: str, module, name: str) -> None:
        real = getattr(module, name)

        def timed(*args, **kwargs):
            began = time.process_time()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[label] += time.process_time() - began
                self.calls[label] += 1

        self.saved.append((module, name, real))
        setattr(module, name, timed)

    def restore(self) -> None:
        for module, name, real in reversed(self.saved):
            setattr(module, name, real)
        self.saved.clear()


def profile(path: str, extractor: str, scratch: str) -> dict:
    settings = IngestSettings(extractor=extractor)
    extract.warm_up(settings)
    units = list(plan_units(describe(path), settings.batch_size))
    warm = tempfile.mkdtemp(dir=scratch)
    for unit in units:  # untimed: libraries fill their caches (dateparser compiles a regex set per locale)
        mapstep.map_unit(unit, settings, warm)
    shutil.rmtree(warm)
    timers = Timers()
    for label, module, name in STAGES:
        timers.wrap(label, module, name)
    shard_dir = tempfile.mkdtemp(dir=scratch)
    pages = 0
    try:
        began = time.process_time()
        for unit in units:
            pages += mapstep.map_unit(unit, settings, shard_dir)["pages"]
        total = time.process_time() - began
    finally:
        timers.restore()
        shutil.rmtree(shard_dir)
    extracted = timers.calls["extraction (the extractor's call)"]
    top = sum(seconds for label, seconds in timers.seconds.items() if not label.startswith(" "))
    rows = [{"stage": "WARC reading, record parsing, other", "seconds": total - top}]
    rows += [{"stage": label, "seconds": timers.seconds[label]} for label, _, _ in STAGES if timers.calls[label]]
    for row in rows:
        row["ms_per_page"] = 1000 * row["seconds"] / extracted
        row["share"] = row["seconds"] / total
    return {"extractor": extractor, "html_pages": extracted, "pages_kept": pages, "cpu_s": total,
            "ms_per_page": 1000 * total / extracted, "stages": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extractor", action="append", choices=EXTRACTORS)
    parser.add_argument("--out", default=os.path.join("bench", "out", "map_profile.json"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="wb-bench-profile-")
    path = write_one_file(os.path.join(scratch, "all.warc.gz"))
    results = {"load_before": os.getloadavg()[0], "profiles": []}
    for extractor in args.extractor or EXTRACTORS:
        result = profile(path, extractor, scratch)
        results["profiles"].append(result)
        print(f"\n{extractor}: {result['html_pages']} HTML pages, {result['pages_kept']} kept, "
              f"{result['ms_per_page']:.2f} ms CPU per page ({result['cpu_s']:.1f} s)")
        for row in result["stages"]:
            print(f"  {row['stage']:<48} {row['ms_per_page']:8.3f} ms  {100 * row['share']:5.1f}%")
    results["load_after"] = os.getloadavg()[0]
    save_results(args.out, results)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

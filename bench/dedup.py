"""Question near-dup and benchmark decontamination at scale: seconds per size (a scaling table),
and the decisions checked against exact all-pairs Jaccard where that is affordable.

    python bench/dedup.py [--sizes 1000,2000,4000,8000,16000,32000,100000] [--exact-up-to 4000]
                          [--benchmark 2000] [--out bench/out/dedup.json]

The questions are templated, the worst case for a trigram index (every question shares the
template's trigrams with thousands of others): 40 templates x generated entity names, places
and years, plus one near-copy for every tenth question (a changed word, dropped article, other
punctuation or case) so that there is something to find. Decontamination runs the same
questions against a benchmark file of `--benchmark` questions (a share of them paraphrases of
generated ones, with the same answer). Single process; `--sizes` sets the cost of a run.
Each row has wall and CPU seconds: on a loaded machine the CPU seconds are the cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from worldbuild.synth.dedup import Benchmarks, NearDuplicates, jaccard, ngrams  # noqa: E402

TEMPLATES = [
    "In which year was the {thing} of {place} first {verb}?",
    "Who {verb} the {thing} in {place} in {year}?",
    "What was the name of the {thing} that {person} {verb} near {place}?",
    "How many {things} did the {place} {office} record in {year}?",
    "Which {office} of {place} {verb} the {thing} after {year}?",
    "What did {person} call the {thing} built at {place} in {year}?",
    "In what city did {person} open the {thing} of {place}?",
    "Which company {verb} the {thing} that stood in {place} until {year}?",
    "What is the height in metres of the {thing} at {place}?",
    "Who succeeded {person} as head of the {place} {office} in {year}?",
]
THINGS = ["lighthouse", "harbour", "bridge", "library", "ledger", "railway", "museum", "chapel", "market", "mill",
          "observatory", "school", "theatre", "fountain", "archive", "tower", "canal", "hospital", "pier", "gate"]
VERBS = ["built", "opened", "restored", "designed", "closed", "renamed", "sold", "moved", "funded", "lit"]
OFFICES = ["harbour authority", "city council", "rowing club", "trade guild", "port office", "school board"]
SYLLABLES = ["val", "dor", "mir", "ost", "ran", "bel", "kas", "ter", "lin", "qua", "zen", "hol", "fen", "gar"]


def name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def question(rng: random.Random) -> tuple[str, str]:
    template = rng.choice(TEMPLATES + [t.replace("the ", "the old ") for t in TEMPLATES]
                          + [t.replace("?", " today?") for t in TEMPLATES] + [t.replace("In ", "Exactly in ") for t in TEMPLATES])
    fields = {"thing": rng.choice(THINGS), "things": rng.choice(THINGS) + "s", "place": name(rng, 3),
              "verb": rng.choice(VERBS), "person": f"{name(rng, 2)} {name(rng, 3)}", "office": rng.choice(OFFICES),
              "year": str(rng.randint(1700, 2020))}
    return template.format(**fields), name(rng, 2) if rng.random() < 0.5 else str(rng.randint(1, 5000))


def near_copy(rng: random.Random, text: str) -> str:
    words = text.split()
    change = rng.randrange(4)
    if change == 0:
        return text.upper()
    if change == 1:
        return text.replace("?", " ?!")
    if change == 2 and " the " in text:
        return text.replace(" the ", " ", 1)
    words[rng.randrange(len(words) - 1)] = rng.choice(["a", "one", "this"])
    return " ".join(words)


def make_questions(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        q, a = question(rng)
        out.append((q, a))
        if rng.random() < 0.1 and len(out) < n:
            out.append((near_copy(rng, q), a))
    return out


def exact_kept(questions: list[str], threshold: float) -> list[bool]:
    """Today's decision without an index: first kept wins over every later near-duplicate."""
    kept_sets, decisions = [], []
    for text in questions:
        grams = ngrams(text, 3)
        dup = any(jaccard(grams, other) >= threshold for other in kept_sets)
        decisions.append(not dup)
        if not dup and grams:
            kept_sets.append(grams)
    return decisions


def timed(fn):
    """(result, wall seconds, CPU seconds of this process): on a shared machine the CPU time is
    what the work costs, the wall time what this run happened to wait."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def run_size(n: int, benchmark_path: str, exact_up_to: int, threshold: float) -> dict:
    pairs = make_questions(n)
    dedup = NearDuplicates(threshold)
    decisions, dedup_wall, dedup_cpu = timed(lambda: [not dedup.seen(q) for q, _ in pairs])
    bench, load_wall, load_cpu = timed(lambda: Benchmarks([benchmark_path]))
    contaminated, decon_wall, decon_cpu = timed(lambda: sum(bench.contaminated(q, a) for q, a in pairs))
    row = {"questions": n, "dedup_s": dedup_wall, "dedup_cpu_s": dedup_cpu, "decontaminate_s": decon_wall,
           "decontaminate_cpu_s": decon_cpu, "benchmark_load_s": load_wall,
           "total_s": round(dedup_wall + decon_wall + load_wall, 2),
           "total_cpu_s": round(dedup_cpu + decon_cpu + load_cpu, 2),
           "kept": sum(decisions), "duplicates": n - sum(decisions), "exact_checks": dedup.compared,
           "contaminated": contaminated}
    if n <= exact_up_to:
        exact, row["exact_all_pairs_s"], row["exact_all_pairs_cpu_s"] = timed(
            lambda: exact_kept([q for q, _ in pairs], threshold))
        row["decisions_differing_from_exact"] = sum(a != b for a, b in zip(decisions, exact))
    return row


def write_benchmark(path: str, size: int, seed: int = 11) -> None:
    """Benchmark questions: new ones, and paraphrases (same answer) of generated training questions."""
    rng, train = random.Random(seed), make_questions(size)
    with open(path, "w") as handle:
        for i in range(size):
            if i % 4 == 0:
                q, a = train[rng.randrange(len(train))]
                q = "Tell me: " + q.lower().replace("which", "what").replace("?", " exactly?")
            else:
                q, a = question(rng)
            handle.write(json.dumps({"question": q, "answer": a}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,2000,4000,8000,16000,32000,100000")
    parser.add_argument("--exact-up-to", type=int, default=4000, help="Check decisions against all pairs up to here")
    parser.add_argument("--benchmark", type=int, default=2000, help="Benchmark questions for decontamination")
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        benchmark = os.path.join(tmp, "bench.jsonl")
        write_benchmark(benchmark, args.benchmark)
        for n in (int(x) for x in args.sizes.split(",")):
            row = run_size(n, benchmark, args.exact_up_to, args.threshold)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"threshold": args.threshold, "benchmark_questions": args.benchmark, "cpu_count": os.cpu_count(),
              "load_average_at_end": os.getloadavg(), "rows": rows}
    if args.out:
        save_results(args.out, result)


if __name__ == "__main__":
    main()

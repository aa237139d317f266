"""Near-duplicate questions and decontamination against benchmark files."""

import json

from worldbuild.synth.dedup import Benchmarks, NearDuplicates


def test_near_duplicates():
    seen = NearDuplicates(0.7)
    assert not seen.seen("In which year was the Valdora harbour lighthouse first lit?")
    assert seen.seen("In which year was the Valdora harbour lighthouse first lit ?")  # punctuation only
    assert seen.seen("in which year was the valdora harbour lighthouse first lit")
    assert not seen.seen("Who designed the Valdora harbour lighthouse?")
    assert not seen.seen("What is the population of Valdora in 1987?")


def test_benchmark_overlap(tmp_path):
    gaia = tmp_path / "gaia.jsonl"
    gaia.write_text("\n".join(json.dumps(row) for row in [
        {"Question": "What was the total number of ship arrivals recorded by the Valdora harbour authority "
                     "in the spring of 1987?", "Final answer": "412"},
        {"task_id": "x", "no question field": True},
    ]) + "\n")
    xbench = tmp_path / "xbench.jsonl"
    xbench.write_text(json.dumps({"prompt": "Which architect designed the lighthouse of Valdora?",
                                  "answer": "Maria Ostrander"}) + "\n")
    bench = Benchmarks([str(gaia), str(xbench)])
    assert bench.loaded == 2
    # shares an 8-word run with a GAIA question
    assert bench.contaminated("How many ship arrivals were recorded by the Valdora harbour authority in the "
                              "spring of 1987 in total?", "412")
    # same answer and a similar question
    assert bench.contaminated("Who was the architect who designed the Valdora lighthouse?", "Maria Ostrander")
    # same answer, unrelated question: not contaminated
    assert not bench.contaminated("Who founded the Valdora rowing club?", "Maria Ostrander")
    assert not bench.contaminated("In which year was the Valdora lighthouse first lit?", "1902")


def test_export_drops_duplicates_contaminated_and_unreachable(tmp_path):
    from worldbuild.synth.export import export

    def task(i, question, answer, reachable=True):
        return {"id": f"t{i}", "question": question, "answer": answer, "kind": "single_hop", "capability": None,
                "source_urls": ["https://a.example/"], "mask_urls": ["https://a.example/"], "evidence_urls": [],
                "reachable": reachable, "snapshot": "s1", "generator": {"model": "m"}, "rubric": {"closed": {"ok": True}},
                "created_at": "2026-01-01T00:00:00+00:00"}

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps(t) for t in [
        task(1, "In which year was the Valdora harbour lighthouse first lit?", "1902"),
        task(2, "In which year was the Valdora harbour lighthouse first lit?!", "1902"),
        task(3, "Which architect designed the lighthouse of Valdora?", "Maria Ostrander"),
        task(4, "Who founded the Valdora rowing club?", "Ida Brenner", reachable=False),
        task(5, "How tall is the Valdora harbour lighthouse in metres?", "31"),
    ]) + "\n")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": "Who designed the Valdora lighthouse (architect)?",
                                 "answer": "Maria Ostrander"}) + "\n")
    counts = export(str(tasks), str(tmp_path / "out"), validation_fraction=0.0, benchmark_files=[str(bench)])
    assert counts["tasks"] == 5 and counts["unreachable"] == 1 and counts["contaminated"] == 1
    assert counts["duplicates"] == 1 and counts["train"] == 2 and counts["benchmark_questions"] == 1


def test_export_never_writes_a_column_less_parquet(tmp_path):
    from worldbuild.synth.export import export

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t1", "question": "Who founded the Valdora rowing club?", "answer": "Ida",
                                 "kind": "single_hop", "mask_urls": [], "reachable": False, "snapshot": "s"}) + "\n")
    out = tmp_path / "out"
    (out / "verl").mkdir(parents=True)
    (out / "verl" / "train.parquet").write_bytes(b"an older run's split")
    counts = export(str(tasks), str(out), validation_fraction=0.5)
    assert counts["train"] == 0 and counts["validation"] == 0 and counts["unreachable"] == 1
    assert set(counts["omitted"]) == {"train", "validation"} and "1 unreachable" in counts["omitted"]["train"]
    assert list((out / "verl").iterdir()) == []  # nothing verl would choke on, nothing stale

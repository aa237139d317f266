"""How often an LLM judge agrees with a careful reader, per judge prompt version: the reward of
training and the score of `eval` are this judge's yes/no. Not part of CI (it needs an endpoint).

    python bench/judge_agreement.py http://127.0.0.1:8012/v1 [--model local] [--prompts judge.v1,judge.v2]

The cases (`bench/data/judge_cases.json`): 21 answers a local 0.5B/1.5B policy really gave in
`bench/e2e_real_model.py` runs, each graded by hand (`same`: by the rules both prompts state),
and 6 written answers that are the reference in another form. Each case is asked exactly as
`worldbuild.agent.judge.Judge` asks it (its template, its schema, temperature 0), without the
exact-match shortcut and the length cut, so every case reaches the model. Output:
bench/out/judge_agreement.json (agreement, false yes, false no, every reply)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402
from worldbuild.agent.judge import SCHEMAS, parse_verdict  # noqa: E402
from worldbuild.llm import LLM, LLMFailed  # noqa: E402
from worldbuild.prompts import load  # noqa: E402


async def grade_all(base_url: str, model: str, versions: list[str], cases: list[dict]) -> dict:
    llm = LLM(base_url, model, concurrency=1, timeout=600)
    results = {}
    try:
        for version in versions:
            template, rows = load(version), []
            for case in cases:
                prompt = template.format(question=case["question"], reference=case["reference"],
                                         prediction=case["prediction"])
                try:
                    reply = await llm.complete_structured([{"role": "user", "content": prompt}], SCHEMAS[version],
                                                          temperature=0.0, max_tokens=256)
                    said, text = parse_verdict(reply.text), reply.text
                except (LLMFailed, ValueError) as exc:
                    said, text = None, f"{type(exc).__name__}: {exc}"
                rows.append({"reference": case["reference"][:80], "prediction": case["prediction"][:80],
                             "same": case["same"], "said": said, "reply": text[:400]})
                print(version, said, case["same"], "|", case["prediction"][:60].replace("\n", " "), flush=True)
            results[version] = {
                "cases": len(rows), "agree": sum(r["said"] == r["same"] for r in rows),
                "false_yes": sum(r["said"] is True and not r["same"] for r in rows),
                "false_no": sum(r["said"] is False and r["same"] for r in rows),
                "unparsed": sum(r["said"] is None for r in rows), "rows": rows}
    finally:
        await llm.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--model", default="local")
    parser.add_argument("--prompts", default="judge.v1,judge.v2")
    parser.add_argument("--cases", default=os.path.join(REPO, "bench", "data", "judge_cases.json"))
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "out", "judge_agreement.json"))
    args = parser.parse_args()
    with open(args.cases, encoding="utf-8") as handle:
        cases = json.load(handle)
    report = {"base_url": args.base_url, "model": args.model, "cases": len(cases),
              "same": sum(c["same"] for c in cases), "load_before": os.getloadavg()}
    report["prompts"] = asyncio.run(grade_all(args.base_url, args.model, args.prompts.split(","), cases))
    save_results(args.out, report)
    print(json.dumps({v: {k: r[k] for k in ("cases", "agree", "false_yes", "false_no", "unparsed")}
                      for v, r in report["prompts"].items()}, indent=2))


if __name__ == "__main__":
    main()

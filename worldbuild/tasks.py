"""The task formats the stages share: `synth-qa` writes verl parquet rows (`verl_row`), the agent
side and `expand` read tasks back from that parquet (rows kept whole, so the filter can write the
kept ones back), from task JSONL, or from a benchmark file of {"question", "answer"} lines."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from worldbuild.prompts import load

SYSTEM_PROMPT = "agent_system.v1"
DATA_SOURCE = "worldbuild"


@dataclass(frozen=True)
class Task:
    id: str
    question: str
    answer: str
    mask: list[str]
    prompt: list[dict]  # system + user messages, exactly as training sends them
    row: dict = field(default_factory=dict, compare=False)  # the parquet row it came from
    evidence: list[str] = field(default_factory=list)  # "id:<corpus doc id>" / "url:<URL>" (offline benchmarks)


def verl_row(task: dict, index: int, system_prompt: str) -> dict:
    """A task record as one row of verl's RL parquet (prompt, reward label, tool arguments)."""
    mask = {"create_kwargs": {"mask": task["mask_urls"]}}
    return {
        "data_source": DATA_SOURCE,
        "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": task["question"]}],
        "ability": f"deep_research/{task['kind']}",
        "reward_model": {"style": "rule", "ground_truth": task["answer"]},
        "extra_info": {"index": index, "id": task["id"], "question": task["question"], "answer": task["answer"],
                       "mask_urls": task["mask_urls"], "snapshot": task["snapshot"],
                       "tools_kwargs": {"search": mask, "browse": mask}},
        "agent_name": "tool_agent",
    }


def _plain(value):
    """Parquet gives numpy arrays for lists: make them JSON-plain again."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _task_id(question: str) -> str:
    return "q-" + hashlib.sha256(" ".join(question.split()).encode()).hexdigest()[:16]


def _from_row(row: dict) -> Task:
    info = row.get("extra_info") or {}
    question = info.get("question") or next(m["content"] for m in row["prompt"] if m["role"] == "user")
    answer = info.get("answer") or row["reward_model"]["ground_truth"]
    return Task(str(info.get("id") or _task_id(question)), question, str(answer), list(info.get("mask_urls") or []),
                [{"role": m["role"], "content": m["content"]} for m in row["prompt"]], row)


def _evidence(record: dict) -> list[str]:
    """Evidence documents of an offline benchmark: BrowseComp-Plus `evidence_docs` ({docid, url?}
    or bare ids; by URL when it has one, else by id) and FRAMES-style gold URLs (`evidence_urls`,
    `gold_urls`, `wiki_links`)."""
    from worldbuild.retrieval_eval import gold_urls

    docs = [f"url:{d['url']}" if isinstance(d, dict) and d.get("url") else
            f"id:{d['docid'] if isinstance(d, dict) else d}" for d in record.get("evidence_docs") or []]
    return docs + [f"url:{url}" for url in gold_urls(record)]


def _from_record(record: dict, system_prompt: str) -> Task:
    # BrowseComp-Plus writes query/answer, FRAMES Prompt/Answer
    question = next(record[k] for k in ("question", "query", "Prompt") if k in record)
    answer = record["answer"] if "answer" in record else record["Answer"]
    if isinstance(answer, list):  # benchmarks with several accepted answers: the first is the label
        answer = answer[0]
    return Task(str(record.get("id") or record.get("query_id") or _task_id(question)), question, str(answer),
                list(record.get("mask_urls") or []),
                [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}],
                evidence=_evidence(record))


def load_tasks(path: str, system_prompt: str | None = None) -> list[Task]:
    """Every task in the file; raises ValueError naming the line of a malformed one."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return [_from_row(_plain(row)) for row in pq.read_table(path).to_pylist()]
    system_prompt = system_prompt or load(SYSTEM_PROMPT)
    tasks = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                tasks.append(_from_record(json.loads(line), system_prompt))
            except (ValueError, KeyError, TypeError, StopIteration) as exc:
                raise ValueError(f"{path}:{number}: not a task ({type(exc).__name__}: {exc})") from exc
    return tasks

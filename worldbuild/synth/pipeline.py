"""The single-hop half of `synth-qa`: seeds → extraction → rubric → masking + reachability →
task records. Every stage appends to its own JSONL in the output folder and skips what is
already there, so a rerun resumes (and a finished rerun costs nothing, from the LLM cache)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from worldbuild.llm import LLM
from worldbuild.stagefile import StageFile
from worldbuild.synth import extract, multihop, rubric, tag
from worldbuild.synth.access import LocalWorld, RemoteWorld
from worldbuild.synth.export import export
from worldbuild.synth.reach import PageTexts, check_reachable
from worldbuild.synth.seeds import select_seeds
from worldbuild.world import World


@dataclass
class SynthConfig:
    out_dir: str
    max_pages: int = 50
    max_pairs: int = 5
    max_answer_words: int = 10
    min_chars: int = 1500
    tag: bool = False  # also tag each kept task with its capability (one more LLM call per task)
    multi_hop: int = 0  # multi-hop tasks to try, each grown from a kept single-hop answer
    graph_nodes: int = multihop.N_MAX  # entities a multi-hop graph grows to (one LLM call each)


@dataclass(frozen=True)
class Endpoint:
    """The OpenAI-compatible endpoint that writes and judges the tasks."""

    base_url: str
    model: str
    concurrency: int = 16  # requests in flight
    timeout: float = 120.0  # seconds per request


@dataclass(frozen=True)
class ExportSettings:
    validation_fraction: float = 0.05
    include_unreachable: bool = False  # export tasks whose answer was not found after masking
    system_prompt: str | None = None  # file with the agent's system prompt [default: agent_system.v1]
    decontaminate: tuple[str, ...] = ()  # benchmark JSONL files the tasks must not overlap


def synthesize(world_dir: str, endpoint: Endpoint, config: SynthConfig, service: str | None = None,
               export_settings: ExportSettings = ExportSettings()) -> dict:
    """`synth-qa`: check the endpoint answers, run the stages (resuming what `config.out_dir`
    holds; LLM replies cached in OUT/llm-cache.sqlite), then export tasks.jsonl for HF datasets
    and verl. The world must exist (WorldNotFound at once); returns the summary with `export`."""
    World.open(world_dir).close()  # fail fast, before the endpoint is asked anything

    async def run() -> dict:
        llm = LLM(endpoint.base_url, endpoint.model, cache_path=os.path.join(config.out_dir, "llm-cache.sqlite"),
                  concurrency=endpoint.concurrency, timeout=endpoint.timeout)
        try:
            await llm.check()
            return await run_single_hop(world_dir, llm, config, service)
        finally:
            await llm.aclose()

    summary = asyncio.run(run())
    e = export_settings
    summary["export"] = export(os.path.join(config.out_dir, "tasks.jsonl"), config.out_dir, e.validation_fraction,
                               e.include_unreachable, e.system_prompt, list(e.decontaminate) or None)
    return summary


async def _each(items, work, sink: StageFile) -> None:
    """Run `work` on every item concurrently (the LLM bounds it) and append results as they come."""
    for finished in asyncio.as_completed([work(item) for item in items]):
        sink.append(await finished)


async def run_single_hop(world_dir: str, llm: LLM, config: SynthConfig, service: str | None = None) -> dict:
    """Seeds come from the world's files; search, page text and masks come from the world in
    process, or from a `worldbuild serve` at `service` (which must serve the same snapshot)."""
    out = config.out_dir
    os.makedirs(out, exist_ok=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    with World.open(world_dir) as world:
        access = RemoteWorld(service) if service else LocalWorld(world)
        if access.snapshot != world.snapshot:
            raise ValueError(f"{service} serves snapshot {access.snapshot}, but {world_dir} is {world.snapshot}")
        seeds_file = StageFile(os.path.join(out, "seeds.jsonl"))
        seeds = list(seeds_file.read())
        if len(seeds) < config.max_pages:
            for seed in select_seeds(world, config.max_pages - len(seeds), config.min_chars, used=seeds_file.done):
                seeds_file.append(seed)
                seeds.append(seed)

        extracted = StageFile(os.path.join(out, "extracted.jsonl"))

        async def extract_one(seed):
            return await extract.extract_pairs(llm, seed, access.text(seed["url"]) or "", config.max_pairs,
                                               config.max_answer_words)

        lap("seeds")
        await _each([s for s in seeds if s["key"] not in extracted.done], extract_one, extracted)
        lap("extract")
        pages = list(extracted.read())
        pairs = {p["id"]: {**p, "source_url": page["url"], "generator": page["generator"]}
                 for page in pages for p in page["pairs"]}

        judged = StageFile(os.path.join(out, "rubric.jsonl"))
        await _each([p for i, p in pairs.items() if i not in judged.done], lambda p: rubric.judge(llm, p), judged)
        lap("rubric")
        verdicts = {r["key"]: r for r in judged.read()}
        kept = [pairs[i] for i, v in verdicts.items() if v["kept"] and i in pairs]

        reached = StageFile(os.path.join(out, "reach.jsonl"))
        texts = PageTexts(access)
        for pair in kept:
            if pair["id"] not in reached.done:
                reached.append(check_reachable(access, pair, [pair["source_url"]], texts=texts))
        lap("reach")
        reach = {r["key"]: r for r in reached.read()}

        tags: dict[str, dict] = {}
        if config.tag:
            tagged = StageFile(os.path.join(out, "tags.jsonl"))
            await _each([p for p in kept if p["id"] not in tagged.done], lambda p: tag.tag(llm, p), tagged)
            tags = {r["key"]: r for r in tagged.read()}
            tagged.close()
            lap("tag")

        tasks = StageFile(os.path.join(out, "tasks.jsonl"), key="id")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for pair in kept:
            if pair["id"] in tasks.done:
                continue
            found = reach[pair["id"]]
            tasks.append({
                "id": pair["id"], "question": pair["question"], "answer": pair["answer"], "kind": "single_hop",
                "capability": tags.get(pair["id"], {}).get("capability"), "source_urls": [pair["source_url"]],
                "mask_urls": found["mask_urls"],
                "evidence_urls": found["evidence_urls"], "reachable": found["reachable"],
                "snapshot": access.snapshot, "generator": {**pair["generator"], "rubric_prompt": rubric.PROMPT},
                "rubric": verdicts[pair["id"]]["verdicts"], "created_at": now,
            })
        lap("tasks")
        made = await _multi_hop(llm, access, kept, config, out, texts, tasks, now) if config.multi_hop else {}
        for stage in (seeds_file, extracted, judged, reached, tasks):
            stage.close()
        lap("multi_hop")
        return {**_summary(seeds, pages, pairs, verdicts, reach, tasks, llm), "multi_hop": made, "seconds": seconds}


async def _multi_hop(llm, access, kept, config, out, texts, tasks, now) -> dict:
    """Grow a graph from each of the first `multi_hop` kept answers and compose a question."""
    stage = StageFile(os.path.join(out, "multihop.jsonl"))

    async def one(pair):
        mask = access.mask_for([pair["source_url"]])
        graph = await multihop.expand(llm, access, pair["answer"], mask, config.graph_nodes)
        chosen = multihop.sample_subgraph(graph, pair["answer"], random.Random(pair["id"]))
        task, skip = (None, f"subgraph has {len(chosen)} nodes") if len(chosen) < 4 else \
            await multihop.compose(llm, graph, chosen)
        verdicts = None
        if task is not None:  # the same 7-point rubric as single-hop pairs
            judged = await rubric.judge(llm, {"id": pair["id"], "question": task["question"], "answer": task["answer"]})
            verdicts = judged["verdicts"]
            if not judged["kept"]:
                task, skip = None, judged["skip"] or "failed the rubric"
        return {"key": pair["id"], "seed": pair["answer"], "mask_urls": mask, "graph": graph, "subgraph": chosen,
                "task": task, "rubric": verdicts, "skip": skip}

    seeds = kept[: config.multi_hop]
    await _each([p for p in seeds if p["id"] not in stage.done], one, stage)
    records = list(stage.read())
    stage.close()
    for record in records:
        task_id = f"mh-{record['key']}"
        if record["task"] is None or task_id in tasks.done:
            continue
        made = record["task"]
        found = check_reachable(access, {"id": task_id, **made}, [], texts=texts, mask=record["mask_urls"])
        tasks.append({
            "id": task_id, "question": made["question"], "answer": made["answer"], "kind": "multi_hop",
            "capability": None, "hops": made["hops"], "source_urls": sorted({f["url"] for f in made["facts"]}),
            "facts": made["facts"], "entities": made["entities"], "mask_urls": record["mask_urls"],
            "evidence_urls": found["evidence_urls"], "reachable": found["reachable"], "snapshot": access.snapshot,
            "generator": {"model": llm.model, "prompt": multihop.COMPOSE, "expand_prompt": multihop.EXPAND,
                          "rubric_prompt": rubric.PROMPT},
            "rubric": record["rubric"], "created_at": now,
        })
    return {"tried": len(records), "made": sum(1 for r in records if r["task"]),
            "skips": dict(Counter(r["skip"].split(":")[0] for r in records if r["skip"]))}


def _summary(seeds, pages, pairs, verdicts, reach, tasks, llm) -> dict:
    skips = Counter(p["skip"].split(":")[0] for p in pages if p["skip"])
    dropped = Counter()
    for page in pages:
        dropped.update(page["dropped"])
    per_condition = {c: sum(1 for v in verdicts.values() if v["verdicts"].get(c, {}).get("ok")) for c in rubric.CONDITIONS}
    return {
        "pages_used": len(seeds), "pages_extracted": len(pages), "page_skips": dict(skips),
        "pairs_extracted": len(pairs), "pairs_dropped": dict(dropped),
        "rubric_judged": len(verdicts), "rubric_skips": sum(1 for v in verdicts.values() if v["skip"]),
        "passed_per_condition": per_condition, "kept": sum(1 for v in verdicts.values() if v["kept"]),
        "reachable": sum(1 for r in reach.values() if r["reachable"]), "tasks": len(tasks.done),
        "llm": llm.usage.to_dict(),
    }

"""The agent-side commands (`rollout`, `filter`, `eval`, `sft-data`): thin Typer wrappers over
`worldbuild.agent.jobs`. They share one set of options (policy endpoint, world service, judge,
episode limits), declared once below and added to each command's signature."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from typing import Optional

import typer
from rich.console import Console

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worldbuild.cli_exits import exits_cleanly
from worldbuild.cli_options import Fallback, JsonOpt, ModeOpt, ResultsOpt, SamplesOpt, SearchMode

err = Console(stderr=True, soft_wrap=True)  # an error stays one line in logs


def _shared(
    base_url: str = typer.Option(..., envvar="OPENAI_BASE_URL",
                                 help="The policy's OpenAI-compatible endpoint, e.g. a vLLM server of the checkpoint"),
    model: str = typer.Option(..., envvar="WORLDBUILD_POLICY_MODEL", help="Model name at that endpoint"),
    api_key: Optional[str] = typer.Option(None, envvar="OPENAI_API_KEY", help="Key for the policy endpoint"),
    world_url: str = typer.Option("http://127.0.0.1:8000", envvar="WORLD_URL", help="`worldbuild serve` to search"),
    judge_url: Optional[str] = typer.Option(None, envvar="WORLDBUILD_JUDGE_URL",
                                            help="OpenAI-compatible endpoint of the answer judge \\[default: no judge]"),
    judge_model: Optional[str] = typer.Option(None, envvar="WORLDBUILD_JUDGE_MODEL", help="Judge model name"),
    fallback: Fallback = typer.Option(Fallback.em, help="Without a judge (or when it fails): exact match or token F1"),
    judge_cache: Optional[str] = typer.Option(None, help="SQLite verdict cache \\[default: ~/.cache/worldbuild/judge.sqlite]"),
    samples: int = SamplesOpt(1),
    concurrency: int = typer.Option(64, min=1, help="Episodes in flight"),
    max_turns: int = typer.Option(32, min=1, help="Assistant turns per episode"),
    max_response_tokens: int = typer.Option(32768, min=1, help="Tokens after the prompt (training's response length)"),
    max_tokens_per_turn: Optional[int] = typer.Option(
        None, min=1, help="Tokens per assistant turn \\[default: as verl, the rest of the response budget]"),
    max_tool_response_length: Optional[int] = typer.Option(
        None, min=1, help="Characters of one tool answer kept (verl's multi_turn.max_tool_response_length)"),
    thinking: bool = typer.Option(False, help="The policy's template opens <think> in the prompt (Qwen3-Thinking)"),
    tool_format: str = typer.Option(
        "hermes", help="How calls written in the reply's content are read, as verl's multi_turn.format: hermes "
                       "(<tool_call> tags) or hermes_lenient (also fenced or bare JSON calls, as small models write)"),
    temperature: float = typer.Option(1.0, help="Sampling temperature (training samples at 1.0)"),
    top_k: int = ResultsOpt(10, "Results per search call"),
    search_mode: SearchMode = ModeOpt("--search-mode"),
    browse_chars: int = typer.Option(8000, min=200, help="Page window per browse call"),
    tool_timeout: float = typer.Option(30.0, help="Seconds per world-service request"),
    checkpoint: str = typer.Option("", help="Name of the policy checkpoint, recorded in each trajectory"),
    system_prompt: Optional[str] = typer.Option(
        None, help="File with the agent's system prompt for tasks given as JSONL, and for the SFT rows "
                   "\\[default: agent_system.v1]; parquet tasks keep the prompt in their rows"),
    as_json: bool = JsonOpt("the summary"),
):
    """Declares the shared options (never called)."""


def _job(options: dict, reminder: bool = False):
    from worldbuild.agent.jobs import Job, JudgeSettings
    from worldbuild.agent.judge import DEFAULT_CACHE
    from worldbuild.agent.react import EpisodeSettings
    from worldbuild.agent.rollout import RolloutPlan
    from worldbuild.agent.toolcalls import FORMATS
    from worldbuild.agent.tools import ToolSettings

    o = options
    if o["fallback"] not in ("em", "f1"):
        raise typer.BadParameter("--fallback must be em or f1")
    if o["tool_format"] not in FORMATS:
        raise typer.BadParameter(f"--tool-format must be one of {', '.join(FORMATS)}")
    if bool(o["judge_url"]) != bool(o["judge_model"]):
        raise typer.BadParameter("--judge-url and --judge-model go together")
    return Job(
        base_url=o["base_url"], model=o["model"], api_key=o["api_key"],
        tools=ToolSettings(base_url=o["world_url"], timeout=o["tool_timeout"], top_k=o["top_k"],
                           mode=SearchMode(o["search_mode"]).value, max_chars=o["browse_chars"]),
        judge=JudgeSettings(o["judge_url"], o["judge_model"], Fallback(o["fallback"]).value,
                            o["judge_cache"] or DEFAULT_CACHE),
        episode=EpisodeSettings(max_turns=o["max_turns"], max_response_tokens=o["max_response_tokens"],
                                max_tokens_per_turn=o["max_tokens_per_turn"], temperature=o["temperature"],
                                max_tool_response_length=o["max_tool_response_length"], thinking=o["thinking"],
                                reminder=reminder, tool_format=o["tool_format"]),
        plan=RolloutPlan(samples=o["samples"], concurrency=o["concurrency"], checkpoint=o["checkpoint"]),
    )


SHARED = inspect.signature(_shared).parameters


def with_shared_options(command):
    """Add the shared options to a command's signature; it receives them as `options`. A command
    may declare a shared option itself to give it another default (`filter`: 8 samples)."""
    own = [p for name, p in inspect.signature(command).parameters.items() if name != "options"]
    overridden = {p.name for p in own} & set(SHARED)

    @functools.wraps(command)
    def wrapper(**kwargs):
        options = {name: kwargs[name] if name in overridden else kwargs.pop(name) for name in SHARED}
        return command(options=options, **kwargs)

    wrapper.__signature__ = inspect.Signature(own + [p for name, p in SHARED.items() if name not in overridden])
    wrapper.__annotations__ = {**_shared.__annotations__,
                               **{k: v for k, v in command.__annotations__.items() if k != "options"}}
    return wrapper


def _run(job_coroutine_factory, total: int, options: dict, title: str, **shown) -> dict:
    """Run a job with a progress bar, print its summary (and `shown` first), return it."""
    from worldbuild.agent.jobs import ServiceUnavailable

    as_json = options["as_json"]
    bar = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[acc]}"),
                   TimeElapsedColumn(), console=err, disable=as_json)
    tracker = bar.add_task(title, total=total, acc="")
    seen = {"n": 0, "correct": 0}

    def on_done(record: dict) -> None:
        seen["n"] += 1
        seen["correct"] += bool(record["correct"])
        bar.update(tracker, advance=1, acc=f"correct {seen['correct']}/{seen['n']}")

    with exits_cleanly((ServiceUnavailable, ValueError, FileNotFoundError),
                       "finished trajectories are kept; rerun the same command to resume", err), bar:
        summary = asyncio.run(job_coroutine_factory(on_done))
    summary = {**shown, **summary}
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return summary


def _prompt(options: dict) -> Optional[str]:
    """The --system-prompt file's text (None: the default prompt)."""
    if not options["system_prompt"]:
        return None
    with exits_cleanly((OSError, UnicodeDecodeError), "", err), \
            open(options["system_prompt"], encoding="utf-8") as handle:
        return handle.read()


def _tasks(path: str, prompt: Optional[str]):
    from worldbuild.tasks import load_tasks

    with exits_cleanly((ValueError, OSError), "", err):
        return load_tasks(path, prompt)


def register(app: typer.Typer) -> None:
    @app.command()
    @with_shared_options
    def rollout(
        tasks: str = typer.Argument(..., help="verl parquet from synth-qa, task JSONL, or question/answer JSONL"),
        out: str = typer.Option(..., "--out", "-o", help="Trajectories JSONL (appended; a rerun resumes)"),
        options: dict = None,
    ) -> None:
        """Run the agent (training's ReAct loop, prompt and tools) over tasks; save full trajectories."""
        from worldbuild.agent.jobs import run

        job, loaded = _job(options), _tasks(tasks, _prompt(options))
        _run(lambda done: run(job, loaded, out, done), len(loaded) * job.plan.samples, options, "rollout",
             trajectories=out)

    @app.command("filter")
    @with_shared_options
    def filter_(
        tasks: str = typer.Argument(..., help="verl parquet (or task JSONL) to filter"),
        out: str = typer.Option(..., "--out", "-o", help="Stage parquet of the kept tasks"),
        samples: int = SamplesOpt(8),
        keep: str = typer.Option("1..7", help="Keep tasks solved this many times of --samples (inclusive)"),
        trajectories: Optional[str] = typer.Option(None, help="Trajectories JSONL \\[default: OUT.trajectories.jsonl]"),
        options: dict = None,
    ) -> None:
        """Difficulty filter: n rollouts per task with the current checkpoint, keep the band."""
        from worldbuild.agent.difficulty import Band
        from worldbuild.agent.jobs import filter_tasks

        try:
            Band.parse(keep, samples)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        job, loaded = _job(options), _tasks(tasks, _prompt(options))
        summary = _run(lambda done: filter_tasks(job, loaded, out, keep, trajectories, done), len(loaded) * samples,
                       options, f"pass@{samples}")
        if summary.get("rerun"):
            err.print(f"[red]error:[/] {summary['rerun']}")
            raise typer.Exit(3)

    @app.command("eval")
    @with_shared_options
    def eval_(
        bench: str = typer.Argument(..., help="Benchmark JSONL ({question, answer}, or BrowseComp-Plus {query_id, "
                                              "query, answer, evidence_docs}) or task parquet"),
        out: str = typer.Option(..., "--out", "-o", help="Trajectories JSONL; the report goes to OUT.report.json"),
        world: Optional[str] = typer.Option(None, "--world", help="The served world's folder: places evidence "
                                                                   "documents given by corpus id (BrowseComp-Plus)"),
        options: dict = None,
    ) -> None:
        """Accuracy on a benchmark with a 95% interval, tool calls and tokens per task; with evidence
        documents, evidence recall, search calls and calibration (the BrowseComp-Plus protocol)."""
        from worldbuild.agent.jobs import evaluate_benchmark

        job, loaded = _job(options), _tasks(bench, _prompt(options))
        _run(lambda done: evaluate_benchmark(job, loaded, out, done, world), len(loaded) * job.plan.samples, options,
             "eval")

    @app.command("sft-data")
    @with_shared_options
    def sft_data(
        tasks: str = typer.Argument(..., help="Tasks for the teacher (verl parquet or JSONL)"),
        out: str = typer.Option(..., "--out", "-o", help="SFT parquet (messages + tools)"),
        trajectories: Optional[str] = typer.Option(None, help="Teacher trajectories \\[default: OUT.trajectories.jsonl]"),
        reminder: bool = typer.Option(True, help="Nudge the teacher to answer on its last turn (removed by C3)"),
        options: dict = None,
    ) -> None:
        """Teacher trajectories → filtered (F1–F7), cleaned (C1–C4) verl multi-turn SFT parquet."""
        from worldbuild.agent.jobs import distil_sft

        prompt = _prompt(options)
        job, loaded = _job(options, reminder=reminder), _tasks(tasks, prompt)
        _run(lambda done: distil_sft(job, loaded, out, trajectories, prompt, done), len(loaded) * job.plan.samples,
             options, "teacher")

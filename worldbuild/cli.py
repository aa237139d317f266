"""`worldbuild` command line: thin Typer commands over the library."""

from __future__ import annotations

import json
import sys
import time
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table

from worldbuild.cli_exits import exits_cleanly
from worldbuild.cli_options import (AddressOpt, AnnKind, DenseBackend, DenseModelOpt, EfSearchOpt, ExecutorKind,
                                    ExecutorOpt, ExtractorKind, ExtractorOpt, JsonOpt, LanguageIdKind, LanguageIdOpt,
                                    LogLevel, ModeOpt, NprobeOpt, Pooling, ResultsOpt, SearchMode, ShardPagesOpt,
                                    WorkersOpt, WorldOpt)
from worldbuild.world import World, WorldNotFound, default_world_dir

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Build a frozen, searchable lite web from WARC files and serve it to research agents.")
out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line in logs


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"worldbuild {version('worldbuild')}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit")) -> None:
    """Build a frozen, searchable lite web from WARC files and serve it to research agents."""


def _open(world_dir: Optional[str], dense_model: Optional[str] = None, ann_search=None) -> World:
    try:
        return World.open(world_dir or default_world_dir(), dense_model=dense_model, ann_search=ann_search)
    except WorldNotFound as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


class _BarProgress:
    """Draws the ingest's progress: bytes through the map step, pages and pages/s."""

    def __init__(self, console: Console):
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[pages]} pages · {task.fields[rate]} pages/s · {task.fields[records]} records"),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self.task = None
        self.pages = self.records = 0
        self.began = time.perf_counter()

    def start(self, total_bytes: int) -> None:
        self.bar.start()
        self.began = time.perf_counter()
        self.task = self.bar.add_task("extract", total=max(total_bytes, 1), pages=0, rate="0.0", records=0)

    def advance(self, done_bytes: int, pages: int, records: int) -> None:
        self.pages += pages
        self.records += records
        rate = self.pages / max(time.perf_counter() - self.began, 1e-9)
        self.bar.update(self.task, advance=done_bytes, pages=self.pages, records=self.records, rate=f"{rate:.1f}")

    def stage(self, name: str) -> None:
        self.bar.stop()
        err.print(f"[bold]{name}[/bold]: dedup, page store, BM25 index …")

    def note(self, text: str) -> None:
        err.print(f"  {text} [dim]({time.perf_counter() - self.began:.0f} s)[/dim]")

    def stop(self) -> None:
        self.bar.stop()


def _report_table(report: dict) -> Table:
    table = Table(title="skipped, by reason", show_edge=False)
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("first seen at", overflow="fold")
    for reason, count in report["skips"].items():
        table.add_row(reason, str(count), report["examples"].get(reason, ""))
    return table


@app.command()
def ingest(
    paths: List[str] = typer.Argument(..., help="WARC/ARC files, corpora (JSONL[.gz|.zst], Parquet, a datasets "
                                                "save_to_disk folder), directories or globs"),
    world: Optional[str] = WorldOpt(),
    workers: Optional[int] = WorkersOpt(None, "Processes \\[default: the cores this process may use]"),
    min_chars: int = typer.Option(1000, help="Drop pages whose extracted text is shorter"),
    lang: Optional[List[str]] = typer.Option(None, "--lang", help="Keep only these languages (repeatable, ISO 639-1)"),
    extractor: ExtractorKind = ExtractorOpt(),
    language_id: Optional[LanguageIdKind] = LanguageIdOpt(),
    max_bytes: int = typer.Option(10 * 1024 * 1024, help="Skip HTTP bodies larger than this"),
    unit_records: int = typer.Option(32, "--unit-records", min=1,
                                     help="Response records per unit of parallel work (one map shard each)"),
    shard_pages: int = ShardPagesOpt("Build BM25 in shards of at most this many pages, searched as one (bounds the "
                                     "build's memory)"),
    executor: ExecutorKind = ExecutorOpt("local: a process pool; ray: tasks on a Ray cluster"),
    address: Optional[str] = AddressOpt("a local Ray"),
    staging: Optional[str] = typer.Option(None, help="Where workers write map shards: a shared folder or an object "
                                          "store URL (s3://bucket/prefix, gs://…) \\[default: inside the world]"),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Read again inputs recorded with errors or "
                                      "failed records (e.g. after an upgrade)"),
    preset: Optional[str] = typer.Option(None, help="Corpus shape: literesearcher, browsecomp-plus, wiki-18, fineweb"),
    fields: Optional[str] = typer.Option(None, help="Corpus columns, e.g. url=link,title=title,text=doc "
                                                    "(fields: url title text id date lang contents)"),
    corpus_name: Optional[str] = typer.Option(None, help="Name in synthetic doc://NAME/ID URLs \\[default: the preset, "
                                                         "else the file name]"),
    step: Optional[List[str]] = typer.Option(None, "--step", help="An extra step run on every page, MODULE:CALLABLE "
                                             "(repeatable, in order; imported from the current folder too; it joins "
                                             "the snapshot id; docs/ingest-steps.md)"),
    as_json: bool = JsonOpt("the report"),
) -> None:
    """Extract pages from web archives or pre-extracted corpora into a frozen, searchable world."""
    from worldbuild.ingest.corpus import CorpusSpec, CorpusSpecError
    from worldbuild.ingest.pipeline import recorded_manifest
    from worldbuild.ingest.run import IngestRefused, ingest_world
    from worldbuild.records import IngestSettings

    world_dir = world or default_world_dir()
    if step:  # a step module beside the user, as `python -m` would find it (workers inherit the path)
        import os
        import sys

        sys.path.insert(0, os.getcwd())
    if language_id is None:  # a world keeps identifying languages as it was built to
        language = IngestSettings.language_id_of(recorded_manifest(world_dir))
    else:
        language = language_id.value
    settings = IngestSettings(min_chars=min_chars, langs=tuple(sorted(lang or ())), max_bytes=max_bytes,
                              extractor=extractor.value, language_id=language,
                              batch_size=unit_records,
                              index_shard_pages=shard_pages, steps=tuple(step or ()))
    try:
        corpus = CorpusSpec.build(preset, fields, corpus_name)
    except CorpusSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--preset/--fields") from None
    progress = _BarProgress(err)
    try:
        summary = ingest_world(paths, world_dir, settings, executor=executor.value, address=address,
                               workers=workers, staging=staging, retry_errors=retry_errors, corpus=corpus,
                               progress=progress)
    except KeyboardInterrupt:
        progress.stop()
        err.print("[yellow]interrupted[/yellow]: the world is unchanged; finished shards are kept, "
                  "so running the same command again resumes.")
        raise typer.Exit(130) from None
    except IngestRefused as exc:
        progress.stop()
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    progress.stop()
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_ingest(summary)
    if summary["snapshot"] is None and not summary["already_ingested"]:
        raise typer.Exit(1)


def _print_ingest(summary: dict) -> None:
    if summary["already_ingested"]:
        err.print(f"{len(summary['already_ingested'])} input(s) already in the world (same sha256): skipped")
    if summary["resumed_shards"]:
        err.print(f"resumed: {summary['resumed_shards']} finished shard(s) reused")
    if summary["skips"]:
        err.print(_report_table(summary))
    for problem in summary["file_errors"]:
        err.print(f"[yellow]file problem[/yellow] {problem['file']}: {problem['error']}")
    rate = summary["pages_extracted"] / summary["seconds"] if summary["seconds"] else 0.0
    err.print(
        f"read {summary['records_read']} records, extracted {summary['pages_extracted']} pages "
        f"({rate:.1f} pages/s), kept {summary['pages_kept']} new; world {summary['world']}: "
        f"{summary['pages_in_world']} pages, snapshot {summary['snapshot']}"
        + (f" (parent {summary['parent']})" if summary["changed"] and summary["parent"] else "")
    )


@app.command("eval-retrieval")
def eval_retrieval(
    queries: str = typer.Argument(..., help="Queries: BrowseComp-Plus JSONL, FRAMES-style JSONL (gold URLs) or a TSV "
                                            "of qid<TAB>query"),
    qrels: Optional[str] = typer.Option(None, help="TREC qrels (qid 0 docid rel) \\[default: judgments in the file]"),
    mode: Optional[List[SearchMode]] = typer.Option(None, "--mode", help="Retrieval to measure (repeatable) "
                                                                        "\\[default: bm25]"),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Write the report as JSON here"),
    world: Optional[str] = WorldOpt(),
) -> None:
    """nDCG@10 and Recall@5/100/1000 (trec_eval's definitions) of the world's retrieval."""
    from worldbuild.retrieval_eval import evaluate_files
    from worldbuild.world import ModeUnavailable

    with exits_cleanly((ValueError, OSError, ModeUnavailable), "", err):
        report = evaluate_files(world or default_world_dir(), queries, qrels,
                                [m.value for m in mode] if mode else ["bm25"], out)
    print(json.dumps(report, indent=2))


@app.command()
def search(
    query: str = typer.Argument(..., help="Search query"),
    k: int = ResultsOpt(),
    mode: SearchMode = ModeOpt(),
    mask: Optional[List[str]] = typer.Option(None, "--mask", help="Hide this URL (any spelling) and its mirrors"),
    world: Optional[str] = WorldOpt(),
    as_json: bool = JsonOpt("the hits"),
    model: Optional[str] = DenseModelOpt(None, "Embed the query with this model \\[default: the one that made the "
                                         "world's vectors; another fails]"),
    ef_search: Optional[int] = EfSearchOpt(),
    nprobe: Optional[int] = NprobeOpt(),
) -> None:
    """Search the world; each hit has a query-biased snippet."""
    from worldbuild.index.ann import AnnSearch
    from worldbuild.world import ModeUnavailable

    with _open(world, dense_model=model, ann_search=AnnSearch(ef_search, nprobe)) as opened:
        try:
            hits = opened.search(query, k=k, mode=mode.value, mask=mask)
        except ModeUnavailable as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        if as_json:
            print(json.dumps({"query": query, "snapshot": opened.snapshot,
                              "results": [h.to_dict() for h in hits]}, indent=2, ensure_ascii=False))
            return
        if not hits:
            err.print("no results")
        for rank, hit in enumerate(hits, 1):
            out.print(f"[bold]{rank}. {hit.title}[/bold]  [dim]({hit.score:.4g})[/dim]", highlight=False)
            out.print(f"   [cyan]{hit.url}[/cyan]", highlight=False)
            out.print(f"   {hit.snippet}\n", highlight=False, markup=False)


@app.command()
def browse(
    url: str = typer.Argument(..., help="Any spelling of a stored page's URL"),
    world: Optional[str] = WorldOpt(),
    as_json: bool = JsonOpt(),
) -> None:
    """Print a stored page as Markdown."""
    from worldbuild.browse import redirect_note

    with _open(world) as opened:
        found = opened.lookup(url)
        if found is None:
            err.print(f"not in the world ({opened.snapshot}): {url}")
            raise typer.Exit(1)
        page, hops = found
        if as_json:
            print(json.dumps({**page.to_dict(), "redirected_from": hops[0] if hops else None,
                              "snapshot": opened.snapshot}, indent=2, ensure_ascii=False))
            return
        note = redirect_note(hops[0] if hops else None, page.url)
        sys.stdout.write(f"{note}# {page.title}\n\nURL: {page.url}\nCrawled: {page.crawl_date}\n\n{page.text}\n")


@app.command()
def stats(
    world: Optional[str] = WorldOpt(),
    top: int = typer.Option(15, help="How many domains to list"),
    as_json: bool = JsonOpt(),
) -> None:
    """The world's manifest, with page counts by domain and language."""
    with _open(world) as opened:
        info = opened.stats(top=top)
        if as_json:
            print(json.dumps(info, indent=2, ensure_ascii=False))
            return
        out.print(f"[bold]world[/bold] {opened.dir}  snapshot [bold]{info['snapshot']}[/bold]"
                  + (f"  parent {info['parent']}" if info.get("parent") else ""))
        out.print(f"{info['pages']} pages · {info['domains']} domains · {len(info['inputs'])} inputs · "
                  f"created {info['created_at']} · settings {info['settings']}")
        report = info["report"]
        out.print(f"records read {report['records_read']} · pages extracted {report['pages_extracted']} · "
                  f"kept {report['pages_kept']}")
        for name, index_info in opened.manifest.get("index", {}).items():
            pieces = f"{index_info['shards']} shards" if index_info.get("shards") else "one piece"
            model = f" · {index_info['model']}, {index_info['dimensions']} dims" if index_info.get("model") else ""
            out.print(f"index [bold]{name}[/bold]: {index_info.get('documents', '?')} pages in {pieces}{model}")
        for title, counts in (("top domains", info["top_domains"]), ("languages", info["languages"])):
            table = Table(title=title, show_edge=False)
            table.add_column(title.split()[-1])
            table.add_column("pages", justify="right")
            for name, count in counts.items():
                table.add_row(name or "(unknown)", str(count))
            out.print(table)


@app.command()
def index(
    world: Optional[str] = WorldOpt(),
    dense: bool = typer.Option(False, "--dense", help="Embed the pages for dense/hybrid search"),
    model: str = DenseModelOpt(),
    pooling: Pooling = typer.Option(Pooling.max, help="opening: one vector of title + opening; max: a vector per "
                                    "passage, a page scoring its best; mean: the passages averaged into one"),
    ann: AnnKind = typer.Option(AnnKind.auto, help="Approximate search beside the exact vectors (auto: hnsw from "
                                "200,000 vectors; none: exact only; -fp16/-sq8/ivf-pq: quantised). With --backend "
                                "milvus, the collection's index: auto (the server's AUTOINDEX), none (FLAT), hnsw, "
                                "hnsw-sq8 (HNSW_SQ)"),
    backend: DenseBackend = typer.Option(DenseBackend.local, help="local: vectors in the world; milvus: a Milvus "
                                         "collection tagged with the snapshot id"),
    uri: Optional[str] = typer.Option(None, "--uri", envvar="WORLDBUILD_MILVUS_URI", show_default=False,
                                      help="Milvus: http://host:19530 (a cluster) or a file path (milvus-lite)"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Passages per encoder batch"),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 … \\[default: what torch finds]"),
    executor: ExecutorKind = ExecutorOpt("local: this process; ray: encoder actors on a Ray cluster (one per GPU)"),
    address: Optional[str] = AddressOpt("a local Ray"),
    shard_pages: int = typer.Option(0, "--shard-pages", min=0, help="Keep the vectors in shards of at most this many pages, searched "
                                    "in parallel as one (0: one piece)"),
) -> None:
    """Build an extra index over the world's pages (resumable: rerun to continue)."""
    from worldbuild.index.dense import DenseUnavailable
    from worldbuild.indexing import DenseSettings, IndexFailed, build_dense_index

    if not dense:
        err.print("nothing to do: the BM25 index is built by `worldbuild ingest`; pass --dense for page vectors")
        raise typer.Exit(2)
    with exits_cleanly((ValueError,), "", err):
        settings = DenseSettings(model, pooling.value, ann.value, backend.value, uri, batch_size, device,
                                 executor.value, address, shard_pages)
    try:
        result = build_dense_index(world or default_world_dir(), settings, _EmbedBar(err))
    except (WorldNotFound, DenseUnavailable, IndexFailed) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(result.describe())


class _EmbedBar:
    """Draws the embedding's progress (pages embedded of all) and prints the build's notes."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = RichProgress(TextColumn("[bold]embed"), BarColumn(),
                                TextColumn("{task.completed}/{task.total} pages"), TimeElapsedColumn(), console=console)
        self.task = None

    def note(self, text: str) -> None:
        self.console.print(text)

    def start(self, total: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("embed", total=total)

    def advance(self, pages: int) -> None:
        self.bar.advance(self.task, pages)

    def stop(self) -> None:
        self.bar.stop()


@app.command()
def serve(
    world: Optional[str] = WorldOpt(),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = WorkersOpt(1, "Processes; they share the memory-mapped index"),
    log_level: LogLevel = typer.Option(LogLevel.warning, help="uvicorn log level"),
    summarizer_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint for browse summaries"),
    summarizer_model: Optional[str] = typer.Option(None, help="Model name at that endpoint"),
    summarizer_timeout: float = typer.Option(60.0, help="Seconds before browse falls back to the raw page"),
    summary_cache: Optional[str] = typer.Option(None, help="SQLite cache of summaries \\[default: WORLD/.cache/]"),
    search_processes: Optional[int] = typer.Option(
        None, min=0, help="Processes that share one large batch (256+ queries, e.g. Search-R1's /retrieve), per "
                          "worker, started with the server (ready once they answer); 0: none \\[default: the cores "
                          "this process may use, divided among the workers, at most 8 each; none below 2]"),
    ef_search: Optional[int] = EfSearchOpt(),
    nprobe: Optional[int] = NprobeOpt(),
) -> None:
    """Serve the world to agents over HTTP (search, browse, Search-R1 /retrieve, Serper, Jina /r/)."""
    import os

    from worldbuild.serve.run import CannotListen, ServeConfig, serve as run_serve

    def announce(config: ServeConfig) -> None:
        err.print(f"serving {config.world_dir} on {config.url} with {config.workers} worker(s); OpenAPI at /docs"
                  + (f"; browse summaries by {config.summarizer_model}" if config.summarizer_model else "")
                  + "; warming up (/health answers 'warming' until ready)")

    with exits_cleanly((ValueError,), "", err):
        config = ServeConfig(os.path.abspath(world or default_world_dir()), host, port, workers, log_level.value,
                             summarizer_url, summarizer_model, summarizer_timeout, summary_cache, search_processes,
                             ef_search, nprobe)
    try:
        run_serve(config, on_listening=announce)
    except (WorldNotFound, CannotListen) as exc:  # before any worker starts: one line, exit 2
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command("serve-cluster")
def serve_cluster(
    world: Optional[str] = WorldOpt(),
    port: int = typer.Option(8000, help="Port of every node's service"),
    workers: int = WorkersOpt(1, "Processes per node's service"),
    host: str = typer.Option("127.0.0.1", help="Address each service binds on its node"),
    address: Optional[str] = AddressOpt("auto"),
    stop: bool = typer.Option(False, "--stop", help="Stop the services instead"),
) -> None:
    """One `worldbuild serve` on every node of a Ray cluster (detached Ray actors), so each
    training node's tools call http://127.0.0.1:PORT. The world must be on storage every node reads."""
    import os

    from worldbuild.serve import per_node

    with exits_cleanly((WorldNotFound, ImportError, ConnectionError, RuntimeError, TimeoutError),
                       "no service was started", err):
        if stop:
            err.print(f"stopped {per_node.stop(address)} service(s)")
            return
        for line in per_node.start(os.path.abspath(world or default_world_dir()), port, workers, host, address):
            print(json.dumps(line))


@app.command("synth-qa")
def synth_qa(
    world: Optional[str] = WorldOpt(),
    out: str = typer.Option("tasks", "--out", "-o", help="Output folder (stage files, tasks.jsonl, LLM cache)"),
    base_url: str = typer.Option(..., envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"),
    model: str = typer.Option(..., envvar="WORLDBUILD_SYNTH_MODEL", help="Model name at that endpoint"),
    max_pages: int = typer.Option(50, min=1, help="Seed pages to use (spread over domains)"),
    concurrency: int = typer.Option(16, min=1, help="Requests in flight"),
    timeout: float = typer.Option(120.0, help="Seconds per request"),
    validation_fraction: float = typer.Option(0.05, min=0.0, max=1.0, help="Share of tasks in the validation split"),
    include_unreachable: bool = typer.Option(False, help="Export tasks whose answer was not found after masking"),
    system_prompt: Optional[str] = typer.Option(None, help="File with the agent's system prompt \\[default: agent_system.v1]"),
    service: Optional[str] = typer.Option(None, help="Search and mask through this `worldbuild serve` (same snapshot)"),
    tag: bool = typer.Option(False, "--tag", help="Tag each task with its search capability (one LLM call per task)"),
    multi_hop: int = typer.Option(0, min=0, help="Multi-hop tasks to try, each grown from a kept single-hop answer"),
    graph_nodes: int = typer.Option(8, min=4, help="Entities each multi-hop graph grows to (one LLM call each)"),
    decontaminate: Optional[List[str]] = typer.Option(None, "--decontaminate",
                                                       help="Benchmark JSONL whose questions/answers tasks must not overlap (repeatable)"),
    as_json: bool = JsonOpt("the summary"),
) -> None:
    """Synthesise grounded single-hop research tasks from the world and export them for HF
    datasets and verl (resumable; rerun to continue)."""
    from worldbuild.llm import LLMUnavailable
    from worldbuild.synth.pipeline import Endpoint, ExportSettings, SynthConfig, synthesize

    with exits_cleanly((WorldNotFound, LLMUnavailable, ValueError),
                       "finished records are kept; rerun the same command to resume", err):
        summary = synthesize(world or default_world_dir(), Endpoint(base_url, model, concurrency, timeout),
                             SynthConfig(out_dir=out, max_pages=max_pages, tag=tag, multi_hop=multi_hop,
                                         graph_nodes=graph_nodes),
                             service, ExportSettings(validation_fraction, include_unreachable, system_prompt,
                                                     tuple(decontaminate or ())))
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"synth-qa → {out}/ (tasks.jsonl, hf/, verl/)", show_edge=False)
    table.add_column("step")
    table.add_column("count", justify="right")
    for name, value in summary.items():
        if isinstance(value, dict):
            for sub, count in value.items():
                table.add_row(f"{name}: {sub}", str(count))
        else:
            table.add_row(name, str(value))
    out_console = Console()
    out_console.print(table)


@app.command()
def crawl(
    urls: List[str] = typer.Argument(..., help="Start URLs"),
    out: str = typer.Option(..., "--out", "-o", help="WARC file to write (.warc.gz; appended when it exists)"),
    depth: int = typer.Option(2, "--depth", min=0, help="Links to follow from a start URL"),
    max_pages: int = typer.Option(1000, "--max-pages", min=1, help="Pages to fetch at most (over resumed runs too)"),
    same_host: bool = typer.Option(False, "--same-host", help="Follow links only to the start URLs' hosts"),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Follow only URLs matching (repeatable regex)"),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Never follow URLs matching (repeatable)"),
    delay: float = typer.Option(1.0, help="Seconds between requests to one host (autothrottle adapts from here)"),
    timeout: float = typer.Option(30.0, help="Seconds per request"),
    retries: int = typer.Option(2, min=0, help="Retries on timeouts, dropped connections and 5xx"),
    max_bytes: int = typer.Option(10 * 1024 * 1024, help="Drop responses larger than this"),
    user_agent: Optional[str] = typer.Option(None, help="User-Agent (also the robots.txt agent)"),
    as_json: bool = JsonOpt("the report"),
) -> None:
    """Crawl the web politely into a WARC file that `worldbuild ingest` (and any WARC tool) reads.
    Obeys robots.txt; Ctrl-C keeps what was written, and the same command continues the frontier."""
    import re

    from worldbuild.crawl.runner import DEFAULT_AGENT, CrawlSettings, crawl as run_crawl

    for url in urls:
        if not re.match(r"^https?://[^/\s]+", url):
            raise typer.BadParameter(f"not an http(s) URL: {url!r}", param_hint="URLS")
    for flag, patterns in (("--include", include), ("--exclude", exclude)):
        for pattern in patterns or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise typer.BadParameter(f"{pattern!r} is not a regular expression: {exc}", param_hint=flag) from None
    settings = CrawlSettings(max_depth=depth, max_pages=max_pages, same_host=same_host, include=tuple(include or ()),
                             exclude=tuple(exclude or ()), delay=delay, timeout=timeout, retries=retries,
                             max_bytes=max_bytes, user_agent=user_agent or DEFAULT_AGENT)
    bar = RichProgress(TextColumn("[bold]crawl"), TextColumn("{task.completed} responses"), TimeElapsedColumn(),
                       console=err, disable=as_json)
    task = bar.add_task("crawl", total=None)
    with bar:
        report = run_crawl(urls, out, settings, on_response=lambda n: bar.update(task, completed=n))
    summary = report.to_dict()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"crawl → {out} ({report.finish_reason})", show_edge=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, count in report.counts.items():
        table.add_row(name, str(count))
    Console().print(table)
    if report.finish_reason == "shutdown":
        err.print("[yellow]interrupted[/yellow]: the WARC so far is valid; run the same command to continue")


@app.command()
def expand(
    world: Optional[str] = WorldOpt(),
    tasks: str = typer.Option(..., "--tasks", help="Tasks (verl parquet or JSONL with question, answer, mask_urls)"),
    search_url: str = typer.Option(..., envvar="WORLDBUILD_SEARCH_URL",
                                   help="Serper-shaped search API: https://google.serper.dev/search, or "
                                        "http://HOST:PORT/serper/search of another `worldbuild serve`"),
    search_key: Optional[str] = typer.Option(None, envvar="SERPER_API_KEY", help="API key for the search backend"),
    cdx_url: str = typer.Option(..., envvar="WORLDBUILD_CDX_URL",
                                help="CDX index API, e.g. https://index.commoncrawl.org/CC-MAIN-2024-22-index"),
    warc_base: str = typer.Option(..., envvar="WORLDBUILD_WARC_BASE",
                                  help="Where the index's filenames live, e.g. https://data.commoncrawl.org/"),
    per_task: int = typer.Option(5, min=1, help="New pages per task at most"),
    queries_per_task: int = typer.Option(3, min=1, help="Search queries per task (question, answer, both)"),
    max_queries: int = typer.Option(1000, min=0, help="Search queries in this round at most"),
    max_fetches: int = typer.Option(5000, min=0, help="Record fetches in this round at most"),
    query_cost: float = typer.Option(0.001, min=0, help="USD per search query, for the cost report"),
    as_json: bool = JsonOpt("the report"),
) -> None:
    """Grow the world where the tasks are: search, look up in a CDX index, fetch by byte range,
    ingest as a new snapshot (parent, tasks and sources recorded). Rerun to resume a round."""
    from worldbuild.expand.round import ExpandSettings, Sources, expand_round

    settings = ExpandSettings(per_task=per_task, queries_per_task=queries_per_task, max_queries=max_queries,
                              max_fetches=max_fetches, query_cost=query_cost)
    with exits_cleanly((ValueError, FileNotFoundError),
                       "queries and fetches so far are kept; rerun to resume the round", err):
        report = expand_round(world or default_world_dir(), tasks, Sources(search_url, cdx_url, warc_base, search_key),
                              settings)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title=f"expansion round {report['round']}: {report['parent']} → {report['snapshot']}",
                  show_edge=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for name in ("pages_before", "pages_after", "queries", "fetches", "bytes_fetched", "cost_usd"):
        table.add_row(name, str(report[name]))
    for name, count in report["counts"].items():
        table.add_row(name, str(count))
    Console().print(table)


from worldbuild import cli_agent  # noqa: E402  (registers rollout, filter, eval, sft-data)

cli_agent.register(app)


def main() -> None:  # pragma: no cover - console script entry
    app()

"""The verl recipes compose against the installed verl and hold the paper's recipe (DESIGN.md §1),
without a GPU: `--dry-run` prints every command and validates every stage; the library reports
broken overrides as violations and unknown keys as composition errors."""

import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import needs_extra
from tests.services import free_port

needs_extra("verl", "rl")  # the recipes target it

from worldbuild.agent import verl_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RL = os.path.join(REPO, "recipes", "run_rl_4b.sh")
SFT = os.path.join(REPO, "recipes", "run_sft_4b.sh")
KNOBS = ("MODEL_PATH WORLD_DIR WORLD_URL WORLD_HOST TASKS VAL_TASKS STAGES RESPONSE_LENGTH RESPONSE_STEP "
         "TRAIN_BATCH_SIZE ROLLOUT_N LR N_GPUS_PER_NODE NNODES TP_SIZE SP_SIZE JUDGE_URL JUDGE_MODEL FILTER "
         "FILTER_K FILTER_KEEP MAX_TURNS OUT_DIR EPOCHS STEPS_PER_STAGE SAVE_FREQ PROJECT EXPERIMENT "
         "ALLOW_DEVIATION TOKENS_PER_GPU BASE_MODEL SFT_DATA LOG_DIR DRY_RUN EXPAND EXPAND_SEARCH_URL "
         "EXPAND_CDX_URL EXPAND_WARC_BASE EXPAND_PER_TASK WORLD_PER_NODE VALIDATION THINKING").split()
PAPER_LENGTHS = (32768, 49152, 65536)


def recipe_env(**extra) -> dict:
    """The caller's environment without any recipe knob, so the defaults (the paper's) apply."""
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    env["PYTHON"] = sys.executable
    env.update(extra)
    return env


def run_recipe(script, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", script, *args], cwd=REPO, env=recipe_env(**env), capture_output=True,
                          text=True, timeout=300)


def write_tasks(path, n: int) -> str:
    """A task parquet as `worldbuild synth-qa` exports it (n = 0: the column-less file it used to write)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from worldbuild.tasks import verl_row

    rows = [verl_row({"id": f"t{i}", "question": f"Question {i}?", "answer": "A", "kind": "single_hop",
                      "mask_urls": [], "snapshot": "s"}, i, "system") for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({}), str(path))
    return str(path)


def commands(stdout: str) -> list[list[str]]:
    """The `+ cmd \\` blocks a recipe prints, each split back into its arguments."""
    blocks, current = [], None
    for line in stdout.splitlines():
        if line.startswith("+ "):
            current = [line[2:]]
            blocks.append(current)
        elif current is not None and line.startswith("    ") and current[-1].endswith("\\"):
            current.append(line)
        else:
            current = None
    out = []
    for block in blocks:
        text = "\n".join(block).replace("\\\n", " ")
        try:
            out.append(shlex.split(text.split("  #")[0]))
        except ValueError:
            continue
    return out


def main_ppo_runs(stdout: str) -> list[list[str]]:
    return [cmd for cmd in commands(stdout) if cmd[1:3] == ["-m", "verl.trainer.main_ppo"]]


def overrides_of(cmd: list[str]) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in cmd[3:])


@pytest.fixture(scope="module")
def rl_dry_run():
    return run_recipe(RL, "--dry-run")


@pytest.fixture(scope="module")
def stage1_overrides(rl_dry_run):
    """The exact main_ppo overrides the recipe runs in stage 1."""
    return main_ppo_runs(rl_dry_run.stdout)[0][3:]


@pytest.fixture(scope="module")
def stage1_report(stage1_overrides):
    return verl_config.check_ppo(stage1_overrides, 1)


def test_rl_dry_run_passes_and_prints_every_stage(rl_dry_run):
    assert rl_dry_run.returncode == 0, rl_dry_run.stdout[-3000:] + rl_dry_run.stderr[-3000:]
    out = rl_dry_run.stdout
    for stage, length in enumerate(PAPER_LENGTHS, 1):
        assert f"stage {stage}: ok grpo batch=128 mini=128 epochs=1 n=8 lr=1e-06" in out
        assert f"response={length}" in out
    assert "dry run ok" in rl_dry_run.stderr


def test_rl_dry_run_main_ppo_has_the_paper_numbers(rl_dry_run):
    runs = main_ppo_runs(rl_dry_run.stdout)
    assert len(runs) == 3
    for stage, (cmd, length) in enumerate(zip(runs, PAPER_LENGTHS), 1):
        o = overrides_of(cmd)
        assert o["algorithm.adv_estimator"] == "grpo"
        assert o["data.max_response_length"] == str(length)
        assert o["data.train_batch_size"] == o["actor_rollout_ref.actor.ppo_mini_batch_size"] == "128"
        assert o["actor_rollout_ref.actor.ppo_epochs"] == "1"
        assert o["actor_rollout_ref.rollout.n"] == "8"
        assert float(o["actor_rollout_ref.actor.optim.lr"]) == 1e-6
        assert o["actor_rollout_ref.actor.use_kl_loss"] == "False"
        assert o["algorithm.use_kl_in_reward"] == "False"
        assert o["actor_rollout_ref.actor.entropy_coeff"] == "0"
        assert o["actor_rollout_ref.rollout.name"] == "vllm" and o["actor_rollout_ref.rollout.mode"] == "async"
        assert o["actor_rollout_ref.rollout.multi_turn.enable"] == "True"
        assert o["actor_rollout_ref.rollout.agent.default_agent_loop"] == "tool_agent"
        assert o["reward.custom_reward_function.path"] == "pkg://worldbuild.agent.reward"
        assert o["+reward.custom_reward_function.reward_kwargs.judge_model"] == "Qwen/Qwen3-30B-A3B-Instruct-2507"
        assert o["trainer.default_local_dir"].endswith(f"stage{stage}")
        if stage > 1:  # each stage starts from the previous stage's merged model
            assert o["actor_rollout_ref.model.path"].endswith(f"stage{stage - 1}/merged")


def test_rl_dry_run_prints_service_filter_and_merge_commands(rl_dry_run):
    cmds = commands(rl_dry_run.stdout)
    named = [[os.path.basename(c[0]), *c[1:]] for c in cmds]  # worldbuild may come from .venv/bin
    serve = [c for c in named if c[:2] == ["worldbuild", "serve"]]
    vllm = [c for c in named if c[:2] == ["vllm", "serve"]]
    filt = [c for c in named if c[:2] == ["worldbuild", "filter"]]
    merge = [c for c in cmds if c[1:4] == ["-m", "verl.model_merger", "merge"]]
    assert len(serve) == len(vllm) == len(filt) == len(merge) == 3
    assert {"--enable-auto-tool-choice", "--tool-call-parser", "hermes"} <= set(vllm[0])
    for flag in ("--samples", "--keep", "--base-url", "--model", "--world-url", "--judge-url", "--judge-model",
                 "--checkpoint", "--out"):
        assert flag in filt[0]
    assert filt[0][filt[0].index("--keep") + 1] == "1..7" and filt[0][filt[0].index("--samples") + 1] == "8"
    assert filt[1][filt[1].index("--checkpoint") + 1] == "stage2"
    assert merge[0][merge[0].index("--backend") + 1] == "fsdp"
    assert "curl -fsS http://127.0.0.1:8000/health" in rl_dry_run.stdout


def test_composed_config_holds_the_recipe(stage1_report):
    assert stage1_report.problems == []
    cfg = stage1_report.config
    actor = cfg.actor_rollout_ref.actor
    assert actor.ppo_mini_batch_size == cfg.data.train_batch_size == 128
    assert actor.ppo_epochs == 1
    assert cfg.actor_rollout_ref.rollout.n == 8
    assert actor.optim.lr == pytest.approx(1e-6)
    assert actor.use_kl_loss is False and cfg.algorithm.use_kl_in_reward is False
    assert actor.entropy_coeff == 0
    assert cfg.actor_rollout_ref.rollout.response_length == 32768
    assert cfg.reward.custom_reward_function.reward_kwargs.judge_base_url
    assert stage1_report.summary["tools"] == ["search", "browse"]


@pytest.mark.parametrize("override, words", [
    ("actor_rollout_ref.actor.ppo_mini_batch_size=64", "ppo_mini_batch_size=64 != data.train_batch_size=128"),
    ("actor_rollout_ref.actor.use_kl_loss=True", "use_kl_loss=True"),
    ("algorithm.use_kl_in_reward=True", "use_kl_in_reward=True"),
    ("actor_rollout_ref.actor.entropy_coeff=0.001", "entropy_coeff=0.001"),
    ("actor_rollout_ref.actor.ppo_epochs=2", "ppo_epochs=2"),
    ("actor_rollout_ref.rollout.n=4", "rollout.n=4"),
    ("actor_rollout_ref.actor.optim.lr=3e-6", "lr=3e-06"),
    ("data.max_response_length=16384", "stage 1 expects 32768"),
    ("actor_rollout_ref.rollout.agent.default_agent_loop=single_turn_agent", "default_agent_loop=single_turn_agent"),
    ("trainer.save_freq=-1", "save_freq=-1"),
    ("actor_rollout_ref.rollout.max_model_len=8192", "rollout.max_model_len=8192 < prompt + response = 36864"),
    ("actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8192", "= 8192 < prompt + response = 36864"),
])
def test_a_broken_override_is_a_violation(stage1_overrides, override, words):
    report = verl_config.check_ppo([*stage1_overrides, override], 1, load_plugins=False)
    assert any(words in p for p in report.problems), report.problems


def test_a_stage_with_the_wrong_length_is_a_violation(stage1_overrides):
    report = verl_config.check_ppo(stage1_overrides, 2, load_plugins=False)
    assert report.problems == ["recipe: rollout.response_length=32768, stage 2 expects 49152 "
                               "(32768 + 16384 per later stage)"]


def test_an_unknown_key_fails_composition_clearly(stage1_overrides):
    report = verl_config.check_ppo([*stage1_overrides, "actor_rollout_ref.actor.no_such_knob=1"], 1)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("compose: ")
    assert "no_such_knob" in report.problems[0] and "'+'" in report.problems[0]


def test_verl_validation_failures_are_reported(stage1_overrides):
    # Without dynamic batching, 128 prompts x 8 rollouts must split over the GPUs: not over 3.
    report = verl_config.check_ppo([*stage1_overrides, "trainer.n_gpus_per_node=3",
                                    "actor_rollout_ref.actor.use_dynamic_bsz=False"], 1, load_plugins=False)
    assert any(p.startswith("verl: validate_config:") and "divisible" in p for p in report.problems)


def test_tool_and_reward_import_errors_are_reported_not_raised(stage1_overrides, tmp_path):
    tools = tmp_path / "tools.yaml"
    tools.write_text(textwrap.dedent("""\
        tools:
          - class_name: worldbuild.agent.no_such_module.SearchTool
            config: {type: native}
        """))
    report = verl_config.check_ppo([*stage1_overrides, f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tools}",
                                    "reward.custom_reward_function.path=pkg://worldbuild.agent.no_such_reward"], 1)
    expected = "tools: cannot import worldbuild.agent.no_such_module.SearchTool: ModuleNotFoundError"
    assert any(p.startswith(expected) for p in report.problems), report.problems
    assert any(p.startswith("reward: cannot load") and "no_such_reward" in p for p in report.problems)
    assert any("expected the LLM judge" in p for p in report.problems)


def test_cli_prints_one_line_per_problem_and_exits_nonzero(stage1_overrides, capsys):
    """`python -m worldbuild.agent.verl_config`'s main, in this process (verl is imported here
    already; the recipes run it as a program in the dry runs above)."""
    code = verl_config.main(
        ["--stage", "1", "--", *stage1_overrides, "actor_rollout_ref.actor.ppo_mini_batch_size=64",
         "actor_rollout_ref.actor.use_kl_loss=True",
         "--stage", "1", "--", *stage1_overrides, "trainer.no_such_key=1",
         "--stage", "1", "--", *stage1_overrides])
    out, err = capsys.readouterr()
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == [
        "stage 1: recipe: actor.ppo_mini_batch_size=64 != data.train_batch_size=128 "
        "(strictly on-policy: one update per rollout batch)",
        "stage 1: recipe: actor.use_kl_loss=True, the recipe has no KL loss",
        lines[2],
    ]
    assert lines[2].startswith("stage 1: compose: Could not override 'trainer.no_such_key'")
    assert out.startswith("stage 1: ok grpo batch=128")


def test_stages_and_recipe_numbers_parse_in_groups(capsys):
    jobs, recipe = verl_config.parse(["--train-batch-size", "8", "--stage", "1", "--print-config", "--", "a=1",
                                      "--lr", "--stage", "2", "--", "b=2", "--sft", "--", "c=3"])
    assert [(j.stage, j.sft, j.print_config, j.overrides) for j in jobs] == [
        (1, False, True, ["a=1", "--lr"]), (2, False, False, ["b=2"]), (None, True, False, ["c=3"])]
    assert recipe == verl_config.Recipe(train_batch_size=8)  # '--lr' after '--' is an override, not an option
    for bad in ([], ["--stage", "0", "--", "a=1"], ["--", "a=1"], ["--stage", "1", "--bogus"]):
        assert verl_config.main(bad) == 2
        assert "error:" in capsys.readouterr().err


@pytest.fixture(scope="module")
def expanding_per_node_dry_run():
    """A dry run that grows the world between stages and serves it on every node of a Ray cluster
    (one run for both: each composes all three stages against verl, ~10 s of imports)."""
    return run_recipe(RL, "--dry-run", EXPAND="1", WORLD_PER_NODE="1",
                      EXPAND_SEARCH_URL="https://google.serper.dev/search",
                      EXPAND_CDX_URL="https://index.commoncrawl.org/CC-MAIN-2024-22-index")


def test_expansion_rounds_between_stages(expanding_per_node_dry_run):
    result = expanding_per_node_dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    rounds = [c for c in commands(result.stdout) if c[1:2] == ["expand"]]
    assert [c[c.index("--tasks") + 1].rsplit("/", 2)[-2] for c in rounds] == ["stage1", "stage2"]  # not after 3
    missing = run_recipe(RL, "--dry-run", EXPAND="1")
    assert missing.returncode != 0 and "EXPAND_SEARCH_URL" in missing.stderr


def test_one_world_service_per_node(expanding_per_node_dry_run):
    result = expanding_per_node_dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [c[1:3] if c[1] == "serve-cluster" else c[1:2] for c in commands(result.stdout)
             if os.path.basename(c[0]) == "worldbuild" and c[1] in ("serve-cluster", "serve", "expand")]
    starts = [c for c in commands(result.stdout) if c[1:2] == ["serve-cluster"] and "--stop" not in c]
    assert all(c[c.index("--port") + 1] == "8000" for c in starts)
    # each stage makes sure of them; each expansion stops them, so the next stage serves the new snapshot
    assert steps == [["serve-cluster", "--world"], ["expand"], ["serve-cluster", "--stop"], ["serve-cluster", "--world"],
                     ["serve-cluster", "--world"], ["expand"], ["serve-cluster", "--stop"], ["serve-cluster", "--world"],
                     ["serve-cluster", "--world"]]  # and no single service on the head


def test_sft_dry_run_composes(tmp_path):
    result = run_recipe(SFT, "--dry-run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sft = [c for c in commands(result.stdout) if "verl.trainer.sft_trainer" in c]
    assert len(sft) == 1 and os.path.basename(sft[0][0]) == "torchrun"
    o = dict(arg.split("=", 1) for arg in sft[0][sft[0].index("verl.trainer.sft_trainer") + 1:])
    assert o["data.messages_key"] == "messages" and o["data.tools_key"] == "tools"
    assert o["model.path"] == "Qwen/Qwen3-4B-Thinking-2507"
    assert "sft: ok" in result.stdout
    assert re.search(r"-m verl\.model_merger merge \\\n\s+--backend fsdp", result.stdout)


def test_sft_unknown_key_and_bad_value_are_reported():
    assert verl_config.check_sft(["data.no_such_key=1"]).problems[0].startswith("compose: ")
    report = verl_config.check_sft(["data.max_length=65536", "data.max_token_len_per_gpu=8192"])
    assert report.problems == [
        "recipe: data.max_token_len_per_gpu=8192 < data.max_length=65536 (one trajectory must fit)"]


# ------------------------------------------------------------------------------------------
# the data a stage trains on, checked before anything starts


def test_too_few_or_empty_tasks_stop_the_run_with_one_line(tmp_path):
    val = write_tasks(tmp_path / "val.parquet", 2)
    for tasks, words in ((write_tasks(tmp_path / "small.parquet", 40), "40 row(s), fewer than 128"),
                         (write_tasks(tmp_path / "empty.parquet", 0), "lacks column(s)")):
        for args in (["--dry-run"], []):
            result = run_recipe(RL, *args, TASKS=tasks, VAL_TASKS=val, STAGES="1")
            errors = [line for line in result.stderr.splitlines() if "error:" in line]
            assert result.returncode == 1 and len(errors) == 1 and words in errors[0], result.stderr
            assert not main_ppo_runs(result.stdout) and "verl_config" not in result.stdout  # nothing composed or run
    missing_val = run_recipe(RL, "--dry-run", TASKS=write_tasks(tmp_path / "t.parquet", 128),
                             VAL_TASKS=str(tmp_path / "none.parquet"), STAGES="1")
    assert missing_val.returncode == 1 and "validation:" in missing_val.stderr and "no such file" in missing_val.stderr


def test_validation_off_needs_no_validation_file(tmp_path):
    tasks = write_tasks(tmp_path / "t.parquet", 128)
    result = run_recipe(RL, "--dry-run", TASKS=tasks, VAL_TASKS=str(tmp_path / "none.parquet"), STAGES="1",
                        VALIDATION="0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data ok: train 128 rows (1 step(s) of 128), validation off" in result.stderr
    ppo = overrides_of(main_ppo_runs(result.stdout)[0])
    assert ppo["trainer.test_freq"] == "-1" and ppo["trainer.val_before_train"] == "False"
    assert ppo["+reward.custom_reward_function.reward_kwargs.thinking"] == "True"
    (filter_cmd,) = [c for c in commands(result.stdout) if c[1:2] == ["filter"]]
    assert filter_cmd[filter_cmd.index("--max-tool-response-length") + 1] == "12000" and "--thinking" in filter_cmd
    assert "--max-tokens-per-turn" not in filter_cmd  # as in training: a turn may use the rest of the budget


# a real (non-dry) run, with stand-ins for the GPU programs


FAKE_HTTP = """\
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

FAKE_SERVER_CLI = """\
#!/usr/bin/env bash
# {name}: `serve` answers HTTP on --port; `filter` copies its input to --out. Calls are logged.
echo "{name} $*" >> "$CALLS"
port=""; out=""; input=""
if [[ $1 == filter ]]; then input=$2; fi
while (( $# )); do case $1 in --port) port=$2 ;; --out) out=$2 ;; esac; shift; done
if [[ -n $out ]]; then mkdir -p "$(dirname "$out")"; cp "$input" "$out"; exit 0; fi
exec {python} {fake_http} "$port"
"""

FAKE_PYTHON = """\
#!/usr/bin/env bash
# python: verl's trainer and merger are stood in for (they need GPUs); anything else is real.
case "$1 $2" in
  "-m verl.trainer.main_ppo")
    echo "main_ppo $*" >> "$CALLS"
    for a in "$@"; do case $a in trainer.default_local_dir=*) dir=${{a#*=}} ;; esac; done
    mkdir -p "$dir/global_step_7/actor"; echo 7 > "$dir/latest_checkpointed_iteration.txt" ;;
  "-m verl.model_merger")
    echo "merger $*" >> "$CALLS"
    while (( $# )); do [[ $1 == --target_dir ]] && target=$2; shift; done
    mkdir -p "$target"; echo '{{}}' > "$target/config.json" ;;
  *) exec {python} "$@" ;;
esac
"""


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_real_run_orchestration_with_stand_ins(tmp_path):
    """Without --dry-run: world started when down, judge checked, vLLM up for the filter and down
    before training, each stage trained and merged, servers stopped at exit, reruns skip done stages
    (and, with every stage done, compose nothing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "fake_http.py").write_text(FAKE_HTTP)
    for name in ("worldbuild", "vllm"):
        (bin_dir / name).write_text(FAKE_SERVER_CLI.format(name=name, python=sys.executable,
                                                           fake_http=tmp_path / "fake_http.py"))
    (bin_dir / "python").write_text(FAKE_PYTHON.format(python=sys.executable))
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    (tmp_path / "sft").mkdir()
    write_tasks(tmp_path / "train.parquet", 130)  # one batch of 128 and change
    write_tasks(tmp_path / "val.parquet", 2)
    world_port, vllm_port, judge_port = free_port(), free_port(), free_port()
    judge = subprocess.Popen([sys.executable, str(tmp_path / "fake_http.py"), str(judge_port)])
    calls = tmp_path / "calls.log"
    env = dict(PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHON=str(bin_dir / "python"), CALLS=str(calls),
               WORLDBUILD=str(bin_dir / "worldbuild"), VLLM=str(bin_dir / "vllm"),
               STAGES="2", MODEL_PATH=str(tmp_path / "sft"), TASKS=str(tmp_path / "train.parquet"),
               VAL_TASKS=str(tmp_path / "val.parquet"), OUT_DIR=str(tmp_path / "out"),
               WORLD_URL=f"http://127.0.0.1:{world_port}", VLLM_PORT=str(vllm_port),
               JUDGE_URL=f"http://127.0.0.1:{judge_port}/v1", POLL_S="0.2")
    try:
        deadline = time.time() + 10
        while not port_open(judge_port) and time.time() < deadline:
            time.sleep(0.1)
        first = run_recipe(RL, **env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        log = calls.read_text().splitlines()
        kinds = [line.split()[0] + (" " + line.split()[1] if line.startswith(("worldbuild", "vllm")) else "")
                 for line in log]
        assert kinds == ["worldbuild serve", "vllm serve", "worldbuild filter", "main_ppo", "merger",
                         "vllm serve", "worldbuild filter", "main_ppo", "merger"]
        assert f"{tmp_path}/out/stage1/global_step_7/actor" in log[4]
        assert f"actor_rollout_ref.model.path={tmp_path}/out/stage1/merged" in log[7]
        assert "data.max_response_length=49152" in log[7]
        assert not port_open(vllm_port) and not port_open(world_port)  # both stopped by the recipe
        second = run_recipe(RL, **env)
        assert second.returncode == 0
        assert calls.read_text().splitlines() == log  # both stages done: nothing runs again
        assert second.stderr.count(": done already") == 2
        assert "every stage is done already" in second.stderr and "verl_config" not in second.stdout  # nothing composed
    finally:
        judge.terminate()
        judge.wait(timeout=10)

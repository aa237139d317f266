#!/usr/bin/env bash
# Curriculum GRPO for the 4B research agent (DESIGN.md §1, LiteResearcher): for each stage,
#   1. make sure the world service answers (start `worldbuild serve` if it does not),
#   2. difficulty filter with the current checkpoint: 8 rollouts per task on a vLLM server of it,
#      keep tasks with 1..7 correct (`worldbuild filter`),
#   3. one verl GRPO stage on the kept tasks (strictly on-policy, no KL, no entropy bonus,
#      128 prompts x 8 rollouts, lr 1e-6, response budget 32K + 16K per later stage),
#   4. merge the stage's last FSDP checkpoint to Hugging Face format; it is the next stage's model.
#
# Usage:
#   recipes/run_rl_4b.sh [--dry-run] [-- EXTRA_VERL_OVERRIDES...]
#
# --dry-run needs no GPU, vLLM, judge or world: it prints every command of every stage and
# composes each stage's config against the installed verl (python -m worldbuild.agent.verl_config),
# failing if any stage breaks verl's validation or the paper's recipe. A real run makes the same
# check of all stages before it starts anything.
#
# Every knob is an environment variable; defaults are the paper's values:
#   MODEL_PATH      starting checkpoint: the SFT cold start (recipes/run_sft_4b.sh) of
#                   Qwen/Qwen3-4B-Thinking-2507            [checkpoints/sft-4b/merged]
#   WORLD_DIR       world to serve if none answers         [./world]
#   WORLD_URL       world service, reachable from every node [http://127.0.0.1:8000]
#   WORLD_HOST      bind address if we start it            [127.0.0.1]
#   WORLD_WORKERS   `worldbuild serve --workers`           [8]
#   WORLD_PER_NODE  1 = one service on every node of the running Ray cluster (`worldbuild
#                   serve-cluster`), each node's tools calling its own on 127.0.0.1 [0]
#   TASKS, VAL_TASKS  verl parquet from `worldbuild synth-qa --out data/tasks`
#                   [data/tasks/verl/train.parquet, data/tasks/verl/validation.parquet]
#   VALIDATION      1 = validate on VAL_TASKS every TEST_FREQ steps, 0 = no validation (no file needed) [1]
#                   The data each stage trains on is checked before anything starts (and in a dry run,
#                   when TASKS exists): rows >= TRAIN_BATCH_SIZE, a non-empty validation set, the
#                   columns and extra_info our tools and reward read (python -m worldbuild.agent.verl_data)
#   STAGES          curriculum stages                      [3]
#   RESPONSE_LENGTH, RESPONSE_STEP  stage 1 budget and growth per stage  [32768, 16384]
#   MAX_PROMPT_LENGTH                                      [4096]
#   TRAIN_BATCH_SIZE, ROLLOUT_N, LR                        [128, 8, 1e-6]
#   N_GPUS_PER_NODE, NNODES                                [8, 1]
#   TP_SIZE         vLLM tensor parallel size in training  [1]
#   SP_SIZE         Ulysses sequence parallel size         [1]
#   TOKENS_PER_GPU  actor token budget per GPU             [prompt + stage response length]
#   GPU_MEMORY_UTILIZATION  vLLM share of GPU memory       [0.6]
#   MAX_TURNS       assistant turns per rollout            [32]
#   MAX_TOOL_RESPONSE_LENGTH  characters of one tool answer kept [12000]
#   THINKING        1 = the policy's template opens <think> in the prompt (Qwen3-Thinking): a final turn
#                   that never closed its reasoning has no answer, in the reward and the filter [1]
#   AGENT_WORKERS   verl agent-loop workers                [8]
#   JUDGE_URL, JUDGE_MODEL  OpenAI-compatible judge for the binary reward (start it yourself,
#                   on GPUs training does not use)  [http://127.0.0.1:8001/v1, Qwen/Qwen3-30B-A3B-Instruct-2507]
#   FILTER          1 = run the difficulty filter before each stage, 0 = train on TASKS as is [1]
#   FILTER_K, FILTER_KEEP  rollouts per task and the correct counts kept  [8, 1..7]
#   VLLM_PORT, FILTER_TP, FILTER_DP, VLLM_EXTRA_ARGS  the filter's vLLM server [8100, 1, N_GPUS_PER_NODE, ""]
#   OUT_DIR         stage checkpoints, filtered tasks, logs [checkpoints/rl-4b]
#   EPOCHS, STEPS_PER_STAGE  length of a stage (steps win when set) [1, unset]
#   SAVE_FREQ, TEST_FREQ                                   [20, 10]
#   PROJECT, EXPERIMENT, LOGGER                            [worldbuild-rl, rl-4b, [console]]
#   PYTHON, WORLDBUILD, VLLM  the programs to call         [the active venv's or .venv/bin/ python3 and worldbuild, vllm]
#   ALLOW_DEVIATION 1 = check against the numbers above instead of the paper's (smoke runs) [0]
#   EXPAND          1 = an expansion round after every stage but the last (the paper grows its world
#                   between iterations): `worldbuild expand` with the stage's kept tasks, then the
#                   world service is restarted on the new snapshot [0]
#   EXPAND_SEARCH_URL, EXPAND_CDX_URL, EXPAND_WARC_BASE, EXPAND_PER_TASK  its sources and budget
#                   [unset, unset, https://data.commoncrawl.org/, 5]; SERPER_API_KEY is read from the
#                   environment by `worldbuild expand`
#   also: WORLD_PORT [from WORLD_URL], KEEP_WORLD=1 leaves a world we started running at exit,
#   LOG_DIR [OUT_DIR/logs], TOOL_CONFIG [recipes/config/tool_config.yaml], WORLD_START_TIMEOUT,
#   VLLM_START_TIMEOUT [600, 900 s], POLL_S [5 s]. Arguments after `--` are appended to every
#   stage's main_ppo overrides (and checked with them).
#
# Multi-node: start a Ray cluster first (`ray start --head` on this node, `ray start
# --address=<head>:6379` on the others), then run this script on the head with NNODES set;
# verl joins the running cluster and sets trainer.nnodes=$NNODES. Tools run on every node, so
# WORLD_URL and JUDGE_URL must be addresses all nodes reach (serve with WORLD_HOST=0.0.0.0 or the
# head's address). The filter's vLLM server runs on the head's GPUs only, before training starts.
#
# Restarting the script continues where it stopped: a stage whose merged model exists is skipped,
# a filtered task file is reused, and verl resumes an interrupted stage from its last checkpoint.
# Each stage starts from the previous stage's merged weights with a fresh optimizer.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPE_SCRIPT=${BASH_SOURCE[0]}
RECIPE_NAME=rl-4b
# shellcheck source=recipes/lib.sh
source "$HERE/lib.sh"

parse_recipe_args "$@"

MODEL_PATH=${MODEL_PATH:-checkpoints/sft-4b/merged}
WORLD_DIR=${WORLD_DIR:-./world}
WORLD_URL=${WORLD_URL:-http://127.0.0.1:8000}
WORLD_URL=${WORLD_URL%/}
export WORLD_URL  # recipes/config/tool_config.yaml reads it
WORLD_HOST=${WORLD_HOST:-127.0.0.1}
WORLD_PORT=${WORLD_PORT:-$(sed -E 's#^[a-z]+://[^/:]+:?([0-9]*).*#\1#' <<<"$WORLD_URL")}
WORLD_PORT=${WORLD_PORT:-80}
WORLD_WORKERS=${WORLD_WORKERS:-8}
WORLD_PER_NODE=${WORLD_PER_NODE:-0}
WORLD_CLUSTER=0
WORLD_START_TIMEOUT=${WORLD_START_TIMEOUT:-600}
TASKS=${TASKS:-data/tasks/verl/train.parquet}
VAL_TASKS=${VAL_TASKS:-data/tasks/verl/validation.parquet}
VALIDATION=${VALIDATION:-1}
STAGES=${STAGES:-3}
RESPONSE_LENGTH=${RESPONSE_LENGTH:-32768}
RESPONSE_STEP=${RESPONSE_STEP:-16384}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-4096}
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-128}
ROLLOUT_N=${ROLLOUT_N:-8}
LR=${LR:-1e-6}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
NNODES=${NNODES:-1}
TP_SIZE=${TP_SIZE:-1}
SP_SIZE=${SP_SIZE:-1}
TOKENS_PER_GPU=${TOKENS_PER_GPU:-}
GPU_MEMORY_UTILIZATION=${GPU_MEMORY_UTILIZATION:-0.6}
MAX_TURNS=${MAX_TURNS:-32}
MAX_TOOL_RESPONSE_LENGTH=${MAX_TOOL_RESPONSE_LENGTH:-12000}
THINKING=${THINKING:-1}
AGENT_WORKERS=${AGENT_WORKERS:-8}
JUDGE_URL=${JUDGE_URL:-http://127.0.0.1:8001/v1}
JUDGE_URL=${JUDGE_URL%/}
JUDGE_MODEL=${JUDGE_MODEL:-Qwen/Qwen3-30B-A3B-Instruct-2507}
FILTER=${FILTER:-1}
FILTER_K=${FILTER_K:-8}
FILTER_KEEP=${FILTER_KEEP:-1..7}
VLLM_PORT=${VLLM_PORT:-8100}
FILTER_TP=${FILTER_TP:-1}
FILTER_DP=${FILTER_DP:-$(( N_GPUS_PER_NODE / FILTER_TP ))}
VLLM_EXTRA_ARGS=${VLLM_EXTRA_ARGS:-}
VLLM_START_TIMEOUT=${VLLM_START_TIMEOUT:-900}
OUT_DIR=${OUT_DIR:-checkpoints/rl-4b}
EPOCHS=${EPOCHS:-1}
STEPS_PER_STAGE=${STEPS_PER_STAGE:-}
SAVE_FREQ=${SAVE_FREQ:-20}
TEST_FREQ=${TEST_FREQ:-10}
PROJECT=${PROJECT:-worldbuild-rl}
EXPERIMENT=${EXPERIMENT:-rl-4b}
LOGGER=${LOGGER:-[console]}
PYTHON=${PYTHON:-$(venv_program python3)}
WORLDBUILD=${WORLDBUILD:-$(venv_program worldbuild)}
VLLM=${VLLM:-vllm}
EXPAND=${EXPAND:-0}
EXPAND_SEARCH_URL=${EXPAND_SEARCH_URL:-}
EXPAND_CDX_URL=${EXPAND_CDX_URL:-}
EXPAND_WARC_BASE=${EXPAND_WARC_BASE:-https://data.commoncrawl.org/}
EXPAND_PER_TASK=${EXPAND_PER_TASK:-5}
ALLOW_DEVIATION=${ALLOW_DEVIATION:-0}
TOOL_CONFIG=${TOOL_CONFIG:-$HERE/config/tool_config.yaml}

# Ray workers do not start in our directory: hand verl absolute paths.
OUT_DIR=$(absolute "$OUT_DIR")
TASKS=$(absolute "$TASKS")
VAL_TASKS=$(absolute "$VAL_TASKS")
WORLD_DIR=$(absolute "$WORLD_DIR")
MODEL_PATH=$(local_or_hub "$MODEL_PATH")
LOG_DIR=${LOG_DIR:-$OUT_DIR/logs}

stage_length() {
    echo $(( RESPONSE_LENGTH + ($1 - 1) * RESPONSE_STEP ))
}

stage_dir() {
    echo "$OUT_DIR/stage$1"
}

stage_train_file() {
    # The filtered tasks of a stage, or all tasks when the filter is off.
    if [[ $FILTER == 1 ]]; then echo "$(stage_dir "$1")/train.parquet"; else echo "$TASKS"; fi
}

val_files() {
    # With validation off verl still builds a validation loader: hand it the stage's own tasks (never read).
    if [[ $VALIDATION == 1 ]]; then echo "$VAL_TASKS"; else stage_train_file "$1"; fi
}

check_data() {
    # check_data TRAIN_FILE: stop with one line unless verl can train a stage on it (python -m
    # worldbuild.agent.verl_data: rows >= TRAIN_BATCH_SIZE, validation, columns, extra_info).
    local -a val
    if [[ $VALIDATION == 1 ]]; then val=(--val "$VAL_TASKS"); else val=(--no-val); fi
    printf '+ '
    print_cmd "$PYTHON" -m worldbuild.agent.verl_data --train "$1" "${val[@]}" --batch-size "$TRAIN_BATCH_SIZE"
    local report
    report=$("$PYTHON" -m worldbuild.agent.verl_data --train "$1" "${val[@]}" --batch-size "$TRAIN_BATCH_SIZE" 2>&1) \
        || die "data: $report"
    log "$report"
}

OVR=()
stage_overrides() {
    # stage_overrides STAGE MODEL: fill OVR with the main_ppo overrides of one stage; the real run
    # and the dry-run check both use this one list.
    local stage=$1 model=$2 len dir tokens steps
    len=$(stage_length "$stage")
    dir=$(stage_dir "$stage")
    tokens=${TOKENS_PER_GPU:-$(( MAX_PROMPT_LENGTH + len ))}
    steps=${STEPS_PER_STAGE:-null}
    OVR=(
        algorithm.adv_estimator=grpo
        algorithm.use_kl_in_reward=False
        "data.train_files=$(stage_train_file "$stage")"
        "data.val_files=$(val_files "$stage")"
        "data.train_batch_size=$TRAIN_BATCH_SIZE"
        "data.max_prompt_length=$MAX_PROMPT_LENGTH"
        "data.max_response_length=$len"
        data.return_raw_chat=True
        data.filter_overlong_prompts=True
        data.truncation=error
        "actor_rollout_ref.model.path=$model"
        actor_rollout_ref.model.use_remove_padding=True
        actor_rollout_ref.model.enable_gradient_checkpointing=True
        "actor_rollout_ref.actor.optim.lr=$LR"
        "actor_rollout_ref.actor.ppo_mini_batch_size=$TRAIN_BATCH_SIZE"
        actor_rollout_ref.actor.ppo_epochs=1
        actor_rollout_ref.actor.use_kl_loss=False
        actor_rollout_ref.actor.kl_loss_coef=0
        actor_rollout_ref.actor.entropy_coeff=0
        actor_rollout_ref.actor.use_dynamic_bsz=True
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$tokens"
        "actor_rollout_ref.actor.ulysses_sequence_parallel_size=$SP_SIZE"
        actor_rollout_ref.rollout.name=vllm
        actor_rollout_ref.rollout.mode=async
        "actor_rollout_ref.rollout.n=$ROLLOUT_N"
        "actor_rollout_ref.rollout.tensor_model_parallel_size=$TP_SIZE"
        "actor_rollout_ref.rollout.gpu_memory_utilization=$GPU_MEMORY_UTILIZATION"
        "actor_rollout_ref.rollout.max_model_len=$(( MAX_PROMPT_LENGTH + len ))"
        actor_rollout_ref.rollout.multi_turn.enable=True
        actor_rollout_ref.rollout.multi_turn.format=hermes
        "actor_rollout_ref.rollout.multi_turn.tool_config_path=$TOOL_CONFIG"
        "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=$MAX_TURNS"
        "actor_rollout_ref.rollout.multi_turn.max_tool_response_length=$MAX_TOOL_RESPONSE_LENGTH"
        actor_rollout_ref.rollout.agent.default_agent_loop=tool_agent
        "actor_rollout_ref.rollout.agent.num_workers=$AGENT_WORKERS"
        reward.custom_reward_function.path=pkg://worldbuild.agent.reward
        reward.custom_reward_function.name=compute_score
        "+reward.custom_reward_function.reward_kwargs.judge_base_url=$JUDGE_URL"
        "+reward.custom_reward_function.reward_kwargs.judge_model=$JUDGE_MODEL"
        "+reward.custom_reward_function.reward_kwargs.thinking=$( [[ $THINKING == 1 ]] && echo True || echo False )"
        "+ray_kwargs.ray_init.runtime_env.env_vars.WORLD_URL=$WORLD_URL"
        "trainer.project_name=$PROJECT"
        "trainer.experiment_name=$EXPERIMENT-stage$stage"
        "trainer.logger=$LOGGER"
        "trainer.nnodes=$NNODES"
        "trainer.n_gpus_per_node=$N_GPUS_PER_NODE"
        "trainer.default_local_dir=$dir"
        trainer.resume_mode=auto
        "trainer.save_freq=$SAVE_FREQ"
        "trainer.test_freq=$( [[ $VALIDATION == 1 ]] && echo "$TEST_FREQ" || echo -1 )"
        "trainer.val_before_train=$( [[ $VALIDATION == 1 ]] && echo True || echo False )"
        "trainer.total_epochs=$EPOCHS"
        "trainer.total_training_steps=$steps"
        ${EXTRA[@]+"${EXTRA[@]}"}
    )
}

check_args() {
    # The recipe numbers verl_config checks against: the paper's, unless a deviation is declared.
    if [[ $ALLOW_DEVIATION == 1 ]]; then
        echo --train-batch-size "$TRAIN_BATCH_SIZE" --rollout-n "$ROLLOUT_N" --lr "$LR" \
            --first-length "$RESPONSE_LENGTH" --length-step "$RESPONSE_STEP"
    fi
}

validate() {
    # validate ARGS...: compose and check stages in one process (verl imports once). The overrides
    # are the ones printed with main_ppo, so they are not listed a second time.
    local -a recipe
    read -ra recipe <<<"$(check_args)"
    printf '+ %s -m worldbuild.agent.verl_config %s' "$PYTHON" "${recipe[*]+${recipe[*]} }"
    local arg after_stage=0
    for arg in "$@"; do
        if (( after_stage )); then printf -- '--stage %s -- <stage %s overrides> ' "$arg" "$arg"; fi
        after_stage=0
        if [[ $arg == --stage ]]; then after_stage=1; fi
    done
    printf '\n'
    "$PYTHON" -m worldbuild.agent.verl_config ${recipe[@]+"${recipe[@]}"} "$@"
}

model_for_stage() {
    # Stage 1 starts from MODEL_PATH; stage N from stage N-1's merged model.
    if (( $1 == 1 )); then echo "$MODEL_PATH"; else echo "$(stage_dir $(( $1 - 1 )))/merged"; fi
}

WORLD_PID=""
VLLM_PID=""
cleanup() {
    stop_pid "$VLLM_PID" "filter vLLM server"
    if [[ ${KEEP_WORLD:-0} != 1 ]]; then stop_pid "$WORLD_PID" "world service"; fi
    if [[ ${KEEP_WORLD:-0} != 1 && $WORLD_CLUSTER == 1 ]]; then
        "$WORLDBUILD" serve-cluster --stop >&2 || log "warning: could not stop the per-node world services"
    fi
}
trap cleanup EXIT

ensure_world() {
    # The tools, the filter and verl's rollouts all need it; start one only if none answers.
    if [[ $WORLD_PER_NODE == 1 ]]; then
        # one per node of the Ray cluster (kept where one runs already): tool calls stay on their node
        run "$WORLDBUILD" serve-cluster --world "$WORLD_DIR" --host "$WORLD_HOST" --port "$WORLD_PORT" \
            --workers "$WORLD_WORKERS"
        WORLD_CLUSTER=1
        return
    fi
    printf '+ curl -fsS %s/health  # if it fails:\n' "$WORLD_URL"
    if [[ $DRY_RUN != 1 ]] && http_ok "$WORLD_URL/health"; then
        log "world service up at $WORLD_URL"
        return
    fi
    if [[ -n $WORLD_PID ]] && kill -0 "$WORLD_PID" 2>/dev/null; then
        die "world service (pid $WORLD_PID) stopped answering at $WORLD_URL/health"
    fi
    start_bg "$LOG_DIR/world.log" "$WORLDBUILD" serve --world "$WORLD_DIR" --host "$WORLD_HOST" \
        --port "$WORLD_PORT" --workers "$WORLD_WORKERS"
    WORLD_PID=$BG_PID
    wait_for_http "$WORLD_URL/health" "$WORLD_START_TIMEOUT" "$WORLD_PID" || die "world service did not start, see $LOG_DIR/world.log"
}

ensure_judge() {
    printf '+ curl -fsS %s/models  # the judge must already be up\n' "$JUDGE_URL"
    if [[ $DRY_RUN == 1 ]]; then return; fi
    http_ok "$JUDGE_URL/models" || die "no judge at $JUDGE_URL; start one on GPUs training does not use, e.g.
    vllm serve $JUDGE_MODEL --port 8001   (then JUDGE_URL=http://<host>:8001/v1)"
}

difficulty_filter() {
    # difficulty_filter STAGE MODEL: keep the tasks the current policy solves 1..7 times out of 8.
    local stage=$1 model=$2 out
    out=$(stage_train_file "$stage")
    if [[ $DRY_RUN != 1 && -s $out ]]; then
        log "stage $stage: reusing filtered tasks $out"
        return
    fi
    local -a extra_vllm
    read -ra extra_vllm <<<"$VLLM_EXTRA_ARGS"
    start_bg "$LOG_DIR/stage$stage-vllm.log" "$VLLM" serve "$model" --host 127.0.0.1 --port "$VLLM_PORT" \
        --enable-auto-tool-choice --tool-call-parser hermes \
        --tensor-parallel-size "$FILTER_TP" --data-parallel-size "$FILTER_DP" \
        --max-model-len "$(( MAX_PROMPT_LENGTH + $(stage_length "$stage") ))" \
        ${extra_vllm[@]+"${extra_vllm[@]}"}
    VLLM_PID=$BG_PID
    wait_for_http "http://127.0.0.1:$VLLM_PORT/v1/models" "$VLLM_START_TIMEOUT" "$VLLM_PID" \
        || die "vLLM did not start, see $LOG_DIR/stage$stage-vllm.log"
    run "$WORLDBUILD" filter "$TASKS" --samples "$FILTER_K" --keep "$FILTER_KEEP" \
        --base-url "http://127.0.0.1:$VLLM_PORT/v1" --model "$model" \
        --world-url "$WORLD_URL" --judge-url "$JUDGE_URL" --judge-model "$JUDGE_MODEL" \
        --max-turns "$MAX_TURNS" --max-response-tokens "$(stage_length "$stage")" \
        --max-tool-response-length "$MAX_TOOL_RESPONSE_LENGTH" $( [[ $THINKING == 1 ]] && echo --thinking ) \
        --checkpoint "stage$stage" --out "$out"
    stop_pid "$VLLM_PID" "filter vLLM server"
    VLLM_PID=""
    if [[ $DRY_RUN != 1 && ! -s $out ]]; then
        die "stage $stage: the filter kept no task in $FILTER_KEEP of $FILTER_K (see $out.passes.jsonl)"
    fi
}

train_stage() {
    stage_overrides "$1" "$2"
    run "$PYTHON" -m verl.trainer.main_ppo "${OVR[@]}"
}

merge_stage() {
    # The stage's last checkpoint (verl writes latest_checkpointed_iteration.txt) -> HF weights.
    local stage=$1
    merge_latest_checkpoint "$(stage_dir "$stage")" actor "stage $stage saved no checkpoint (SAVE_FREQ=$SAVE_FREQ)"
}

stage_done() {
    [[ -f $(stage_dir "$1")/merged/config.json ]]
}

all_stages_done() {
    local stage
    for (( stage = 1; stage <= STAGES; stage++ )); do stage_done "$stage" || return 1; done
}

run_stage() {
    local stage=$1 model
    model=$(model_for_stage "$stage")
    printf '\n### stage %s/%s: response length %s, model %s\n' "$stage" "$STAGES" "$(stage_length "$stage")" "$model"
    if [[ $DRY_RUN != 1 ]] && stage_done "$stage"; then
        log "stage $stage: done already ($(stage_dir "$stage")/merged)"
        return
    fi
    if [[ $DRY_RUN != 1 ]] && ! is_hub_id "$model" && [[ ! -d $model ]]; then
        die "stage $stage: no model at $model (stage 1 needs the SFT cold start: recipes/run_sft_4b.sh)"
    fi
    ensure_world
    ensure_judge
    if [[ $FILTER == 1 ]]; then difficulty_filter "$stage" "$model"; fi
    if [[ $DRY_RUN != 1 ]]; then check_data "$(stage_train_file "$stage")"; fi
    train_stage "$stage" "$model"
    merge_stage "$stage"
}

expand_world() {
    # expand_world STAGE: grow the world around the stage's tasks, then serve the new snapshot.
    local stage=$1 mark
    mark="$(stage_dir "$stage")/expanded"
    if [[ $DRY_RUN != 1 && -f $mark ]]; then
        log "stage $stage: expansion round done already"
        return
    fi
    run "$WORLDBUILD" expand --world "$WORLD_DIR" --tasks "$(stage_train_file "$stage")" \
        --search-url "$EXPAND_SEARCH_URL" --cdx-url "$EXPAND_CDX_URL" --warc-base "$EXPAND_WARC_BASE" \
        --per-task "$EXPAND_PER_TASK"
    if [[ $DRY_RUN != 1 ]]; then touch "$mark"; fi
    if [[ $WORLD_CLUSTER == 1 ]]; then
        run "$WORLDBUILD" serve-cluster --stop
        ensure_world
    elif [[ -n $WORLD_PID ]]; then
        stop_pid "$WORLD_PID" "world service"
        WORLD_PID=""
        ensure_world
    elif [[ $DRY_RUN != 1 ]]; then
        log "warning: the world service at $WORLD_URL was not started here; restart it to serve the new snapshot"
    fi
}

validate_all() {
    # Compose every stage against the installed verl in one process, before any of them runs:
    # a broken stage 3 should not surface after stages 1 and 2 have spent their GPU hours.
    local -a args=()
    local stage
    for (( stage = 1; stage <= STAGES; stage++ )); do
        stage_overrides "$stage" "$(model_for_stage "$stage")"
        args+=(--stage "$stage" -- "${OVR[@]}")
    done
    printf '\n### checking %s stage config(s) against the installed verl\n' "$STAGES"
    validate "${args[@]}"
}

main() {
    (( STAGES >= 1 )) || die "STAGES must be >= 1"
    if [[ $EXPAND == 1 && ( -z $EXPAND_SEARCH_URL || -z $EXPAND_CDX_URL ) ]]; then
        die "EXPAND=1 needs EXPAND_SEARCH_URL (Serper-shaped search) and EXPAND_CDX_URL (a CDX index API)"
    fi
    log "$STAGES stage(s), out $OUT_DIR$([[ $DRY_RUN == 1 ]] && echo ', dry run')"
    if [[ $DRY_RUN == 1 && ! -e $TASKS ]]; then
        log "dry run: no tasks at $TASKS yet, so the data is not checked (a real run checks it first)"
    else
        check_data "$TASKS"  # a stage trains on these or on a subset the filter keeps: too few here, too few there
    fi
    if [[ $DRY_RUN != 1 ]]; then
        require_cmd "$PYTHON"
        require_cmd curl
        if [[ $FILTER == 1 ]]; then require_cmd "$VLLM" "needed by the difficulty filter"; fi
        mkdir -p "$OUT_DIR" "$LOG_DIR"
        if all_stages_done; then
            log "every stage is done already; nothing to check or train"
        else
            validate_all || die "some stage does not hold (see above); nothing started"
        fi
    fi
    local stage
    for (( stage = 1; stage <= STAGES; stage++ )); do
        run_stage "$stage"
        if [[ $EXPAND == 1 ]] && (( stage < STAGES )); then expand_world "$stage"; fi
    done
    if [[ $DRY_RUN == 1 ]]; then
        validate_all || die "dry run: some stage does not hold (see above)"
        log "dry run ok: $STAGES stage(s) compose and hold the recipe"
    else
        log "done: final model $(stage_dir "$STAGES")/merged"
    fi
}

main

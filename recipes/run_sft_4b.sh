#!/usr/bin/env bash
# SFT cold start of the 4B research agent (DESIGN.md §1): fine-tune Qwen3-4B-Thinking-2507 on
# filtered, cleaned teacher trajectories (`worldbuild sft-data`: a parquet with `messages` and
# `tools` columns) with verl's multi-turn SFT trainer, then merge the last FSDP checkpoint to
# Hugging Face format at $OUT_DIR/merged, the model recipes/run_rl_4b.sh starts from.
#
# Usage:
#   recipes/run_sft_4b.sh [--dry-run] [-- EXTRA_SFT_OVERRIDES...]
#
# --dry-run needs no GPU: it prints the torchrun and merge commands and composes the SFT config
# against the installed verl (python -m worldbuild.agent.verl_config --sft), failing on unknown
# keys or values verl rejects.
#
# Knobs (environment; the paper gives no SFT hyperparameters, these are ours):
#   BASE_MODEL      [Qwen/Qwen3-4B-Thinking-2507]
#   SFT_DATA        parquet from `worldbuild sft-data`        [data/sft/train.parquet]
#   SFT_VAL_DATA    optional validation parquet              [unset]
#   OUT_DIR         checkpoints; merged model in OUT_DIR/merged [checkpoints/sft-4b]
#   LR, WARMUP_RATIO, SCHEDULER                              [1e-5, 0.05, cosine]
#   EPOCHS                                                   [3]
#   MAX_LENGTH      tokens of one whole trajectory           [32768]
#   TRUNCATION      error | left | right, for longer ones    [error]
#   TRAIN_BATCH_SIZE, MICRO_BATCH_SIZE_PER_GPU               [64, 1]
#   TOKENS_PER_GPU  dynamic-batch token budget per GPU       [MAX_LENGTH]
#   SP_SIZE         Ulysses sequence parallel size           [1]
#   IGNORE_MISMATCH True when the chat template tokenises turn by turn differently from whole
#                   conversations (verl checks; Qwen thinking templates may differ) [False]
#   N_GPUS_PER_NODE, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT  torchrun [8, 1, 0, 127.0.0.1, 29500]
#   SAVE_FREQ, PROJECT, EXPERIMENT, LOGGER                   [-1 (end only), worldbuild-sft, sft-4b, [console]]
#   PYTHON, TORCHRUN                                         [the active venv's or .venv/bin/ python3, torchrun]
#
# Multi-node: run this script on every node with the same MASTER_ADDR/MASTER_PORT, NNODES and
# that node's NODE_RANK (torchrun, not Ray); only NODE_RANK=0 merges the checkpoint.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPE_SCRIPT=${BASH_SOURCE[0]}
RECIPE_NAME=sft-4b
# shellcheck source=recipes/lib.sh
source "$HERE/lib.sh"

parse_recipe_args "$@"

BASE_MODEL=${BASE_MODEL:-Qwen/Qwen3-4B-Thinking-2507}
SFT_DATA=${SFT_DATA:-data/sft/train.parquet}
SFT_VAL_DATA=${SFT_VAL_DATA:-}
OUT_DIR=${OUT_DIR:-checkpoints/sft-4b}
LR=${LR:-1e-5}
WARMUP_RATIO=${WARMUP_RATIO:-0.05}
SCHEDULER=${SCHEDULER:-cosine}
EPOCHS=${EPOCHS:-3}
MAX_LENGTH=${MAX_LENGTH:-32768}
TRUNCATION=${TRUNCATION:-error}
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-64}
MICRO_BATCH_SIZE_PER_GPU=${MICRO_BATCH_SIZE_PER_GPU:-1}
TOKENS_PER_GPU=${TOKENS_PER_GPU:-$MAX_LENGTH}
SP_SIZE=${SP_SIZE:-1}
IGNORE_MISMATCH=${IGNORE_MISMATCH:-False}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
SAVE_FREQ=${SAVE_FREQ:--1}
PROJECT=${PROJECT:-worldbuild-sft}
EXPERIMENT=${EXPERIMENT:-sft-4b}
LOGGER=${LOGGER:-[console]}
PYTHON=${PYTHON:-$(venv_program python3)}
TORCHRUN=${TORCHRUN:-$(venv_program torchrun)}

OUT_DIR=$(absolute "$OUT_DIR")
SFT_DATA=$(absolute "$SFT_DATA")
if [[ -n $SFT_VAL_DATA ]]; then SFT_VAL_DATA=$(absolute "$SFT_VAL_DATA"); fi
BASE_MODEL=$(local_or_hub "$BASE_MODEL")

OVR=(
    "data.train_files=$SFT_DATA"
    "data.val_files=${SFT_VAL_DATA:-null}"
    data.messages_key=messages
    data.tools_key=tools
    "data.max_length=$MAX_LENGTH"
    "data.truncation=$TRUNCATION"
    "data.train_batch_size=$TRAIN_BATCH_SIZE"
    "data.micro_batch_size_per_gpu=$MICRO_BATCH_SIZE_PER_GPU"
    data.use_dynamic_bsz=True
    "data.max_token_len_per_gpu=$TOKENS_PER_GPU"
    "data.ignore_input_ids_mismatch=$IGNORE_MISMATCH"
    "model.path=$BASE_MODEL"
    model.use_remove_padding=True
    model.enable_gradient_checkpointing=True
    "optim.lr=$LR"
    "optim.lr_warmup_steps_ratio=$WARMUP_RATIO"
    "optim.lr_scheduler_type=$SCHEDULER"
    "engine.ulysses_sequence_parallel_size=$SP_SIZE"
    "trainer.default_local_dir=$OUT_DIR"
    "trainer.project_name=$PROJECT"
    "trainer.experiment_name=$EXPERIMENT"
    "trainer.logger=$LOGGER"
    "trainer.total_epochs=$EPOCHS"
    "trainer.nnodes=$NNODES"
    "trainer.n_gpus_per_node=$N_GPUS_PER_NODE"
    "trainer.save_freq=$SAVE_FREQ"
    trainer.resume_mode=auto
    ${EXTRA[@]+"${EXTRA[@]}"}
)

launcher() {
    # torchrun for one node, or this node's share of a multi-node job.
    if (( NNODES == 1 )); then
        echo "$TORCHRUN" --standalone --nnodes=1 "--nproc_per_node=$N_GPUS_PER_NODE"
    else
        echo "$TORCHRUN" "--nnodes=$NNODES" "--nproc_per_node=$N_GPUS_PER_NODE" "--node_rank=$NODE_RANK" \
            "--master_addr=$MASTER_ADDR" "--master_port=$MASTER_PORT"
    fi
}

validate() {
    printf '+ %s -m worldbuild.agent.verl_config --sft -- <the overrides above>\n' "$PYTHON"
    "$PYTHON" -m worldbuild.agent.verl_config --sft -- "${OVR[@]}"
}

merge() {
    # Only rank 0 of the job merges; the others are done once training ends.
    if (( NODE_RANK != 0 )); then return; fi
    merge_latest_checkpoint "$OUT_DIR" "" "training saved no checkpoint in $OUT_DIR"
}

main() {
    local -a launch
    read -ra launch <<<"$(launcher)"
    if [[ $DRY_RUN != 1 ]]; then
        [[ -s $SFT_DATA ]] || die "no SFT data at $SFT_DATA (make it with: worldbuild sft-data)"
        require_cmd "$TORCHRUN"
        validate || die "the SFT config does not hold, nothing started"
    fi
    if [[ $DRY_RUN != 1 && -f $OUT_DIR/merged/config.json ]]; then
        log "done already: $OUT_DIR/merged"
        return
    fi
    run "${launch[@]}" -m verl.trainer.sft_trainer "${OVR[@]}"
    merge
    if [[ $DRY_RUN == 1 ]]; then
        printf '\n### checking the SFT config against the installed verl\n'
        validate || die "dry run: the SFT config does not hold (see above)"
        log "dry run ok"
    else
        log "done: $OUT_DIR/merged (MODEL_PATH for recipes/run_rl_4b.sh)"
    fi
}

main

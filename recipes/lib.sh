# Shared helpers for the recipes (source it; it sets no shell options of its own).
# Every command goes through `run` or `start_bg`, so a dry run prints exactly what a real run
# executes, quoted so that it can be pasted back into a shell.

# shellcheck shell=bash

DRY_RUN=${DRY_RUN:-0}

venv_program() {
    # venv_program NAME: NAME from the active virtualenv, else from the repo's .venv (what
    # scripts/setup.sh makes), else NAME on PATH; so a fresh clone's recipes find verl.
    local name=$1 repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [[ -n ${VIRTUAL_ENV:-} && -x $VIRTUAL_ENV/bin/$name ]]; then
        echo "$VIRTUAL_ENV/bin/$name"
    elif [[ -x $repo/.venv/bin/$name ]]; then
        echo "$repo/.venv/bin/$name"
    else
        echo "$name"
    fi
}

recipe_usage() {
    # The script's header comment (from line 2 to the first blank line) is its help.
    sed -n '2,/^$/s/^# \{0,1\}//p' "$RECIPE_SCRIPT"
}

parse_recipe_args() {
    # parse_recipe_args "$@": --dry-run, -h/--help, and `-- ARGS...` (overrides appended to the
    # trainer's, kept in EXTRA). RECIPE_SCRIPT must name the calling script.
    EXTRA=()
    while (( $# )); do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            -h|--help) recipe_usage; exit 0 ;;
            --) shift; EXTRA=("$@"); break ;;
            *) recipe_usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
}

log() {
    # Progress on stderr, so stdout stays the command listing a dry run promises.
    printf '[%s] %s\n' "${RECIPE_NAME:-recipe}" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

quote_arg() {
    # Bare when the shell reads it back unchanged, single-quoted otherwise ('[console]', spaces).
    local arg=$1
    if [[ -n $arg && $arg =~ ^[A-Za-z0-9_./:=+,@%^-]+$ ]]; then
        printf '%s' "$arg"
    else
        printf "'%s'" "${arg//\'/\'\\\'\'}"
    fi
}

print_cmd() {
    # One command, flags and Hydra overrides each on their own line once it gets long
    # (`python -m module` stays on the first line, and `-m module` together).
    local -a args=("$@")
    local line i arg
    line=$(quote_arg "${args[0]}")
    if (( ${#args[@]} <= 8 )); then
        for arg in "${args[@]:1}"; do line+=" $(quote_arg "$arg")"; done
        printf '%s\n' "$line"
        return
    fi
    for (( i = 1; i < ${#args[@]}; i++ )); do
        arg=${args[i]}
        if [[ ($arg == -* || $arg == *=*) && ${args[i-1]} != -m ]] && ! [[ $arg == -m && $i == 1 ]]; then
            line+=$' \\\n    '"$(quote_arg "$arg")"
        else
            line+=" $(quote_arg "$arg")"
        fi
    done
    printf '%s\n' "$line"
}

run() {
    # Print, then execute unless this is a dry run.
    printf '+ '
    print_cmd "$@"
    if [[ $DRY_RUN == 1 ]]; then return 0; fi
    "$@"
}

# BG_PID is read by the recipes that source this file.
# shellcheck disable=SC2034
BG_PID=""
# shellcheck disable=SC2034
start_bg() {
    # start_bg LOGFILE CMD...: run CMD in the background, its pid in BG_PID (empty on a dry run).
    local logfile=$1
    shift
    printf '+ '
    print_cmd "$@"
    printf '    (in the background, log: %s)\n' "$logfile"
    BG_PID=""
    if [[ $DRY_RUN == 1 ]]; then return 0; fi
    mkdir -p "$(dirname "$logfile")"
    "$@" >"$logfile" 2>&1 &
    BG_PID=$!
}

http_ok() {
    # True when URL answers 2xx within a few seconds.
    curl -fsS -m 5 -o /dev/null "$1" 2>/dev/null
}

wait_for_http() {
    # wait_for_http URL TIMEOUT_S [PID]: poll (every POLL_S seconds) until URL answers; give up
    # early if PID dies.
    local url=$1 timeout=$2 pid=${3:-} deadline
    printf '+ wait for %s (up to %ss)\n' "$url" "$timeout"
    if [[ $DRY_RUN == 1 ]]; then return 0; fi
    deadline=$(( SECONDS + timeout ))
    until http_ok "$url"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            log "process $pid exited before $url came up"
            return 1
        fi
        if (( SECONDS >= deadline )); then
            log "$url did not come up within ${timeout}s"
            return 1
        fi
        sleep "${POLL_S:-5}"
    done
}

stop_pid() {
    # stop_pid PID [NAME]: end one process we started, by its id; escalate after 30 s.
    local pid=${1:-} name=${2:-process} i
    if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for (( i = 0; i < 150; i++ )); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

absolute() {
    # Absolute form of a path (it need not exist): Ray workers do not share our working directory.
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "${1#./}" ;;
    esac
}

is_hub_id() {
    # owner/name that is not a directory here, e.g. Qwen/Qwen3-4B-Thinking-2507.
    [[ ! -e $1 && $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]
}

local_or_hub() {
    # A model given as a local directory becomes absolute; a Hub id stays as is.
    if is_hub_id "$1"; then printf '%s\n' "$1"; else absolute "$1"; fi
}

require_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH${2:+ ($2)}"
}

merge_latest_checkpoint() {
    # verl's last FSDP checkpoint in $1 (named by latest_checkpointed_iteration.txt) -> Hugging
    # Face weights in $1/merged. $2: the part of global_step_N that holds the model ("actor" for
    # GRPO, empty for SFT); $3: why there may be none, for the error.
    local dir=$1 part=$2 why=$3 step
    if [[ $DRY_RUN == 1 ]]; then
        step='<latest>'
        # shellcheck disable=SC2016  # printed for the reader, not run
        printf '+ step=$(cat %s/latest_checkpointed_iteration.txt)\n' "$dir"
    else
        [[ -s $dir/latest_checkpointed_iteration.txt ]] || die "$why"
        step=$(<"$dir/latest_checkpointed_iteration.txt")
    fi
    run "$PYTHON" -m verl.model_merger merge --backend fsdp \
        --local_dir "$dir/global_step_$step${part:+/$part}" --target_dir "$dir/merged"
}

#!/usr/bin/env bash
# End to end on the bundled sample corpus: install, ingest corpora/, search, browse, stats,
# then the agent runner, evaluation and difficulty filter against a stand-in policy.
source "$(dirname "$0")/setup.sh"
export WORLDBUILD_WORLD="${WORLDBUILD_WORLD:-$PWD/world}"

echo "== ingest corpora/ into $WORLDBUILD_WORLD"
worldbuild ingest corpora/
echo "== ingest again: nothing new, same snapshot"
worldbuild ingest corpora/
for query in "DNS root servers" "Nordpark Anlage eröffnet" "common crawl open repository of web data"; do
    echo "== search: $query"
    worldbuild search "$query" -k 3
done
echo "== dense page vectors (offline MiniLM), then a hybrid search"
HF_HUB_OFFLINE=1 worldbuild index --dense
HF_HUB_OFFLINE=1 worldbuild search "who operates the servers at the top of the DNS" --mode hybrid -k 3
echo "== browse (any spelling of the URL works)"
worldbuild browse "HTTP://WWW.IANA.ORG/domains/#top" | sed -n 1,20p   # sed reads all: no broken pipe
echo "== stats"
worldbuild stats

echo "== the agent side: world service + a stand-in policy (tests/llm_double.py --reader searches the"
echo "   question, reads the top hit and answers with its title, through real tool calls)"
DEMO_OUT="$(dirname "$WORLDBUILD_WORLD")/demo-agent"
rm -rf "$DEMO_OUT" && mkdir -p "$DEMO_OUT"
WORLD_PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
POLICY_PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
worldbuild serve --port "$WORLD_PORT" 2>"$DEMO_OUT/serve.log" & WORLD_PID=$!
python -m tests.llm_double --port "$POLICY_PORT" --reader >/dev/null & POLICY_PID=$!
trap 'kill $WORLD_PID $POLICY_PID 2>/dev/null' EXIT
# /health answers 503 "warming" until the service is warm, 200 "ok" once ready
if ! python -m worldbuild.serve.wait "http://127.0.0.1:$WORLD_PORT" --timeout 180 --pid "$WORLD_PID"; then
    echo "== the world service did not become ready; its log ($DEMO_OUT/serve.log):" >&2
    cat "$DEMO_OUT/serve.log" >&2
    exit 1
fi
AGENT=(--base-url "http://127.0.0.1:$POLICY_PORT/v1" --model reader --world-url "http://127.0.0.1:$WORLD_PORT"
       --judge-cache "$DEMO_OUT/judge.sqlite")
echo "== eval on corpora/demo-questions.jsonl (one task masks its source page, so the agent misses it)"
worldbuild eval corpora/demo-questions.jsonl --out "$DEMO_OUT/eval.jsonl" "${AGENT[@]}"
echo "== difficulty filter, 4 rollouts per task (--samples), keep 1..3 (this policy is deterministic: nothing is kept)"
worldbuild filter corpora/demo-questions.jsonl --samples 4 --keep 1..3 --out "$DEMO_OUT/stage1.parquet" "${AGENT[@]}"
echo "== trajectories: $DEMO_OUT/eval.jsonl (first one's messages, abridged)"
python -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); [print(m['role'], '|', (m.get('content') or str(m.get('tool_calls')))[:110].replace(chr(10),' ')) for m in r['messages']]" "$DEMO_OUT/eval.jsonl"

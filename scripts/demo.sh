#!/usr/bin/env bash
# End to end on the bundled sample corpus: install, ingest corpora/, search, browse, stats.
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

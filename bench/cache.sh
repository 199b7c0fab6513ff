#!/usr/bin/env bash
# Cache benchmark (docs/BENCHMARKS.md): what a response-cache hit costs over
# HTTP next to the bare HTTP round trip (GET /health), and classification
# throughput at 0 %, 40 % and 90 % hit rates beside a server without the cache.
# Starts its own servers on the embedded lang-id-bert.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18950}
SECONDS_EACH=${SECONDS_EACH:-5}
cmake --build build --target snapformer snapformer_load >/dev/null
server=""
start() {  # start [extra serve flags...]
  build/snapformer serve --host 127.0.0.1 --port "$PORT" --max-concurrent-requests 256 \
    --model models/lang-id-bert "$@" >/tmp/snapformer-cache-bench.log 2>&1 &
  server=$!
  for _ in $(seq 200); do curl -sf "localhost:$PORT/health" >/dev/null && return; sleep 0.05; done
}
stop() { kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
trap stop EXIT
echo "| workload | connections | requests/s | p50 ms | p90 ms | p99 ms | hits | errors |"
echo "|---|---|---|---|---|---|---|---|"
run() {  # run NAME CONNECTIONS snapformer_load flags...
  local name=$1 connections=$2
  shift 2
  local line
  line=$(build/snapformer_load --port "$PORT" --connections "$connections" --seconds "$SECONDS_EACH" "$@")
  python3 - "$name" "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
n = max(1, r['requests'])
print(f"| {sys.argv[1]} | {r['connections']} | {r['requests_per_second']:.0f} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | "
      f"{r['p99_ms']:.3f} | {100 * r['cache_hits'] / n:.0f} % | {r['errors']} |")
PY
}
BODY='{"inputs": "Das ist ein schöner Tag, nicht wahr? {n}"}'
start
for c in 1 8 64; do run "HTTP round trip (GET /health)" "$c" --method GET --path /health; done
for c in 1 8 64; do run "cache hit (/predict, same body)" "$c" --path /predict --body "$BODY" --hit-rate 1; done
run "/predict, 90 % hits" 64 --path /predict --body "$BODY" --hit-rate 0.9
run "/predict, 40 % hits" 64 --path /predict --body "$BODY" --hit-rate 0.4
run "/predict, 0 % hits" 64 --path /predict --body "$BODY" --hit-rate 0
stop
start --no-cache --tokenization-cache-entries 0
run "/predict, no cache" 64 --path /predict --body "$BODY" --hit-rate 0

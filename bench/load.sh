#!/usr/bin/env bash
# Server load benchmark (docs/BENCHMARKS.md): starts `snapformer serve` on the
# embedded models and drives it with snapformer_load at 1, 8 and 64
# connections, for classification (/predict) and generation (/generate, 20 new
# tokens). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18900}
SECONDS_EACH=${SECONDS_EACH:-5}
build/snapformer serve --host 127.0.0.1 --port "$PORT" --max-concurrent-requests 256 >/tmp/snapformer-load-server.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "localhost:$PORT/health" >/dev/null && break; sleep 0.05; done

echo "| workload | connections | requests/s | p50 ms | p90 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
run() {
  local name=$1 path=$2 body=$3 connections=$4
  local line
  line=$(build/snapformer_load --port "$PORT" --path "$path" --body "$body" --connections "$connections" --seconds "$SECONDS_EACH")
  python3 - "$name" "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"| {sys.argv[1]} | {r['connections']} | {r['requests_per_second']:.1f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |")
PY
}
for c in 1 8 64; do
  run "classify (lang-id-bert, /predict)" /predict '{"inputs": "Das ist ein schöner Tag, nicht wahr?"}' "$c"
done
for c in 1 8 64; do
  run "generate 20 tokens (fortune-gpt2, /generate)" /generate '{"inputs": "The meaning of life is", "parameters": {"max_new_tokens": 20}}' "$c"
done

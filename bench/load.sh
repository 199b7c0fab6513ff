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

# Throughput target of issue 12: a distilbert-shaped int8 classifier on short
# inputs (all cache misses), per core. The model is generated (random weights,
# ../shared/bench/make_models.py) and quantized into .bench/models when missing.
MODELS=${MODELS:-.bench/models}
if [[ ! -d $MODELS/distilbert-cls-int8 ]]; then
  if [[ ! -d $MODELS/distilbert-cls ]]; then
    /usr/bin/python3 ../shared/bench/make_models.py "$MODELS" --which distilbert >/dev/null
  fi
  build/snapformer quantize --model "$MODELS/distilbert-cls" --dtype int8 --out "$MODELS/distilbert-cls-int8" >/dev/null
fi
kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true
CORES=$(nproc)
build/snapformer serve --host 127.0.0.1 --port "$PORT" --no-cache --max-concurrent-requests 256 \
  --model "$MODELS/distilbert-cls-int8" >/tmp/snapformer-load-server.log 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "localhost:$PORT/health" >/dev/null && break; sleep 0.05; done
echo
echo "| distilbert-cls int8, unique inputs, 64 connections | tokens | requests/s | per core ($CORES cores) | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
for body in '{"inputs": "a fine film {n}"}' '{"inputs": "the movie was really quite good and i liked it {n}"}'; do
  tokens=$(curl -s "localhost:$PORT/tokenize" -d "${body/\{n\}/u0-12345}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]))')
  build/snapformer_load --port "$PORT" --path /predict --hit-rate 0 --body "$body" --connections 64 --seconds "$SECONDS_EACH" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); c=int(sys.argv[2]); print("| %s | %s | %.1f | %.1f | %.1f | %.1f | %d |" % (sys.argv[1], sys.argv[3], r["requests_per_second"], r["requests_per_second"]/c, r["p50_ms"], r["p99_ms"], r["errors"]))' \
      "$body" "$CORES" "$tokens"
done

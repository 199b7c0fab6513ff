#!/usr/bin/env bash
# Server load benchmark (docs/BENCHMARKS.md): starts `snapformer serve` on the
# embedded models and drives it with snapformer_load at 1, 8 and 64
# connections, for classification (/predict) and generation (/generate, 20 new
# tokens). The response cache is off and the requests differ ("{i}": their
# index in the run), so the rows measure the models, not the cache
# (bench/cache.sh measures that).
# Prints markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18900}
SECONDS_EACH=${SECONDS_EACH:-5}
build/snapformer serve --host 127.0.0.1 --port "$PORT" --no-cache --max-concurrent-requests 256 >/tmp/snapformer-load-server.log 2>&1 &
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
  run "classify (lang-id-bert, /predict)" /predict '{"inputs": "Das ist ein schöner Tag, nicht wahr? {i}"}' "$c"
done
for c in 1 8 64; do
  run "generate 20 tokens (fortune-gpt2, /generate)" /generate '{"inputs": "The meaning of life is {i}:", "parameters": {"max_new_tokens": 20}}' "$c"
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
echo "| distilbert-cls int8, unique inputs, 64 connections | tokens per input (served) | requests/s | per core ($CORES cores) | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
# Token counts come from the server's own /metrics (tokens and inputs it ran in
# batches during the row), so the column states what was served. "{i}" is the
# request's index within the run: 1-3 word pieces (a "{n}" would add ~12).
served() { curl -s "localhost:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
for body in '{"inputs": "what a fine film this was {i}"}' '{"inputs": "the movie was really quite good and i liked it a lot {i}"}'; do
  tokens_before=$(served snapformer_batch_size_tokens_sum) inputs_before=$(served snapformer_batch_size_inputs_sum)
  line=$(build/snapformer_load --port "$PORT" --path /predict --body "$body" --connections 64 --seconds "$SECONDS_EACH")
  tokens=$(python3 -c 'import sys; print("%.1f" % ((float(sys.argv[1]) - float(sys.argv[2])) / max(1.0, float(sys.argv[3]) - float(sys.argv[4]))))' \
    "$(served snapformer_batch_size_tokens_sum)" "$tokens_before" "$(served snapformer_batch_size_inputs_sum)" "$inputs_before")
  python3 -c 'import json,sys; r=json.loads(sys.argv[4]); c=int(sys.argv[2]); print("| %s | %s | %.1f | %.1f | %.1f | %.1f | %d |" % (sys.argv[1], sys.argv[3], r["requests_per_second"], r["requests_per_second"]/c, r["p50_ms"], r["p99_ms"], r["errors"]))' \
    "$body" "$CORES" "$tokens" "$line"
done

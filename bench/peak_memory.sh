#!/usr/bin/env bash
# Peak memory (docs/BENCHMARKS.md): the largest resident set of one
# `snapformer run` (load + one answer) per model and dtype, against the bytes
# of the model's weight file. GNU time's %M is the peak RSS, which counts
# the mapped weight pages a process touched as well as its heap.
#   bench/peak_memory.sh            (models from .bench/models, see bench/compare)
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${BENCH_MODELS:-.bench/models}
cmake --build build --target snapformer >/dev/null
TEXT=$(printf 'the quick brown fox jumps over the lazy dog %.0s' {1..14})  # ~128 tokens
printf '| model | dtype | weight file (MB) | peak RSS (MB) | peak / weights |\n|---|---|---|---|---|\n'
for model in bert-cls gpt2; do
  dir=$MODELS/$model
  [ -d "$dir" ] || continue
  bytes=$(stat -c %s "$dir/model.safetensors")
  for dtype in fp32 bf16 int8; do
    if [ "$model" = gpt2 ]; then task=(--task generate --max-new-tokens 20); else task=(--task classify); fi
    kb=$( { /usr/bin/time -f "%M" build/snapformer run --model "$dir" --dtype "$dtype" --threads 1 "${task[@]}" "$TEXT" >/dev/null; } 2>&1 | tail -1)
    awk -v m="$model" -v d="$dtype" -v b="$bytes" -v k="$kb" \
      'BEGIN { printf "| %s | %s | %.0f | %.0f | %.2f |\n", m, d, b / 1e6, k * 1024 / 1e6, k * 1024 / b }'
  done
done

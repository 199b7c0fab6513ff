#!/usr/bin/env bash
# Cold-start benchmark (docs/BENCHMARKS.md): builds the full-size random
# models with the peer kit if missing, then times snapformer and Python.
# Needs Debian's python3-numpy and python3-torch (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${KIT:-../shared/bench}
MODELS=${BENCH_MODELS:-.bench/models}
OUT=${BENCH_OUT:-.bench/results}
PY=/usr/bin/python3
if ! $PY -c "import numpy, torch" 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-numpy python3-torch
fi
mkdir -p "$MODELS" "$OUT"
if [[ ! -d $MODELS/bert-cls || ! -d $MODELS/gpt2 ]]; then
  $PY "$KIT/make_models.py" "$MODELS" --seed 0 --which bert-base,gpt2
fi
$PY bench/cold_start.py build/snapformer "$MODELS" "$KIT" --runs "${RUNS:-10}" --threads "${THREADS:-1}" --out "$OUT/cold_start.json" "$@"

#!/usr/bin/env bash
# Replica start inside the container image (docs/BENCHMARKS.md, "Images"):
# time from starting `snapformer serve` on the embedded models to the first
# answered classification, 5 runs each, for
#   - the image started by buildah (chroot isolation: what this machine runs),
#   - the image's own filesystem entered with chroot as user 10001 (no
#     container runtime: the runtime's share of the first),
#   - the binary of build/ on the host, beside them in the same run.
# Needs snapformer:demo (scripts/build-image demo).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
PORT=${PORT:-18970}
IMAGE=${IMAGE:-snapformer:demo}
BODY='{"inputs": "Guten Morgen, wie geht es dir?"}'

container=$(buildah from "$IMAGE")
rootfs=$(buildah mount "$container")
cleanup() { buildah umount "$container" >/dev/null 2>&1 || true; buildah rm "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# first_answer_ms COMMAND...: starts COMMAND in the background, polls until the
# classification answers, prints the milliseconds, stops it.
first_answer_ms() {
  local start end pid
  start=$(date +%s%N)
  "$@" >/tmp/snapformer-image-bench.log 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "localhost:$PORT/models/lang-id-bert" -d "$BODY" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "server exited:" >&2; cat /tmp/snapformer-image-bench.log >&2; return 1; fi
    sleep 0.002
  done
  end=$(date +%s%N)
  kill -TERM "$pid" 2>/dev/null || true
  pkill -TERM -f "snapformer serve --host 127.0.0.1 --port $PORT" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  while curl -sf -o /dev/null "localhost:$PORT/health" 2>/dev/null; do sleep 0.01; done
  echo $(((end - start) / 1000000))
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

serve_args=(serve --host 127.0.0.1 --port "$PORT" --threads 2)
buildah_runs="" chroot_runs="" host_runs=""
for _ in $(seq "$RUNS"); do
  buildah_runs+=" $(first_answer_ms buildah run --isolation chroot "$container" -- /usr/local/bin/snapformer "${serve_args[@]}")"
  chroot_runs+=" $(first_answer_ms env SNAPFORMER_MODELS=/models HF_HOME=/data/huggingface \
    chroot --userspec=10001:10001 "$rootfs" /usr/local/bin/snapformer "${serve_args[@]}")"
  host_runs+=" $(first_answer_ms build/snapformer "${serve_args[@]}")"
done
echo "| start -> first answer (lang-id-bert, $RUNS runs) | median ms | runs ms |"
echo "|---|---|---|"
echo "| image, buildah run (chroot isolation) | $(median <<<"$buildah_runs") |$buildah_runs |"
echo "| image filesystem, chroot as user 10001 | $(median <<<"$chroot_runs") |$chroot_runs |"
echo "| host binary (build/snapformer) | $(median <<<"$host_runs") |$host_runs |"

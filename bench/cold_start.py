#!/usr/bin/env python3
"""Cold start: wall time from exec of `snapformer run` to its printed answer,
beside the Python/PyTorch cold start of ../shared/bench/cold_start.py, in one run.

Usage: bench/cold_start.py SNAPFORMER_BINARY MODELS_DIR PEER_KIT_DIR [--runs N] [--out FILE.json]

MODELS_DIR holds the full-size random models of PEER_KIT_DIR/make_models.py
(bert-cls, gpt2). For each model: `snapformer preload` (the weights re-read
into the page cache in 2 MB folios, as the deployment guide says to do once
after writing a model; --no-preload leaves the page cache as it is), one
warm-up run (warm page cache), then N fresh processes; the time is spawn ->
first line of the answer on stdout. Python maps the same files.
Prints a markdown table with the ratio Python / snapformer.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# 14 words -> 16 tokens with [CLS] and [SEP] (bert-base-uncased).
BERT_TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps all day"
GPT2_TEXT = "my name is john and i"


def time_first_line(command, env):
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = process.stdout.readline()
    elapsed = (time.perf_counter() - start) * 1e3
    rest, err = process.communicate()
    if process.returncode != 0 or not line:
        sys.exit(f"command failed: {' '.join(command)}\n{err.decode()}")
    return elapsed, line.decode().strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("models")
    parser.add_argument("kit")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", default="1")
    parser.add_argument("--out")
    parser.add_argument("--no-preload", action="store_true")
    args = parser.parse_args()

    env = dict(os.environ, OPENBLAS_NUM_THREADS=args.threads, OMP_NUM_THREADS=args.threads)
    cases = {
        "bert-cls": [args.binary, "run", "--model", os.path.join(args.models, "bert-cls"), "--task", "classify",
                     "--threads", args.threads, BERT_TEXT],
        "gpt2": [args.binary, "run", "--model", os.path.join(args.models, "gpt2"), "--task", "generate", "--json",
                 "--max-new-tokens", "1", "--threads", args.threads, GPT2_TEXT],
    }
    ours = {}
    for name, command in cases.items():
        model = os.path.join(args.models, name)
        if not args.no_preload:
            subprocess.run([args.binary, "preload", "--model", model], check=True, stdout=subprocess.DEVNULL)
        cached = subprocess.run([args.binary, "preload", "--check", "--model", model], check=True,
                                capture_output=True, text=True).stdout.strip()
        print(f"page cache: {cached}", file=sys.stderr)
        time_first_line(command, env)  # warm the page cache
        times = [time_first_line(command, env)[0] for _ in range(args.runs)]
        ours[name] = {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}

    peer_out = os.path.join(os.path.dirname(args.out or "/tmp/x"), "cold_python.json")
    subprocess.run([sys.executable, os.path.join(args.kit, "cold_start.py"), args.models, "--models", "bert-cls,gpt2",
                    "--runs", str(max(3, args.runs // 2)), "--threads", args.threads, "--out", peer_out], check=True,
                   stdout=subprocess.DEVNULL)
    peer = json.load(open(peer_out))
    peer_ms = {r["workload"].split("/", 1)[1]: r for r in peer["results"]}

    print(f"| model | snapformer exec→answer median (min–max) ms | Python+PyTorch median ms | ratio |")
    print("|---|---|---|---|")
    report = {"snapformer": ours, "python": {}}
    for name in cases:
        p = peer_ms[name]["median_ms"]
        o = ours[name]
        report["python"][name] = peer_ms[name]
        print(f"| {name} | {o['median_ms']:.1f} ({o['min_ms']:.1f}–{o['max_ms']:.1f}) | {p:.0f} | "
              f"{p / o['median_ms']:.0f}× faster |")
    if args.out:
        json.dump(report, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()

// One encoder workload on ONNX Runtime (onnxruntime-node), for bench/interleaved:
//   node bench/ort_encoder.mjs --ort NODE_DIR --model FILE.onnx --threads N --batch B --seq S --reps R [--warm W]
// Prints one JSON line: {"MODEL/DTYPE/bB/sS": {"median_ms", "min_ms"}}, MODEL
// the file's name up to its first dot (bert-cls), DTYPE int8 for a *.int8.onnx
// file and fp32 otherwise: snapformer_bench's workload names. The session is set up
// as ../shared/bench/ort_peer.mjs sets up its own (all graph optimizations,
// intra-op threads = N, one inter-op thread, sequential), and the inputs are
// the same kind: random ids in [1000, 29000), an all-ones mask, token types 0.
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const flags = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) flags[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const needed of ['ort', 'model', 'threads', 'batch', 'seq', 'reps']) {
  if (flags[needed] === undefined) {
    console.error(`ort_encoder.mjs: missing --${needed}`);
    process.exit(2);
  }
}
const ort = createRequire(path.join(path.resolve(flags.ort), 'index.js'))('onnxruntime-node');
const threads = Number(flags.threads), batch = Number(flags.batch), seq = Number(flags.seq);
const reps = Number(flags.reps), warm = Number(flags.warm ?? 2);

const session = await ort.InferenceSession.create(flags.model, {
  executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
  executionMode: 'sequential', enableCpuMemArena: true,
});
const count = batch * seq;
const tensor = (fill) => new ort.Tensor('int64', BigInt64Array.from({ length: count }, fill), [batch, seq]);
const feeds = {
  input_ids: tensor(() => BigInt(1000 + Math.floor(Math.random() * 28000))),
  attention_mask: tensor(() => 1n),
};
if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = tensor(() => 0n);

for (let i = 0; i < warm; i++) await session.run(feeds);
const times = [];
for (let i = 0; i < reps; i++) {
  const start = performance.now();
  await session.run(feeds);
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const middle = times.length >> 1;
const median = times.length % 2 ? times[middle] : (times[middle - 1] + times[middle]) / 2;
const model = path.basename(flags.model).split('.')[0];
const dtype = flags.model.includes('.int8.') ? 'int8' : 'fp32';
console.log(JSON.stringify({ [`${model}/${dtype}/b${batch}/s${seq}`]: { median_ms: median, min_ms: times[0] } }));
await session.release();

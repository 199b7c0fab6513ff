// GPT-2 greedy decoding on ONNX Runtime (onnxruntime-node), for bench/interleaved:
//   node bench/ort_gpt2.mjs --ort NODE_DIR --model gpt2-past[.int8].onnx --threads N --runs R [--prompt P]
// Each run feeds a P-token prompt (6 unless given) with empty past keys/values (time to the
// first token: the prompt's forward and the argmax of its last logits), then
// 19 single tokens with the previous step's present keys/values (decode: the
// mean ms per token over those 19). A first run warms up and is not counted,
// as in snapformer_bench. Prints one JSON line:
//   {"gpt2/DTYPE/ttft/pP": {"median_ms", "min_ms"}, "gpt2/DTYPE/decode/pP+20": {...}}
// The graph is the peer kit's KV-cache export: inputs input_ids and
// past_{layer}_{key,value} [1, 12, past, 64], outputs logits and present_*.
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const flags = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) flags[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const needed of ['ort', 'model', 'threads', 'runs']) {
  if (flags[needed] === undefined) {
    console.error(`ort_gpt2.mjs: missing --${needed}`);
    process.exit(2);
  }
}
const ort = createRequire(path.join(path.resolve(flags.ort), 'index.js'))('onnxruntime-node');
const dtype = flags.model.includes('.int8.') ? 'int8' : 'fp32';
const layers = 12, heads = 12, headDim = 64, newTokens = 20;
const promptLength = Number(flags.prompt ?? 6);

const session = await ort.InferenceSession.create(flags.model, {
  executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: Number(flags.threads),
  interOpNumThreads: 1, executionMode: 'sequential', enableCpuMemArena: true,
});
const ids = (list) => new ort.Tensor('int64', BigInt64Array.from(list.map(BigInt)), [1, list.length]);
const lastArgmax = (logits) => {
  const [, steps, vocab] = logits.dims;
  const row = logits.data.subarray((steps - 1) * vocab, steps * vocab);
  let best = 0;
  for (let j = 1; j < vocab; j++) if (row[j] > row[best]) best = j;
  return best;
};

async function generate() {
  const prompt = Array.from({ length: promptLength }, () => 1000 + Math.floor(Math.random() * 49000));
  const feeds = { input_ids: ids(prompt) };
  for (let l = 0; l < layers; l++)
    for (const kind of ['key', 'value'])
      feeds[`past_${l}_${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
  const start = performance.now();
  let out = await session.run(feeds);
  let next = lastArgmax(out.logits);
  const firstDone = performance.now();
  for (let step = 1; step < newTokens; step++) {
    const stepFeeds = { input_ids: ids([next]) };
    for (let l = 0; l < layers; l++)
      for (const kind of ['key', 'value']) stepFeeds[`past_${l}_${kind}`] = out[`present_${l}_${kind}`];
    out = await session.run(stepFeeds);
    next = lastArgmax(out.logits);
  }
  const end = performance.now();
  return { ttft: firstDone - start, perToken: (end - firstDone) / (newTokens - 1) };
}

const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b), middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median_ms: median, min_ms: sorted[0] };
};
await generate();  // warm-up
const ttft = [], perToken = [];
for (let r = 0; r < Number(flags.runs); r++) {
  const g = await generate();
  ttft.push(g.ttft);
  perToken.push(g.perToken);
}
const p = `p${promptLength}`;
console.log(JSON.stringify({ [`gpt2/${dtype}/ttft/${p}`]: summary(ttft), [`gpt2/${dtype}/decode/${p}+20`]: summary(perToken) }));
await session.release();

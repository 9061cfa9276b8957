// llama.cpp's side of bench/run.sh: llama-bench semantics through node-llama-cpp 3.21.1 (CPU).
//
//   node bench/llamacpp_bench.mjs -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--fa auto|on|off]
//   node bench/llamacpp_bench.mjs --info -m MODEL   -> file size, shape, KV bytes per token
//   -> {"pp":{"n":512,"tok_s":mean,"std":..,"runs":[..]},"tg":{"n":128,"tok_s":mean,"std":..,"runs":[..]},
//       "threads":T,"flash_attention":..,"batch":512}      (same shape as `lir bench --json`)
//
// pp: one p-token batch evaluated on an empty context (batch size = p, no logits requested for
//     the prompt, as llama-bench computes only the last token's), timed from submit to result.
// tg: n single-token decodes on an empty context, each asking for the next token (so the output
//     layer runs every step, as in llama-bench); greedy selection over the vocabulary adds about
//     0.1-0.3 ms per step that llama-bench does not pay — it counts against llama.cpp, slightly.
// Both after one warm-up (a min(p, 64)-token eval and one decode), with the KV cache cleared before each
// run. Tokens are random ids, as llama-bench uses. Context: n_ctx = p + n, F16 K/V cache, flash
// attention as node-llama-cpp's default ("auto", which llama.cpp turns on for the CPU) unless --fa.
import process from "node:process";
import { loadModel, createContext } from "../tests/parity/oracle.mjs";

function parse(argv) {
  const a = { p: 512, n: 128, t: 1, r: 5, fa: "auto", info: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    if (k === "-m") a.m = v;
    else if (k === "-p") a.p = Number(v);
    else if (k === "-n") a.n = Number(v);
    else if (k === "-t") a.t = Number(v);
    else if (k === "-r") a.r = Number(v);
    else if (k === "--fa") a.fa = v;
    else if (k === "--json") { continue; }
    else if (k === "--info") { a.info = true; continue; }
    else throw new Error(`unknown argument ${k}`);
    i++;
  }
  if (!a.m) throw new Error("usage: llamacpp_bench.mjs -m MODEL [-p 512] [-n 128] [-t T] [-r R] [--fa auto|on|off]");
  return a;
}

function stats(xs) {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { tok_s: mean, std };
}

// --info: what the report needs from the file, read from its header without loading weights.
async function info(file) {
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const fs = await import("node:fs");
  const gi = await readGgufFileInfo(file, { readTensorInfo: false });
  const m = gi.metadata, arch = m.general.architecture, h = m[arch];
  const nHead = h.attention.head_count, nHeadKv = h.attention.head_count_kv ?? nHead;
  const headDim = h.attention.key_length ?? h.embedding_length / nHead;
  const headDimV = h.attention.value_length ?? headDim;
  return {
    file_bytes: fs.statSync(file).size, arch, n_layer: h.block_count, n_embd: h.embedding_length,
    n_head: nHead, n_head_kv: nHeadKv, head_dim_k: headDim, head_dim_v: headDimV,
    // F16 K and V per token of context, all layers
    kv_bytes_per_token: 2 * h.block_count * nHeadKv * (headDim + headDimV),
  };
}

async function main() {
  const a = parse(process.argv.slice(2));
  if (a.info) {
    process.stdout.write(JSON.stringify(await info(a.m)) + "\n");
    return;
  }
  const { model } = await loadModel(a.m);
  const flashAttention = a.fa === "auto" ? "auto" : a.fa === "on";
  const context = await createContext(model, {
    contextSize: Math.max(a.p + a.n, 16),
    batchSize: Math.max(a.p, 1),
    threads: a.t,
    flashAttention,
  });
  const seq = context.getSequence();
  const meta = model.fileInfo.metadata;
  const nVocab = meta?.[meta?.general?.architecture]?.vocab_size ?? meta?.tokenizer?.ggml?.tokens?.length;
  if (!(nVocab > 0)) throw new Error("cannot tell the vocabulary size from the GGUF metadata");
  let rng = 42;
  const rand = () => { rng = (Math.imul(rng, 1103515245) + 12345) >>> 0; return rng; };
  const randomTokens = (k) => Array.from({ length: k }, () => rand() % nVocab);

  const pp = async (k = a.p) => {
    await seq.clearHistory();
    const toks = randomTokens(k);
    const t0 = process.hrtime.bigint();
    await seq.controlledEvaluate(toks);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const tg = async (n) => {
    await seq.clearHistory();
    let tok = rand() % nVocab;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      await seq.controlledEvaluate([[tok, { generateNext: { token: true } }]]);
      tok = rand() % nVocab; // llama-bench feeds random tokens too
    }
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };

  if (a.p > 0) await pp(Math.min(a.p, 64)); // warm-up: touches every weight; shorter than
  if (a.n > 0) await tg(1);                  // llama-bench's full-length one, to save time
  const ppRuns = [], tgRuns = [];
  for (let r = 0; r < a.r; r++) {
    if (a.p > 0) ppRuns.push(a.p / await pp());
    if (a.n > 0) tgRuns.push(a.n / await tg(a.n));
  }
  const out = {
    pp: { n: a.p, ...(ppRuns.length ? stats(ppRuns) : { tok_s: 0, std: 0 }), runs: ppRuns },
    tg: { n: a.n, ...(tgRuns.length ? stats(tgRuns) : { tok_s: 0, std: 0 }), runs: tgRuns },
    threads: a.t,
    flash_attention: context.flashAttention,
    batch: context.batchSize,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  await context.dispose();
  await model.dispose();
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`llamacpp_bench: ${e.message}\n`);
  process.exit(1);
});

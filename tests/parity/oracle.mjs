// llama.cpp as a test oracle, driven through node-llama-cpp 3.21.1 (prebuilt CPU binaries).
//
//   node tests/parity/oracle.mjs teacher -m MODEL --tokens 1,2,3 [--top 10] [--threads 1]
//     -> {"n_tokens":3,"positions":[{"pos":0,"top":[{"id":..,"logprob":..},..],"margin":..},..]}
//        For every position i: the top-K candidates for the NEXT token after tokens[0..i].
//   node tests/parity/oracle.mjs greedy -m MODEL --tokens 1,2,3 -n 64 [--threads 1]
//     -> {"tokens":[..],"margins":[..],"n_prompt":3,"n_gen":..,"stopped_at_eog":bool}
//        Free-running greedy continuation; margins[j] = top1 - top2 log-probability at step j.
//   Also importable: openLlama(), loadModel(), teacher(), greedy().
//
// What llama.cpp gives us, and why the comparison is like-for-like (read from node-llama-cpp's
// dist/evaluator/LlamaContext/LlamaContext.js and llama/addon/{AddonContext,AddonSampler}.cpp):
// - No raw logits are exposed. controlledEvaluate(..., {generateNext: {probabilities: true}})
//   returns the softmax over the whole vocabulary of the candidates after the sampler chain ran.
//   At temperature 0 the chain is [token bias][repeat penalty][DRY] greedy; with no tokenBias, no
//   repeatPenalty and no dryRepeatPenalty only `greedy` runs, which selects but leaves every logit
//   as is (top-k/top-p/min-p are not in the greedy chain). So probabilities = softmax(raw logits),
//   computed in float32 as exp(l - max) / sum. We take log(p): log-softmax, float32-rounded
//   (relative error ~1e-7, far below any tolerance we use).
// - We pass exact token ids; controlledEvaluate adds no BOS (the chat wrappers do, we don't use them).
// - Context: flash attention defaults to "auto" in node-llama-cpp (LlamaModel defaults), which
//   llama.cpp turns ON on the CPU. ggml's CPU flash-attention kernel accumulates V*softmax in F16
//   (VKQ16) with an online softmax; the standard path (mul_mat K*q with q rounded to F16, softmax in
//   F32, weights rounded to F16 for the V mul_mat) is what lir implements. So we set
//   flashAttention: false. KV cache type defaults to F16 for K and V (experimentalKvCache*Type
//   unset -> GgmlType.F16); we set it explicitly anyway. batchSize defaults to min(contextSize, 512)
//   and ubatch = batch (node-llama-cpp sets n_ubatch = n_batch); we use 512, so a 64-token teacher
//   sequence is one batch, like `lir eval --all`.
// - Threads: getLlama({maxThreads: 0}) and threads {ideal, min} make the requested count exact.
//   ggml's results do not depend on the thread count (each output row is computed by one thread).
import process from "node:process";
import { fileURLToPath } from "node:url";

let llamaPromise = null;

/** The one llama.cpp instance of this process (CPU only; never builds or downloads). */
export function openLlama() {
  if (llamaPromise == null) {
    llamaPromise = (async () => {
      let mod;
      try {
        mod = await import("node-llama-cpp");
      } catch (e) {
        throw new Error(`node-llama-cpp is not installed (run scripts/deps.sh): ${e.message}`);
      }
      return mod.getLlama({
        gpu: false,
        build: "never",
        skipDownload: true,
        maxThreads: 0,
        logLevel: "error",
        logger: (level, message) => process.stderr.write(`llama.cpp[${level}]: ${message}\n`),
      });
    })();
  }
  return llamaPromise;
}

// LIR_ORACLE_FLASH_ATTN=1 turns llama.cpp's flash attention on, to see how much of a difference
// comes from the attention kernel (about 2e-4 in log-probability on a tiny F32 model).
export const CONTEXT_DEFAULTS = Object.freeze({
  flashAttention: process.env.LIR_ORACLE_FLASH_ATTN === "1",
  experimentalKvCacheKeyType: "F16",
  experimentalKvCacheValueType: "F16",
  batchSize: 512,
});

/** Loads MODEL on the CPU (all layers, mmap). Returns {llama, model}. */
export async function loadModel(path, { useMmap = true } = {}) {
  const llama = await openLlama();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0, useMmap });
  return { llama, model };
}

/** A context with CONTEXT_DEFAULTS (override with opts) and `threads` exact. */
export async function createContext(model, { contextSize = 2048, threads = 1, ...opts } = {}) {
  return model.createContext({
    contextSize,
    sequences: 1,
    threads: { ideal: threads, min: threads },
    ...CONTEXT_DEFAULTS,
    ...opts,
  });
}

// Candidates with their log-probabilities, best first; the top-1 - top-2 margin (in log-prob,
// i.e. logit, units); with `full`, also every token's log-probability indexed by id.
function topOf(probabilities, k, full = false) {
  const all = [];
  let dense;
  if (full) {
    let maxId = -1;
    for (const id of probabilities.keys()) if (id > maxId) maxId = id;
    dense = new Float64Array(maxId + 1).fill(-Infinity);
  }
  for (const [id, p] of probabilities) {
    const lp = Math.log(p);
    all.push({ id, logprob: lp });
    if (full) dense[id] = lp;
  }
  all.sort((a, b) => b.logprob - a.logprob || a.id - b.id);
  const margin = all.length > 1 ? all[0].logprob - all[1].logprob : Infinity;
  return { top: all.slice(0, k), margin, all: dense };
}

const NEUTRAL = Object.freeze({ temperature: 0 }); // greedy chain only; no penalties, no bias

/**
 * Teacher-forced: for every position, the top-K next-token log-probabilities.
 * With full: true, each position also carries `all`: a Float64Array of every id's log-probability
 * (in-process use only; not serialized by the CLI). With sequential: true the tokens go in one
 * at a time instead of as one batch (same numbers in exact arithmetic; llama.cpp's own rounding
 * differences between the two paths show how sensitive a model is).
 */
export async function teacher(model, tokens, { top = 10, threads = 1, contextSize, full = false, sequential = false } = {}) {
  const context = await createContext(model, {
    threads,
    contextSize: contextSize ?? Math.max(256, tokens.length + 16),
  });
  try {
    const seq = context.getSequence();
    const input = tokens.map((t) => [t, { generateNext: { probabilities: true, options: NEUTRAL } }]);
    let out;
    if (sequential) {
      out = [];
      for (const item of input) out.push((await seq.controlledEvaluate([item]))[0]);
    } else {
      out = await seq.controlledEvaluate(input);
    }
    const positions = tokens.map((_, i) => {
      const probs = out[i]?.next?.probabilities;
      if (probs == null) throw new Error(`oracle: no probabilities at position ${i}`);
      const { top: t, margin, all } = topOf(probs, top, full);
      return full ? { pos: i, top: t, margin, all } : { pos: i, top: t, margin };
    });
    return { n_tokens: tokens.length, positions };
  } finally {
    await context.dispose();
  }
}

/** Free-running greedy continuation of up to n tokens; stops after an end-of-generation token. */
export async function greedy(model, tokens, { n = 64, threads = 1, contextSize } = {}) {
  const context = await createContext(model, {
    threads,
    contextSize: contextSize ?? Math.max(256, tokens.length + n + 16),
  });
  try {
    const seq = context.getSequence();
    const gen = [];
    const margins = [];
    let stoppedAtEog = false;
    let input = tokens.map((t, i) =>
      i === tokens.length - 1 ? [t, { generateNext: { probabilities: true, options: NEUTRAL } }] : t);
    while (gen.length < n) {
      const out = await seq.controlledEvaluate(input);
      const probs = out[input.length - 1]?.next?.probabilities;
      if (probs == null) throw new Error(`oracle: no probabilities at step ${gen.length}`);
      const { top: t, margin } = topOf(probs, 2);
      const next = t[0].id;
      gen.push(next);
      margins.push(margin);
      if (model.isEogToken(next)) { stoppedAtEog = true; break; }
      input = [[next, { generateNext: { probabilities: true, options: NEUTRAL } }]];
    }
    return { tokens: gen, margins, n_prompt: tokens.length, n_gen: gen.length, stopped_at_eog: stoppedAtEog };
  } finally {
    await context.dispose();
  }
}

// --- CLI ---------------------------------------------------------------------------------------
function parseArgs(argv) {
  const a = { mode: argv[0], top: 10, n: 64, threads: 1 };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    if (k === "-m" || k === "--model") { a.model = v; i++; }
    else if (k === "--tokens") { a.tokens = v.split(",").filter((s) => s !== "").map(Number); i++; }
    else if (k === "--top") { a.top = Number(v); i++; }
    else if (k === "-n") { a.n = Number(v); i++; }
    else if (k === "--threads" || k === "-t") { a.threads = Number(v); i++; }
    else throw new Error(`unknown argument ${k}`);
  }
  if (!["teacher", "greedy"].includes(a.mode) || !a.model || !a.tokens?.length ||
      a.tokens.some((t) => !Number.isInteger(t) || t < 0))
    throw new Error("usage: oracle.mjs teacher|greedy -m MODEL --tokens 1,2,3 [--top K] [-n N] [--threads T]");
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const { model } = await loadModel(a.model);
  try {
    const r = a.mode === "teacher"
      ? await teacher(model, a.tokens, { top: a.top, threads: a.threads })
      : await greedy(model, a.tokens, { n: a.n, threads: a.threads });
    process.stdout.write(JSON.stringify(r) + "\n");
  } finally {
    await model.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(() => process.exit(0), (e) => {
    process.stderr.write(`oracle: ${e.message}\n`);
    process.exit(1);
  });
}

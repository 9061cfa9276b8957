// `lir embed` against llama.cpp's embeddings (node-llama-cpp 3.21.1: model.createEmbeddingContext()
// and getEmbeddingFor(text)) on generated models.
//
// What node-llama-cpp returns (dist/evaluator/LlamaEmbeddingContext.js, llama/addon/AddonContext.cpp):
// the text tokenized without special tokens, then BOS prepended / EOS appended as llama.cpp's
// tokenizer would ([CLS] ... [SEP] for a WPM vocabulary), evaluated as one sequence, and
// llama_get_embeddings_seq — the pooled vector of the context's pooling type (the GGUF's
// <arch>.pooling_type) — NOT normalized (only llama-embedding's common_embd_normalize does
// that). With no pooling type it returns the last token's hidden state (llama_get_embeddings_ith
// -1). So lir runs with --no-normalize and the vectors are compared as they are; cosine does
// not care about scale anyway, and the normalized output is checked separately against the raw one.
// Attention: llama.cpp turns flash attention on for the CPU by default ("auto"), which rounds K
// and V to f16; lir computes the standard path (BERT: all f32, no KV cache; decoders: f16 KV
// cache as llama.cpp's non-flash path), so models are loaded with defaultContextFlashAttention false.
//
// Cases (each: several texts, cosine(lir, llama.cpp) >= 0.9999 per text, and the same token count):
//   bert F32 mean, bert F32 cls, bert Q8_0 mean   (WPM tokenizer, learned positions, GELU, LayerNorm)
//   nomic-bert F32 mean, Q8_0 cls                 (rotary positions, fused attn_qkv, SwiGLU, no biases)
//   qwen3 F32 last (Qwen3-Embedding style), llama F32 mean, llama Q8_0 cls
//   llama F32 with no pooling type (a chat model): lir pools by mean, compared with llama.cpp on
//   the same weights generated with --pooling mean (same seed => same tensors).
// The cosines are printed in a table at the end.
// Environment: LIR_BIN, LIR_GEN (as parity.test.mjs).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openLlama } from "./oracle.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_GEN = process.env.LIR_GEN ?? path.join(ROOT, "build/lir-gen");
const MIN_COSINE = 0.9999;

const TEXTS = [
  "hello world",
  "The quick brown fox, jumps over the lazy dog!",
  "Embeddings map text to vectors; similar texts (ideally) map to nearby points.",
  "numbers 12 345 and 6.78 - punctuation: yes? no!",
  "a",
  "Café NAÏVE résumé — über 東京 façade",
  "Zebras, yaks and quokkas are rarely seen together in the wild, except at the zoo in 1999 " +
    "where keepers kept careful notes about their habits, diets and moods for many months.",
];

const BERT = ["--arch", "bert", "--n-vocab", "1024"];
const DEC = ["--n-embd", "256", "--n-layer", "2", "--n-head", "8", "--n-head-kv", "2", "--n-ff", "512",
  "--n-vocab", "1024", "--n-ctx", "2048"];
const CASES = [
  { name: "bert-F32-mean", gen: [...BERT, "--pooling", "mean"] },
  { name: "bert-F32-cls", gen: [...BERT, "--pooling", "cls"] },
  { name: "bert-Q8_0-mean", gen: [...BERT, "--type", "Q8_0"] },
  { name: "nomic-bert-F32-mean", gen: ["--arch", "nomic-bert", "--n-vocab", "1024"] },
  { name: "nomic-bert-Q8_0-cls", gen: ["--arch", "nomic-bert", "--n-vocab", "1024", "--type", "Q8_0", "--pooling", "cls"] },
  { name: "qwen3-F32-last", gen: ["--arch", "qwen3", ...DEC, "--head-dim", "64", "--pooling", "last"] },
  { name: "llama-F32-mean", gen: ["--arch", "llama", ...DEC, "--pooling", "mean"] },
  { name: "llama-Q8_0-cls", gen: ["--arch", "llama", ...DEC, "--type", "Q8_0", "--pooling", "cls"] },
  // a chat model: no pooling key for lir; llama.cpp gets the same weights with mean pooling
  { name: "llama-F32-none=mean", gen: ["--arch", "llama", ...DEC], oracleGen: ["--arch", "llama", ...DEC, "--pooling", "mean"] },
];

function run(bin, args) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 64 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(bin)} ${args.join(" ")} failed (${err.code ?? err.signal}):\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

let dir;
const report = [];

before(() => {
  for (const bin of [LIR, LIR_GEN]) if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build it first`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-embed-"));
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (report.length) {
    const lines = ["case                     min cosine   mean |1-cos|   texts",
      ...report.map((r) => `${r.name.padEnd(24)} ${r.min.toFixed(8)}   ${r.meanGap.toExponential(2)}       ${r.n}`)];
    process.stdout.write(`\nembeddings: lir vs llama.cpp\n${lines.join("\n")}\n`);
  }
});

async function oracleEmbeddings(modelPath, texts) {
  const llama = await openLlama();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0, defaultContextFlashAttention: false });
  try {
    const ctx = await model.createEmbeddingContext({ contextSize: 512, threads: 1 });
    try {
      const out = [];
      for (const t of texts) {
        const n = ctx.calculateInputLength(t);
        out.push({ n, vector: (await ctx.getEmbeddingFor(t)).vector });
      }
      return out;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

describe("embeddings: lir vs llama.cpp", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const file = path.join(dir, `${c.name}.gguf`);
      await run(LIR_GEN, [...c.gen, "--seed", "7", "-o", file]);
      let oracleFile = file;
      if (c.oracleGen) {
        oracleFile = path.join(dir, `${c.name}-oracle.gguf`);
        await run(LIR_GEN, [...c.oracleGen, "--seed", "7", "-o", oracleFile]);
      }
      const lir = JSON.parse(await run(LIR, ["embed", "-m", file, "--no-normalize", "--threads", "2", ...TEXTS]));
      const ref = await oracleEmbeddings(oracleFile, TEXTS);
      assert.equal(lir.data.length, TEXTS.length);
      const cos = [];
      for (let i = 0; i < TEXTS.length; i++) {
        const a = lir.data[i], b = ref[i];
        assert.equal(a.embedding.length, b.vector.length, `${c.name} text ${i}: dimension`);
        assert.equal(a.n_tokens, b.n, `${c.name} text ${i}: token count (lir ${a.n_tokens}, llama.cpp ${b.n})`);
        const cs = cosine(a.embedding, b.vector);
        cos.push(cs);
        assert.ok(cs >= MIN_COSINE, `${c.name} text ${i} ${JSON.stringify(TEXTS[i])}: cosine ${cs} < ${MIN_COSINE}`);
      }
      report.push({ name: c.name, min: Math.min(...cos), meanGap: cos.reduce((s, x) => s + (1 - x), 0) / cos.length,
        n: cos.length });
    });
  }

  it("normalize: unit vectors, parallel to the raw ones; pooling override", async () => {
    const file = path.join(dir, "norm.gguf");
    await run(LIR_GEN, ["--arch", "bert", "--n-vocab", "1024", "--seed", "3", "-o", file]);
    const raw = JSON.parse(await run(LIR, ["embed", "-m", file, "--no-normalize", ...TEXTS.slice(0, 3)]));
    const nrm = JSON.parse(await run(LIR, ["embed", "-m", file, ...TEXTS.slice(0, 3)]));
    assert.equal(nrm.normalize, true, "normalizing is the default");
    assert.equal(raw.pooling, "mean");
    for (let i = 0; i < 3; i++) {
      const v = nrm.data[i].embedding, r = raw.data[i].embedding;
      assert.ok(Math.abs(Math.sqrt(dot(v, v)) - 1) < 1e-6, `text ${i}: norm ${Math.sqrt(dot(v, v))}`);
      assert.ok(cosine(v, r) > 1 - 1e-9, `text ${i}: normalized vector not parallel to the raw one`);
    }
    const cls = JSON.parse(await run(LIR, ["embed", "-m", file, "--pooling", "cls", "--no-normalize", TEXTS[0]]));
    assert.equal(cls.pooling, "cls");
    assert.ok(cosine(cls.data[0].embedding, raw.data[0].embedding) < 0.9999, "cls pooling differs from mean");
  });

  it("usage errors", async () => {
    await assert.rejects(run(LIR, ["embed", "-m", path.join(dir, "missing.gguf"), "x"]), /failed \(1\)/);
    await assert.rejects(run(LIR, ["embed", "x"]), /failed \(2\)/);
    await assert.rejects(run(LIR, ["embed", "-m", "x.gguf", "--pooling", "max", "x"]), /failed \(2\)/);
  });
});

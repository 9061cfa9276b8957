// `lir perplexity` against llama.cpp (node-llama-cpp 3.21.1, tests/parity/oracle.mjs).
//
// For each model, the same token ids on both sides (lir's, from `lir tokenize --ids --file`;
// llama.cpp's own tokenization of the text is only reported) and llama-perplexity's chunking:
// chunks of N_CTX tokens, the incomplete tail dropped, each chunk evaluated from an empty
// sequence with its first token replaced by BOS when the vocabulary adds BOS (llama.cpp's own
// shouldPrependBosToken decides on its side), and the second half scored: the probability of
// the actual next token at positions N_CTX/2 .. N_CTX-2. llama.cpp exposes no logits; at
// temperature 0 controlledEvaluate returns the full softmax per position (see oracle.mjs), and
// we take log(p) of the next token. PPL = exp(mean NLL).
// Asserted: lir's PPL within 1% (relative) of llama.cpp's; the JSON counts follow the chunking;
// lir's error estimate is llama-perplexity's formula over llama.cpp's NLLs within 5%.
// Cases, in chunks of 128 (less if the model's context is shorter), the first 12 chunks (16 for
// real models) to keep the run short: the generator's tiny llama model in Q8_0 and F16 on
// fixtures/perplexity_prose.txt (random weights: a sharp, very wrong distribution, so a PPL in
// the tens of millions, but every next-token probability is far above float underflow), and
// every models/*.gguf with a held-out text (models/*heldout*, preferably sharing the model's
// name prefix), when present.
// Also the usage errors: missing file, text shorter than one chunk, context above the model's.
// Environment: LIR_BIN, LIR_GEN as parity.test.mjs; LIR_PPL_CTX (chunk size, default 128).
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, createContext } from "./oracle.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_GEN = process.env.LIR_GEN ?? path.join(ROOT, "build/lir-gen");
const OUT = path.join(ROOT, "out/parity");
const PROSE = path.join(ROOT, "tests/parity/fixtures/perplexity_prose.txt");
const N_CTX = Number(process.env.LIR_PPL_CTX ?? 128); // or the model's training context if smaller
const REL_TOL = 0.01;

function run(bin, args, { timeout = 120_000 } = {}) {
  return new Promise((resolve) => {
    execFile(bin, args, { maxBuffer: 64 << 20, timeout }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr });
    });
  });
}

async function runOk(bin, args) {
  const r = await run(bin, args);
  if (r.code !== 0) throw new Error(`${path.basename(bin)} ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

// Real models: models/X.gguf with a held-out text, preferably one whose name starts like the model's.
function realCases() {
  const dir = path.join(ROOT, "models");
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir);
  const texts = files.filter((f) => /heldout/i.test(f) && !f.endsWith(".gguf")).sort();
  if (!texts.length) return [];
  return files.filter((f) => f.endsWith(".gguf")).sort().map((f) => {
    const stem = f.replace(/\.gguf$/, "").split(/[-_.]/)[0];
    const text = texts.find((t) => t.startsWith(stem)) ?? texts[0];
    return { name: `models/${f}`, model: path.join(dir, f), text: path.join(dir, text), maxChunks: 16 };
  });
}

const CASES = [
  { name: "tiny-llama-Q8_0", gen: ["--preset", "tiny", "--arch", "llama", "--type", "Q8_0", "--seed", "3"], text: PROSE, maxChunks: 12 },
  { name: "tiny-llama-F16", gen: ["--preset", "tiny", "--arch", "llama", "--type", "F16", "--seed", "3"], text: PROSE, maxChunks: 12 },
  ...realCases(),
];

// llama.cpp's NLL for every scored token of the first nChunks chunks of tokens.
// Also llama.cpp's own tokenization of text (no BOS), for information.
async function llamaNll(modelPath, text, tokens, nCtx, nChunks) {
  const { model } = await loadModel(modelPath);
  try {
    const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    const own = Array.from(model.tokenize(text));
    const context = await createContext(model, { contextSize: Math.max(256, nCtx), threads: 2 });
    try {
      const seq = context.getSequence();
      const first = Math.floor(nCtx / 2), nll = [];
      for (let k = 0; k < nChunks; k++) {
        const chunk = tokens.slice(k * nCtx, (k + 1) * nCtx);
        if (bos != null) chunk[0] = bos;
        await seq.clearHistory();
        const input = chunk.map((t, i) => (i >= first && i < nCtx - 1
          ? [t, { generateNext: { probabilities: true, options: { temperature: 0 } } }] : t));
        const out = await seq.controlledEvaluate(input);
        for (let i = first; i < nCtx - 1; i++) {
          const probs = out[i]?.next?.probabilities;
          if (probs == null) throw new Error(`oracle: no probabilities at chunk ${k} position ${i}`);
          nll.push(-Math.log(probs.get(chunk[i + 1]) ?? 0));
        }
      }
      return { nll, bos, own };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

describe("perplexity vs llama.cpp", () => {
  before(() => {
    for (const [what, bin] of [["lir", LIR], ["lir-gen", LIR_GEN]]) {
      if (!fs.existsSync(bin)) throw new Error(`${what} binary missing at ${bin}: run \`make build\` first`);
    }
    fs.mkdirSync(OUT, { recursive: true });
  });

  for (const c of CASES) {
    it(c.name, { timeout: 300_000 }, async (t) => {
      let file = c.model;
      if (c.gen) {
        file = path.join(OUT, `ppl-${c.name}.gguf`);
        await runOk(LIR_GEN, [...c.gen, "-o", file]);
      }
      const tokens = (await runOk(LIR, ["tokenize", "-m", file, "--ids", "--file", c.text]))
        .trim().split(/\s+/).map(Number);
      const nCtx = Math.min(N_CTX, JSON.parse(await runOk(LIR, ["show", file, "--json"])).n_ctx_train);
      const args = ["perplexity", "-m", file, "-f", c.text, "--ctx", String(nCtx), "--threads", "2", "--json"];
      if (c.maxChunks) args.push("--chunks", String(c.maxChunks));
      const lir = JSON.parse(await runOk(LIR, args));
      const nChunks = Math.min(Math.floor(tokens.length / nCtx), c.maxChunks ?? Infinity);
      const first = Math.floor(nCtx / 2);
      assert.equal(lir.n_tokens, tokens.length, "n_tokens: lir perplexity and lir tokenize disagree");
      assert.equal(lir.n_chunks, nChunks, "n_chunks");
      assert.equal(lir.n_ctx, nCtx, "n_ctx");
      assert.equal(lir.n_tokens_scored, nChunks * (nCtx - 1 - first), "n_tokens_scored");

      const { nll, bos, own } = await llamaNll(file, fs.readFileSync(c.text, "utf8"), tokens, nCtx, nChunks);
      assert.equal(tokens[0] === bos, bos != null, `BOS: llama.cpp ${bos != null ? "adds" : "does not add"} ` +
        `BOS (${bos}), lir's tokens start with ${tokens[0]}`);
      const n = nll.length;
      const mean = nll.reduce((a, b) => a + b, 0) / n;
      const ppl = Math.exp(mean);
      const varN = nll.reduce((a, b) => a + b * b, 0) / n - mean * mean;
      const pplErr = ppl * Math.sqrt(varN / (n - 1));
      const rel = Math.abs(lir.ppl - ppl) / ppl;
      const maxNll = Math.max(...nll);
      t.diagnostic(`${c.name}: ${nChunks} chunks x ${nCtx - 1 - first} scored, BOS ${bos ?? "none"}: ` +
        `lir PPL ${lir.ppl.toPrecision(8)} +/- ${lir.ppl_err?.toPrecision(4)}, llama.cpp ` +
        `${ppl.toPrecision(8)} +/- ${pplErr.toPrecision(4)} (rel diff ${rel.toExponential(2)}; ` +
        `mean NLL ${lir.nll_mean.toFixed(6)} vs ${mean.toFixed(6)}; max NLL ${maxNll.toFixed(2)})`);
      // llama.cpp's own tokenization of the text, for information (tokenizer parity is tested elsewhere)
      const mine = bos != null ? tokens.slice(1) : tokens;
      const same = own.length === mine.length && own.every((x, i) => x === mine[i]);
      t.diagnostic(`${c.name}: llama.cpp tokenizes the text ${same ? "identically" : "DIFFERENTLY"} ` +
        `(${own.length} vs ${mine.length} tokens without BOS)`);
      assert.ok(Number.isFinite(ppl), `llama.cpp PPL is not finite (max NLL ${maxNll})`);
      assert.ok(rel <= REL_TOL, `PPL lir ${lir.ppl} vs llama.cpp ${ppl}: relative difference ${rel} > ${REL_TOL}`);
      assert.ok(Math.abs(lir.ppl_err - pplErr) / pplErr <= 0.05, `ppl_err lir ${lir.ppl_err} vs ${pplErr}`);
    });
  }

  it("usage errors: missing file, text too short, context too large", async () => {
    const file = path.join(OUT, "ppl-errors.gguf");
    await runOk(LIR_GEN, ["--preset", "tiny", "--type", "F16", "--n-ctx", "256", "-o", file]);
    const missing = await run(LIR, ["perplexity", "-m", file, "-f", path.join(OUT, "no-such-file.txt")]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /cannot read .*no-such-file\.txt/);
    const short = path.join(OUT, "ppl-short.txt");
    fs.writeFileSync(short, "Too short for a chunk.\n");
    const tooShort = await run(LIR, ["perplexity", "-m", file, "-f", short, "--ctx", "128"]);
    assert.notEqual(tooShort.code, 0);
    assert.match(tooShort.stderr, /fewer than one chunk/);
    const big = await run(LIR, ["perplexity", "-m", file, "-f", PROSE, "--ctx", "512"]);
    assert.notEqual(big.code, 0);
    assert.match(big.stderr, /exceeds the model's training context 256/);
    const noModel = await run(LIR, ["perplexity", "-m", path.join(OUT, "no-such-model.gguf"), "-f", PROSE]);
    assert.notEqual(noModel.code, 0);
    assert.match(noModel.stderr, /cannot load/);
  });
});

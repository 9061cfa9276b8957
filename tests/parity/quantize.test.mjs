// `lir quantize` outputs load in llama.cpp (node-llama-cpp 3.21.1, tests/parity/oracle.mjs) and
// `lir eval` agrees with llama.cpp on them.
//
// A small F32 llama model from build/lir-gen (the shape of parity.test.mjs: 4 layers, GQA 8/2,
// 1536-token vocabulary, untied output) is quantized by `lir quantize` to Q4_K_M, Q5_K_M, Q8_0,
// Q3_K_M and (requantized from that Q8_0 file, --allow-requantize) Q4_0; each output is then
// evaluated teacher-forced over parity.test.mjs's fixed 64-token sequence by `lir eval --all
// --top 10` and by llama.cpp. At every position the log-probabilities of lir's top-10 ids agree
// with llama.cpp's for the same ids within the tolerance parity.test.mjs measured for the types
// in the file (a mix: the largest of its types'), every id of llama.cpp's top-10 is in lir's
// unless it sits within the tolerance of lir's 10th, and the top-1 agrees wherever llama.cpp's
// top-1/top-2 margin is not a near-tie. Also: the tensor types llama.cpp reports for the mix
// match the rules (output Q6_K; attn_v and ffn_down of layers 2 and 3 Q6_K in a 4-layer Q4_K_M)
// as node-llama-cpp's GGUF reader sees them, and file sizes shrink as expected.
//
// Environment: LIR_BIN, LIR_GEN (binaries; default build/lir, build/lir-gen).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readGgufFileInfo, GgmlType } from "node-llama-cpp";
import { loadModel, teacher } from "./oracle.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_GEN = process.env.LIR_GEN ?? path.join(ROOT, "build/lir-gen");

// parity.test.mjs's TOLERANCE (max |lir - llama.cpp| log-probability over the top-10 ids, per
// storage type, measured there on the same shape) for the types these files hold, and its
// near-tie rule. A mixed file gets the largest tolerance of the types in it.
const TOLERANCE = { F32: 4e-3, Q8_0: 0.26, Q4_0: 0.2, Q3_K: 0.34, Q4_K: 0.6, Q5_K: 0.32, Q6_K: 0.36 };
const NEAR_TIE = 0.05;
const CASES = [
  { name: "Q4_K_M", from: "f32", types: ["Q4_K", "Q6_K"] },
  { name: "Q5_K_M", from: "f32", types: ["Q5_K", "Q6_K"] },
  { name: "Q8_0", from: "f32", types: ["Q8_0"] },
  // Q3_K_M: attn_v Q5_K/Q4_K, attn_output and ffn_down Q4_K, output Q6_K
  { name: "Q3_K_M", from: "f32", types: ["Q3_K", "Q4_K", "Q5_K", "Q6_K"] },
  { name: "Q4_0", from: "Q8_0", types: ["Q4_0", "Q6_K"], args: ["--allow-requantize"] },
];
const tolOf = (c) => Math.max(...c.types.map((t) => TOLERANCE[t]));
const nearTie = (tol) => Math.max(NEAR_TIE, 2 * tol);

const SHAPE = ["--n-embd", "256", "--n-layer", "4", "--n-head", "8", "--n-head-kv", "2",
  "--n-ff", "512", "--n-vocab", "1536", "--untied"];

// parity.test.mjs's fixed 64-token sequence of ids in [16, 1000)
const SEQ = (() => {
  const s = [];
  let x = 12345;
  for (let i = 0; i < 64; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s.push(16 + ((x >>> 8) % 984));
  }
  return s;
})();

function run(bin, args, { timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 64 << 20, timeout }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${path.basename(bin)} ${args.join(" ")} failed (${err.code ?? err.signal}):\n${stderr}`),
        { code: err.code, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

// One teacher-forced position, as parity.test.mjs's comparePosition.
function comparePosition(lirPos, llPos, tol) {
  const problems = [];
  let maxDiff = 0;
  const lirIds = new Map(lirPos.top.map((e) => [e.id, e.logprob]));
  for (const e of lirPos.top) {
    const d = Math.abs(e.logprob - llPos.all[e.id]);
    if (!(d <= maxDiff)) maxDiff = d;
  }
  const lirLast = lirPos.top[lirPos.top.length - 1]?.logprob ?? -Infinity;
  for (const e of llPos.top) {
    if (!lirIds.has(e.id) && e.logprob > lirLast + tol) {
      problems.push(`id ${e.id} (llama.cpp logprob ${e.logprob.toFixed(5)}) missing from lir's top-${lirPos.top.length}`);
    }
  }
  if (!(maxDiff <= tol)) problems.push(`max |dlogprob| ${maxDiff.toExponential(2)} > ${tol}`);
  if (lirPos.top[0]?.id !== llPos.top[0].id && llPos.margin >= nearTie(tol)) {
    problems.push(`top-1 lir ${lirPos.top[0]?.id} != llama.cpp ${llPos.top[0].id} (margin ${llPos.margin.toFixed(4)})`);
  }
  return { maxDiff, problems };
}

describe("lir quantize outputs in llama.cpp", () => {
  let dir;
  const file = (n) => path.join(dir, `${n}.gguf`);

  before(async () => {
    for (const [what, bin] of [["lir", LIR], ["lir-gen", LIR_GEN]]) {
      if (!fs.existsSync(bin)) throw new Error(`${what} binary missing at ${bin}: run \`make build\` first`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-quantize-parity-"));
    await run(LIR_GEN, ["--arch", "llama", "--type", "F32", "--seed", "7", ...SHAPE, "-o", file("f32")]);
    // Q8_0 first: the Q4_0 case requantizes it
    for (const c of [CASES[2], ...CASES.filter((c) => c !== CASES[2])]) {
      await run(LIR, ["quantize", "-t", "2", ...(c.args ?? []), file(c.from), file(c.name), c.name]);
    }
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses to requantize without --allow-requantize, and sizes shrink", async () => {
    await assert.rejects(run(LIR, ["quantize", file("Q8_0"), file("refused"), "Q4_0"]),
      (e) => e.code === 1 && /requantiz/.test(e.stderr) && /--allow-requantize/.test(e.stderr));
    assert.ok(!fs.existsSync(file("refused")), "nothing written");
    await assert.rejects(run(LIR, ["quantize", file("f32"), file("x"), "Q7_K"]),
      (e) => e.code === 2 && /Q4_K_M/.test(e.stderr));
    const size = (n) => fs.statSync(file(n)).size;
    assert.ok(size("Q8_0") < size("f32") / 3.5, "Q8_0 about 1/3.8 of F32");
    assert.ok(size("Q4_K_M") < size("Q5_K_M") && size("Q5_K_M") < size("Q8_0"), "Q4_K_M < Q5_K_M < Q8_0");
    assert.ok(size("Q3_K_M") < size("Q4_K_M"), "Q3_K_M < Q4_K_M");
  });

  for (const c of CASES) {
    it(`${c.name} (from ${c.from}): lir eval agrees with llama.cpp`, { timeout: 120_000 }, async (t) => {
      const f = file(c.name);
      const { stdout } = await run(LIR, ["eval", "-m", f, "--tokens", SEQ.join(","), "--all", "--top", "10",
        "--threads", "1"]);
      const lirEval = JSON.parse(stdout);
      const { model } = await loadModel(f);
      let ll;
      try {
        ll = await teacher(model, SEQ, { top: 10, threads: 1, full: true });
      } finally {
        await model.dispose();
      }
      const tol = tolOf(c);
      const problems = [];
      let maxDiff = 0;
      for (let i = 0; i < SEQ.length; i++) {
        const lp = lirEval.positions.find((p) => p.pos === i);
        if (!lp) { problems.push(`pos ${i}: missing from lir eval`); continue; }
        const cmp = comparePosition(lp, ll.positions[i], tol);
        if (!(cmp.maxDiff <= maxDiff)) maxDiff = cmp.maxDiff;
        for (const p of cmp.problems) problems.push(`pos ${i}: ${p}`);
      }
      t.diagnostic(`${c.name}: max |dlogprob| ${maxDiff.toExponential(2)} (tol ${tol})`);
      if (problems.length) assert.fail(`${c.name}: ${problems.length} problem(s):\n  ${problems.slice(0, 12).join("\n  ")}`);
    });
  }

  it("Q4_K_M tensor types as llama.cpp's rules (node-llama-cpp's GGUF reader)", async () => {
    const info = await readGgufFileInfo(file("Q4_K_M"), { readTensorInfo: true });
    const types = new Map(info.fullTensorInfo.map((x) => [x.name, GgmlType[x.ggmlType]]));
    assert.equal(types.size, 4 * 9 + 3);
    assert.equal(types.get("output.weight"), "Q6_K");
    assert.equal(types.get("token_embd.weight"), "Q4_K");
    assert.equal(types.get("output_norm.weight"), "F32");
    // use_more_bits(i, 4): i < 4/8 = 0, i >= 7*4/8 = 3, or (i - 0) % 3 == 2: layers 2 and 3
    for (let il = 0; il < 4; il++) {
      const want = il >= 2 ? "Q6_K" : "Q4_K";
      assert.equal(types.get(`blk.${il}.attn_v.weight`), want, `blk.${il}.attn_v.weight`);
      assert.equal(types.get(`blk.${il}.ffn_down.weight`), want, `blk.${il}.ffn_down.weight`);
      for (const n of ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"]) {
        assert.equal(types.get(`blk.${il}.${n}.weight`), "Q4_K", `blk.${il}.${n}.weight`);
      }
      assert.equal(types.get(`blk.${il}.attn_norm.weight`), "F32");
    }
    assert.equal(info.metadata.general.file_type, 15, "general.file_type = LLAMA_FTYPE_MOSTLY_Q4_K_M");
    assert.equal(info.metadata.general.quantization_version, 2);
  });
});

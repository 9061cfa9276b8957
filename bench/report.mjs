// Turns bench/run.sh's out/bench/runs.jsonl into markdown tables (stdout) and, with --readme,
// rewrites the part of bench/README.md between the results markers.
//   node bench/report.mjs --runs out/bench/runs.jsonl [--p 512 --n 128 --fa auto] [--readme bench/README.md]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const lines = fs.readFileSync(args.runs ?? "out/bench/runs.jsonl", "utf8").split("\n").filter(Boolean);
const recs = lines.map((l) => JSON.parse(l));

const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "-");
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : "-");
const mib = (b) => (b / 2 ** 20).toFixed(0);
const name = (f) => path.basename(f, ".gguf");

const bw = {}; // threads -> {copy_gb_s, read_gb_s}
const info = {}; // model -> info
const speed = {}; // model -> threads -> side -> {pp:[], tg:[]}
const rss = {}; // model -> kB
const load = {}; // start|end -> "1m 5m 15m"
let tok = null; // bench/tokenize_bench.mjs's JSON line
for (const r of recs) {
  if (r.kind === "membw") {
    const b = bw[r.data.threads];
    bw[r.data.threads] = b && b.copy_gb_s >= r.data.copy_gb_s ? b : r.data;
  }
  else if (r.kind === "model") info[r.model] = { ...r.data, type: r.type };
  else if (r.kind === "rss") rss[r.model] = r.max_rss_kb;
  else if (r.kind === "load") load[r.when] = r.loadavg;
  else if (r.kind === "tokenize") tok = r.data;
  else if (r.kind === "speed") {
    const s = ((speed[r.model] ??= {})[r.threads] ??= {})[r.side] ??= { pp: [], tg: [] };
    // one rep per invocation; keep every per-run value the tool reports
    s.pp.push(...(r.data.pp.runs ?? [r.data.pp.tok_s]));
    s.tg.push(...(r.data.tg.runs ?? [r.data.tg.tok_s]));
  }
}

const out = [];
const models = Object.keys(speed);
const reps = Math.max(0, ...models.flatMap((m) => Object.values(speed[m]).map((s) => s.lir?.tg.length ?? 0)));
out.push(`Machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
  `${new Date().toISOString().slice(0, 10)}. pp = ${args.p ?? 512}-token prompt, tg = ${args.n ?? 128} decode steps; ` +
  `median of ${reps} alternating runs; llama.cpp flash attention: ${args.fa ?? "auto"}; ` +
  `load average at start ${load.start ?? "?"}, at end ${load.end ?? "?"}.`);
out.push("");
out.push("| model | threads | pp lir | pp llama.cpp | pp ratio | tg lir | tg llama.cpp | tg ratio | tg lir / BW limit | tg llama.cpp / BW limit |");
out.push("|---|---|---|---|---|---|---|---|---|---|");
const best = {};
for (const m of models) {
  for (const t of Object.keys(speed[m]).sort((a, b) => a - b)) {
    const L = speed[m][t].lir, C = speed[m][t]["llama.cpp"];
    const lpp = median(L?.pp ?? []), cpp = median(C?.pp ?? []), ltg = median(L?.tg ?? []), ctg = median(C?.tg ?? []);
    // the bandwidth limit: every byte of the file read once per generated token
    const limit = bw[t] ? (bw[t].copy_gb_s * 1e9) / info[m].file_bytes : NaN;
    out.push(`| ${name(m)} | ${t} | ${f1(lpp)} | ${f1(cpp)} | ${f2(lpp / cpp)} | ${f1(ltg)} | ${f1(ctg)} | ${f2(ltg / ctg)} | ` +
      `${pct(ltg / limit)} | ${pct(ctg / limit)} |`);
    const b = (best[m] ??= { lpp: [0], cpp: [0], ltg: [0], ctg: [0] });
    if (lpp > b.lpp[0]) b.lpp = [lpp, t];
    if (cpp > b.cpp[0]) b.cpp = [cpp, t];
    if (ltg > b.ltg[0]) b.ltg = [ltg, t];
    if (ctg > b.ctg[0]) b.ctg = [ctg, t];
  }
}
out.push("");
out.push("Best against best (tok/s at the best thread count of each side, thread count in brackets):");
out.push("");
out.push("| model | pp lir | pp llama.cpp | pp ratio | tg lir | tg llama.cpp | tg ratio |");
out.push("|---|---|---|---|---|---|---|");
for (const m of models) {
  const b = best[m];
  out.push(`| ${name(m)} | ${f1(b.lpp[0])} (${b.lpp[1]}) | ${f1(b.cpp[0])} (${b.cpp[1]}) | ${f2(b.lpp[0] / b.cpp[0])} | ` +
    `${f1(b.ltg[0])} (${b.ltg[1]}) | ${f1(b.ctg[0])} (${b.ctg[1]}) | ${f2(b.ltg[0] / b.ctg[0])} |`);
}
out.push("");
out.push("Memory bandwidth (bench/membw.c, best of 5, before and after the speed runs; copy counts bytes read + written): " +
  Object.values(bw).map((b) => `${b.threads} thread(s): copy ${f1(b.copy_gb_s)} GB/s, read ${f1(b.read_gb_s)} GB/s`).join("; ") +
  ". BW limit = copy GB/s ÷ file bytes (tokens/s if every weight byte is read once per token).");
out.push("");
out.push("| model | file MiB | KV cache @2048 MiB | limit (file + KV + 10%) MiB | peak RSS of `lir generate` MiB | within |");
out.push("|---|---|---|---|---|---|");
for (const m of Object.keys(info)) {
  const i = info[m], kv = i.kv_bytes_per_token * 2048, limit = (i.file_bytes + kv) * 1.1;
  const r = rss[m] != null ? rss[m] * 1024 : NaN;
  out.push(`| ${name(m)} | ${mib(i.file_bytes)} | ${mib(kv)} | ${mib(limit)} | ${Number.isFinite(r) ? mib(r) : "-"} | ` +
    `${Number.isFinite(r) ? (r <= limit ? "yes" : "NO") : "-"} |`);
}
if (tok) {
  const mibs = (ms) => (tok.mib / (ms / 1000)).toFixed(2);
  out.push("");
  out.push(`Tokenizer (bench/tokenize_bench.mjs): ${tok.mib} MiB of English, Llama 3 vocabulary, ${tok.tokens} tokens, ` +
    `ids identical; median of ${tok.reps ?? "?"} alternating runs.`);
  out.push("");
  out.push("| lir ms | llama.cpp ms | lir MiB/s | llama.cpp MiB/s | speed ratio lir / llama.cpp |");
  out.push("|---|---|---|---|---|");
  out.push(`| ${f1(tok.lir_ms)} | ${f1(tok.llama_ms)} | ${mibs(tok.lir_ms)} | ${mibs(tok.llama_ms)} | ${f2(tok.ratio)} |`);
}
const text = out.join("\n") + "\n";
process.stdout.write("\n" + text);

if (args.readme) {
  const begin = "<!-- results:begin (written by bench/run.sh) -->", end = "<!-- results:end -->";
  let md = fs.existsSync(args.readme) ? fs.readFileSync(args.readme, "utf8") : "";
  const i = md.indexOf(begin), j = md.indexOf(end);
  const block = `${begin}\n${text}${end}`;
  md = i >= 0 && j > i ? md.slice(0, i) + block + md.slice(j + end.length) : md + "\n" + block + "\n";
  fs.writeFileSync(args.readme, md);
  process.stderr.write(`bench: results written to ${args.readme}\n`);
}

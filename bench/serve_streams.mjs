// serve_streams.mjs — aggregate throughput and time to first token of `lir serve` at C concurrent
// streams on a ~1B model, against llama.cpp's parallel sequences (node-llama-cpp 3.21.1, CPU) on
// the same GGUF (issue 8).
//
//   node bench/serve_streams.mjs [--model out/bench/llama-3.2-1b-Q4_0.gguf] [--streams 1,4,16,64]
//        [--reps 3] [--reps-max R] [--max-tokens 32] [--threads 2] [--batch 512] [--fa auto|on|off]
//        [--json]
//
// For each C, alternating (A/B) `--reps` times — lir, then llama.cpp, then lir…:
// - lir: one `build/lir serve --parallel C` per C over a directory holding only the model (a
//   symlink), the model loaded through POST /lir/v1/models/load (threads, batch_size, a KV pool of
//   C × 128 tokens: each sequence needs two 64-token blocks); C clients send ONE streamed
//   /v1/completions each at the same moment (temperature 0, max_tokens N, stream_options.include_usage),
//   each over its own kept-alive connection. TTFT = send → first event with text.
//   Tokens = usage.completion_tokens (a random model may end early at an end-of-generation token).
// - llama.cpp: one context per C with `sequences: C` (contextSize 256 per sequence, the same batch
//   size, threads exact, F16 KV, flash attention `auto` as bench/run.sh uses); C sequences each run
//   `sequence.evaluate([BOS, ...prompt], {temperature: 0})` at once and take N tokens (stopping
//   early at an end-of-generation token, as lir does); node-llama-cpp puts the pending evaluations of
//   all sequences of a context into one llama_decode per cycle. TTFT = evaluate call → first token.
// Both: prompt k of rep r is "<tag> " + the same sentence (~32 tokens with BOS), the tag unique per
// (C, rep, client), so lir's per-slot prefix reuse can find only BOS and the tag's first digits
// (at most 7 of 33-34 tokens; recorded as cached_tokens); the same token ids go to both sides.
// Wall = first send → last stream end; tok/s = Σ generated tokens ÷ wall.
// One warm-up request (4 tokens) on each side after each server start / context creation.
// Tables show, per C, medians over reps of tok/s, TTFT P50 and TTFT P95 (each rep's percentiles).
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, createContext } from "../tests/parity/oracle.mjs";
import { startServer, postJson } from "../tests/server/server_util.mjs";
import { streamOnce as streamLoad, percentile } from "./serve_load.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SENTENCE = "Once upon a time, in a small village, there lived";

function parse(argv) {
  const a = { model: path.join(ROOT, "out/bench/llama-3.2-1b-Q4_0.gguf"), streams: [1, 4, 16, 64], reps: 3,
    repsMax: null, maxTokens: 32, threads: 2, batch: 512, fa: "auto", json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    if (k === "--json") { a.json = true; continue; }
    if (v === undefined) throw new Error(`${k}: a value is missing`);
    if (k === "--model" || k === "-m") a.model = path.resolve(v);
    else if (k === "--streams") a.streams = v.split(",").map(Number);
    else if (k === "--reps") a.reps = Number(v);
    else if (k === "--reps-max") a.repsMax = Number(v); // reps for the largest C (default --reps)
    else if (k === "--max-tokens") a.maxTokens = Number(v);
    else if (k === "--threads") a.threads = Number(v);
    else if (k === "--batch") a.batch = Number(v);
    else if (k === "--fa") a.fa = v;
    else throw new Error(`unknown argument ${k}`);
    i++;
  }
  if (a.streams.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) throw new Error("--streams: 1..64 each");
  if (!fs.existsSync(a.model)) throw new Error(`${a.model} is missing (bench/run.sh or lir-gen makes it)`);
  return a;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const promptOf = (c, rep, k) => `${c * 10000 + rep * 100 + k}: ${SENTENCE}`;

// ------------------------------------------------------------------ lir side

// One streamed completion (bench/serve_load.mjs's reader); resolves to {ttft, ms, tokens,
// prompt_tokens, cached_tokens, finish, error}; TTFT falls back to the first event when no text came.
async function streamOnce(url, agent, body) {
  const r = await streamLoad(url, agent, body);
  const error = r.error ?? (!r.done || !r.finish || !r.usage ? "incomplete stream" : null);
  return { ttft: Number.isNaN(r.ttft) ? r.first_event : r.ttft, ms: r.ms, tokens: r.usage?.completion_tokens ?? 0,
    prompt_tokens: r.usage?.prompt_tokens ?? 0, cached_tokens: r.usage?.prompt_tokens_details?.cached_tokens ?? 0,
    finish: r.finish, error };
}

const bodyOf = (model, prompt, maxTokens) => ({ model, prompt, max_tokens: maxTokens, temperature: 0, seed: 1,
  stream: true, stream_options: { include_usage: true } });

async function lirRun(srv, agent, modelName, prompts, maxTokens) {
  const t0 = performance.now();
  const rs = await Promise.all(prompts.map((p) => streamOnce(srv.url, agent, bodyOf(modelName, p, maxTokens))));
  const wall = (performance.now() - t0) / 1000;
  const bad = rs.filter((r) => r.error);
  if (bad.length) throw new Error(`lir: ${bad.length} of ${rs.length} streams failed: ${bad[0].error}`);
  return summarize(rs, wall);
}

// ------------------------------------------------------------------ llama.cpp side

async function llamaRun(model, context, prompts, maxTokens) {
  const seqs = prompts.map(() => context.getSequence());
  const inputs = prompts.map((p) => [model.tokens.bos, ...model.tokenize(p)]);
  try {
    const t0 = performance.now();
    const rs = await Promise.all(inputs.map(async (toks, k) => {
      const s0 = performance.now();
      let ttft = NaN, n = 0;
      for await (const tok of seqs[k].evaluate(toks, { temperature: 0 })) {
        if (n === 0) ttft = performance.now() - s0;
        n++;
        if (n >= maxTokens || model.isEogToken(tok)) break;
      }
      return { ttft, ms: performance.now() - s0, tokens: n, prompt_tokens: toks.length };
    }));
    const wall = (performance.now() - t0) / 1000;
    return summarize(rs, wall);
  } finally {
    for (const s of seqs) s.dispose();
  }
}

function summarize(rs, wall) {
  const ttfts = rs.map((r) => r.ttft).sort((x, y) => x - y);
  const tokens = rs.reduce((s, r) => s + r.tokens, 0);
  return { wall_s: wall, tokens, tok_s: tokens / wall, ttft_p50_ms: percentile(ttfts, 50),
    ttft_p95_ms: percentile(ttfts, 95), prompt_tokens: rs.map((r) => r.prompt_tokens),
    completion_tokens: rs.map((r) => r.tokens), ttft_ms: rs.map((r) => r.ttft),
    cached_tokens: rs.map((r) => r.cached_tokens ?? 0) }; // lir: prompt tokens its slots reused
}

// ------------------------------------------------------------------ main

async function main() {
  const a = parse(process.argv.slice(2));
  const log = (s) => process.stderr.write(`serve_streams: ${s}\n`);
  const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-streams-models-"));
  const cleanup = () => fs.rmSync(modelsDir, { recursive: true, force: true });
  process.on("exit", cleanup);
  fs.symlinkSync(a.model, path.join(modelsDir, path.basename(a.model)));
  const modelName = path.basename(a.model).replace(/\.gguf$/, "");
  const load0 = os.loadavg();
  const t00 = Date.now();

  const { model } = await loadModel(a.model);
  const runs = [];
  const cMax = Math.max(...a.streams);
  for (const c of a.streams) {
    const reps = c === cMax && a.repsMax ? a.repsMax : a.reps;
    // lir: a server with C slots, the model loaded with a pool of C × 128 tokens
    const srv = await startServer(modelsDir, ["--quiet", "--parallel", String(c)]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: c });
    let context = null;
    try {
      const ld = await postJson(`${srv.url}/lir/v1/models/load`, { model: modelName, options: {
        context_size: Math.max(512, c * 128), threads: a.threads, batch_size: a.batch, keep_alive_ms: -1 } });
      if (ld.status !== 200) throw new Error(`load: HTTP ${ld.status}: ${ld.text.slice(0, 300)}`);
      const w = await streamOnce(srv.url, agent, bodyOf(modelName, `warm-up ${SENTENCE}`, 4));
      if (w.error) throw new Error(`lir warm-up: ${w.error}`);
      // llama.cpp: C sequences of 256 tokens each
      context = await createContext(model, { contextSize: 256, sequences: c, threads: a.threads, batchSize: a.batch,
        flashAttention: a.fa === "auto" ? "auto" : a.fa === "on" });
      await llamaRun(model, context, [`warm-up ${SENTENCE}`], 4);
      for (let rep = 0; rep < reps; rep++) {
        const prompts = Array.from({ length: c }, (_, k) => promptOf(c, rep, k));
        const l = await lirRun(srv, agent, modelName, prompts, a.maxTokens);
        runs.push({ side: "lir", streams: c, rep, ...l });
        log(`C=${c} rep ${rep + 1}/${reps} lir: ${l.tok_s.toFixed(1)} tok/s, TTFT P50 ${l.ttft_p50_ms.toFixed(0)} ms, ` +
          `P95 ${l.ttft_p95_ms.toFixed(0)} ms (${l.tokens} tokens, ${l.wall_s.toFixed(2)} s; load ${os.loadavg()[0].toFixed(2)})`);
        const q = await llamaRun(model, context, prompts, a.maxTokens);
        runs.push({ side: "llama.cpp", streams: c, rep, ...q });
        log(`C=${c} rep ${rep + 1}/${reps} llama.cpp: ${q.tok_s.toFixed(1)} tok/s, TTFT P50 ${q.ttft_p50_ms.toFixed(0)} ms, ` +
          `P95 ${q.ttft_p95_ms.toFixed(0)} ms (${q.tokens} tokens, ${q.wall_s.toFixed(2)} s; load ${os.loadavg()[0].toFixed(2)})`);
        const lp = l.prompt_tokens.join(), qp = q.prompt_tokens.join();
        if (lp !== qp) log(`C=${c}: prompt token counts differ: lir ${lp}, llama.cpp ${qp}`);
      }
    } finally {
      agent.destroy();
      await srv.stop();
      await context?.dispose();
    }
  }
  await model.dispose();

  const rows = a.streams.map((c) => {
    const pick = (side) => runs.filter((r) => r.side === side && r.streams === c);
    const agg = (rs) => ({ reps: rs.length, tok_s: median(rs.map((r) => r.tok_s)),
      ttft_p50_ms: median(rs.map((r) => r.ttft_p50_ms)), ttft_p95_ms: median(rs.map((r) => r.ttft_p95_ms)),
      prompt_tokens: median(rs.flatMap((r) => r.prompt_tokens)),
      completion_tokens_min: Math.min(...rs.flatMap((r) => r.completion_tokens)) });
    const lir = agg(pick("lir")), llama = agg(pick("llama.cpp"));
    return { streams: c, lir, llama_cpp: llama, ratio: lir.tok_s / llama.tok_s };
  });
  const meta = { model: path.basename(a.model), threads: a.threads, batch: a.batch, max_tokens: a.maxTokens,
    flash_attention: a.fa, date: new Date(t00).toISOString(), minutes: (Date.now() - t00) / 60000,
    cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load_start: load0, load_end: os.loadavg() };
  if (a.json) process.stdout.write(JSON.stringify({ ...meta, rows, runs }) + "\n");
  const print = a.json ? (s) => process.stderr.write(s + "\n") : (s) => console.log(s); // --json: the table on stderr
  const f1 = (x) => x.toFixed(1), f0 = (x) => x.toFixed(0);
  print(`${meta.model}, threads ${a.threads}, batch ${a.batch}, max_tokens ${a.maxTokens}, ` +
    `prompt ${rows[0].lir.prompt_tokens} tokens; ${meta.date}; load average ${load0.map(f1).join(" ")} → ` +
    `${meta.load_end.map(f1).join(" ")}; ${meta.minutes.toFixed(1)} min`);
  print("| streams | reps | lir tok/s | llama.cpp tok/s | ratio | lir TTFT P50 / P95 ms | llama.cpp TTFT P50 / P95 ms |");
  print("|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows)
    print(`| ${r.streams} | ${r.lir.reps} | ${f1(r.lir.tok_s)} | ${f1(r.llama_cpp.tok_s)} | ${r.ratio.toFixed(2)} | ` +
      `${f0(r.lir.ttft_p50_ms)} / ${f0(r.lir.ttft_p95_ms)} | ${f0(r.llama_cpp.ttft_p50_ms)} / ${f0(r.llama_cpp.ttft_p95_ms)} |`);
  const short = rows.filter((r) => r.lir.completion_tokens_min < a.maxTokens || r.llama_cpp.completion_tokens_min < a.maxTokens);
  if (short.length) print(`(some streams ended early at an end-of-generation token: C = ${short.map((r) => r.streams).join(", ")})`);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`serve_streams: ${e.stack ?? e.message}\n`);
  process.exit(1);
});

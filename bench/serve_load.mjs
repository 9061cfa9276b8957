// serve_load.mjs — load on `lir serve`: N concurrent clients, each sending streamed OpenAI
// completions back to back for a fixed time. Every stream must be complete (finish_reason, usage,
// "data: [DONE]") and its text equal to the same request (prompt + seed) run alone beforehand —
// requests on one model must never be mixed up. Reports completed requests/s, generated tokens/s
// and time to first token (P50/P95).
//
//   node bench/serve_load.mjs [--url http://127.0.0.1:7373] [--model tiny] [--clients 64]
//        [--seconds 60] [--max-tokens 8] [--json]
// Without --url it generates a tiny model (build/lir-gen) and starts build/lir serve on a free port
// (LIR_BIN / LIR_GEN override the paths). tests/server/load.test.mjs runs it for ~10 s in CI.
import { fileURLToPath } from "node:url";
import http from "node:http";

const PROMPTS = ["Once upon a time", "The weather today", "In a distant galaxy", "My favourite recipe is"];
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// One streamed completion over a kept-alive connection of agent; resolves to what came back
// (ttft: first text, first_event: first choice event, in ms from the send). bench/serve_streams.mjs
// uses it too.
export function streamOnce(url, agent, body) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let ttft = NaN, firstEvent = NaN, buf = "", text = "", done = false, finish = null, usage = null, error = null;
    const req = http.request(`${url}/v1/completions`, { method: "POST", agent,
      headers: { "content-type": "application/json" } }, (res) => {
      if (res.statusCode !== 200) error = `HTTP ${res.statusCode}`;
      res.setEncoding("utf8");
      res.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!line.startsWith("data: ")) { error ??= `unexpected line ${line.slice(0, 80)}`; continue; }
          const data = line.slice(6);
          if (data === "[DONE]") { done = true; continue; }
          let e;
          try { e = JSON.parse(data); } catch { error ??= "bad JSON event"; continue; }
          if (e.error) { error ??= e.error.message; continue; }
          if (e.usage) usage = e.usage;
          const ch = e.choices?.[0];
          if (ch) {
            if (Number.isNaN(firstEvent)) firstEvent = performance.now() - t0;
            if (ch.text && Number.isNaN(ttft)) ttft = performance.now() - t0;
            text += ch.text ?? "";
            if (ch.finish_reason) finish = ch.finish_reason;
          }
        }
      });
      res.on("end", () => resolve({ text, done, finish, usage, error, ttft, first_event: firstEvent,
        ms: performance.now() - t0, rest: buf }));
      res.on("error", (e) => resolve({ error: String(e) }));
    });
    req.on("error", (e) => resolve({ error: String(e) }));
    req.end(JSON.stringify(body));
  });
}

const bodyOf = (model, k, maxTokens) => ({ model, prompt: PROMPTS[k % PROMPTS.length],
  seed: SEEDS[Math.floor(k / PROMPTS.length) % SEEDS.length], max_tokens: maxTokens, temperature: 0.9,
  stream: true, stream_options: { include_usage: true } });

export async function runLoad({ url, model = "tiny", clients = 64, seconds = 10, maxTokens = 8 }) {
  const kinds = PROMPTS.length * SEEDS.length;
  const solo = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ref = [];
  for (let k = 0; k < kinds; k++) { // each request alone first: the reference
    const r = await streamOnce(url, solo, bodyOf(model, k, maxTokens));
    if (r.error || !r.done) throw new Error(`reference request ${k} failed: ${r.error ?? "incomplete"}`);
    ref.push(r.text);
  }
  solo.destroy();
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const stats = { completed: 0, errors: 0, incomplete: 0, mismatches: 0, tokens: 0, firstErrors: [] };
  const ttfts = [];
  const t0 = performance.now(), end = t0 + seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const k = next++ % kinds;
      const r = await streamOnce(url, agent, bodyOf(model, k, maxTokens));
      if (r.error) { stats.errors++; if (stats.firstErrors.length < 5) stats.firstErrors.push(r.error); continue; }
      if (!r.done || !r.finish || !r.usage || r.rest) { stats.incomplete++; continue; }
      if (r.text !== ref[k]) {
        stats.mismatches++;
        if (stats.firstErrors.length < 5) stats.firstErrors.push(`request ${k}: ${JSON.stringify(r.text)} != ${JSON.stringify(ref[k])}`);
        continue;
      }
      stats.completed++;
      stats.tokens += r.usage.completion_tokens;
      if (!Number.isNaN(r.ttft)) ttfts.push(r.ttft);
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  ttfts.sort((a, b) => a - b);
  return { clients, seconds: secs, max_tokens: maxTokens, ...stats, requests_per_second: stats.completed / secs,
    tokens_per_second: stats.tokens / secs, ttft_p50_ms: percentile(ttfts, 50), ttft_p95_ms: percentile(ttfts, 95) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
  let url = arg("--url"), srv = null;
  if (!url) {
    const { makeModels, startServer } = await import("../tests/server/server_util.mjs");
    srv = await startServer(await makeModels(), ["--quiet"]);
    url = srv.url;
  }
  try {
    const r = await runLoad({ url, model: arg("--model", "tiny"), clients: Number(arg("--clients", 64)),
      seconds: Number(arg("--seconds", 60)), maxTokens: Number(arg("--max-tokens", 8)) });
    if (process.argv.includes("--json")) console.log(JSON.stringify(r));
    else console.log(`${r.clients} clients, ${r.seconds.toFixed(1)} s, max_tokens ${r.max_tokens}: ` +
      `${r.completed} complete (${r.requests_per_second.toFixed(1)} req/s, ${r.tokens_per_second.toFixed(0)} tok/s), ` +
      `errors ${r.errors}, incomplete ${r.incomplete}, mismatches ${r.mismatches}; ` +
      `TTFT P50 ${r.ttft_p50_ms.toFixed(1)} ms, P95 ${r.ttft_p95_ms.toFixed(1)} ms` +
      (r.firstErrors.length ? `\n  first errors: ${r.firstErrors.join("\n  ")}` : ""));
    process.exitCode = r.errors || r.incomplete || r.mismatches ? 1 : 0;
  } finally { await srv?.stop(); }
}

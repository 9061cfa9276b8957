// `lir top` and `lir stats` (src/cli/cmd_top.c, cmd_stats.c):
//   1. `lir top --once --local` shows this machine: its JSON (--json) reports /proc/meminfo's
//      MemTotal exactly, RAM used within total, lir's own resident memory, no models; the text
//      view has the CPU/RAM bars; non-TTY frames repeat (--count) and SIGINT ends it cleanly; on
//      a terminal (script(1)'s pseudo-terminal) it draws in place and q restores the terminal.
//   2. Over a server: a stand-in HTTP server answers GET /lir/v1/resources and
//      /lir/v1/models/loaded with the JSON of include/lir.h's structs (field names = struct
//      fields); `lir top --once --json` (LIR_HOST) shows exactly those values and models, and live
//      frames show the ResourceAlert events of its SSE stream (GET /lir/v1/events).
//   3. `lir stats`: a store made by lir (`lir top --local --data-dir D`), filled with request rows
//      by the sqlite3 shell as an earlier server would have left them; `lir stats --json` gives
//      the counts, averages and P50/P95/P99 computed here (numpy's linear interpolation) and
//      sample standard deviation; `--csv` one line per request; `--period` filters by time; no
//      store: exit 1 with a message.
//   4. End to end: `lir serve --data-dir D` with the default model; one Ollama /api/generate;
//      `lir top --once --json` over it shows the model with one request and this machine's RAM;
//      after the server stops, `lir stats --json` on D has that request with its token counts.
// Environment: LIR_BIN (default build/lir).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");

function run(cmd, args, { env = {}, timeout = 60_000 } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, LIR_HOST: "127.0.0.1:1", ...env }, timeout, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }));
  });
}

function memTotal() {
  const m = fs.readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s+(\d+) kB/m);
  return Number(m[1]) * 1024;
}

test("lir top --once --local: this machine", async () => {
  const j = await run(LIR, ["top", "--once", "--json", "--local"]);
  assert.equal(j.code, 0, j.stderr);
  const v = JSON.parse(j.stdout);
  assert.equal(v.source, "local");
  const r = v.resources;
  assert.equal(r.system_ram_bytes, memTotal(), "MemTotal of /proc/meminfo");
  assert.ok(r.system_ram_used_bytes > 0 && r.system_ram_used_bytes <= r.system_ram_bytes);
  assert.ok(r.process_ram_bytes > 1 << 20 && r.process_ram_bytes < r.system_ram_bytes);
  assert.ok(r.cpu_usage_percent >= 0 && r.cpu_usage_percent <= 100);
  assert.equal(r.n_gpus, r.gpus.length);
  assert.equal(r.active_models, 0);
  assert.deepEqual(v.models, []);

  const t = await run(LIR, ["top", "--once", "--local"]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^lir top - this machine/);
  assert.match(t.stdout, /\nCPU  \[[| ]{40}\] +\d+\.\d%/);
  assert.match(t.stdout, /\nRAM  \[[| ]{40}\] +\d+\.\d%/);
  assert.match(t.stdout, /\(no models loaded\)/);
  assert.doesNotMatch(t.stdout, /\x1b/, "no escapes when not a terminal");
});

// Waits (polling) until pred() holds; fails after 30 s with what was printed.
async function until(pred, what, text) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > 30_000) assert.fail(`waiting for ${what}: ${JSON.stringify(text())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("lir top frames, and SIGINT ends it cleanly", async () => {
  const t0 = Date.now();
  const f = await run(LIR, ["top", "--local", "--count", "3", "--interval", "100"]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(f.stdout.match(/^lir top - /gm).length, 3);
  assert.ok(Date.now() - t0 < 20_000);

  const child = spawn(LIR, ["top", "--local", "--interval", "200"], { env: { ...process.env, LIR_HOST: "127.0.0.1:1" } });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  await until(() => (out.match(/^lir top - /gm) ?? []).length >= 2, "two frames", () => out);
  const t1 = Date.now();
  child.kill("SIGINT");
  const code = await new Promise((r) => child.on("exit", (c, s) => r(c ?? s)));
  assert.equal(code, 0, "exit 0 after Ctrl-C");
  assert.ok(Date.now() - t1 < 2000, "promptly");
  assert.ok(out.match(/^lir top - /gm).length >= 2);
});

test("lir top on a terminal: q quits and the terminal is restored", async () => {
  // a pseudo-terminal from util-linux script(1): stdin and stdout are a TTY for lir top
  const child = spawn("script", ["-qfec", `exec ${LIR} top --local --interval 200`, "/dev/null"],
    { env: { ...process.env, LIR_HOST: "127.0.0.1:1" } });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  // two frames drawn: the terminal is in raw mode by then (a loaded machine may take longer than
  // any fixed wait to get there)
  await until(() => out.split("\x1b[H\x1b[2J").length >= 3, "two frames", () => out);
  const t1 = Date.now();
  child.stdin.write("q");
  const code = await new Promise((r) => child.on("exit", (c, s) => r(c ?? s)));
  assert.equal(code, 0);
  assert.ok(Date.now() - t1 < 2000, "q is read between frames");
  assert.ok(out.startsWith("\x1b[?1049h\x1b[?25l"), "alternate screen, cursor hidden");
  assert.ok(out.trimEnd().endsWith("\x1b[?25h\x1b[?1049l"), "cursor shown, main screen back, at the end");
  assert.equal(out.split("\x1b[?1049l").length, 2, "restored once");
  assert.ok(out.split("\x1b[H\x1b[2J").length >= 3, "redrawn in place, more than once");
  assert.match(out, /q to quit/);
});

test("lir top over a server: /lir/v1/resources and /lir/v1/models/loaded", async () => {
  const resources = {
    timestamp_ms: 1764500000000, system_ram_bytes: 68719476736, system_ram_used_bytes: 17179869184,
    process_ram_bytes: 1073741824, models_ram_bytes: 805306368, n_gpus: 1, cpu_usage_percent: 37.5,
    process_cpu_percent: 12.25, active_models: 1, active_requests: 2, current_tokens_per_second: 48.5,
    gpus: [{ id: 0, name: "Test GPU", vram_total_bytes: 25769803776, vram_used_bytes: 6442450944,
      vram_held_bytes: 4294967296, utilization_percent: 81, temperature_c: 66, power_w: 210.5 }],
  };
  const models = [{
    id: "0b9c4e0e-5f55-4b7a-9a57-1c1d3c4b5a6f", model: { name: "llama/3b-q4" }, status: "Busy",
    active_requests: 2, metrics: { total_requests: 17, total_tokens_generated: 4096, total_inference_ms: 81234.5,
      average_tokens_per_second: 44.25, peak_tokens_per_second: 51.5, average_ttft_ms: 123.5 },
    resources: { ram_bytes: 805306368, vram_bytes: 0, context_size: 4096, context_used: 1234 },
  }];
  const seen = [];
  const streams = [];
  const srv = http.createServer((req, res) => {
    seen.push(req.url);
    if (req.url === "/lir/v1/events") { // SSE: one ResourceAlert, then the stream stays open
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(": lir events\n\n");
      setTimeout(() => res.write('id: 7\nevent: ResourceAlert\ndata: {"type":"ResourceAlert","seq":7,' +
        '"timestamp_ms":1764500000000,"message":"RAM 93.5% used (alert at 90.0%)","resource":"Ram",' +
        '"usage_percent":93.5}\n\n'), 100);
      streams.push(res);
      return;
    }
    const body = req.url === "/lir/v1/resources" ? resources : req.url === "/lir/v1/models/loaded" ? models : null;
    res.writeHead(body ? 200 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify(body ?? { error: "not found" }));
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const host = `http://127.0.0.1:${srv.address().port}`;
  try {
    const j = await run(LIR, ["top", "--once", "--json"], { env: { LIR_HOST: host } });
    assert.equal(j.code, 0, j.stderr);
    const v = JSON.parse(j.stdout);
    assert.equal(v.source, "server");
    assert.deepEqual(v.resources, resources, "every field read back under the same name");
    assert.equal(v.models.length, 1);
    assert.equal(v.models[0].id, models[0].id);
    assert.equal(v.models[0].model.name, "llama/3b-q4");
    assert.equal(v.models[0].status, "Busy");
    assert.equal(v.models[0].metrics.total_requests, 17);
    assert.equal(v.models[0].metrics.average_ttft_ms, 123.5);
    assert.equal(v.models[0].resources.context_used, 1234);
    assert.ok(seen.includes("/lir/v1/resources") && seen.includes("/lir/v1/models/loaded"));

    const t = await run(LIR, ["top", "--once"], { env: { LIR_HOST: host } });
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^lir top - server http:\/\/127\.0\.0\.1:\d+/);
    assert.match(t.stdout, /CPU  \[[| ]{40}\]  37\.5%/);
    assert.match(t.stdout, /RAM  \[[| ]{40}\]  25\.0%  16\.0 GiB \/ 64\.0 GiB/);
    assert.match(t.stdout, /GPU0 Test GPU/);
    assert.match(t.stdout, /util \[[| ]{35}\]  81\.0%  66 C  210 W/);
    assert.match(t.stdout, /0b9c4e0e llama\/3b-q4 +Busy +2 +17 +44\.2 +51\.5 +123\.5 +1234\/4096/);
    assert.match(t.stdout, /Models 1  requests 2  48\.5 tok\/s now/);

    // live frames: the server's ResourceAlert events (GET /lir/v1/events) show up under Alerts
    const t0 = Date.now();
    const live = await run(LIR, ["top", "--count", "3", "--interval", "400"], { env: { LIR_HOST: host } });
    assert.equal(live.code, 0, live.stderr);
    assert.ok(Date.now() - t0 < 5000, "ends promptly after its frames, the event stream included");
    const frames = live.stdout.split(/^lir top - /m).filter(Boolean);
    assert.equal(frames.length, 3);
    assert.match(frames[2], /\nAlerts:\n  \d\d:\d\d:\d\d Ram RAM 93\.5% used \(alert at 90\.0%\)\n/);
    assert.ok(seen.includes("/lir/v1/events"));
  } finally {
    for (const r of streams) r.destroy();
    srv.close();
  }
});

// numpy.percentile(..., method="linear")
function pct(v, q) {
  const s = [...v].sort((a, b) => a - b);
  const r = q * (s.length - 1), lo = Math.floor(r), hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (r - lo);
}
function sd(v) {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

test("lir stats from the store", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-stats-"));
  try {
    const none = await run(LIR, ["stats", "--data-dir", path.join(dir, "nothing")]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no database/);
    const bad = await run(LIR, ["stats", "--period", "5x", "--data-dir", dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--period '5x'/);

    const top = await run(LIR, ["top", "--local", "--count", "3", "--interval", "500", "--data-dir", dir]);
    assert.equal(top.code, 0, top.stderr);
    const db = path.join(dir, "lir.db");
    assert.ok(fs.existsSync(db), "lir top --data-dir made the store");

    // two models' requests as an earlier server process left them, one request two hours old
    const now = Date.now();
    const ttftA = [80, 120, 95, 300, 110, 90, 105], tpsA = [40, 42, 38, 20, 41, 43, 39];
    const rows = [];
    const sql = [
      `INSERT INTO loaded_models(id, installed_model_id, model_name, backend_type, status, loaded_at, owner_pid,
         owner_start, created_at) VALUES ('m-a', 'i-a', 'alpha', 'native', 'Unloaded', ${now - 7200e3}, 1, 1, ${now}),
         ('m-b', 'i-b', 'beta, two', 'native', 'Unloaded', ${now}, 1, 1, ${now});`,
    ];
    ttftA.forEach((t, i) => {
      const total = t + 1000 + i;
      rows.push({ total, t });
      sql.push(`INSERT INTO generation_metrics(loaded_model_id, timestamp, total_time_ms, time_to_first_token_ms,
        generation_time_ms, tokens_per_second, prompt_eval_tokens_per_second, prompt_tokens, completion_tokens,
        finish_reason) VALUES ('m-a', ${now - 60e3 + i}, ${total}, ${t}, ${total - t}, ${tpsA[i]}, 500, 10, 40, 'stop');`);
    });
    sql.push(`INSERT INTO generation_metrics(loaded_model_id, timestamp, total_time_ms, time_to_first_token_ms,
      generation_time_ms, tokens_per_second, prompt_eval_tokens_per_second, prompt_tokens, completion_tokens,
      finish_reason) VALUES ('m-b', ${now - 30e3}, 250, 50, 200, 60, 900, 5, 12, 'length'),
      ('m-a', ${now - 7200e3}, 9999, 9999, 1, 1, 1, 1, 1, 'stop');`);
    const ins = await run("sqlite3", [db, sql.join("\n")]);
    assert.equal(ins.code, 0, ins.stderr);

    const j = await run(LIR, ["stats", "--data-dir", dir, "--period", "1h", "--json"]);
    assert.equal(j.code, 0, j.stderr);
    const s = JSON.parse(j.stdout);
    assert.equal(s.period_ms, 3600e3);
    assert.equal(s.requests.length, 8, "the two-hour-old request is outside the period");
    assert.equal(s.models.length, 2);
    const a = s.models.find((m) => m.loaded_model_id === "m-a"), b = s.models.find((m) => m.loaded_model_id === "m-b");
    assert.equal(a.model_name, "alpha");
    assert.equal(a.requests, 7);
    assert.equal(a.completion_tokens, 280);
    assert.equal(a.prompt_tokens, 70);
    const close = (x, y, what) => assert.ok(Math.abs(x - y) < 1e-6 * Math.max(1, Math.abs(y)), `${what}: ${x} vs ${y}`);
    close(a.average_ttft_ms, ttftA.reduce((p, q) => p + q) / 7, "average ttft");
    close(a.peak_tokens_per_second, 43, "peak tok/s");
    close(a.ttft_ms.p50, pct(ttftA, 0.5), "ttft p50");
    close(a.ttft_ms.p95, pct(ttftA, 0.95), "ttft p95");
    close(a.ttft_ms.p99, pct(ttftA, 0.99), "ttft p99");
    close(a.ttft_ms.stddev, sd(ttftA), "ttft stddev");
    close(a.tokens_per_second.p50, pct(tpsA, 0.5), "tok/s p50");
    close(a.total_ms.p95, pct(rows.map((r) => r.total), 0.95), "total p95");
    assert.equal(b.model_name, "beta, two");
    assert.equal(b.requests, 1);
    close(b.ttft_ms.p99, 50, "one request");
    assert.equal(b.ttft_ms.stddev, 0);
    assert.ok(s.resources.samples >= 1, "lir top's samples are in the store");
    assert.ok(s.resources.system_ram_used_bytes.max > 0);

    const all = JSON.parse((await run(LIR, ["stats", "--data-dir", dir, "--period", "all", "--json"])).stdout);
    assert.equal(all.requests.length, 9);

    const c = await run(LIR, ["stats", "--data-dir", dir, "--csv"]);
    assert.equal(c.code, 0, c.stderr);
    const lines = c.stdout.trim().split("\n");
    assert.equal(lines[0], "timestamp_ms,loaded_model_id,model_name,prompt_tokens,completion_tokens,total_tokens," +
      "finish_reason,total_ms,ttft_ms,generation_ms,tokens_per_second,prompt_tokens_per_second");
    assert.equal(lines.length, 1 + 8);
    assert.ok(lines.some((l) => l.includes(',m-b,"beta, two",5,12,17,length,250.000,50.000,200.000,60.000,900.000')));

    const t = await run(LIR, ["stats", "--data-dir", dir]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /8 requests on 2 models/);
    assert.match(t.stdout, /\nalpha +7 +280 /);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lir serve, lir top over it, lir stats from its store", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-e2e-"));
  fs.mkdirSync(path.join(dir, "models"));
  fs.copyFileSync(path.join(ROOT, "models/kjv-11m-q8_0.gguf"), path.join(dir, "models/kjv.gguf"));
  const srv = spawn(LIR, ["serve", "--port", "0", "--models-dir", path.join(dir, "models"), "--data-dir",
    path.join(dir, "data")], { env: { ...process.env, LIR_HOST: "" } });
  let log = "";
  srv.stdout.on("data", (d) => (log += d));
  srv.stderr.on("data", (d) => (log += d));
  try {
    let base;
    for (let i = 0; i < 100 && !base; i++) {
      base = log.match(/listening on (http:\/\/[0-9.:]+)/)?.[1];
      if (!base) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(base, `lir serve started: ${log}`);
    const g = await fetch(`${base}/api/generate`, { method: "POST", body: JSON.stringify({ model: "kjv",
      prompt: "And God said", stream: false, options: { num_predict: 8, temperature: 0 } }) });
    assert.equal(g.status, 200);
    const gj = await g.json();
    assert.equal(gj.eval_count, 8);

    const t = await run(LIR, ["top", "--once", "--json"], { env: { LIR_HOST: base } });
    assert.equal(t.code, 0, t.stderr);
    const v = JSON.parse(t.stdout);
    assert.equal(v.source, "server");
    assert.equal(v.resources.system_ram_bytes, memTotal());
    assert.equal(v.resources.active_models, 1);
    assert.equal(v.models.length, 1);
    assert.equal(v.models[0].model.name, "kjv");
    assert.equal(v.models[0].status, "Ready");
    assert.equal(v.models[0].metrics.total_requests, 1);
    assert.ok(v.models[0].metrics.average_ttft_ms > 0);
  } finally {
    srv.kill("SIGTERM");
    await new Promise((r) => srv.on("exit", r));
  }
  try {
    const s = await run(LIR, ["stats", "--data-dir", path.join(dir, "data"), "--json"]);
    assert.equal(s.code, 0, s.stderr);
    const j = JSON.parse(s.stdout);
    assert.equal(j.requests.length, 1);
    assert.equal(j.models[0].model_name, "kjv");
    assert.equal(j.requests[0].usage.completion_tokens, 8);
    assert.ok(j.requests[0].metrics.total_ms >= j.requests[0].metrics.ttft_ms);
    assert.ok(j.resources.samples >= 1, "the server's monitor samples are in the store");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

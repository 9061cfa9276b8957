// `lir ps`, `lir load`, `lir unload` against a fake server speaking Ollama's endpoints (GET /api/ps,
// POST /api/generate with keep_alive), reached through LIR_HOST in its spellings
// ("http://127.0.0.1:P", "127.0.0.1:P", "0.0.0.0:P"): the exact requests the commands send,
// their output (table and --json), the server's error messages; and without a server: ps says
// nothing is loaded, load checks and loads the model in-process (timing and memory reported, a
// memory refusal names what would fit), unload says there is nothing to unload. Last, end to end
// against lir's own server (`lir serve` on a free port): load, ps, unload, unload --all.
//
// Environment: LIR_BIN (default build/lir).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const MODEL = path.join(ROOT, "models/kjv-11m-q8_0.gguf");

// The server runs in this process: the commands must run asynchronously.
function lir(args, host) {
  return new Promise((resolve) => {
    execFile(LIR, args, { env: { ...process.env, LIR_HOST: host }, timeout: 60_000, encoding: "utf8" },
      (err, out, errOut) => resolve({ code: err ? (err.code ?? 1) : 0, out, err: errOut, signal: err?.signal }));
  });
}

const LOADED = [
  { name: "llama3.2:1b", model: "llama3.2:1b", size: 1_600_000_000, size_vram: 0, digest: "a80c4f17acd55265feec403c",
    expires_at: "2026-11-30T18:00:00Z", details: { family: "llama" } },
  { name: "qwen2.5:7b", model: "qwen2.5:7b", size: 5_000_000_000, size_vram: 5_000_000_000, digest: "845dbda0ea48ed749",
    expires_at: "2026-11-30T19:00:00Z", details: { family: "qwen2" } },
];

let server, port, reqs = [];

// A free port with nothing listening (for the no-server cases).
async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

before(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const rec = { method: req.method, url: req.url, body: body ? JSON.parse(body) : null };
      reqs.push(rec);
      const send = (code, obj) => {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(JSON.stringify(obj));
      };
      if (req.method === "GET" && req.url === "/api/ps") return send(200, { models: LOADED });
      if (req.method === "POST" && req.url === "/api/generate") {
        const m = rec.body?.model;
        if (m === "missing") return send(404, { error: "model 'missing' not found" });
        const unload = rec.body.keep_alive === 0;
        return send(200, { model: m, created_at: new Date().toISOString(), response: "", done: true,
          done_reason: unload ? "unload" : "load" });
      }
      send(404, { error: `no route ${req.method} ${req.url}` });
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  port = server.address().port;
});

after(() => server?.close());

describe("against a server (fake Ollama endpoints)", () => {
  it("ps: GET /api/ps, table and --json", async () => {
    reqs = [];
    const r = await lir(["ps"], `http://127.0.0.1:${port}`);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(reqs.map((q) => `${q.method} ${q.url}`), ["GET /api/ps"]);
    const lines = r.out.trim().split("\n");
    assert.match(lines[0], /^NAME\s+ID\s+SIZE\s+PROCESSOR\s+UNTIL$/);
    assert.match(lines[1], /^llama3\.2:1b\s+a80c4f17acd5\s+1\.6 GB\s+100% CPU\s+2026-11-30T18:00:00Z$/);
    assert.match(lines[2], /^qwen2\.5:7b\s+845dbda0ea48\s+5\.0 GB\s+100% GPU\s+2026-11-30T19:00:00Z$/);
    const j = JSON.parse((await lir(["ps", "--json"], `127.0.0.1:${port}`)).out);
    assert.equal(j.server, `http://127.0.0.1:${port}`);
    assert.deepEqual(j.models, LOADED);
    const any = await lir(["ps", "--json"], `0.0.0.0:${port}`); // every interface = this machine
    assert.equal(JSON.parse(any.out).server, `http://127.0.0.1:${port}`);
  });

  it("load: POST /api/generate with model, keep_alive and options; server errors reported", async () => {
    reqs = [];
    const r = await lir(["load", "llama3.2:1b", "--ctx", "8192", "--threads", "4", "--keep-alive", "10m"], `127.0.0.1:${port}`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^loaded llama3\\.2:1b on http://127\\.0\\.0\\.1:${port} in [0-9.]+ s\\n$`));
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].url, "/api/generate");
    assert.deepEqual(reqs[0].body, { model: "llama3.2:1b", stream: false, keep_alive: "10m",
      options: { num_ctx: 8192, num_thread: 4 } });
    reqs = [];
    const j = await lir(["load", "qwen2.5:7b", "--keep-alive", "-1", "--json"], `127.0.0.1:${port}`);
    assert.equal(j.code, 0, j.err);
    assert.deepEqual(reqs[0].body, { model: "qwen2.5:7b", stream: false, keep_alive: -1 });
    const o = JSON.parse(j.out);
    assert.equal(o.loaded, true);
    assert.equal(o.in_process, false);
    assert.ok(o.duration_ms >= 0);
    const bad = await lir(["load", "missing"], `127.0.0.1:${port}`);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^lir: load 'missing': .*HTTP 404: model 'missing' not found\n$/);
  });

  it("unload: keep_alive 0 for one model, or for every model of /api/ps", async () => {
    reqs = [];
    const r = await lir(["unload", "llama3.2:1b"], `127.0.0.1:${port}`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "unloaded llama3.2:1b\n");
    assert.deepEqual(reqs.map((q) => q.body), [{ model: "llama3.2:1b", keep_alive: 0, stream: false }]);
    reqs = [];
    const all = await lir(["unload", "--all", "--json"], `127.0.0.1:${port}`);
    assert.equal(all.code, 0, all.err);
    assert.deepEqual(reqs.map((q) => `${q.method} ${q.url} ${q.body?.model ?? ""}`),
      ["GET /api/ps ", "POST /api/generate llama3.2:1b", "POST /api/generate qwen2.5:7b"]);
    assert.ok(reqs.slice(1).every((q) => q.body.keep_alive === 0));
    assert.deepEqual(JSON.parse(all.out).unloaded, ["llama3.2:1b", "qwen2.5:7b"]);
    const bad = await lir(["unload", "missing"], `127.0.0.1:${port}`);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /HTTP 404: model 'missing' not found/);
  });
});

describe("without a server", () => {
  it("ps: nothing loaded; unload: nothing to unload (exit 1); usage errors exit 2", async () => {
    const host = `127.0.0.1:${await deadPort()}`;
    const r = await lir(["ps"], host);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^no server running at http:\/\/127\.0\.0\.1:\d+; nothing loaded/);
    assert.deepEqual(JSON.parse((await lir(["ps", "--json"], host)).out), { server: null, models: [] });
    const u = await lir(["unload", "x"], host);
    assert.equal(u.code, 1);
    assert.match(u.err, /^lir: no server running at .*: nothing is loaded\n$/);
    for (const args of [["unload"], ["unload", "a", "--all"], ["load"], ["ps", "x"], ["load", MODEL, "--keep-alive", "soon"]]) {
      const e = await lir(args, host);
      assert.equal(e.code, 2, `${args.join(" ")}: ${e.err}`);
      assert.equal(e.err.trim().split("\n").length, 1);
    }
  });

  it("load: checks and loads in-process, reports timing and memory; a memory refusal names what fits", async () => {
    const host = `127.0.0.1:${await deadPort()}`;
    const r = await lir(["load", MODEL, "--ctx", "256", "--threads", "1", "--json"], host);
    assert.equal(r.code, 0, r.err);
    const o = JSON.parse(r.out);
    assert.equal(o.server, null);
    assert.equal(o.in_process, true);
    assert.equal(o.loaded, true);
    assert.equal(o.path, MODEL);
    assert.equal(o.options.context_size, 256);
    assert.equal(o.options.threads, 1);
    assert.equal(o.options.layers, 8);
    assert.ok(o.duration_ms > 0);
    // weights (11.4 MiB file) + KV + compute, and the process holds at least the weights
    assert.ok(o.memory.ram_bytes > 11e6 && o.memory.ram_bytes < 64e6, `${o.memory.ram_bytes}`);
    assert.ok(o.memory.process_ram_bytes > 11e6, `${o.memory.process_ram_bytes}`);
    const t = await lir(["load", MODEL, "--ctx", "256"], host);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /no server at .*: loaded .*kjv-11m-q8_0 in-process/);
    assert.match(t.out, /load time\s+[0-9.]+ s/);
    assert.match(t.out, /context\s+256 tokens/);
    const big = await lir(["load", MODEL, "--ctx", "16777216"], host);
    assert.equal(big.code, 1);
    assert.match(big.err, /needs .* of RAM .* available; fits with context_size=\d+/);
    assert.equal(big.err.trim().split("\n").length, 1);
  });
});

describe("against lir serve", () => {
  let srv, dir, url;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-cli-ps-"));
    fs.copyFileSync(MODEL, path.join(dir, "kjv.gguf"));
    srv = spawn(LIR, ["serve", "--port", "0", "--models-dir", dir, "--quiet"], { stdio: ["ignore", "pipe", "pipe"] });
    url = await new Promise((resolve, reject) => {
      let text = "";
      const look = (d) => {
        text += d;
        const m = text.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
        if (m) resolve(m[1]);
      };
      srv.stdout.on("data", look);
      srv.stderr.on("data", look);
      srv.on("exit", (c) => reject(new Error(`lir serve exited (${c}): ${text}`)));
      setTimeout(() => reject(new Error(`lir serve did not start: ${text}`)), 20_000).unref();
    });
  });
  after(() => {
    srv?.kill("SIGTERM");
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("load, ps, unload, unload --all", async () => {
    assert.deepEqual(JSON.parse((await lir(["ps", "--json"], url)).out).models, []);
    const l = await lir(["load", "kjv", "--keep-alive", "10m"], url);
    assert.equal(l.code, 0, l.err);
    let ps = JSON.parse((await lir(["ps", "--json"], url)).out);
    assert.equal(ps.server, url);
    assert.deepEqual(ps.models.map((m) => m.name), ["kjv"]);
    const until = Date.parse(ps.models[0].expires_at) - Date.now();
    assert.ok(until > 9 * 60e3 && until <= 10 * 60e3 + 5e3, `keep-alive 10m: expires in ${until} ms`);
    assert.match((await lir(["ps"], url)).out, /^kjv\s+\S+\s+[0-9.]+ MB\s+100% CPU\s+\S+$/m);
    const u = await lir(["unload", "kjv"], url);
    assert.equal(u.code, 0, u.err);
    assert.deepEqual(JSON.parse((await lir(["ps", "--json"], url)).out).models, []);
    assert.equal((await lir(["load", "kjv"], url)).code, 0);
    const all = await lir(["unload", "--all", "--json"], url);
    assert.equal(all.code, 0, all.err);
    assert.deepEqual(JSON.parse(all.out).unloaded, ["kjv"]);
    assert.deepEqual(JSON.parse((await lir(["ps", "--json"], url)).out).models, []);
    const bad = await lir(["load", "not-there"], url);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not-there/);
  });
});

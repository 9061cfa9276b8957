// Hostile and broken input to `lir serve`: each gets the right 4xx (a JSON error body in the
// API's shape) or a clean close, and the server answers the next request. Also: the API key
// (missing / wrong / right, and no start beyond loopback without one), CORS off by default and
// the allow-list, the bounded queue (503 + Retry-After), the per-request timeout (504), and a
// client that disconnects mid-stream (its generation is cancelled: the cancel counter in
// /metrics moves and the model goes idle at once, well before the stream would have ended).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { makeModels, startServer, postJson, getJson, MODEL, LIR } from "./server_util.mjs";

let dir, srv;
before(async () => {
  // "slow": big enough that 1800 tokens take well over the 2 s timeouts below on any machine
  dir = await makeModels({ slow: ["--n-embd", "768", "--n-layer", "8", "--n-head", "12", "--n-head-kv", "4",
    "--n-ff", "2048", "--n-vocab", "512", "--type", "Q8_0", "--n-ctx", "4096"] });
  srv = await startServer(dir, ["--quiet", "--idle-timeout", "2"]);
});
after(async () => { await srv?.stop(); });

const CHAT = (extra = {}) => ({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2, ...extra });

async function healthy(s = srv) {
  const r = await postJson(`${s.url}/v1/chat/completions`, CHAT({ seed: 1 }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].finish_reason, "length");
}

function openaiError(r, status, re) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json?.error, `not an OpenAI error body: ${r.text}`);
  assert.equal(typeof r.json.error.message, "string");
  assert.ok("type" in r.json.error && "param" in r.json.error && "code" in r.json.error);
  if (re) assert.match(r.json.error.message, re);
}

// Raw HTTP over a socket: writes parts (with a delay between them), returns what came back.
function rawHttp(port, parts, gapMs = 0, { waitClose = true } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    const t0 = Date.now();
    sock.on("data", (d) => { data += d; });
    sock.on("error", () => {});
    sock.on("close", () => resolve({ data, ms: Date.now() - t0, closed: true }));
    sock.on("connect", async () => {
      for (const p of parts) {
        if (sock.destroyed || data) break; // answered early (413): stop sending, read the answer
        await new Promise((r) => setTimeout(r, 2));
        sock.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (!waitClose) setTimeout(() => { sock.destroy(); }, 1000);
    });
  });
}

describe("bad input", () => {
  it("malformed JSON, non-object bodies, NUL bytes: 400 in each API's shape", async () => {
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, "{\"model\": "), 400, /not valid JSON/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, "[1,2]"), 400, /JSON object/);
    openaiError(await postJson(`${srv.url}/v1/completions`, "{\"model\":\"tiny\",\"prompt\":\"a\u0000b\"}"), 400);
    const o = await postJson(`${srv.url}/api/generate`, "not json");
    assert.equal(o.status, 400);
    assert.equal(typeof o.json.error, "string");
    await healthy();
  });

  it("wrong types and huge numbers: 400 naming the field", async () => {
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ max_tokens: "ten" })), 400, /max_tokens/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ max_tokens: 1e30 })), 400, /max_tokens/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ temperature: 1e308 })), 400, /temperature/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, '{"model":"tiny","messages":[],"seed":1e999}'), 400);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`,
      '{"model":"tiny","messages":[{"role":"user","content":"x"}],"max_tokens":123456789012345678901234567890}'), 400);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ messages: "hi" })), 400, /messages/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ messages: [{ role: "user", content: 5 }] })), 400);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ stream: "yes" })), 400, /stream/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ stop: [1, 2] })), 400, /stop/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ model: 42 })), 400, /model/);
    const o = await postJson(`${srv.url}/api/chat`, { model: MODEL, messages: [{ role: "user", content: "x" }],
      options: { num_predict: "many" } });
    assert.equal(o.status, 400);
    assert.match(o.json.error, /num_predict/);
    await healthy();
  });

  it("out-of-range parameters: 400 with the allowed range", async () => {
    for (const [k, v] of [["temperature", -1], ["top_p", 1.5], ["frequency_penalty", 3], ["max_tokens", 40000],
      ["repeat_penalty", 0], ["top_k", -5], ["mirostat", 7]])
      openaiError(await postJson(`${srv.url}/v1/completions`, { model: MODEL, prompt: "x", [k]: v }), 400, new RegExp(k));
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ stop: Array(17).fill("x") })), 400, /stop/);
    await healthy();
  });

  it("unknown models and path traversal: 404 / 400, never a file outside the models directory", async () => {
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ model: "missing" })), 404);
    for (const m of ["../../etc/passwd", "/etc/passwd", `${dir}/tiny.gguf`, "a/../tiny", "..", "tiny\\x", "a//b", ""])
      openaiError(await postJson(`${srv.url}/v1/chat/completions`, CHAT({ model: m })), m === "" ? 400 : 400);
    const o = await postJson(`${srv.url}/api/show`, { model: "../tiny" });
    assert.equal(o.status, 400);
    openaiError(await postJson(`${srv.url}/lir/v1/models/load`, { model: "/etc/hostname" }), 400);
    openaiError(await getJson(`${srv.url}/v1/nothing-here`), 404, /no such endpoint/);
    await healthy();
  });

  it("a 10 MB body: 413 (with Content-Length and chunked)", async () => {
    const big = JSON.stringify({ model: MODEL, prompt: "x".repeat(10 << 20) });
    openaiError(await postJson(`${srv.url}/v1/completions`, big), 413, /limit/);
    // chunked: no Content-Length, the limit is found while reading
    const head = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const parts = [head];
    for (let i = 0; i < 10; i++) parts.push(`100000\r\n${"y".repeat(0x100000)}\r\n`);
    parts.push("0\r\n\r\n");
    const r = await rawHttp(srv.port, parts);
    assert.match(r.data, /^HTTP\/1\.1 413/, r.data.slice(0, 200));
    assert.match(r.data, /"error"/);
    await healthy();
  });

  it("deep nesting: 400, no stack overflow", async () => {
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, "[".repeat(200000) + "]".repeat(200000)), 400, /deeper/);
    openaiError(await postJson(`${srv.url}/v1/chat/completions`, `{"model":"tiny","x":${"{\"a\":".repeat(100)}1${"}".repeat(100)}}`),
      400, /deeper/);
    await healthy();
  });

  it("a slow client trickling bytes is served; one that stalls is closed after the idle timeout", async () => {
    const body = JSON.stringify(CHAT({ seed: 1 }));
    const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    const slow = rawHttp(srv.port, req.match(/[\s\S]{1,8}/g), 5); // 8 bytes every 5 ms
    await healthy(); // others are served meanwhile
    const r = await slow;
    assert.match(r.data, /^HTTP\/1\.1 200/);
    assert.match(r.data, /"finish_reason":"length"/);
    // headers never finished: the server closes the connection (idle timeout 2 s)
    const stalled = await rawHttp(srv.port, ["POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le"]);
    assert.ok(stalled.ms >= 1500 && stalled.ms < 10000, `closed after ${stalled.ms} ms`);
    await healthy();
  });

  it("a client that disconnects mid-stream cancels its generation", async () => {
    const metric = async (name) => {
      const t = (await getJson(`${srv.url}/metrics`)).text;
      const m = t.match(new RegExp(`^${name} (\\d+)`, "m"));
      return m ? Number(m[1]) : NaN;
    };
    const before = await metric("lir_generations_cancelled_total");
    const genBefore = await metric("lir_generated_tokens_total");
    const ac = new AbortController();
    const r = await fetch(`${srv.url}/v1/completions`, { method: "POST", signal: ac.signal,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "slow", prompt: "go", max_tokens: 1500, seed: 1, stream: true }) });
    assert.equal(r.status, 200);
    const reader = r.body.getReader();
    await reader.read(); // the first event
    ac.abort();
    const t0 = Date.now();
    let after = before;
    while (Date.now() - t0 < 10000 && after === before) {
      await new Promise((res) => setTimeout(res, 50));
      after = await metric("lir_generations_cancelled_total");
    }
    assert.equal(after, before + 1, "the generation was not cancelled");
    // cancelled ones are not counted as completed generations, and the model is idle again
    assert.equal(await metric("lir_generated_tokens_total"), genBefore);
    const loaded = (await getJson(`${srv.url}/lir/v1/models/loaded`)).json.models;
    assert.equal(loaded.find((m) => m.model.name === "slow").active_requests, 0);
    await healthy();
  });
});

describe("security and limits", () => {
  it("API key: 401 without or with a wrong key, 200 with it (Bearer)", async () => {
    const s = await startServer(dir, ["--quiet", "--api-key", "s3cret-key"]);
    try {
      openaiError(await postJson(`${s.url}/v1/chat/completions`, CHAT()), 401, /API key/);
      openaiError(await postJson(`${s.url}/v1/chat/completions`, CHAT(), { authorization: "Bearer s3cret-kez" }), 401);
      openaiError(await postJson(`${s.url}/v1/chat/completions`, CHAT(), { authorization: "Bearer s3cret-key-longer" }), 401);
      const o = await getJson(`${s.url}/api/tags`);
      assert.equal(o.status, 401);
      assert.equal(typeof o.json.error, "string");
      const ok = await postJson(`${s.url}/v1/chat/completions`, CHAT(), { authorization: "Bearer s3cret-key" });
      assert.equal(ok.status, 200, ok.text);
    } finally { await s.stop(); }
  });

  it("binding beyond loopback without an API key refuses to start", async () => {
    const p = spawn(LIR, ["serve", "--host", "0.0.0.0", "--port", "0", "--models-dir", dir],
      { env: { ...process.env, LIR_API_KEY: "", LIR_HOST: "" } });
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    const code = await new Promise((res) => p.on("exit", res));
    assert.equal(code, 2);
    assert.match(err, /API key/);
  });

  it("CORS: off by default; the allow-list answers preflights and tags responses", async () => {
    const plain = await fetch(`${srv.url}/api/tags`, { headers: { origin: "http://evil.example" } });
    assert.equal(plain.headers.get("access-control-allow-origin"), null);
    const pre0 = await fetch(`${srv.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: "http://evil.example" } });
    assert.equal(pre0.status, 403);
    const s = await startServer(dir, ["--quiet", "--cors-origin", "http://app.example"]);
    try {
      const pre = await fetch(`${s.url}/v1/chat/completions`, { method: "OPTIONS",
        headers: { origin: "http://app.example", "access-control-request-method": "POST" } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), "http://app.example");
      assert.match(pre.headers.get("access-control-allow-headers"), /Authorization/);
      const r = await fetch(`${s.url}/api/tags`, { headers: { origin: "http://app.example" } });
      assert.equal(r.headers.get("access-control-allow-origin"), "http://app.example");
      const other = await fetch(`${s.url}/api/tags`, { headers: { origin: "http://evil.example" } });
      assert.equal(other.headers.get("access-control-allow-origin"), null);
    } finally { await s.stop(); }
  });

  it("SIGTERM during a stream: the stream ends and the server exits 0 promptly", async () => {
    const s = await startServer(dir, ["--quiet"]);
    const r = await fetch(`${s.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "slow", prompt: "go", max_tokens: 3000, seed: 1, stream: true }) });
    const reader = r.body.getReader();
    await reader.read();
    const t0 = Date.now();
    const code = await s.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 10000, `exit took ${Date.now() - t0} ms`);
    let ended = false;
    try { while (!(await reader.read()).done); ended = true; } catch { ended = true; }
    assert.ok(ended);
  });

  it("a full queue answers 503 with Retry-After; the timeout answers 504", async () => {
    const s = await startServer(dir, ["--quiet", "--max-queue", "1", "--timeout", "2"]);
    try {
      const ac = new AbortController();
      const long = fetch(`${s.url}/v1/completions`, { method: "POST", signal: ac.signal,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "slow", prompt: "go", max_tokens: 1800, seed: 1, stream: true }) });
      const first = await long;
      assert.equal(first.status, 200);
      const busy = await postJson(`${s.url}/v1/chat/completions`, CHAT());
      openaiError(busy, 503, /busy/);
      assert.equal(busy.headers.get("retry-after"), "1");
      const rest = await first.text().catch(() => "");
      // the long stream ran into the 2 s timeout: it ends with an error event, not [DONE]
      assert.match(rest, /timeout/);
      assert.doesNotMatch(rest, /\[DONE\]/);
      const t = await postJson(`${s.url}/v1/completions`, { model: "slow", prompt: "go", max_tokens: 1800, seed: 1 });
      openaiError(t, 504, /timeout/);
      // the timed-out generation ends at its next token; then the queue has room again
      for (let i = 0; i < 100 && !/^lir_queue_length 0$/m.test((await getJson(`${s.url}/metrics`)).text); i++)
        await new Promise((res) => setTimeout(res, 50));
      // Ollama's shape for the same (greedy: sampled with Ollama's default temperature this random
      // model may draw end-of-generation early, as seed 1 does after 62 tokens; greedy runs on)
      const o = await postJson(`${s.url}/api/generate`, { model: "slow", prompt: "go", stream: false,
        options: { num_predict: 1800, seed: 1, temperature: 0 } });
      assert.equal(o.status, 504);
      assert.match(o.json.error, /timeout/);
    } finally { await s.stop(); }
  });
});

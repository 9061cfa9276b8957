// The runtime's request router against lir's own server (issue 6: "test remote backends against
// lir's own server once the server issue lands"): `lir run MODEL --remote ollama:URL` and
// `--remote openai:URL/v1` stream from a running `lir serve` exactly the text that the server's
// own /api/chat and /v1/chat/completions answer for the same request (greedy, so deterministic),
// and a fallback order whose first backend is down reaches the server through the second.
//
// Environment: LIR_BIN, LIR_GEN (default build/lir, build/lir-gen).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { makeModels, startServer, postJson, LIR, ROOT } from "./server_util.mjs";

const PROMPT = "And God said";
const N = 24;
let srv, empty;

function lir(args) {
  return new Promise((resolve) => {
    execFile(LIR, args, { env: { ...process.env, LIR_MODELS: empty, LIR_HOST: "127.0.0.1:9" }, timeout: 60_000,
      encoding: "utf8" }, (err, out, errOut) => resolve({ code: err ? (err.code ?? 1) : 0, out, err: errOut }));
  });
}

async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

before(async () => {
  const dir = await makeModels();
  fs.symlinkSync(path.join(ROOT, "models/kjv-11m-q8_0.gguf"), path.join(dir, "kjv.gguf"));
  empty = fs.mkdtempSync(path.join(os.tmpdir(), "lir-remote-empty-")); // "kjv" is not a local model
  srv = await startServer(dir, ["--quiet"]);
});
after(async () => {
  await srv?.stop();
  if (empty) fs.rmSync(empty, { recursive: true, force: true });
});

describe("lir run --remote against lir serve", () => {
  it("ollama: the streamed text equals the server's own /api/chat answer", async () => {
    const direct = await postJson(`${srv.url}/api/chat`, { model: "kjv", stream: false,
      messages: [{ role: "user", content: PROMPT }], options: { temperature: 0, num_predict: N, seed: 1 } });
    assert.equal(direct.status, 200, direct.text);
    const want = direct.json.message.content;
    assert.ok(want.length > 10, want);
    const r = await lir(["run", "kjv", PROMPT, "--remote", `ollama:${srv.url}`, "-n", String(N), "--temp", "0", "--seed", "1"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, want + "\n");
  });

  it("openai: the streamed text equals the server's own /v1/chat/completions answer", async () => {
    const direct = await postJson(`${srv.url}/v1/chat/completions`, { model: "kjv", temperature: 0, max_tokens: N,
      seed: 1, messages: [{ role: "user", content: PROMPT }] });
    assert.equal(direct.status, 200, direct.text);
    const want = direct.json.choices[0].message.content;
    const r = await lir(["run", "kjv", PROMPT, "--remote", `openai:${srv.url}/v1`, "-n", String(N), "--temp", "0", "--seed", "1"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, want + "\n");
  });

  it("a dead first backend falls back to the server", async () => {
    const dead = await deadPort();
    const a = await lir(["run", "kjv", PROMPT, "--remote", `ollama:http://127.0.0.1:${dead}`, "--remote",
      `ollama:${srv.url}`, "-n", String(N), "--temp", "0", "--seed", "1"]);
    const b = await lir(["run", "kjv", PROMPT, "--remote", `ollama:${srv.url}`, "-n", String(N), "--temp", "0", "--seed", "1"]);
    assert.equal(a.code, 0, a.err);
    assert.equal(a.out, b.out);
  });
});

// `lir run --remote KIND:URL`: the runtime's router from the command line, against fake servers
// speaking Ollama's and OpenAI's streaming APIs (in this process):
//  - a model that is not local is served remotely: the exact request (/api/chat with the prompt as
//    the user's message and the sampling options), the streamed text, --verbose counts as the
//    server reported them, --raw uses /api/generate;
//  - fallback order: a refusing backend first, then an OpenAI-compatible one (/v1/chat/completions);
//  - a local model with a remote fallback: answered natively when it can, by the server when the
//    native engine fails before any text (a prompt longer than the context);
//  - every backend down: exit 1 naming the last backend; --remote-model names the model for servers.
//
// Environment: LIR_BIN (default build/lir).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const MODEL = path.join(ROOT, "models/kjv-11m-q8_0.gguf");

function lir(args, input = "") {
  return new Promise((resolve) => {
    const p = execFile(LIR, args, { env: { ...process.env, LIR_HOST: "127.0.0.1:9" }, timeout: 60_000, encoding: "utf8" },
      (err, out, errOut) => resolve({ code: err ? (err.code ?? 1) : 0, out, err: errOut }));
    p.stdin.end(input);
  });
}

let server, port, reqs = [];

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
      const b = body ? JSON.parse(body) : null;
      reqs.push({ url: req.url, body: b });
      if (req.url === "/api/chat" || req.url === "/api/generate") {
        res.writeHead(200, { "Content-Type": "application/x-ndjson" });
        const piece = (t) => JSON.stringify(req.url === "/api/chat"
          ? { model: b.model, message: { role: "assistant", content: t }, done: false }
          : { model: b.model, response: t, done: false }) + "\n";
        res.write(piece("Hello "));
        res.write(piece("from the "));
        res.write(piece("server"));
        res.end(JSON.stringify({ model: b.model, done: true, done_reason: "stop", prompt_eval_count: 5, eval_count: 3 }) + "\n");
      } else if (req.url === "/v1/chat/completions") {
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        for (const t of ["OpenAI ", "says hi"])
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: t } }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2 } })}\n\n`);
        res.end("data: [DONE]\n\n");
      } else {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: "no route" }));
      }
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  port = server.address().port;
});

after(() => server?.close());

describe("lir run --remote", () => {
  it("serves a model that is not local from an Ollama server", async () => {
    reqs = [];
    const r = await lir(["run", "llama3:8b", "Hi there", "--remote", `ollama:http://127.0.0.1:${port}`,
      "-n", "20", "--temp", "0.5", "--seed", "3", "--verbose"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "Hello from the server\n");
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].url, "/api/chat");
    assert.equal(reqs[0].body.model, "llama3:8b");
    assert.deepEqual(reqs[0].body.messages, [{ role: "user", content: "Hi there" }]);
    assert.equal(reqs[0].body.options.num_predict, 20);
    assert.equal(reqs[0].body.options.temperature, 0.5);
    assert.equal(typeof reqs[0].body.options.seed, "number");
    assert.match(r.err, /^prompt eval count:\s+5 token\(s\)$/m);
    assert.match(r.err, /^eval count:\s+3 token\(s\)$/m);
    assert.match(r.err, /^load duration:\s+0s$/m);

    reqs = [];
    const raw = await lir(["run", "llama3:8b", "Once", "--raw", "--no-echo", "--remote", `ollama:http://127.0.0.1:${port}`]);
    assert.equal(raw.code, 0, raw.err);
    assert.equal(raw.out, "Hello from the server\n");
    assert.equal(reqs[0].url, "/api/generate");
    assert.equal(reqs[0].body.prompt, "Once");
  });

  it("falls back from a refusing backend to an OpenAI-compatible one", async () => {
    reqs = [];
    const dead = await deadPort();
    const r = await lir(["run", "qwen", "Hi", "--remote", `ollama:http://127.0.0.1:${dead}`,
      "--remote", `openai:http://127.0.0.1:${port}/v1`]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "OpenAI says hi\n");
    assert.deepEqual(reqs.map((q) => q.url), ["/v1/chat/completions"]);
    assert.equal(reqs[0].body.model, "qwen");
    reqs = [];
    const named = await lir(["run", "qwen", "Hi", "--remote", `openai:http://127.0.0.1:${port}`, "--remote-model", "qwen2.5-7b"]);
    assert.equal(named.code, 0, named.err);
    assert.equal(reqs[0].body.model, "qwen2.5-7b");
    const down = await lir(["run", "qwen", "Hi", "--remote", `ollama:http://127.0.0.1:${dead}`]);
    assert.equal(down.code, 1);
    assert.match(down.err, new RegExp(`^lir: generate: model 'qwen': .*127\\.0\\.0\\.1:${dead}`));
    assert.equal(down.err.trim().split("\n").length, 1);
    const bad = await lir(["run", "qwen", "Hi", "--remote", "gopher:x"]);
    assert.equal(bad.code, 2);
  });

  it("a local model answers natively, and falls back when the native engine fails first", async () => {
    reqs = [];
    const native = await lir(["run", MODEL, "And God said", "-n", "8", "--threads", "1",
      "--remote", `ollama:http://127.0.0.1:${port}`]);
    assert.equal(native.code, 0, native.err);
    assert.equal(reqs.length, 0, "the server was not asked");
    const plain = await lir(["run", MODEL, "And God said", "-n", "8", "--threads", "1"]);
    assert.equal(native.out, plain.out);

    // a context of 8 tokens: the native engine refuses this prompt before any text
    const long = "In the beginning God created the heaven and the earth, and the earth was without form";
    const fb = await lir(["run", MODEL, long, "--ctx", "8", "--no-echo", "--threads", "1",
      "--remote", `ollama:http://127.0.0.1:${port}`]);
    assert.equal(fb.code, 0, fb.err);
    assert.equal(fb.out, "Hello from the server\n");
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].url, "/api/generate", "a model without a chat template: raw completion");
    assert.equal(reqs[0].body.prompt, long);
    assert.equal(reqs[0].body.model, "kjv-11m-q8_0", "the file's name without .gguf");
    reqs = [];
    const named = await lir(["run", MODEL, long, "--ctx", "8", "--no-echo", "--threads", "1",
      "--remote", `ollama:http://127.0.0.1:${port}`, "--remote-model", "kjv:latest"]);
    assert.equal(named.code, 0, named.err);
    assert.equal(reqs[0].body.model, "kjv:latest");
  });
});

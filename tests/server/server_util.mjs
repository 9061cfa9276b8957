// server_util.mjs — what the tests of `lir serve` share: a models directory with small generated
// models (lir-gen), starting `lir serve --port 0` on it and reading the port it prints, raw HTTP
// helpers (fetch JSON, read an SSE or NDJSON stream), and stopping the server.
// Environment: LIR_BIN (default build/lir), LIR_GEN (default build/lir-gen).
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
export const LIR_GEN = process.env.LIR_GEN ?? path.join(ROOT, "build/lir-gen");
export const MODEL = "tiny"; // llama, 2 layers, n_embd 256, vocab 512: random weights, fast

// Temporary directories made here are removed when the test process exits.
const made = [];
const tmp = (prefix) => { const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix)); made.push(d); return d; };
process.on("exit", () => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

// A temporary models directory holding tiny.gguf (and more models given as {name: lir-gen args}).
export async function makeModels(extra = {}) {
  const dir = tmp("lir-serve-test-");
  const all = { [MODEL]: ["--n-ctx", "2048"], ...extra };
  for (const [name, args] of Object.entries(all))
    await promisify(execFile)(LIR_GEN, [...args, "-o", path.join(dir, `${name}.gguf`)]);
  return dir;
}

// Starts `lir serve` on a free port; resolves to {url, port, proc, stderr(), stop()}.
export function startServer(modelsDir, args = [], env = {}) {
  return new Promise((resolve, reject) => {
    const dataDir = tmp("lir-serve-data-"); // store + snapshots
    const proc = spawn(LIR, ["serve", "--port", "0", "--models-dir", modelsDir, "--data-dir", dataDir, ...args], {
      env: { ...process.env, LIR_HOST: "", LIR_API_KEY: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "", err = "";
    proc.stderr.on("data", (d) => { err += d; });
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+):(\d+)/);
      if (m) resolve({
        url: `${m[1]}:${m[2]}`, port: Number(m[2]), proc, dataDir, stderr: () => err,
        stop: () => new Promise((res) => {
          if (proc.exitCode !== null) return res(proc.exitCode);
          proc.once("exit", (code) => res(code));
          proc.kill("SIGTERM");
        }),
      });
    });
    proc.once("exit", (code) => reject(new Error(`lir serve exited (${code}) before listening: ${err}`)));
    proc.once("error", reject);
  });
}

export async function postJson(url, body, headers = {}) {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: the test says so */ }
  return { status: r.status, headers: r.headers, text, json };
}

export async function getJson(url, headers = {}) {
  const r = await fetch(url, { headers });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// Reads an OpenAI SSE stream: the parsed data events, whether it ended with [DONE], and the text.
export async function readSse(response, pick = (e) => e.choices?.[0]?.delta?.content ?? e.choices?.[0]?.text ?? "") {
  const events = [];
  let done = false, buf = "", text = "";
  const dec = new TextDecoder();
  for await (const chunk of response.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const d = line.slice(6);
        if (d === "[DONE]") { done = true; continue; }
        const e = JSON.parse(d);
        events.push(e);
        text += pick(e);
      }
    }
  }
  return { events, done, text, rest: buf };
}

// `lir chat` context commands across processes, on the default model (models/kjv-11m-q8_0.gguf,
// chatml template), sampled (temperature 0.9, fixed seed) so the generator's state matters too:
//  - /save NAME in one process, /restore NAME in another, then a message: the reply equals the
//    third reply of one process that had the whole conversation (restore survives a restart:
//    KV cache, conversation and sampler state);
//  - a snapshot file with one byte changed is refused (checksum) and the chat goes on as if the
//    /restore had not been typed; a name that could leave the directory is refused;
//  - /truncate N keeps N tokens and the conversation continues; /clear empties the context;
//  - after each reply stderr shows [context U/N tokens, P%], U growing with the conversation.
//
// Environment: LIR_BIN (default build/lir).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const MODEL = path.join(ROOT, "models/kjv-11m-q8_0.gguf");

let dir;

function chat(lines) {
  const args = ["chat", "-m", MODEL, "--template", "chatml", "-n", "16", "--ctx", "256", "--seed", "3",
    "--temp", "0.9", "--threads", "1", "--snapshots-dir", dir];
  const r = spawnSync(LIR, args, { input: lines.join("\n") + "\n", encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `lir chat failed (${r.signal ?? r.status}): ${r.stderr}`);
  return { replies: r.stdout.split("\n").slice(0, -1), err: r.stderr };
}

const usage = (err) => [...err.matchAll(/\[context (\d+)\/256 tokens, (\d+)%\]/g)].map((m) => [+m[1], +m[2]]);

describe("lir chat snapshots", () => {
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "lir-chat-snap-")); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("restores in another process: the next reply equals the uninterrupted conversation's", () => {
    const whole = chat(["In the beginning", "And God said", "Let there be light"]);
    assert.equal(whole.replies.length, 3);
    const first = chat(["In the beginning", "And God said", "/save genesis"]);
    assert.deepEqual(first.replies, whole.replies.slice(0, 2));
    assert.match(first.err, /\[chat\] saved 'genesis'/);
    assert.ok(fs.existsSync(path.join(dir, "genesis.lirsnap")));
    const second = chat(["/restore genesis", "Let there be light"]);
    assert.match(second.err, /\[chat\] restored 'genesis': 4 messages/);
    assert.deepEqual(second.replies, [whole.replies[2]]);
    // usage: after each reply, growing; the restored context is the saved one
    const u = usage(whole.err);
    assert.equal(u.length, 3);
    assert.ok(u[0][0] > 0 && u[0][0] < u[1][0] && u[1][0] < u[2][0], JSON.stringify(u));
    for (const [used, pct] of u) assert.equal(pct, Math.round((100 * used) / 256));
    assert.deepEqual(usage(second.err)[0], u[1]);
  });

  it("refuses a corrupt snapshot and goes on unchanged", () => {
    chat(["In the beginning", "/save bad"]);
    const f = path.join(dir, "bad.lirsnap");
    const b = fs.readFileSync(f);
    b[b.length - 100] ^= 0x01;
    fs.writeFileSync(f, b);
    const plain = chat(["In the beginning", "And God said"]);
    const tried = chat(["In the beginning", "/restore bad", "And God said"]);
    assert.match(tried.err, /checksum mismatch/);
    assert.deepEqual(tried.replies, plain.replies);
    const esc = chat(["/save ../escape", "/restore a/b"]);
    assert.match(esc.err, /snapshot name '\.\.\/escape' starts with '\.'/);
    assert.match(esc.err, /snapshot name has '\/'/);
    assert.ok(!fs.existsSync(path.join(dir, "../escape.lirsnap")));
  });

  it("truncates and clears, and the conversation goes on", () => {
    const r = chat(["In the beginning", "And God said", "/truncate 20", "Let there be light", "/clear", "Amen"]);
    assert.equal(r.replies.length, 4);
    assert.match(r.err, /\[chat\] dropped \d+ tokens after the first 1/);
    const u = usage(r.err); // reply 1, reply 2, truncate, reply 3, clear, reply 4
    assert.equal(u.length, 6, r.err);
    assert.equal(u[2][0], 20);
    assert.ok(u[3][0] > 20 && u[3][0] < u[1][0] + 60, JSON.stringify(u));
    assert.equal(u[4][0], 0);
    assert.ok(r.replies.every((t) => t.length > 0));
  });
});

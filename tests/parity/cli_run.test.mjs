// `lir run`, `lir show`, `lir bench` on the default model (models/kjv-11m-q8_0.gguf) and on a copy
// of it carrying a chat template:
//  - run PROMPT streams the same text as `lir generate -p PROMPT` (greedy, and sampled with the
//    same --seed): run goes through the runtime API, generate through the raw model API;
//  - run --verbose prints Ollama's timing lines on stderr, with the prompt count equal to
//    `lir tokenize` and the eval count equal to the tokens generated;
//  - a prompt from a stdin pipe; a model by name in --models-dir; a model with a chat template gets
//    the prompt as a user message (= generate -p of `lir template`'s rendering);
//  - show --json: fields equal the GGUF's metadata as llama.cpp's reader (node-llama-cpp
//    readGgufFileInfo) reads it; --template / --license print those sections;
//  - bench --json: one sane JSON line per thread count;
//  - errors: one line, exit 1 (run-time) or 2 (usage); --help exits 0.
//
// Environment: LIR_BIN (default build/lir).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readGgufFileInfo } from "node-llama-cpp";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const MODEL = path.join(ROOT, "models/kjv-11m-q8_0.gguf");
const PROMPT = "And God said";
const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const LICENSE = "CC0-1.0 (test licence text)";

let tmp, chatModel;

function lir(args, opts = {}) {
  const r = spawnSync(LIR, args, { input: opts.input ?? "", encoding: "utf8", maxBuffer: 64 << 20, timeout: 60_000,
    env: { ...process.env, LIR_HOST: "127.0.0.1:9", ...(opts.env ?? {}) } });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

function ok(args, opts) {
  const r = lir(args, opts);
  assert.equal(r.code, 0, `lir ${args.join(" ")} failed (${r.signal ?? r.code}): ${r.err}`);
  return r;
}

// Adds string keys at the start of a GGUF's key/value section, padded to a multiple of the
// 32-byte alignment so the tensor data offsets stay valid.
function addStringKeys(src, dst, kv) {
  const buf = fs.readFileSync(src);
  assert.equal(buf.toString("latin1", 0, 4), "GGUF");
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const str = (s) => { const b = Buffer.from(s, "utf8"); return Buffer.concat([u64(b.length), b]); };
  const entry = (k, v) => Buffer.concat([str(k), u32(8), str(v)]);
  let ins = Buffer.concat(Object.entries(kv).map(([k, v]) => entry(k, v)));
  const pad = "lir.test.pad", padLen = entry(pad, "").length;
  ins = Buffer.concat([ins, entry(pad, "x".repeat((256 - ((ins.length + padLen) % 256)) % 256))]);
  const nkv = buf.readBigUInt64LE(16) + BigInt(Object.keys(kv).length + 1);
  fs.writeFileSync(dst, Buffer.concat([buf.subarray(0, 16), u64(nkv), ins, buf.subarray(24)]));
}

const LIR_GEN = process.env.LIR_GEN_BIN ?? path.join(path.dirname(LIR), "lir-gen");
function ok_gen(args) {
  const r = spawnSync(LIR_GEN, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `lir-gen ${args.join(" ")}: ${r.stderr}`);
}

function generateText(model, prompt, extra) {
  return JSON.parse(ok(["generate", "-m", model, "-p", prompt, "--output", "json", "--threads", "1", ...extra]).out).text;
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lir-cli-run-"));
  fs.mkdirSync(path.join(tmp, "models/bible"), { recursive: true });
  chatModel = path.join(tmp, "models/bible/kjv-chat.gguf");
  addStringKeys(MODEL, chatModel, { "tokenizer.chat_template": CHATML, "general.license": LICENSE });
});

after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

describe("lir run", () => {
  it("streams what lir generate -p gives, greedy and sampled with the same seed", () => {
    for (const extra of [["--temp", "0"], ["--temp", "0.8", "--seed", "7"], ["--temp", "0.9", "--top-k", "20", "--top-p", "0.9", "--seed", "3"]]) {
      const run = ok(["run", MODEL, PROMPT, "-n", "24", "--threads", "1", ...extra]).out;
      const gen = generateText(MODEL, PROMPT, ["-n", "24", ...extra]);
      assert.ok(gen.length > 0);
      assert.equal(run, PROMPT + gen + "\n", `lir run ${extra.join(" ")}`);
    }
    const noEcho = ok(["run", MODEL, PROMPT, "-n", "24", "--threads", "1", "--no-echo"]).out;
    assert.equal(noEcho, generateText(MODEL, PROMPT, ["-n", "24"]) + "\n");
  });

  it("constrains the output as lir generate does (--grammar-file, --json, --format json, --json-schema-file)", () => {
    const g = path.join(tmp, "amen.gbnf");
    fs.writeFileSync(g, 'root ::= "Amen" " " ("and" | "or") " " ("so" | "thus")\n');
    const schema = path.join(tmp, "s.json");
    fs.writeFileSync(schema, JSON.stringify({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] }));
    for (const [flags, check] of [
      [["--grammar-file", g], (t) => assert.match(t, /^Amen (and|or) (so|thus)$/)],
      // 40 tokens may end a JSON text early: its start is what the grammar fixes
      [["--json"], (t) => assert.match(t, /^\s*\{/)],
      [["--json-schema-file", schema], (t) => assert.match(t, /^\s*\{\s*("n"|$)/)],
    ]) {
      const extra = ["-n", "40", "--temp", "0.7", "--seed", "5", ...flags];
      const run = ok(["run", MODEL, PROMPT, "--no-echo", "--threads", "1", ...extra]).out;
      const gen = generateText(MODEL, PROMPT, extra);
      assert.equal(run, gen + "\n", flags.join(" "));
      check(gen);
    }
    assert.equal(ok(["run", MODEL, PROMPT, "--no-echo", "--format", "json", "-n", "40", "--threads", "1"]).out,
      generateText(MODEL, PROMPT, ["-n", "40", "--json"]) + "\n");
    const both = lir(["run", MODEL, "x", "--json", "--grammar-file", g]);
    assert.equal(both.code, 2);
  });

  it("--verbose prints Ollama's timing lines with the right counts", () => {
    const r = ok(["run", MODEL, PROMPT, "-n", "16", "--threads", "1", "--verbose", "--temp", "0"]);
    const field = (name) => {
      const m = r.err.match(new RegExp(`^${name}:\\s+(\\S+)`, "m"));
      assert.ok(m, `no "${name}" line in ${JSON.stringify(r.err)}`);
      return m[1];
    };
    const ms = (s) => {
      const m = s.match(/^([0-9.]+)(µs|ms|s)$/);
      assert.ok(m, `duration ${s}`);
      return +m[1] * (m[2] === "s" ? 1000 : m[2] === "ms" ? 1 : 0.001);
    };
    const nPrompt = JSON.parse(ok(["tokenize", "-m", MODEL, PROMPT]).out).length;
    assert.equal(+field("prompt eval count"), nPrompt);
    const gen = JSON.parse(ok(["generate", "-m", MODEL, "-p", PROMPT, "-n", "16", "--output", "json", "--threads", "1"]).out);
    assert.equal(+field("eval count"), gen.n_gen);
    for (const k of ["total duration", "load duration", "prompt eval duration", "eval duration", "time to first token"])
      assert.ok(ms(field(k)) > 0, k);
    assert.ok(+field("prompt eval rate") > 0 && +field("eval rate") > 0);
    assert.ok(ms(field("total duration")) >= ms(field("load duration")) + ms(field("eval duration")) - 0.01);
    assert.ok(ms(field("total duration")) >= ms(field("time to first token")));
    // eval rate = count / duration (both printed rounded)
    const rate = +field("eval count") / (ms(field("eval duration")) / 1000);
    assert.ok(Math.abs(rate - +field("eval rate")) / rate < 0.02, `${rate} vs ${field("eval rate")}`);
    assert.ok(!/loading \[/.test(r.err), "no progress bar when stderr is not a terminal");
  });

  it("reads the prompt from a stdin pipe, and finds a model by name in --models-dir", () => {
    const want = generateText(MODEL, PROMPT, ["-n", "12"]);
    assert.equal(ok(["run", MODEL, "-n", "12", "--threads", "1"], { input: PROMPT + "\n" }).out, PROMPT + want + "\n");
    const viaDir = ok(["run", "bible/kjv-chat", PROMPT, "--raw", "-n", "12", "--threads", "1",
      "--models-dir", path.join(tmp, "models")]).out;
    assert.equal(viaDir, PROMPT + want + "\n");
    const viaEnv = lir(["run", "bible/kjv-chat", PROMPT, "--raw", "-n", "12", "--threads", "1"],
      { env: { LIR_MODELS: path.join(tmp, "models") } });
    assert.equal(viaEnv.code, 0, viaEnv.err);
    assert.equal(viaEnv.out, viaDir);
  });

  it("gives a model with a chat template the prompt as a user message", () => {
    const f = path.join(tmp, "msgs.json");
    fs.writeFileSync(f, JSON.stringify([{ role: "system", content: "Be brief." }, { role: "user", content: PROMPT }]));
    const rendered = ok(["template", "-m", chatModel, "--messages", f, "--add-generation-prompt"]).out;
    assert.match(rendered, /<\|im_start\|>assistant\n$/);
    const want = generateText(chatModel, rendered, ["-n", "10"]);
    const got = ok(["run", chatModel, PROMPT, "--system", "Be brief.", "-n", "10", "--threads", "1"]).out;
    assert.equal(got, want + "\n", "the reply only, of the rendered conversation");
  });

  // A terminal (util-linux `script` gives the command a pseudo-terminal): the load progress bar on
  // stderr, then a chat; /reset gives the first reply again.
  it("on a terminal: progress bar, then a chat loop (/reset, /bye)", (t) => {
    if (spawnSync("script", ["--version"]).status !== 0) return t.skip("no `script` (util-linux) for a pseudo-terminal");
    const cmd = "exec " + [LIR, "run", chatModel, "-n", "12", "--threads", "1", "--temp", "0"].map((a) => `'${a}'`).join(" ");
    const r = spawnSync("script", ["-qfec", cmd, "/dev/null"], { input: "Hello there\n/reset\nHello there\n/bye\n",
      encoding: "utf8", timeout: 60_000, env: { ...process.env, LIR_HOST: "127.0.0.1:9" } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = r.stdout.replace(/\r/g, "");
    assert.match(out, /loading \[#+ *\] +\d+%/);
    assert.match(out, /loading \[#{30}\] 100%/);
    const f = path.join(tmp, "hello.json");
    fs.writeFileSync(f, JSON.stringify([{ role: "user", content: "Hello there" }]));
    const want = generateText(chatModel, ok(["template", "-m", chatModel, "--messages", f, "--add-generation-prompt"]).out,
      ["-n", "12"]);
    assert.ok(want.trim().length > 0);
    assert.equal(out.split(want).length - 1, 2, `two equal replies ${JSON.stringify(want)} in ${JSON.stringify(out)}`);
    assert.match(out, /\[conversation cleared\]/);
  });

  it("on a terminal: Ctrl-C stops a reply and the chat goes on", async (t) => {
    if (spawnSync("script", ["--version"]).status !== 0) return t.skip("no `script` (util-linux) for a pseudo-terminal");
    // -n 0, a 4096-token context, greedy: this reply has no end of generation and runs for over a
    // minute (4061 tokens). The keys are typed as a user would, each after what it answers is on
    // the screen (not on a timer: a loaded machine may take seconds to load the model).
    // `exec`: script(1) runs the command through $SHELL -c; where that is dash (CI's /bin/sh), the
    // shell would stay in the terminal's foreground group beside lir and die of the Ctrl-C, which
    // a user's interactive shell (in a group of its own) never does.
    const cmd = "exec " + [LIR, "run", chatModel, "-n", "0", "--ctx", "4096", "--threads", "1", "--temp", "0"].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qfec", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, LIR_HOST: "127.0.0.1:9" } });
    let out = "";
    const exited = new Promise((resolve) => child.on("close", (code) => resolve(code)));
    child.stdout.on("data", (d) => { out += d.toString("utf8").replace(/\r/g, ""); });
    child.stderr.on("data", (d) => { out += d.toString("utf8").replace(/\r/g, ""); });
    const until = async (what, test, ms = 30_000) => {
      const t0 = Date.now();
      while (!test()) {
        if (Date.now() - t0 > ms || child.exitCode !== null) assert.fail(`waiting for ${what}: ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await until("the chat prompt", () => out.includes(">>> Send a message"));
      child.stdin.write("Hello there\n");
      let replyAt = -1;
      await until("the echo of the message", () => (replyAt = out.indexOf("Hello there\n")) >= 0);
      replyAt += "Hello there\n".length;
      await until("a reply of 20 characters", () => out.length - replyAt >= 20);
      const sent = Date.now();
      child.stdin.write("\x03");
      await until("[stopped] and a new prompt", () => /\[stopped\]\n> $/.test(out), 10_000);
      assert.ok(Date.now() - sent < 10_000, "the reply stops within a token or so of Ctrl-C");
      child.stdin.write("/bye\n");
      assert.equal(await exited, 0, out);
      assert.match(out, /\[stopped\]\n> \/bye/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("errors: one line, exit 1 or 2", () => {
    const bert = path.join(tmp, "bert.gguf");
    ok_gen(["--arch", "bert", "--preset", "tiny", "-o", bert]);
    const cases = [
      [["run"], 2, /no model given/],
      [["run", MODEL, "x", "--temp", "3"], 2, /--temp: 3 is outside \[0, 2\]/],
      [["run", MODEL, "x", "--bogus"], 2, /unknown option '--bogus'/],
      [["run", path.join(tmp, "none.gguf"), "x"], 1, /not found/],
      [["run", MODEL, "x", "--ctx", "16777216"], 1, /needs .* of RAM.*fits with context_size=\d+/],
      [["show"], 2, /no model given/],
      [["show", "nothing-here"], 1, /not found/],
      [["bench", MODEL, "-p", "0", "-n", "0"], 2, /nothing to measure/],
      [["bench", MODEL, "-t", "1,x"], 2, /not an integer/],
      [["run", bert, "x"], 1, /embedding model \(bert\).*lir embed/],
      [["bench", bert], 1, /embedding model \(bert\)/],
    ];
    for (const [args, code, re] of cases) {
      const r = lir(args);
      assert.equal(r.code, code, `lir ${args.join(" ")}: ${r.err}`);
      assert.match(r.err, re, `lir ${args.join(" ")}`);
      assert.equal(r.err.trim().split("\n").length, 1, `one line: ${r.err}`);
      assert.ok(!r.signal);
    }
    for (const c of ["run", "show", "bench", "ps", "load", "unload"]) {
      const r = lir([c, "--help"]);
      assert.equal(r.code, 0, c);
      assert.match(r.out, new RegExp(`usage: lir ${c}`));
    }
  });
});

describe("lir show", () => {
  it("--json fields equal the GGUF's as llama.cpp's reader sees them", async () => {
    for (const file of [MODEL, chatModel]) {
      const s = JSON.parse(ok(["show", file, "--json"]).out);
      const info = await readGgufFileInfo(file);
      const md = info.metadata;
      assert.equal(s.architecture, md.general.architecture);
      assert.equal(s.arch, md.general.architecture);
      assert.equal(s.name, md.general.name);
      assert.equal(s.context_length, md.llama.context_length);
      assert.equal(s.n_ctx_train, md.llama.context_length);
      assert.equal(s.embedding_length, md.llama.embedding_length);
      assert.equal(s.block_count, md.llama.block_count);
      assert.equal(s.n_head, md.llama.attention.head_count);
      assert.equal(s.n_head_kv, md.llama.attention.head_count_kv);
      assert.equal(s.n_ff, md.llama.feed_forward_length);
      assert.equal(s.quantization, "Q8_0");
      assert.equal(md.general.file_type, 7); // llama_ftype MOSTLY_Q8_0
      assert.equal(s.n_vocab, md.tokenizer.ggml.tokens.length);
      assert.equal(s.file_size, fs.statSync(file).size);
      // every scalar key as llama.cpp reads it (floats as f32)
      const flat = {};
      const walk = (o, pre) => {
        for (const [k, v] of Object.entries(o)) {
          if (v && typeof v === "object" && !Array.isArray(v)) walk(v, pre + k + ".");
          else flat[pre + k] = v;
        }
      };
      walk(md, "");
      let n = 0;
      for (const [k, v] of Object.entries(s.metadata)) {
        if (k === "lir.test.pad") continue;
        assert.ok(k in flat, `key ${k} unknown to llama.cpp's reader`);
        if (typeof v === "number" && !Number.isInteger(v)) assert.equal(Math.fround(v), Math.fround(flat[k]), k);
        else assert.deepEqual(v, flat[k], k);
        n++;
      }
      assert.ok(n >= 15, `${n} keys compared`);
      const params = info.tensorInfo.reduce((a, t) => a + t.dimensions.reduce((x, d) => x * Number(d), 1), 0);
      assert.equal(s.n_params, params);
      assert.equal(s.parameters, `${(params / 1e6).toFixed(1)}M`);
      if (file === chatModel) {
        assert.equal(s.template, CHATML);
        assert.equal(s.license, LICENSE);
        assert.deepEqual(s.capabilities, ["completion", "chat"]);
      } else {
        assert.equal(s.template, null);
        assert.deepEqual(s.capabilities, ["completion"]);
      }
    }
  });

  it("text sections and --template / --license", () => {
    const t = ok(["show", chatModel]).out;
    for (const re of [/architecture\s+llama/, /parameters\s+11\.2M/, /quantization\s+Q8_0/, /context length\s+512/,
      /embedding length\s+320/, /Capabilities/, /Template/, /License/])
      assert.match(t, re);
    assert.equal(ok(["show", chatModel, "--template"]).out, CHATML);
    assert.equal(ok(["show", chatModel, "--license"]).out, LICENSE + "\n");
    assert.match(ok(["show", chatModel, "--metadata"]).out, /^general\.architecture\s+"llama"$/m);
  });
});

describe("lir bench", () => {
  it("--json: one sane line per thread count", () => {
    const r = ok(["bench", MODEL, "-p", "32", "-n", "8", "-r", "2", "-t", "1,2", "--json"]);
    const lines = r.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.threads), [1, 2]);
    for (const j of lines) {
      assert.equal(j.model, MODEL);
      assert.equal(j.reps, 2);
      assert.equal(j.type, "Q8_0");
      assert.equal(j.size, fs.statSync(MODEL).size);
      for (const [k, n] of [["pp", 32], ["tg", 8]]) {
        assert.equal(j[k].n, n);
        assert.equal(j[k].samples.length, 2);
        assert.ok(j[k].samples.every((x) => x > 0 && Number.isFinite(x)), k);
        const mean = (j[k].samples[0] + j[k].samples[1]) / 2;
        assert.ok(Math.abs(mean - j[k].tok_s) < 0.01, `${k} mean ${mean} vs ${j[k].tok_s}`);
        const sd = Math.abs(j[k].samples[0] - j[k].samples[1]) / Math.SQRT2;
        assert.ok(Math.abs(sd - j[k].std) < 0.01, `${k} std`);
      }
      // an 11M model on a CPU: far above 1 tok/s and below a billion
      assert.ok(j.pp.tok_s > 10 && j.pp.tok_s < 1e9 && j.tg.tok_s > 1 && j.tg.tok_s < 1e9);
    }
    const table = ok(["bench", MODEL, "-p", "16", "-n", "4", "-r", "1", "-t", "1"]).out;
    assert.match(table, /^\| model\s.*\|\s+t\/s \|$/m);
    assert.match(table, /\|\s+pp16 \|\s+[0-9.]+ ± [0-9.]+ \|/);
    assert.match(table, /\|\s+tg4 \|\s+[0-9.]+ ± [0-9.]+ \|/);
  });
});

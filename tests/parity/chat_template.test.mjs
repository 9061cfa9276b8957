// Chat-template parity with @huggingface/jinja (the renderer of transformers.js and the reference
// named in issue 3).
//
// For every real template in tests/chat/templates/*.jinja x every conversation below x
// add_generation_prompt false/true, the template is rendered by @huggingface/jinja
// (Template(src).render(ctx)) and by `lir template --template FILE --messages CTX.json`, and the
// two outputs must be equal byte for byte. Where the oracle raises (a template's own
// raise_exception, e.g. Gemma's "System role not supported"), lir must fail too, with the
// template's message. Built-in templates (`--template NAME`) must render exactly as the fixture
// they were taken from.
//
// Environment: LIR_BIN (default build/lir), LIR_CHAT_FILTER (regexp on template names).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const FIXTURES = path.join(ROOT, "tests/chat/templates");
const FILTER = process.env.LIR_CHAT_FILTER ? new RegExp(process.env.LIR_CHAT_FILTER) : null;

// Built-in name -> fixture it must equal (src/chat/chat_builtin_data.h).
const BUILTINS = JSON.parse(fs.readFileSync(path.join(ROOT, "tests/chat/builtins.json"), "utf8"));

const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_current_weather",
      description: "Get the current weather in a given location",
      parameters: {
        type: "object",
        properties: {
          location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        },
        required: ["location"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "search",
      description: "Search the web — returns the top results (ünïcödé, \"quotes\", back\\slash)",
      parameters: { type: "object", properties: { q: { type: "string" }, n: { type: "integer", default: 3 } } },
    },
  },
];

const CONVERSATIONS = {
  user_only: [{ role: "user", content: "Hello, how are you?" }],
  system_user: [
    { role: "system", content: "You are a friendly chatbot who always responds in the style of a pirate" },
    { role: "user", content: "How many helicopters can a human eat in one sitting?" },
  ],
  multi_turn: [
    { role: "user", content: "Hello, how are you?" },
    { role: "assistant", content: "I'm doing great. How can I help you today?" },
    { role: "user", content: "I'd like to show off how chat templating works!" },
  ],
  system_multi_turn: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello" },
    { role: "assistant", content: "Hi there" },
    { role: "user", content: "Who are you" },
    { role: "assistant", content: "   I am an assistant   " },
    { role: "user", content: "Another question" },
  ],
  ends_with_assistant: [
    { role: "user", content: "Write a haiku about the sea." },
    { role: "assistant", content: "Waves fold into foam\nsalt wind carries gull voices\nthe tide keeps its time" },
  ],
  tricky_text: [
    { role: "system", content: "  Leading and trailing spaces\n\n" },
    {
      role: "user",
      content: "Tabs\tand\nnewlines, quotes \" ' `, braces {{ x }} {% y %}, backslash \\n, 中文, العربية, emoji 👩‍👩‍👧 🏽",
    },
    { role: "assistant", content: "\n\nOK: <b>html</b> & stuff\n" },
    { role: "user", content: "" },
  ],
  tool_calls: [
    { role: "system", content: "You can call tools." },
    { role: "user", content: "What's the weather like in Oslo?" },
    {
      role: "assistant",
      content: "",
      tool_calls: [
        {
          id: "call12345",
          type: "function",
          function: { name: "get_current_weather", arguments: { location: "Oslo, Norway", unit: "celsius" } },
        },
      ],
    },
    { role: "tool", tool_call_id: "call12345", name: "get_current_weather", content: "{\"temperature\": 7, \"unit\": \"celsius\"}" },
    { role: "assistant", content: "It is 7 °C in Oslo." },
    { role: "user", content: "Thanks!" },
  ],
  tool_calls_string_args: [
    { role: "user", content: "Search for llamas, then for alpacas." },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "abcdefghi", type: "function", function: { name: "search", arguments: "{\"q\": \"llamas\"}" } },
        { id: "jklmnopqr", type: "function", function: { name: "search", arguments: "{\"q\": \"alpacas\", \"n\": 2}" } },
      ],
    },
    { role: "tool", tool_call_id: "abcdefghi", content: "Llamas are camelids." },
    { role: "tool", tool_call_id: "jklmnopqr", content: "Alpacas are smaller." },
  ],
  content_parts: [
    { role: "system", content: [{ type: "text", text: "You describe images." }] },
    { role: "user", content: [{ type: "image" }, { type: "text", text: "  What is in this picture?  " }] },
    { role: "assistant", content: [{ type: "text", text: "A cat." }] },
    { role: "user", content: [{ type: "text", text: "Which colour?" }] },
  ],
  builtin_tool_call: [
    { role: "system", content: "Use tools when needed." },
    { role: "user", content: "Who won the 2024 Tour de France?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "srch00001", type: "function", function: { name: "brave_search", arguments: { query: "Tour de France 2024 winner" } } }],
    },
    { role: "tool", tool_call_id: "srch00001", content: "Tadej Pogačar won the 2024 Tour de France." },
  ],
  thinking: [
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "<think>\nSimple arithmetic.\n</think>\n\n4" },
    { role: "user", content: "And 3+3?" },
  ],
};

// Extra variables per conversation (beyond messages / add_generation_prompt / bos / eos).
const EXTRA = {
  tool_calls: { tools: TOOLS },
  tool_calls_string_args: { tools: TOOLS },
  thinking: { enable_thinking: false },
  builtin_tool_call: { tools: TOOLS, builtin_tools: ["brave_search", "wolfram_alpha", "code_interpreter"] },
};

// Cases where the oracle is wrong and lir deliberately differs (template x conversation).
// DeepSeek R1 and V3.1 concatenate tool_call.function.arguments with strings: given arguments as an
// object, @huggingface/jinja prints JavaScript's "[object Map]" (Python Jinja raises a TypeError);
// lir prints the object as JSON.
const KNOWN_DIVERGENCES = [
  { template: /DeepSeek-(R1|V3)/, conversation: /^(tool_calls|builtin_tool_call)$/ },
  // Llama 3.1/3.3 with builtin_tools uses the `reject` filter, which @huggingface/jinja lacks
  // (it raises "Unknown ArrayValue filter: reject"); lir implements it as Python Jinja does.
  // The expected text is checked separately below.
  { template: /Llama-3\.3/, conversation: /^builtin_tool_call$/ },
];
const diverges = (template, conversation) =>
  KNOWN_DIVERGENCES.some((d) => d.template.test(template) && d.conversation.test(conversation));

// Context fix-ups per template, for oracle limitations that would otherwise hide the template:
// Phi-4-mini loops over message.tool_calls, which @huggingface/jinja cannot do when it is undefined
// (Python Jinja, and lir, loop zero times); giving each message an empty list lets the oracle
// render every case.
const FIXUPS = {
  "microsoft-Phi-4-mini-instruct": (ctx) => ({
    ...ctx,
    messages: ctx.messages.map((m) => ("tool_calls" in m ? m : { ...m, tool_calls: [] })),
  }),
};

function oracle(src, ctx) {
  try {
    return { ok: true, text: new Template(src).render(structuredClone(ctx)) };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
}

function ours(templateArg, ctx, tmp) {
  const file = path.join(tmp, "ctx.json");
  fs.writeFileSync(file, JSON.stringify(ctx));
  try {
    const text = execFileSync(LIR, ["template", "--template", templateArg, "--messages", file], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { ok: true, text };
  } catch (e) {
    return { ok: false, error: String(e.stderr || e.message) };
  }
}

// A GGUF with no tensors and the metadata `lir template -m` reads: the chat template and a
// vocabulary with BOS/EOS (GGUF v3: magic, version, counts, then typed key/values).
function writeGguf(file, { template, tokens, bos, eos }) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { const b = Buffer.from(s, "utf8"); u64(b.length); parts.push(b); };
  const GGUF_UINT32 = 4, GGUF_STRING = 8, GGUF_ARRAY = 9;
  parts.push(Buffer.from("GGUF"));
  u32(3);
  u64(0); // tensors
  u64(5); // key/values
  str("general.architecture"); u32(GGUF_STRING); str("llama");
  str("tokenizer.chat_template"); u32(GGUF_STRING); str(template);
  str("tokenizer.ggml.tokens"); u32(GGUF_ARRAY); u32(GGUF_STRING); u64(tokens.length); tokens.forEach(str);
  str("tokenizer.ggml.bos_token_id"); u32(GGUF_UINT32); u32(bos);
  str("tokenizer.ggml.eos_token_id"); u32(GGUF_UINT32); u32(eos);
  let buf = Buffer.concat(parts);
  const pad = (32 - (buf.length % 32)) % 32;
  fs.writeFileSync(file, Buffer.concat([buf, Buffer.alloc(pad)]));
}

function firstDiff(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `first difference at char ${i}:\n  oracle: ${JSON.stringify(a.slice(Math.max(0, i - 40), i + 60))}\n  lir:    ${JSON.stringify(b.slice(Math.max(0, i - 40), i + 60))}`;
}

function contexts() {
  const out = [];
  for (const [name, messages] of Object.entries(CONVERSATIONS))
    for (const agp of [false, true])
      out.push({
        name: `${name}/agp=${agp}`,
        ctx: {
          messages,
          add_generation_prompt: agp,
          bos_token: "<s>",
          eos_token: "</s>",
          date_string: "26 Jul 2024",
          ...(EXTRA[name] ?? {}),
        },
      });
  return out;
}

const templates = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".jinja"))
  .map((f) => f.slice(0, -6))
  .filter((n) => !FILTER || FILTER.test(n))
  .sort();

describe("chat templates: lir vs @huggingface/jinja", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lir-chat-"));
  for (const name of templates) {
    it(name, () => {
      const file = path.join(FIXTURES, name + ".jinja");
      const src = fs.readFileSync(file, "utf8");
      const failures = [];
      let rendered = 0, raised = 0;
      for (const { name: cname, ctx: ctx0 } of contexts()) {
        if (diverges(name, cname.split("/")[0])) continue;
        const ctx = FIXUPS[name] ? FIXUPS[name](ctx0) : ctx0;
        const want = oracle(src, ctx);
        const got = ours(file, ctx, tmp);
        if (want.ok) {
          rendered++;
          if (!got.ok) failures.push(`${cname}: oracle rendered, lir failed: ${got.error.trim()}`);
          else if (got.text !== want.text) failures.push(`${cname}: ${firstDiff(want.text, got.text)}`);
        } else {
          raised++;
          if (got.ok) failures.push(`${cname}: oracle raised (${want.error}), lir rendered`);
          else if (got.error.includes("raise_exception:") && !got.error.includes(want.error.slice(0, 60)))
            failures.push(`${cname}: both failed, messages differ:\n  oracle: ${want.error}\n  lir: ${got.error.trim()}`);
        }
      }
      assert.ok(rendered > 0, "the oracle rendered no case of this template");
      assert.deepEqual(failures, [], `${failures.length} case(s) differ (${rendered} rendered, ${raised} raised):\n` + failures.join("\n"));
    });
  }

  it("lir template -m MODEL: the model's tokenizer.chat_template with its BOS/EOS tokens", () => {
    const fixture = "meta-llama-Llama-3.2-3B-Instruct";
    const src = fs.readFileSync(path.join(FIXTURES, fixture + ".jinja"), "utf8");
    const model = path.join(tmp, "chat.gguf");
    writeGguf(model, { template: src, tokens: ["<unk>", "<|begin_of_text|>", "<|eot_id|>"], bos: 1, eos: 2 });
    const messages = CONVERSATIONS.system_multi_turn;
    const ctxFile = path.join(tmp, "messages.json");
    fs.writeFileSync(ctxFile, JSON.stringify(messages));
    const vars = path.join(tmp, "vars.json");
    fs.writeFileSync(vars, JSON.stringify({ date_string: "26 Jul 2024" }));
    const got = execFileSync(LIR, ["template", "-m", model, "--messages", ctxFile, "--vars", vars, "--add-generation-prompt"], {
      encoding: "utf8",
    });
    const want = new Template(src).render({
      messages, add_generation_prompt: true, bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", date_string: "26 Jul 2024",
    });
    assert.equal(got, want);
    assert.ok(got.startsWith("<|begin_of_text|>"));
    // --template NAME overrides the model's template
    const chatml = execFileSync(LIR, ["template", "-m", model, "--messages", ctxFile, "--template", "chatml"], { encoding: "utf8" });
    assert.ok(chatml.startsWith("<|im_start|>system\n"), chatml);
  });

  it("Llama 3.1 built-in tools (reject filter, `| items`, <|python_tag|>): the format Meta documents", () => {
    const ctxFile = path.join(tmp, "builtin.json");
    fs.writeFileSync(ctxFile, JSON.stringify({
      messages: CONVERSATIONS.builtin_tool_call, ...EXTRA.builtin_tool_call, date_string: "26 Jul 2024",
      bos_token: "<|begin_of_text|>", add_generation_prompt: true,
    }));
    const got = execFileSync(LIR, ["template", "--template", "llama3.1", "--messages", ctxFile], { encoding: "utf8" });
    assert.ok(got.includes("Environment: ipython\nTools: brave_search, wolfram_alpha\n\nCutting Knowledge Date"), got);
    assert.ok(got.includes('<|python_tag|>brave_search.call(query="Tour de France 2024 winner")<|eom_id|>'), got);
    assert.ok(got.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n"), got);
  });
  for (const [builtin, fixture] of Object.entries(BUILTINS)) {
    if (FILTER && !FILTER.test(fixture)) continue;
    it(`builtin ${builtin} = ${fixture}`, () => {
      const src = fs.readFileSync(path.join(FIXTURES, fixture + ".jinja"), "utf8");
      for (const { name: cname, ctx: ctx0 } of contexts()) {
        if (diverges(fixture, cname.split("/")[0])) continue;
        const ctx = FIXUPS[fixture] ? FIXUPS[fixture](ctx0) : ctx0;
        const want = oracle(src, ctx);
        const got = ours(builtin, ctx, tmp);
        assert.equal(got.ok, want.ok, `${cname}: ok ${got.ok} vs oracle ${want.ok}`);
        if (want.ok) assert.equal(got.text, want.text, `${cname}: ${firstDiff(want.text, got.text)}`);
      }
    });
  }
});

// `lir serve` with the official `openai` npm client (6.49.0), unchanged: chat and text
// completions (whole and streamed, usage with stream_options.include_usage, finish_reason, stop,
// seed), logprobs (chat's logprobs/top_logprobs and the legacy completions' logprobs, whole and
// streamed), response_format json_schema (validated with ajv) and json_object, embeddings (the
// client's default base64 and float), the model list, and errors in OpenAI's shape surfacing as
// the client's typed errors. Model: a generated tiny llama (random weights), so texts are
// compared with each other (same seed => same text), never with fixed strings.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Ajv from "ajv";
import { makeModels, startServer, MODEL } from "./server_util.mjs";

let srv, client;
before(async () => {
  srv = await startServer(await makeModels(), ["--quiet"]);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 60000 });
});
after(async () => { await srv?.stop(); });

const MSGS = [{ role: "system", content: "You are terse." }, { role: "user", content: "Say something." }];

describe("openai client", () => {
  it("lists the installed models", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes(MODEL), `models: ${ids}`);
    const one = await client.models.retrieve(MODEL);
    assert.equal(one.id, MODEL);
  });

  it("chat: whole answer, usage, finish_reason length at max_tokens", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: MSGS, max_tokens: 12, seed: 7 });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, "assistant");
    assert.equal(typeof r.choices[0].message.content, "string");
    assert.equal(r.choices[0].finish_reason, "length");
    assert.equal(r.usage.completion_tokens, 12);
    assert.ok(r.usage.prompt_tokens > 5);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
    const again = await client.chat.completions.create({ model: MODEL, messages: MSGS, max_tokens: 12, seed: 7 });
    assert.equal(again.choices[0].message.content, r.choices[0].message.content, "same seed, same text");
    // the runtime reuses the KV of the same prompt: reported as OpenAI's cached_tokens
    assert.equal(r.usage.prompt_tokens_details.cached_tokens >= 0, true);
    assert.ok(again.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(again.usage));
  });

  it("chat: streamed deltas equal the whole answer; usage chunk last; [DONE] handled", async () => {
    const whole = await client.chat.completions.create({ model: MODEL, messages: MSGS, max_tokens: 16, seed: 11 });
    const stream = await client.chat.completions.create({ model: MODEL, messages: MSGS, max_tokens: 16, seed: 11,
      stream: true, stream_options: { include_usage: true } });
    let text = "", finish = null, usage = null, n = 0, role = null;
    for await (const c of stream) {
      n++;
      if (c.usage) { usage = c.usage; assert.equal(c.choices.length, 0); continue; }
      const ch = c.choices[0];
      if (ch.delta.role) role = ch.delta.role;
      text += ch.delta.content ?? "";
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    assert.ok(n >= 3);
    assert.equal(role, "assistant");
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(finish, "length");
    assert.deepEqual(usage, whole.usage);
  });

  it("completions: whole and streamed, stop strings end the text before them", async () => {
    const prompt = "Once upon a time";
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, seed: 3 });
    assert.equal(r.object, "text_completion");
    const full = r.choices[0].text;
    assert.equal(r.usage.completion_tokens, 24);
    const s = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, seed: 3, stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.text ?? "";
    assert.equal(text, full);
    // a stop string taken from the middle of the text: the answer is what precedes it
    const at = Math.floor(full.length / 2);
    const stop = full.slice(at, at + 3);
    assert.ok(stop.length > 0, `text too short: ${JSON.stringify(full)}`);
    const st = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, seed: 3, stop: [stop] });
    assert.equal(st.choices[0].text, full.slice(0, full.indexOf(stop)));
    assert.equal(st.choices[0].finish_reason, "stop");
  });

  it("response_format json_schema: the answer parses and validates (ajv)", async () => {
    const schema = { type: "object", properties: { color: { enum: ["red", "green", "blue"] }, ok: { type: "boolean" },
      n: { type: "integer", minimum: 0, maximum: 99 } }, required: ["color", "ok", "n"], additionalProperties: false };
    const validate = new Ajv().compile(schema);
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ model: MODEL, messages: MSGS, max_tokens: 200, seed,
        response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } } });
      assert.equal(r.choices[0].finish_reason, "stop");
      const v = JSON.parse(r.choices[0].message.content);
      assert.ok(validate(v), `${r.choices[0].message.content}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it("response_format json_object: a JSON object", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: MSGS, max_tokens: 200, seed: 5,
      response_format: { type: "json_object" } });
    const v = JSON.parse(r.choices[0].message.content);
    assert.equal(typeof v, "object");
    assert.ok(v !== null && !Array.isArray(v));
  });

  it("embeddings: base64 (the client's default) and float agree; unit length", async () => {
    const input = ["hello world", "a second text"];
    const b = await client.embeddings.create({ model: MODEL, input });
    const f = await client.embeddings.create({ model: MODEL, input, encoding_format: "float" });
    assert.equal(b.data.length, 2);
    assert.equal(b.data[0].embedding.length, 256);
    for (let i = 0; i < 2; i++) {
      assert.equal(f.data[i].index, i);
      const x = b.data[i].embedding, y = f.data[i].embedding;
      let norm = 0;
      for (let k = 0; k < x.length; k++) { assert.ok(Math.abs(x[k] - y[k]) < 1e-6); norm += x[k] * x[k]; }
      assert.ok(Math.abs(Math.sqrt(norm) - 1) < 1e-4);
    }
    assert.ok(b.usage.prompt_tokens > 0);
  });

  it("errors: typed client errors with OpenAI's shape", async () => {
    await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages: MSGS }),
      (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === "model_not_found");
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: MSGS, n: 2 }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === "n" && /n = 1/.test(e.message));
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: MSGS, temperature: 3 }),
      (e) => e instanceof OpenAI.BadRequestError && /temperature/.test(e.message));
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [] }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === "messages");
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: MSGS, logprobs: true,
      top_logprobs: 21 }), (e) => e instanceof OpenAI.BadRequestError && e.param === "top_logprobs");
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: MSGS, top_logprobs: 3 }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === "top_logprobs" && /logprobs/.test(e.message));
    await assert.rejects(client.completions.create({ model: MODEL, prompt: "x", logprobs: -1 }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === "logprobs");
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: MSGS,
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "tools");
    await assert.rejects(client.completions.create({ model: MODEL, prompt: "x", max_tokens: 40000 }),
      (e) => e instanceof OpenAI.BadRequestError && /max_tokens/.test(e.message));
  });
});

// One token's entry in OpenAI's chat shape: token text, logprob <= 0, the exact bytes, sorted
// alternatives whose probabilities sum to at most 1; at temperature 0 the chosen token is the
// first alternative.
function checkChatEntry(e, nTop, greedy) {
  assert.equal(typeof e.token, "string");
  assert.ok(Number.isFinite(e.logprob) && e.logprob <= 0, JSON.stringify(e));
  assert.ok(Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
  assert.equal(e.top_logprobs.length, nTop);
  let sum = 0;
  for (let k = 0; k < nTop; k++) {
    const t = e.top_logprobs[k];
    assert.ok(t.logprob <= 0 && Array.isArray(t.bytes));
    if (k) assert.ok(e.top_logprobs[k - 1].logprob >= t.logprob, "largest first");
    sum += Math.exp(t.logprob);
  }
  assert.ok(sum <= 1 + 1e-4, `probabilities of the top list sum to ${sum}`);
  if (greedy && nTop) {
    assert.deepEqual(e.top_logprobs[0].bytes, e.bytes, "greedy: the chosen token is the most likely");
    assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
  }
}

describe("openai client: logprobs", () => {
  it("chat: logprobs + top_logprobs, whole and streamed, the same entries; bytes spell the text", async () => {
    // greedy on the raw logits: no repeat penalty (lir's default is 1.1; llama.cpp's field)
    const q = { model: MODEL, messages: MSGS, max_tokens: 10, temperature: 0, repeat_penalty: 1, logprobs: true,
      top_logprobs: 3 };
    const r = await client.chat.completions.create(q);
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens - (r.choices[0].finish_reason === "stop" ? 1 : 0));
    for (const e of content) checkChatEntry(e, 3, true);
    // the bytes of the tokens are the text's bytes (where the random model's bytes are not UTF-8
    // both sides write U+FFFD, by different rules for how many: compared without them)
    const noRep = (t) => t.replaceAll("\uFFFD", "");
    const bytes = Buffer.from(content.flatMap((e) => e.bytes)).toString("utf8");
    assert.equal(noRep(bytes), noRep(r.choices[0].message.content));
    const stream = await client.chat.completions.create({ ...q, stream: true });
    const streamed = [];
    for await (const c of stream) {
      const lp = c.choices[0]?.logprobs;
      if (lp) streamed.push(...lp.content);
    }
    assert.deepEqual(streamed, content, "streamed entries equal the whole answer's");
    // without top_logprobs: the chosen tokens only; without logprobs: null
    const bare = await client.chat.completions.create({ ...q, top_logprobs: undefined });
    assert.equal(bare.choices[0].logprobs.content.length, content.length);
    for (const e of bare.choices[0].logprobs.content) checkChatEntry(e, 0, true);
    const none = await client.chat.completions.create({ ...q, logprobs: false, top_logprobs: undefined });
    assert.equal(none.choices[0].logprobs, null);
  });

  it("completions: the legacy logprobs shape, whole and streamed", async () => {
    const q = { model: MODEL, prompt: "Once upon a time", max_tokens: 8, temperature: 0, repeat_penalty: 1,
      logprobs: 2 };
    const r = await client.completions.create(q);
    const lp = r.choices[0].logprobs;
    const n = lp.tokens.length;
    assert.equal(n, r.usage.completion_tokens - (r.choices[0].finish_reason === "stop" ? 1 : 0));
    assert.equal(lp.token_logprobs.length, n);
    assert.equal(lp.top_logprobs.length, n);
    assert.equal(lp.text_offset.length, n);
    assert.equal(lp.text_offset[0], 0);
    for (let i = 0; i < n; i++) {
      assert.ok(lp.token_logprobs[i] <= 0);
      if (i) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
      const alts = Object.entries(lp.top_logprobs[i]);
      assert.ok(alts.length >= 1 && alts.length <= 2);
      // greedy: the chosen token's logprob is the best of its alternatives
      assert.ok(Math.abs(Math.max(...alts.map(([, v]) => v)) - lp.token_logprobs[i]) < 1e-6);
      assert.ok(alts.reduce((a, [, v]) => a + Math.exp(v), 0) <= 1 + 1e-4);
    }
    const stream = await client.completions.create({ ...q, stream: true });
    const toks = [], lps = [], offs = [];
    for await (const c of stream) {
      const l = c.choices[0]?.logprobs;
      if (l) { toks.push(...l.tokens); lps.push(...l.token_logprobs); offs.push(...l.text_offset); }
    }
    assert.deepEqual(toks, lp.tokens);
    assert.deepEqual(lps, lp.token_logprobs);
    assert.deepEqual(offs, lp.text_offset);
  });
});

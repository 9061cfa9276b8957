// `lir serve` with the official `ollama` npm client (0.6.4), unchanged: generate and chat (whole
// and streamed NDJSON; options mapped to lir's sampling; counts and nanosecond durations), format
// as a JSON schema (validated with ajv), logprobs/top_logprobs (the same entries as the OpenAI
// endpoint gives for the same request, whole and streamed), embed and the legacy embeddings, tags, show, ps, loading
// with an empty prompt and keep_alive, unloading with keep_alive 0, version, and errors
// ({"error": ...} -> the client's ResponseError with the HTTP status).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Ollama } from "ollama";
import Ajv from "ajv";
import { makeModels, startServer, postJson, MODEL } from "./server_util.mjs";

let srv, ollama;
before(async () => {
  srv = await startServer(await makeModels(), ["--quiet"]);
  ollama = new Ollama({ host: srv.url });
});
after(async () => { await srv?.stop(); });

describe("ollama client", () => {
  it("version and tags", async () => {
    const v = await ollama.version();
    assert.match(v.version, /^\d+\.\d+\.\d+$/);
    const t = await ollama.list();
    const m = t.models.find((x) => x.name === MODEL);
    assert.ok(m, JSON.stringify(t));
    assert.equal(m.details.format, "gguf");
    assert.equal(m.details.family, "llama");
    assert.ok(m.size > 0);
    assert.ok(!isNaN(Date.parse(m.modified_at)), m.modified_at); // the client passes dates on as strings
  });

  it("show: details and model_info", async () => {
    const s = await ollama.show({ model: MODEL });
    assert.equal(s.details.family, "llama");
    assert.equal(s.model_info["general.architecture"], "llama");
    assert.equal(s.model_info["llama.context_length"], 2048);
    assert.equal(s.model_info["llama.block_count"], 2);
  });

  it("generate: whole answer with counts and durations; stream equals it", async () => {
    const req = { model: MODEL, prompt: "Why is the sky blue?", options: { num_predict: 10, seed: 42, temperature: 0.8 } };
    const r = await ollama.generate({ ...req, stream: false });
    assert.equal(r.done, true);
    assert.equal(r.done_reason, "length");
    assert.equal(r.eval_count, 10);
    assert.ok(r.prompt_eval_count > 3);
    for (const k of ["total_duration", "prompt_eval_duration", "eval_duration"])
      assert.ok(Number.isInteger(r[k]) && r[k] > 0, `${k} = ${r[k]}`);
    assert.ok(r.total_duration >= r.eval_duration + r.prompt_eval_duration);
    let text = "", last = null, n = 0;
    for await (const part of await ollama.generate({ ...req, stream: true })) {
      n++;
      if (!part.done) text += part.response;
      last = part;
    }
    assert.ok(n >= 2);
    assert.equal(text, r.response);
    assert.equal(last.done, true);
    assert.equal(last.eval_count, 10);
  });

  it("chat: whole and streamed", async () => {
    const req = { model: MODEL, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi!" }],
      options: { num_predict: 8, seed: 9 } };
    const r = await ollama.chat({ ...req, stream: false });
    assert.equal(r.message.role, "assistant");
    assert.equal(r.eval_count, 8);
    let text = "";
    for await (const part of await ollama.chat({ ...req, stream: true })) text += part.message.content;
    assert.equal(text, r.message.content);
  });

  it("chat with format = JSON schema validates (ajv)", async () => {
    const schema = { type: "object", properties: { city: { enum: ["Paris", "Rome"] }, sunny: { type: "boolean" } },
      required: ["city", "sunny"], additionalProperties: false };
    const r = await ollama.chat({ model: MODEL, messages: [{ role: "user", content: "Weather?" }], format: schema,
      options: { num_predict: 200, seed: 4 } });
    assert.equal(r.done_reason, "stop");
    const v = JSON.parse(r.message.content);
    const validate = new Ajv().compile(schema);
    assert.ok(validate(v), r.message.content);
  });

  it("embed (batch) and embeddings (legacy)", async () => {
    const e = await ollama.embed({ model: MODEL, input: ["one", "two", "three"] });
    assert.equal(e.embeddings.length, 3);
    assert.equal(e.embeddings[0].length, 256);
    assert.ok(e.prompt_eval_count > 0);
    const l = await ollama.embeddings({ model: MODEL, prompt: "one" });
    assert.equal(l.embedding.length, 256);
    for (let k = 0; k < 256; k++) assert.ok(Math.abs(l.embedding[k] - e.embeddings[0][k]) < 1e-6);
  });

  it("ps; empty prompt + keep_alive loads; keep_alive 0 unloads", async () => {
    let r = await ollama.generate({ model: MODEL, prompt: "", keep_alive: 0 });
    assert.equal(r.done_reason, "unload");
    assert.equal((await ollama.ps()).models.length, 0);
    r = await ollama.generate({ model: MODEL, prompt: "", keep_alive: "10m" });
    assert.equal(r.done, true);
    assert.equal(r.done_reason, "load");
    const ps = await ollama.ps();
    assert.equal(ps.models.length, 1);
    assert.equal(ps.models[0].name, MODEL);
    const left = Date.parse(ps.models[0].expires_at) - Date.now();
    assert.ok(left > 9 * 60000 && left <= 10 * 60000 + 2000, `expires in ${left} ms`);
    // a request with keep_alive on the loaded model keeps the same copy
    await ollama.generate({ model: MODEL, prompt: "x", keep_alive: "20m", options: { num_predict: 1 } });
    const ps2 = await ollama.ps();
    assert.equal(ps2.models.length, 1);
    assert.ok(Date.parse(ps2.models[0].expires_at) - Date.now() > 19 * 60000);
    r = await ollama.chat({ model: MODEL, messages: [], keep_alive: 0 });
    assert.equal(r.done_reason, "unload");
    assert.equal((await ollama.ps()).models.length, 0);
  });

  it("errors: unknown model 404, bad options 400, as ResponseError", async () => {
    await assert.rejects(ollama.generate({ model: "nope", prompt: "x" }),
      (e) => e.name === "ResponseError" && e.status_code === 404 && /not found/.test(e.error));
    await assert.rejects(ollama.generate({ model: MODEL, prompt: "x", options: { top_p: 1.5 } }),
      (e) => e.status_code === 400 && /top_p/.test(e.error));
    await assert.rejects(ollama.chat({ model: MODEL, messages: [{ role: "wizard", content: "x" }] }),
      (e) => e.status_code === 400 && /role/.test(e.error));
    await assert.rejects(ollama.pull({ model: MODEL }), (e) => e.status_code === 501);
  });
});

describe("ollama client: logprobs", () => {
  // greedy on the raw logits (no repeat penalty), so the chosen token is the first alternative
  const MSGS = [{ role: "user", content: "In the beginning" }];
  const OPTS = { temperature: 0, repeat_penalty: 1, num_predict: 10 };
  const check = (e, nTop) => {
    assert.equal(typeof e.token, "string");
    assert.ok(Number.isFinite(e.logprob) && e.logprob <= 0, JSON.stringify(e));
    assert.ok(Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
    assert.equal(e.top_logprobs.length, nTop);
    for (let k = 1; k < nTop; k++) assert.ok(e.top_logprobs[k - 1].logprob >= e.top_logprobs[k].logprob);
    if (nTop) {
      assert.deepEqual(e.top_logprobs[0].bytes, e.bytes, "greedy: the chosen token is the most likely");
      assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
    }
  };

  it("chat and generate: entries per token, streamed = whole, equal to the OpenAI endpoint's", async () => {
    const r = await ollama.chat({ model: MODEL, messages: MSGS, options: OPTS, logprobs: true, top_logprobs: 3 });
    assert.ok(Array.isArray(r.logprobs) && r.logprobs.length > 0, JSON.stringify(r));
    assert.equal(r.logprobs.length, r.eval_count - (r.done_reason === "stop" ? 1 : 0));
    for (const e of r.logprobs) check(e, 3);
    const noRep = (t) => t.replaceAll("\uFFFD", "");
    assert.equal(noRep(Buffer.from(r.logprobs.flatMap((e) => e.bytes)).toString("utf8")), noRep(r.message.content));
    const streamed = [];
    for await (const c of await ollama.chat({ model: MODEL, messages: MSGS, options: OPTS, logprobs: true,
      top_logprobs: 3, stream: true })) if (c.logprobs) streamed.push(...c.logprobs);
    assert.deepEqual(streamed, r.logprobs);
    // the same request on the OpenAI endpoint: the same tokens, log-probabilities and alternatives
    const oa = await postJson(`${srv.url}/v1/chat/completions`, { model: MODEL, messages: MSGS, temperature: 0,
      repeat_penalty: 1, max_tokens: 10, logprobs: true, top_logprobs: 3 });
    assert.equal(oa.status, 200, oa.text);
    assert.deepEqual(r.logprobs, oa.json.choices[0].logprobs.content);
    // generate (raw prompt): the chosen tokens only without top_logprobs; none without logprobs
    const g = await ollama.generate({ model: MODEL, prompt: "And God said", raw: true, options: OPTS, logprobs: true });
    assert.equal(g.logprobs.length, g.eval_count - (g.done_reason === "stop" ? 1 : 0));
    for (const e of g.logprobs) check(e, 0);
    const none = await ollama.generate({ model: MODEL, prompt: "And God said", raw: true, options: OPTS });
    assert.equal(none.logprobs, undefined);
    assert.equal(none.response, g.response);
  });

  it("errors: top_logprobs out of range or without logprobs is a 400 naming it", async () => {
    for (const body of [{ logprobs: true, top_logprobs: 21 }, { top_logprobs: 2 }, { logprobs: "yes" }]) {
      await assert.rejects(ollama.chat({ model: MODEL, messages: MSGS, options: OPTS, ...body }),
        (e) => e.status_code === 400 && /logprobs/.test(e.error), JSON.stringify(body));
    }
  });
});

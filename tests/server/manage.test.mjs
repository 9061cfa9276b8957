// lir's management API over HTTP (/lir/v1/...) and /metrics: installed and loaded models
// (fields named as in lir.h), load with options, activate, unload, unload-all, resources and a
// resource check, profiler aggregates, the events as a live SSE stream (load, generation and
// unload events in order), Prometheus text (well-formed; histograms cumulative; counts that
// match what was done), context and snapshots, resource history and alert thresholds.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { makeModels, startServer, postJson, getJson, MODEL } from "./server_util.mjs";

let srv;
before(async () => { srv = await startServer(await makeModels(), ["--quiet"]); });
after(async () => { await srv?.stop(); });

// Collects SSE events from /lir/v1/events until stop() is called.
async function subscribe(url) {
  const ac = new AbortController();
  const r = await fetch(`${url}/lir/v1/events`, { signal: ac.signal });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/event-stream/);
  const events = [];
  const reading = (async () => {
    let buf = "";
    const dec = new TextDecoder();
    try {
      for await (const chunk of r.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = block.match(/^event: (.*)$/m), data = block.match(/^data: (.*)$/m);
          if (ev && data) events.push({ event: ev[1], ...JSON.parse(data[1]) });
        }
      }
    } catch { /* aborted */ }
  })();
  return { events, stop: async () => { ac.abort(); await reading; } };
}

const waitFor = async (pred, ms = 5000) => {
  const t0 = Date.now();
  while (!pred() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return pred();
};

describe("management API", () => {
  it("installed models with lir.h field names", async () => {
    const r = await getJson(`${srv.url}/lir/v1/models/installed`);
    assert.equal(r.status, 200);
    const m = r.json.models.find((x) => x.name === MODEL);
    for (const k of ["id", "name", "path", "display_name", "arch", "source", "backend", "size_bytes", "parameters",
      "context_length", "block_count"]) assert.ok(k in m, k);
    assert.equal(m.arch, "llama");
    assert.equal(m.context_length, 2048);
  });

  it("load with options, events live over SSE, activate, profiler, unload", async () => {
    const sub = await subscribe(srv.url);
    const a = await postJson(`${srv.url}/lir/v1/models/load`, { model: MODEL, options: { context_size: 512, threads: 1 } });
    assert.equal(a.status, 200, a.text);
    assert.match(a.json.id, /^[0-9a-f-]{36}$/);
    assert.equal(a.json.model.options.context_size, 512);
    assert.equal(a.json.model.resources.context_size, 512);
    assert.equal(a.json.model.status, "Ready");
    const b = await postJson(`${srv.url}/lir/v1/models/load`, { model: MODEL, options: { context_size: 256, threads: 1, parallel: 3 } });
    assert.equal(b.status, 200);
    assert.equal(b.json.model.options.parallel, 3);
    assert.equal(a.json.model.options.parallel, 4); // none given: the server's --parallel (default 4)
    assert.notEqual(b.json.id, a.json.id);
    let l = await getJson(`${srv.url}/lir/v1/models/loaded`);
    assert.equal(l.json.models.length, 2);
    assert.equal(l.json.active_id, a.json.id); // the first loaded model is the active one
    assert.equal((await postJson(`${srv.url}/lir/v1/models/${b.json.id}/activate`, {})).status, 200);
    l = await getJson(`${srv.url}/lir/v1/models/loaded`);
    assert.equal(l.json.active_id, b.json.id);
    // a generation on the first copy, by its loaded id
    const g = await postJson(`${srv.url}/v1/completions`, { model: a.json.id, prompt: "hi", max_tokens: 3, seed: 1 });
    assert.equal(g.status, 200, g.text);
    const one = await getJson(`${srv.url}/lir/v1/models/${a.json.id}`);
    assert.equal(one.json.metrics.total_requests, 1);
    assert.equal(one.json.metrics.total_tokens_generated, 3);
    const p = await getJson(`${srv.url}/lir/v1/profiler`);
    assert.equal(p.json.models.find((x) => x.loaded_model_id === a.json.id).requests, 1);
    assert.equal((await postJson(`${srv.url}/lir/v1/models/${a.json.id}/unload`, {})).status, 200);
    assert.equal((await postJson(`${srv.url}/lir/v1/models/unload-all`, {})).status, 200);
    assert.equal((await getJson(`${srv.url}/lir/v1/models/loaded`)).json.models.length, 0);
    const types = () => sub.events.map((e) => e.type);
    assert.ok(await waitFor(() => types().filter((t) => t === "ModelUnloaded").length === 2), types().join());
    await sub.stop();
    const t = types();
    const idx = (x, from = 0) => t.indexOf(x, from);
    assert.ok(idx("ModelLoadStarted") >= 0 && idx("ModelLoadStarted") < idx("ModelLoadCompleted"), t.join());
    assert.ok(idx("GenerationStarted") > idx("ModelLoadCompleted") && idx("GenerationCompleted") > idx("GenerationStarted"));
    const done = sub.events.find((e) => e.type === "GenerationCompleted");
    assert.equal(done.loaded_model_id, a.json.id);
    assert.equal(done.completion_tokens, 3);
    assert.equal(done.finish_reason, "length");
    const seqs = sub.events.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y)); // in emission order
  });

  it("errors: unknown ids 404, bad options and periods 400, paths refused (all JSON)", async () => {
    const e1 = await postJson(`${srv.url}/lir/v1/models/00000000-0000-0000-0000-000000000000/unload`, {});
    assert.equal(e1.status, 404);
    assert.equal(typeof e1.json.error.message, "string");
    const e2 = await postJson(`${srv.url}/lir/v1/models/load`, { model: MODEL, options: { context_size: -5 } });
    assert.equal(e2.status, 400);
    assert.match(e2.json.error.message, /context_size/);
    const e2b = await postJson(`${srv.url}/lir/v1/models/load`, { model: MODEL, options: { parallel: 65 } });
    assert.equal(e2b.status, 400);
    assert.match(e2b.json.error.message, /parallel/);
    const e3 = await postJson(`${srv.url}/lir/v1/models/load`, { model: "../x" });
    assert.equal(e3.status, 400);
    const e4 = await getJson(`${srv.url}/lir/v1/resources/history?period=soon`);
    assert.equal(e4.status, 400);
    assert.match(e4.json.error.message, /period/);
    const e5 = await getJson(`${srv.url}/lir/v1/models/00000000-0000-0000-0000-000000000000/context`);
    assert.equal(e5.status, 404);
    const e6 = await fetch(`${srv.url}/lir/v1/alerts`, { method: "PUT", body: JSON.stringify({ ram_percent: 150 }) });
    assert.equal(e6.status, 400);
    assert.match((await e6.json()).error.message, /ram_percent/);
  });

  it("context status, truncate, clear; snapshots save, list, restore, delete", async () => {
    const a = await postJson(`${srv.url}/lir/v1/models/load`, { model: MODEL, options: { context_size: 512, threads: 1 } });
    const id = a.json.id;
    const g = await postJson(`${srv.url}/v1/completions`, { model: id, prompt: "one two three four", max_tokens: 12, seed: 1 });
    assert.equal(g.status, 200, g.text);
    let c = await getJson(`${srv.url}/lir/v1/models/${id}/context`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.loaded_model_id, id);
    assert.equal(c.json.max_context_size, 512);
    const used = c.json.used_tokens;
    assert.ok(used >= 5, `used ${used}`); // at least the prompt (BOS + 4 words)
    assert.equal(c.json.available_tokens, 512 - used);
    const sv = await postJson(`${srv.url}/lir/v1/models/${id}/snapshots`, { name: "before truncate" });
    assert.equal(sv.status, 200, sv.text);
    assert.equal(sv.json.token_count, used);
    const list = await getJson(`${srv.url}/lir/v1/models/${id}/snapshots`);
    assert.deepEqual(list.json.snapshots.map((x) => x.name), ["before truncate"]);
    c = await postJson(`${srv.url}/lir/v1/models/${id}/context/truncate`, { keep_tokens: 3 });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.used_tokens, 3, c.text);
    c = await postJson(`${srv.url}/lir/v1/models/${id}/snapshots/${encodeURIComponent("before truncate")}/restore`, {});
    assert.equal(c.status, 200, c.text);
    assert.equal((await getJson(`${srv.url}/lir/v1/models/${id}/context`)).json.used_tokens, used);
    c = await postJson(`${srv.url}/lir/v1/models/${id}/context/clear`, {});
    assert.equal(c.json.used_tokens, 0);
    const bad = await postJson(`${srv.url}/lir/v1/models/${id}/snapshots`, { name: "../escape" });
    assert.equal(bad.status, 400);
    const missing = await postJson(`${srv.url}/lir/v1/models/${id}/snapshots/nope/restore`, {});
    assert.equal(missing.status, 404);
    const del = await fetch(`${srv.url}/lir/v1/models/${id}/snapshots/${encodeURIComponent("before truncate")}`,
      { method: "DELETE" });
    assert.equal(del.status, 200);
    assert.equal((await getJson(`${srv.url}/lir/v1/models/${id}/snapshots`)).json.snapshots.length, 0);
    assert.equal((await postJson(`${srv.url}/lir/v1/models/unload-all`, {})).status, 200);
  });

  it("resource history and alert thresholds", async () => {
    await new Promise((r) => setTimeout(r, 500)); // the monitor samples every 100 ms
    const h = await getJson(`${srv.url}/lir/v1/resources/history?period=1m`);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.json.period_ms, 60000);
    assert.ok(h.json.samples.length >= 2, `${h.json.samples.length} samples`);
    const ts = h.json.samples.map((x) => x.timestamp_ms);
    assert.deepEqual(ts, [...ts].sort((x, y) => x - y));
    assert.ok(h.json.samples.every((x) => x.system_ram_bytes > 0));
    const put = await fetch(`${srv.url}/lir/v1/alerts`, { method: "PUT", body: JSON.stringify({ ram_percent: 97, cpu_percent: 99 }) });
    assert.equal(put.status, 200);
    const al = await getJson(`${srv.url}/lir/v1/alerts`);
    assert.equal(al.json.ram_percent, 97);
    assert.equal(al.json.cpu_percent, 99);
  });

  it("resources and a resource check", async () => {
    const r = await getJson(`${srv.url}/lir/v1/resources`);
    assert.equal(r.status, 200);
    assert.ok(r.json.system_ram_bytes > 0 && r.json.process_ram_bytes > 0);
    const c = await postJson(`${srv.url}/lir/v1/resources/check`, { model: MODEL, options: { context_size: 512 } });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.is_sufficient, true);
    assert.deepEqual(c.json.issues, []);
  });
});

describe("/metrics", () => {
  it("Prometheus text: well-formed, histograms cumulative, counts that match", async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await postJson(`${srv.url}/v1/completions`, { model: MODEL, prompt: "x", max_tokens: 4, seed: i,
        stream: i === 2 })).status, 200);
    const r = await fetch(`${srv.url}/metrics`);
    assert.match(r.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    const values = new Map();
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/);
      assert.ok(m, `malformed line: ${line}`);
      values.set(m[1] + (m[2] ?? ""), Number(m[3]));
    }
    const gens = values.get("lir_generations_total");
    assert.ok(gens >= 4, `generations ${gens}`); // 3 here + 1 in the management test
    for (const h of ["lir_time_to_first_token_seconds", "lir_generation_duration_seconds", "lir_prompt_tokens",
      "lir_generated_tokens", "lir_inter_token_latency_seconds", "lir_http_request_duration_seconds"]) {
      const buckets = [...values].filter(([k]) => k.startsWith(`${h}_bucket{`)).map(([, v]) => v);
      assert.ok(buckets.length > 3, h);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], `${h} not cumulative`);
      assert.equal(buckets.at(-1), values.get(`${h}_count`));
    }
    assert.equal(values.get("lir_generation_duration_seconds_count"), gens);
    assert.ok(values.get("lir_generated_tokens_total") >= 12 + 3);
    assert.ok(values.get("lir_inter_token_latency_seconds_count") >= 3); // the stream's gaps between tokens
    assert.ok(values.get('lir_http_requests_total{api="openai",code="200"}') >= 4);
    assert.equal(values.get("lir_queue_length"), 0);
    assert.ok(values.get("lir_system_ram_bytes") > 0);
    const loaded = (await getJson(`${srv.url}/lir/v1/models/loaded`)).json.models;
    assert.equal(values.get("lir_models_loaded"), loaded.length, JSON.stringify(loaded.map((m) => [m.model.name, m.options])));
    assert.ok(loaded.length >= 1); // loaded on demand by the completions above
    const kv = [...values].find(([k]) => k.startsWith('lir_model_kv_size_tokens{model="tiny"'));
    assert.equal(kv?.[1], 2048);
  });
});

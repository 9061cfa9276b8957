// Bounded load on `lir serve` (bench/serve_load.mjs for ~10 s): 64 concurrent streaming clients
// on a tiny generated model. Zero errors, every stream complete (finish_reason, usage,
// "data: [DONE]"), and no mixing: each output equals the same request (prompt + seed) run alone.
// The rate is printed, not asserted (this is a test, not a benchmark; the 60 s figure is in
// bench/README.md). LOAD_SECONDS overrides the duration.
import { it, before, after } from "node:test";
import assert from "node:assert/strict";
import { makeModels, startServer, getJson, MODEL } from "./server_util.mjs";
import { runLoad } from "../../bench/serve_load.mjs";

let srv;
before(async () => { srv = await startServer(await makeModels(), ["--quiet"]); });
after(async () => { await srv?.stop(); });

it("64 concurrent streaming clients: all complete, none mixed up, no errors", { timeout: 120000 }, async () => {
  const r = await runLoad({ url: srv.url, model: MODEL, clients: 64, seconds: Number(process.env.LOAD_SECONDS ?? 10),
    maxTokens: 8 });
  console.log(`load: ${r.completed} requests in ${r.seconds.toFixed(1)} s = ${r.requests_per_second.toFixed(1)} req/s, ` +
    `${r.tokens_per_second.toFixed(0)} tok/s, TTFT P50 ${r.ttft_p50_ms.toFixed(1)} ms P95 ${r.ttft_p95_ms.toFixed(1)} ms`);
  assert.deepEqual(r.firstErrors, []);
  assert.equal(r.errors, 0);
  assert.equal(r.incomplete, 0);
  assert.equal(r.mismatches, 0);
  assert.ok(r.completed >= 64, `only ${r.completed} requests completed`);
  // the server is idle and healthy afterwards
  const m = (await getJson(`${srv.url}/metrics`)).text;
  assert.match(m, /^lir_queue_length 0$/m);
  const gens = Number(m.match(/^lir_generations_total (\d+)$/m)[1]);
  assert.ok(gens >= r.completed + 32, `generations_total ${gens}`); // + the 32 solo reference runs
  assert.equal((await getJson(`${srv.url}/api/version`)).status, 200);
});

// dashboard.test.mjs — the web dashboard of `lir serve` (web/, src/server/static.c) in a real
// browser: Debian's chromium driven by playwright-core. It serves the embedded files (content
// types, ETag/304), then, through the page only: the live resources update at least once a second,
// a model is loaded with the options form (and a refused load shows the resource check), a chat in
// the playground streams text and the model's throughput figure changes, a snapshot is saved and
// restored, an alert threshold set low lists a ResourceAlert, and the history chart stays
// responsive with 24 h of 1 s samples (86,400 points per series; frame times are printed).
// Screenshots of each panel go to out/dashboard/ (git-ignored).
// Environment: LIR_BIN (default build/lir), LIR_GEN (default build/lir-gen), CHROMIUM (default
// /usr/bin/chromium; the test is skipped, saying so, when it is missing).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, makeModels, startServer, getJson } from "../server/server_util.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = path.join(ROOT, "out/dashboard");
const KJV = path.join(ROOT, "models/kjv-11m-q8_0.gguf");
const haveChromium = fs.existsSync(CHROMIUM);

let srv, ctx, page, profile, modelsDir;

before(async () => {
  const dir = modelsDir = await makeModels();
  fs.symlinkSync(KJV, path.join(dir, "kjv.gguf"));
  srv = await startServer(dir);
  if (!haveChromium) return;
  fs.mkdirSync(OUT, { recursive: true });
  const { chromium } = await import("playwright-core");
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "lir-dash-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on("pageerror", (e) => { pageErrors.push(String(e)); });
  await page.goto(srv.url + "/");
});
const pageErrors = [];

after(async () => {
  await ctx?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await srv?.stop();
});

const shot = (id) => page.locator(`#${id}`).screenshot({ path: path.join(OUT, `${id}.png`) });

test("the page and its files are served from the binary, with types and ETags", async () => {
  const html = await fetch(srv.url + "/", { headers: { Accept: "text/html" } });
  assert.equal(html.status, 200);
  assert.match(html.headers.get("content-type"), /^text\/html/);
  assert.match(await html.text(), /<title>lir dashboard<\/title>/);
  const api = await getJson(srv.url + "/"); // an API client keeps the JSON status
  assert.equal(api.json?.status, "running");
  for (const [f, type] of [["app.js", /^text\/javascript/], ["style.css", /^text\/css/], ["uPlot.iife.min.js", /^text\/javascript/],
    ["uPlot.min.css", /^text\/css/]]) {
    const r = await fetch(`${srv.url}/static/${f}`);
    assert.equal(r.status, 200, f);
    assert.match(r.headers.get("content-type"), type, f);
    const body = await r.arrayBuffer();
    assert.equal(body.byteLength, fs.statSync(f.startsWith("uPlot") ? path.join(ROOT, "node_modules/uplot/dist", f)
      : path.join(ROOT, "web", f)).size, `${f}: the embedded copy is the file`);
    const etag = r.headers.get("etag");
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    assert.match(r.headers.get("cache-control"), /max-age/);
    const again = await fetch(`${srv.url}/static/${f}`, { headers: { "If-None-Match": etag } });
    assert.equal(again.status, 304, `${f}: If-None-Match gives 304`);
    const other = await fetch(`${srv.url}/static/${f}`, { headers: { "If-None-Match": '"0000000000000000"' } });
    assert.equal(other.status, 200);
  }
  assert.equal((await fetch(srv.url + "/static/nope.js")).status, 404);
  assert.equal((await fetch(srv.url + "/static/app.js", { method: "POST" })).status, 404);
  const head = await fetch(srv.url + "/static/app.js", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(fs.statSync(path.join(ROOT, "web/app.js")).size));
  assert.equal((await fetch(srv.url + "/static/../../etc/passwd")).status, 404);
  // the live stream: one "resources" event at once, the next about interval_ms later
  const ac = new AbortController();
  const t0 = Date.now(); // events are due at 0, 200, 400 ms after the request arrived
  const live = await fetch(srv.url + "/lir/v1/resources/live?interval_ms=200", { signal: ac.signal });
  assert.match(live.headers.get("content-type"), /^text\/event-stream/);
  let buf = "";
  for await (const chunk of live.body) {
    buf += Buffer.from(chunk).toString();
    if ((buf.match(/\n\n/g) ?? []).length >= 3) break;
  }
  ac.abort();
  const evs = buf.split("\n\n").filter(Boolean).map((b) => JSON.parse(b.match(/^data: (.*)$/m)[1]));
  assert.ok(Date.now() - t0 >= 390 && Date.now() - t0 < 5000, `3 events at 200 ms took ${Date.now() - t0} ms`);
  for (const k of ["timestamp_ms", "process_ram_bytes", "models_ram_bytes", "cached_ram_bytes", "cpu_usage_percent",
    "process_cpu_percent", "active_requests", "queued_requests", "current_tokens_per_second", "avg_ttft_ms", "gpus", "models"])
    assert.ok(k in evs[0], `live event has ${k}`);
  assert.ok(evs[0].cached_ram_bytes > 0, "the page cache is read");
  const bad = await getJson(srv.url + "/lir/v1/resources/live?interval_ms=5");
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /interval_ms/);
});

test("live resources: at least one update a second over SSE", { skip: !haveChromium && `no ${CHROMIUM}` }, async () => {
  await page.waitForFunction(() => document.getElementById("conn").textContent === "live", null, { timeout: 10000 });
  const n0 = Number(await page.getAttribute("#panel-resources", "data-updates") ?? 0);
  await page.waitForTimeout(3000);
  const n1 = Number(await page.getAttribute("#panel-resources", "data-updates"));
  assert.ok(n1 - n0 >= 3, `resources updated ${n1 - n0} times in 3 s`);
  assert.match(await page.textContent("#r-ram-process"), /[KMG]B$/);
  assert.match(await page.textContent("#r-cpu-system"), /%$/);
  // per-GPU rows (this machine may have none): a sample as the live stream sends it, with two GPUs
  const gpuRows = await page.evaluate(() => {
    const u = { ...window.lirDash.state.res, gpus: [
      { id: 0, name: "NVIDIA H200", vram_total_bytes: 150e9, vram_used_bytes: 30e9, vram_held_bytes: 20e9,
        utilization_percent: 87.5, temperature_c: 61, power_w: 402 },
      { id: 1, name: "NVIDIA H200", vram_total_bytes: 150e9, vram_used_bytes: 1e9, vram_held_bytes: 0,
        utilization_percent: 0, temperature_c: 33, power_w: 75 }] };
    window.lirDash.renderResources(u);
    return [...document.querySelectorAll("#gpu-body tr")].map((tr) => tr.textContent);
  });
  assert.equal(gpuRows.length, 2);
  assert.match(gpuRows[0], /0: NVIDIA H200.*27\.9 GB of 139\.7 GB.*18\.6 GB.*61 °C.*402 W.*87\.5 %/);
  await shot("panel-resources");
});

test("load a model through the UI; a refused load shows the resource check", { skip: !haveChromium }, async () => {
  await page.waitForFunction(() => [...document.querySelectorAll("#load-model option")].some((o) => o.value === "kjv"));
  // a context far beyond this machine's memory: the check says so, with a suggestion
  await page.selectOption("#load-model", "kjv");
  await page.fill("#load-context", "16777216");
  await page.click("#check-btn");
  await page.waitForFunction(() => /not sufficient|failed/.test(document.getElementById("load-status").textContent));
  const refused = await page.textContent("#load-status");
  if (/not sufficient/.test(refused)) {
    assert.equal(await page.isVisible("#load-check"), true);
    assert.match(await page.textContent("#load-check"), /Suggestion|Suggested context/);
    await page.click("#load-btn");
    await page.waitForFunction(() => /load refused/.test(document.getElementById("load-status").textContent), null, { timeout: 30000 });
    assert.match(await page.textContent("#load-check"), /Not enough resources/);
    await page.click("#use-suggested");
    assert.ok(Number(await page.inputValue("#load-context")) < 16777216, "the suggestion fills the form");
    await shot("panel-models"); // overwritten below once the model is loaded: panel-models-refused keeps this
    fs.renameSync(path.join(OUT, "panel-models.png"), path.join(OUT, "panel-models-refused.png"));
  } else {
    assert.fail(`the resource check of a 16M-token context did not refuse: ${refused}`);
  }
  await page.fill("#load-context", "1024");
  await page.fill("#load-threads", "1");
  await page.click("#load-btn");
  await page.waitForFunction(() => /^loaded /.test(document.getElementById("load-status").textContent), null, { timeout: 30000 });
  await page.waitForSelector("#models-body tr[data-id]");
  const row = await page.textContent("#models-body tr[data-id]");
  assert.match(row, /kjv/);
  assert.match(row, /loaded|ready|idle/i);
  const loaded = await getJson(srv.url + "/lir/v1/models/loaded");
  assert.equal(loaded.json.models.length, 1);
  assert.equal(loaded.json.models[0].options.context_size, 1024, "the form's context size reached the runtime");
  assert.equal(loaded.json.models[0].options.threads, 1);
  await shot("panel-models");
});

test("playground: streamed chat; TTFT and tok/s under the reply; the throughput figure changes", { skip: !haveChromium }, async () => {
  const avg0 = Number(await page.textContent("#models-body tr[data-id] .avg-tps"));
  const req0 = Number(await page.textContent("#models-body tr[data-id] .requests"));
  await page.click("#sampling summary");
  await page.fill('#sampling-grid input[name="seed"]', "7");
  await page.fill('#sampling-grid input[name="max_tokens"]', "120");
  await page.fill('#sampling-grid input[name="temperature"]', "0.7");
  await page.fill("#chat-input", "And God said");
  // watch the reply grow while it streams: every change the page makes to its text
  await page.evaluate(() => {
    window.__lens = [];
    new MutationObserver(() => {
      const t = document.querySelector("#chat-log li.assistant .text");
      if (t) window.__lens.push(t.textContent.length);
    }).observe(document.getElementById("chat-log"), { subtree: true, childList: true, characterData: true });
  });
  // the kjv model writes a reply in a fraction of a second, which a busy machine may deliver in one
  // or two reads; a slow link (25 KB/s, about 1 s for this reply) makes the page show it as it arrives
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: 25000, uploadThroughput: -1 });
  await page.press("#chat-input", "Enter");
  await page.waitForFunction(() => /^(done|error|stopped)/.test(document.getElementById("chat-status").textContent), null,
    { timeout: 30000 });
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await cdp.detach();
  const lens = await page.evaluate(() => window.__lens);
  const distinct = new Set(lens.filter((n) => n > 0));
  console.log(`# playground: the reply was shown in ${distinct.size} steps`);
  assert.ok(distinct.size >= 3, `the reply grew in several steps while streaming (lengths ${[...distinct].slice(0, 10)})`);
  const text = await page.textContent("#chat-log li.assistant .text");
  assert.ok(text.length > 20, `a reply: ${text}`);
  assert.match(await page.textContent("#chat-status"), /^done/);
  const stats = await page.textContent("#chat-log li.assistant .stats");
  assert.match(stats, /TTFT \d+ ms · \d+\.\d tok\/s · \d+ tokens/);
  await page.waitForFunction(([a, r]) => {
    const row = document.querySelector("#models-body tr[data-id]");
    return Number(row.querySelector(".requests").textContent) > r && Number(row.querySelector(".avg-tps").textContent) !== a;
  }, [avg0, req0], { timeout: 5000 });
  const avg1 = Number(await page.textContent("#models-body tr[data-id] .avg-tps"));
  assert.ok(avg1 > 0, `average tok/s after a chat: ${avg1} (before ${avg0})`);
  await shot("panel-playground");
});

test("context manager: save a snapshot, clear, restore it", { skip: !haveChromium }, async () => {
  await page.click("#ctx-refresh");
  await page.waitForFunction(() => Number(document.getElementById("ctx-usage").dataset.used) > 0);
  const used = Number(await page.getAttribute("#ctx-usage", "data-used"));
  assert.match(await page.textContent("#ctx-conv"), /\d+ tokens/, "per-message token counts");
  await page.fill("#snap-name", "dash-s1");
  await page.click("#snap-save");
  await page.waitForSelector('#snap-body tr[data-name="dash-s1"]');
  const row = await page.textContent('#snap-body tr[data-name="dash-s1"]');
  assert.match(row, new RegExp(`dash-s1${used}`), `the snapshot holds the ${used} tokens: ${row}`);
  await page.click("#ctx-clear");
  await page.waitForFunction(() => document.getElementById("ctx-usage").dataset.used === "0");
  await page.click('#snap-body tr[data-name="dash-s1"] button:has-text("Load")');
  await page.waitForFunction((u) => document.getElementById("ctx-usage").dataset.used === String(u), used);
  assert.match(await page.textContent("#ctx-status"), /loaded snapshot dash-s1/);
  assert.match(await page.textContent("#ctx-conv"), /And God said/, "the conversation saved with the snapshot is back");
  await shot("panel-context");
});

test("alerts: a low RAM threshold lists a ResourceAlert", { skip: !haveChromium }, async () => {
  await page.waitForSelector('#events-list li[data-type="ModelLoadCompleted"]');
  await page.fill("#al-ram", "1");
  await page.fill("#al-hyst", "0");
  await page.click("#alerts-save");
  await page.waitForFunction(() => document.getElementById("alerts-status").textContent === "saved");
  await page.waitForSelector('#events-list li[data-type="ResourceAlert"]', { timeout: 10000 });
  const li = await page.textContent('#events-list li[data-type="ResourceAlert"]');
  assert.match(li, /^warning/);
  assert.match(li, /ram/i);
  await shot("panel-alerts");
  // auto-scroll keeps the newest event in view; Clear empties the list
  assert.ok(await page.evaluate(() => { const l = document.getElementById("events-list");
    return l.scrollHeight <= l.clientHeight || l.scrollTop + l.clientHeight >= l.scrollHeight - 2; }), "scrolled to the newest");
  await page.click("#events-clear");
  assert.equal(await page.locator("#events-list li").count(), 0);
  await page.fill("#al-ram", "95");
  await page.click("#alerts-save");
});

test("history: 24 h of 1 s samples (86,400 points a series) stays responsive", { skip: !haveChromium }, async () => {
  const r = await page.evaluate(async () => {
    const N = 86400, now = Date.now() / 1000;
    const h = { t: new Array(N), tps: new Array(N), ram: new Array(N), vram: new Array(N) };
    for (let i = 0; i < N; i++) {
      h.t[i] = now - (N - i);
      h.tps[i] = 50 + 40 * Math.sin(i / 600) + (i % 7);
      h.ram[i] = 800 + 200 * Math.sin(i / 3000);
      h.vram[i] = 0;
    }
    const t0 = performance.now();
    window.lirDash.setHistory(h);
    await new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
    const firstDraw = performance.now() - t0;
    // frames for 4 s while live samples arrive (1/s, each redraws the chart) and the view zooms
    const frames = [];
    let last = performance.now(), zooms = 0;
    const end = last + 4000;
    await new Promise((res) => {
      const f = (ts) => {
        frames.push(ts - last);
        last = ts;
        if (ts > end) return res();
        if (frames.length % 20 === 0) { // zoom in and out over the day
          const span = 3600 * (1 + (zooms++ % 12));
          window.lirDash.zoom(now - span, now);
        }
        requestAnimationFrame(f);
      };
      requestAnimationFrame(f);
    });
    frames.sort((a, b) => a - b);
    const q = (p) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))];
    return { firstDraw, n: frames.length, p50: q(0.5), p95: q(0.95), max: frames[frames.length - 1], zooms,
      points: window.lirDash.chart.data[0].length };
  });
  console.log(`# history 86,400 points: first draw ${r.firstDraw.toFixed(0)} ms; ${r.n} frames in 4 s with ${r.zooms} zooms ` +
    `and live samples: frame time p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`);
  assert.ok(r.points >= 86400, `the chart holds ${r.points} points`);
  assert.ok(r.p50 < 50, `median frame ${r.p50.toFixed(1)} ms (< 50 ms: 20 fps)`);
  assert.ok(r.p95 < 400, `95th percentile frame ${r.p95.toFixed(1)} ms (< 400 ms)`);
  assert.ok(r.firstDraw < 2000, `first draw ${r.firstDraw.toFixed(0)} ms`);
  await page.click("#hist-reset");
  await shot("panel-history");
  // the CSV export holds every sample
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#hist-csv")]);
  const csv = fs.readFileSync(await dl.path(), "utf8").trim().split("\n");
  assert.equal(csv[0], "timestamp,tokens_per_second,process_ram_mb,vram_used_mb");
  assert.ok(csv.length - 1 >= 86400, `${csv.length - 1} rows`);
});

test("with --api-key: the page loads without the key, the API needs it, the page sends it", { skip: !haveChromium }, async () => {
  const s2 = await startServer(modelsDir, ["--quiet", "--api-key", "dash-key"]);
  const p2 = await ctx.newPage();
  try {
    assert.equal((await fetch(s2.url + "/", { headers: { Accept: "text/html" } })).status, 200);
    assert.equal((await fetch(s2.url + "/static/app.js")).status, 200);
    assert.equal((await fetch(s2.url + "/lir/v1/models/installed")).status, 401);
    await p2.goto(s2.url + "/");
    await p2.waitForFunction(() => document.getElementById("conn").textContent === "disconnected");
    await p2.fill("#api-key", "dash-key");
    await p2.press("#api-key", "Enter");
    await p2.waitForFunction(() => document.getElementById("conn").textContent === "live", null, { timeout: 5000 });
    await p2.waitForFunction(() => [...document.querySelectorAll("#load-model option")].some((o) => o.value === "kjv"));
  } finally {
    await p2.evaluate(() => localStorage.removeItem("lir.apiKey")).catch(() => {});
    await p2.close();
    await s2.stop();
  }
});

test("dark and light themes; no script errors", { skip: !haveChromium }, async () => {
  await page.emulateMedia({ colorScheme: "dark" });
  const bgDark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.click("#theme"); // auto -> light
  const bgLight = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(bgDark, bgLight);
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  await page.click("#theme"); // light -> dark
  await page.emulateMedia({ colorScheme: "light" });
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), bgDark);
  await page.screenshot({ path: path.join(OUT, "page-dark.png"), fullPage: true });
  await page.click("#theme"); // dark -> auto
  await page.screenshot({ path: path.join(OUT, "page-light.png"), fullPage: true });
  // every control has a label
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
    .filter((e) => !e.closest("label") && !e.getAttribute("aria-label")).map((e) => e.id || e.name));
  assert.deepEqual(unlabeled, []);
  assert.deepEqual(pageErrors, []);
});

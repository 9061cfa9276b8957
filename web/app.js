// app.js — the behaviour of lir's dashboard (web/index.html), a plain ES module over the server's
// APIs: the management API (/lir/v1/...), the live resource stream (/lir/v1/resources/live, SSE,
// one sample a second), the event stream (/lir/v1/events, SSE) and the OpenAI chat API for the
// playground (/v1/chat/completions, streamed). Charts are uPlot (window.uPlot, embedded next to
// this file). Every stream is read with fetch so that an API key (Authorization) can be sent.
// window.lirDash exposes the page's state, a history setter and the resources renderer for the
// browser tests.

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

const HOUR = 3600e3, DAY = 24 * HOUR;
const state = {
  loaded: [], activeId: null, installed: [], res: null, resUpdates: 0,
  convos: {},            // loaded model id -> [{role, content, tokens}]
  hist: { t: [], tps: [], ram: [], vram: [] }, // seconds, tok/s, MB, MB
  events: [], chatAbort: null,
};

// ------------------------------------------------------------------ formatting

function bytes(n) {
  if (n == null || isNaN(n)) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}
const pct = (x) => (x == null || isNaN(x) ? "–" : `${x.toFixed(1)} %`);
const num = (x, d = 1) => (x == null || isNaN(x) ? "–" : Number(x).toFixed(d));
function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// ------------------------------------------------------------------ HTTP

function headers(extra = {}) {
  const h = { ...extra };
  const key = localStorage.getItem("lir.apiKey");
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// JSON request; throws an Error with the server's message (and .body, .status) on an HTTP error.
async function api(path, opts = {}) {
  const init = { method: opts.method ?? "GET", headers: headers(opts.body ? { "Content-Type": "application/json" } : {}) };
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  const r = await fetch(path, init);
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    const e = new Error(j?.error?.message ?? `${r.status} ${r.statusText}`);
    e.status = r.status;
    e.body = j;
    throw e;
  }
  return j;
}

// Reads a Server-Sent Events response; onEvent(name, data) per event. Resolves when it ends.
async function readSSE(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
      let name = "message", data = "";
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const c = line.indexOf(":");
        const f = c < 0 ? line : line.slice(0, c), v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
        if (f === "event") name = v;
        else if (f === "data") data += (data ? "\n" : "") + v;
      }
      if (data) onEvent(name, data);
    }
  }
}

// Keeps an SSE GET stream open, reconnecting after a second when it ends or fails.
function follow(path, onEvent, onState) {
  const run = async () => {
    for (;;) {
      try {
        const r = await fetch(path, { headers: headers({ Accept: "text/event-stream" }) });
        if (!r.ok) throw new Error(`${r.status}`);
        onState?.(true);
        await readSSE(r, onEvent);
      } catch { /* reconnect */ }
      onState?.(false);
      await new Promise((res) => setTimeout(res, 1000));
    }
  };
  run();
}

// ------------------------------------------------------------------ theme

const THEMES = ["auto", "light", "dark"];
function applyTheme(t) {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  $("theme").textContent = `Theme: ${t}`;
  $("theme").setAttribute("aria-label", t === "auto" ? "Colour theme: follows the system" : `Colour theme: ${t}`);
  localStorage.setItem("lir.theme", t);
  if (chart) buildChart();
}
$("theme").addEventListener("click", () => {
  const cur = localStorage.getItem("lir.theme") ?? "auto";
  applyTheme(THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length]);
});

$("api-key").value = localStorage.getItem("lir.apiKey") ?? "";
$("api-key").addEventListener("change", () => {
  const v = $("api-key").value.trim();
  if (v) localStorage.setItem("lir.apiKey", v); else localStorage.removeItem("lir.apiKey");
  refreshAll();
});

// ------------------------------------------------------------------ loaded models

function modelName(m) { return m.model?.name || m.model?.display_name || m.id; }

let modelsShown = "";
function renderModels() {
  const body = $("models-body");
  const key = JSON.stringify([state.loaded, state.activeId]);
  if (key === modelsShown) return;
  modelsShown = key;
  // a live update must not take the keyboard focus away from a button in the table
  const focused = body.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
  body.replaceChildren();
  if (!state.loaded.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: "12", text: "No model loaded." })));
  const peakMax = Math.max(1, ...state.loaded.map((m) => m.metrics.peak_tokens_per_second || 0));
  for (const m of state.loaded) {
    const r = m.resources, mt = m.metrics;
    const active = m.id === state.activeId;
    const bar = el("div", { class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": String(peakMax),
      "aria-valuenow": String(mt.average_tokens_per_second || 0), "aria-label": `average tokens per second of ${modelName(m)}` },
      el("span", { style: `width:${Math.min(100, (100 * (mt.average_tokens_per_second || 0)) / peakMax)}%` }));
    const tr = el("tr", { class: active ? "active" : "", "data-id": m.id },
      el("td", { text: modelName(m), title: m.id }),
      el("td", { text: m.status }),
      el("td", { text: m.model?.backend ?? "–" }),
      el("td", { text: `${r.gpu_layers}/${r.cpu_layers}` }),
      el("td", { text: bytes(r.ram_bytes) }),
      el("td", { text: bytes(r.vram_bytes) }),
      el("td", { class: "rel", "data-ms": String(m.loaded_at_ms), text: ago(m.loaded_at_ms) }),
      el("td", { class: "rel", "data-ms": String(m.last_used_at_ms), text: ago(m.last_used_at_ms) }),
      el("td", { class: "requests", text: String(mt.total_requests) }),
      el("td", {}, el("div", { class: "tps" }, el("span", { class: "avg-tps", text: num(mt.average_tokens_per_second) }), bar)),
      el("td", { class: "peak-tps", text: num(mt.peak_tokens_per_second) }),
      el("td", {},
        el("button", { type: "button", class: "secondary", "aria-label": `Unload ${modelName(m)}`, onclick: () => unload(m.id), text: "Unload" }),
        " ",
        el("button", { type: "button", class: "secondary", "aria-label": `Set ${modelName(m)} active`, onclick: () => activate(m.id),
          text: "Set active", ...(active ? { disabled: "" } : {}) })));
    body.append(tr);
  }
  if (focused) [...body.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === focused)?.focus();
  fillModelSelect($("ctx-model"));
  fillModelSelect($("chat-model"));
}

// The loaded models as options of sel, keeping its choice when still loaded (else the active model).
function fillModelSelect(sel) {
  const keep = sel.value;
  const ids = state.loaded.map((m) => m.id);
  const same = sel.options.length === ids.length && [...sel.options].every((o, i) => o.value === ids[i]);
  if (!same) {
    sel.replaceChildren(...state.loaded.map((m) => el("option", { value: m.id, text: `${modelName(m)} (${m.id})` })));
    if (!ids.length) sel.append(el("option", { value: "", text: "no model loaded" }));
  }
  sel.value = ids.includes(keep) ? keep : (state.activeId && ids.includes(state.activeId) ? state.activeId : ids[0] ?? "");
  if (sel.value !== keep) sel.dispatchEvent(new Event("change"));
}

async function refreshLoaded() {
  const j = await api("/lir/v1/models/loaded");
  state.loaded = j.models;
  state.activeId = j.active_id;
  renderModels();
}

async function refreshInstalled() {
  const j = await api("/lir/v1/models/installed");
  state.installed = j.models;
  const sel = $("load-model"), keep = sel.value;
  sel.replaceChildren(...j.models.map((m) => el("option", { value: m.name, text: `${m.display_name || m.name} — ${bytes(m.size_bytes)}` })));
  if (j.models.some((m) => m.name === keep)) sel.value = keep;
}

function loadBody() {
  const intOf = (id) => { const v = $(id).value.trim(); return v === "" ? undefined : Number.parseInt(v, 10); };
  const options = {};
  for (const [k, id] of [["gpu_layers", "load-gpu-layers"], ["context_size", "load-context"], ["batch_size", "load-batch"], ["threads", "load-threads"]]) {
    const v = intOf(id);
    if (v !== undefined) options[k] = v;
  }
  return { model: $("load-model").value, options };
}

function showCheck(chk, title) {
  const box = $("load-check");
  box.replaceChildren(el("h4", { text: title }));
  const ul = el("ul");
  for (const i of chk.issues ?? [])
    ul.append(el("li", { text: `${i.resource}: needs ${bytes(i.required)}, ${bytes(i.available)} available — ${i.message}` }));
  box.append(ul);
  if (chk.suggestion) box.append(el("p", { class: "suggestion", text: `Suggestion: ${chk.suggestion}` }));
  if (chk.suggested_context_size)
    box.append(el("p", {}, `Suggested context size: ${chk.suggested_context_size} `,
      el("button", { type: "button", class: "secondary", id: "use-suggested",
        onclick: () => { $("load-context").value = String(chk.suggested_context_size); $("load-context").focus(); },
        text: "Use it" })));
  box.hidden = false;
}

$("load-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const st = $("load-status");
  $("load-check").hidden = true;
  st.classList.remove("error");
  st.textContent = "loading…";
  $("load-btn").disabled = true;
  try {
    const j = await api("/lir/v1/models/load", { method: "POST", body: loadBody() });
    st.textContent = `loaded ${j.id}`;
    await refreshLoaded();
  } catch (e) {
    st.textContent = `load refused: ${e.message}`;
    st.classList.add("error");
    const chk = e.body?.error?.check;
    if (chk) showCheck(chk, "Not enough resources");
  } finally {
    $("load-btn").disabled = false;
  }
});

$("check-btn").addEventListener("click", async () => {
  const st = $("load-status");
  try {
    const chk = await api("/lir/v1/resources/check", { method: "POST", body: loadBody() });
    st.classList.remove("error");
    if (chk.is_sufficient) { $("load-check").hidden = true; st.textContent = "resources are sufficient"; }
    else { st.textContent = "resources are not sufficient"; showCheck(chk, "Not enough resources"); }
  } catch (e) { st.textContent = `check failed: ${e.message}`; }
});

async function unload(id) {
  try { await api(`/lir/v1/models/${encodeURIComponent(id)}/unload`, { method: "POST" }); }
  catch (e) { $("load-status").textContent = `unload failed: ${e.message}`; }
  await refreshLoaded();
}
async function activate(id) {
  try { await api(`/lir/v1/models/${encodeURIComponent(id)}/activate`, { method: "POST" }); }
  catch (e) { $("load-status").textContent = `set active failed: ${e.message}`; }
  await refreshLoaded();
}
$("unload-all").addEventListener("click", async () => {
  try { await api("/lir/v1/models/unload-all", { method: "POST" }); }
  catch (e) { $("load-status").textContent = `unload all failed: ${e.message}`; }
  await refreshLoaded();
});

// ------------------------------------------------------------------ resources (live)

function setBar(id, p) { $(id).style.width = `${Math.max(0, Math.min(100, p || 0))}%`; }

function renderResources(u) {
  state.res = u;
  state.resUpdates++;
  $("r-ram-process").textContent = bytes(u.process_ram_bytes);
  $("r-ram-models").textContent = bytes(u.models_ram_bytes);
  $("r-ram-cached").textContent = bytes(u.cached_ram_bytes);
  $("r-ram-system").textContent = `${bytes(u.system_ram_used_bytes)} of ${bytes(u.system_ram_bytes)}`;
  setBar("r-ram-bar", (100 * u.system_ram_used_bytes) / (u.system_ram_bytes || 1));
  $("r-cpu-system").textContent = pct(u.cpu_usage_percent);
  $("r-cpu-process").textContent = pct(u.process_cpu_percent);
  setBar("r-cpu-bar", u.cpu_usage_percent);
  $("r-active").textContent = String(u.active_requests);
  $("r-queued").textContent = String(u.queued_requests ?? 0);
  $("r-tps").textContent = `${num(u.current_tokens_per_second)} tok/s`;
  $("r-ttft").textContent = `${num(u.avg_ttft_ms)} ms`;
  $("res-updated").textContent = `updated ${new Date(u.timestamp_ms).toLocaleTimeString()}`;
  $("panel-resources").dataset.updates = String(state.resUpdates);
  const gb = $("gpu-body");
  gb.replaceChildren();
  const gpus = u.gpus ?? [];
  if (!gpus.length) gb.append(el("tr", { class: "empty" }, el("td", { colspan: "6", text: "No GPU." })));
  for (const g of gpus)
    gb.append(el("tr", {},
      el("td", { text: `${g.id}: ${g.name}` }),
      el("td", { text: `${bytes(g.vram_used_bytes)} of ${bytes(g.vram_total_bytes)}` }),
      el("td", { text: bytes(g.vram_held_bytes) }),
      el("td", { text: `${num(g.temperature_c, 0)} °C` }),
      el("td", { text: `${num(g.power_w, 0)} W` }),
      el("td", { text: pct(g.utilization_percent) })));
  if (u.models) {
    state.loaded = u.models;
    state.activeId = u.active_id;
    renderModels();
  }
  pushHistory(u);
}

// ------------------------------------------------------------------ history (uPlot)

let chart = null;
const SERIES = { tps: ["Tokens/s", "tok/s"], ram: ["RAM (process)", "MB"], vram: ["VRAM (used)", "MB"] };
const cssVar = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();

function sampleRow(u) {
  const vram = (u.gpus ?? []).reduce((a, g) => a + (g.vram_used_bytes || 0), 0);
  return [u.timestamp_ms / 1000, u.current_tokens_per_second || 0, (u.process_ram_bytes || 0) / 1048576, vram / 1048576];
}

function chartData() {
  const k = $("hist-series").value;
  return [state.hist.t, state.hist[k]];
}

function buildChart() {
  const box = $("hist-chart");
  if (!window.uPlot) { box.textContent = "Charts are unavailable: uPlot was not embedded in this build."; return; }
  if (chart) chart.destroy();
  const k = $("hist-series").value;
  const fg = cssVar("--fg"), grid = cssVar("--border"), line = cssVar("--accent");
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  chart = new uPlot({
    width: Math.max(300, box.clientWidth || 800), height: 300,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    series: [{}, { label: SERIES[k][0], stroke: line, width: 1.5, fill: line + "22", points: { show: false },
      value: (u, v) => (v == null ? "–" : `${v.toFixed(1)} ${SERIES[k][1]}`) }],
    axes: [axis, { ...axis, label: SERIES[k][1] }],
    hooks: { setSelect: [(u) => { if (u.select.width > 0) zoomed = true; }] },
  }, chartData(), box);
  zoomed = false;
  chart.over.addEventListener("dblclick", () => { zoomed = false; });
}

let zoomed = false, chartDirty = false;
function pushHistory(u) {
  const h = state.hist, row = sampleRow(u);
  if (h.t.length && row[0] <= h.t[h.t.length - 1]) return;
  h.t.push(row[0]); h.tps.push(row[1]); h.ram.push(row[2]); h.vram.push(row[3]);
  const cut = row[0] - DAY / 1000;
  let drop = 0;
  while (drop < h.t.length && h.t[drop] < cut) drop++;
  if (drop) for (const a of [h.t, h.tps, h.ram, h.vram]) a.splice(0, drop);
  chartDirty = true;
}

// Redraws at most once a frame; keeps the user's zoom while new samples arrive.
function drawLoop() {
  if (chart && chartDirty) {
    chartDirty = false;
    if (zoomed) {
      const { min, max } = chart.scales.x;
      chart.setData(chartData(), false);
      chart.setScale("x", { min, max });
    } else chart.setData(chartData());
    $("hist-info").textContent = `${state.hist.t.length} samples`;
  }
  requestAnimationFrame(drawLoop);
}

async function loadHistory() {
  try {
    const j = await api("/lir/v1/resources/history?period=24h");
    const h = { t: [], tps: [], ram: [], vram: [] };
    for (const s of j.samples) {
      const row = sampleRow(s);
      if (h.t.length && row[0] <= h.t[h.t.length - 1]) continue;
      h.t.push(row[0]); h.tps.push(row[1]); h.ram.push(row[2]); h.vram.push(row[3]);
    }
    // keep live samples that arrived while the history was fetched
    const last = h.t.length ? h.t[h.t.length - 1] : -Infinity;
    state.hist.t.forEach((t, i) => { if (t > last) { h.t.push(t); h.tps.push(state.hist.tps[i]); h.ram.push(state.hist.ram[i]); h.vram.push(state.hist.vram[i]); } });
    state.hist = h;
    chartDirty = true;
  } catch (e) {
    $("hist-info").textContent = `history unavailable: ${e.message}`;
  }
}

$("hist-series").addEventListener("change", buildChart);
$("hist-reset").addEventListener("click", () => { zoomed = false; chartDirty = true; });
$("hist-csv").addEventListener("click", () => {
  const h = state.hist;
  const lines = ["timestamp,tokens_per_second,process_ram_mb,vram_used_mb"];
  for (let i = 0; i < h.t.length; i++)
    lines.push(`${new Date(h.t[i] * 1000).toISOString()},${h.tps[i]},${h.ram[i].toFixed(2)},${h.vram[i].toFixed(2)}`);
  const url = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  const a = el("a", { href: url, download: `lir-history-${new Date().toISOString().slice(0, 19)}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});

// ------------------------------------------------------------------ alerts and events

const SEVERITY = (type) => (type === "ResourceAlert" ? "warning" : /Failed$/.test(type) ? "error" : "info");
function eventText(e) {
  const parts = [];
  if (e.model_name || e.loaded_model_id) parts.push(e.model_name || e.loaded_model_id);
  if (e.resource) parts.push(`${e.resource} at ${num(e.usage_percent)} %`);
  if (e.message) parts.push(e.message);
  if (e.snapshot_id) parts.push(`snapshot ${e.snapshot_id}`);
  if (e.type === "GenerationCompleted" && e.metrics) parts.push(`${e.completion_tokens} tokens, ${num(e.metrics.tokens_per_second)} tok/s`);
  if (e.type === "ContextTruncated") parts.push(`${e.tokens_before} → ${e.tokens_after} tokens`);
  return parts.join(" — ");
}
function addEvent(e) {
  const sev = SEVERITY(e.type);
  const li = el("li", { class: sev, "data-type": e.type },
    el("span", { class: "sev", text: sev }), " ",
    el("time", { datetime: new Date(e.timestamp_ms).toISOString(), text: new Date(e.timestamp_ms).toLocaleTimeString() }), " ",
    el("strong", { text: e.type }), " ", eventText(e));
  const list = $("events-list");
  list.append(li);
  while (list.children.length > 500) list.firstChild.remove();
  $("events-count").textContent = `${list.children.length} shown`;
  if ($("events-autoscroll").checked) list.scrollTop = list.scrollHeight;
  if (e.type.startsWith("Snapshot") || e.type === "ContextTruncated" || e.type === "GenerationCompleted") refreshContext();
}
$("events-clear").addEventListener("click", () => { $("events-list").replaceChildren(); $("events-count").textContent = ""; });

async function loadAlerts() {
  const j = await api("/lir/v1/alerts");
  $("al-ram").value = j.ram_percent; $("al-vram").value = j.vram_percent; $("al-cpu").value = j.cpu_percent;
  $("al-gpu").value = j.gpu_percent; $("al-hyst").value = j.hysteresis_percent;
}
$("alerts-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {};
  for (const [k, id] of [["ram_percent", "al-ram"], ["vram_percent", "al-vram"], ["cpu_percent", "al-cpu"], ["gpu_percent", "al-gpu"], ["hysteresis_percent", "al-hyst"]])
    if ($(id).value !== "") body[k] = Number($(id).value);
  try { await api("/lir/v1/alerts", { method: "PUT", body }); $("alerts-status").textContent = "saved"; await loadAlerts(); }
  catch (e) { $("alerts-status").textContent = `not saved: ${e.message}`; }
});

// ------------------------------------------------------------------ context manager

const ctxModel = () => $("ctx-model").value;
const snapKey = (id, name) => `lir.snapconv.${id}.${name}`;

function renderConversation() {
  const conv = state.convos[ctxModel()] ?? [];
  const ol = $("ctx-conv");
  ol.replaceChildren();
  if (!conv.length) ol.append(el("li", { class: "empty", text: "No conversation in the playground yet." }));
  for (const m of conv)
    ol.append(el("li", {}, el("span", { class: "tok", text: m.tokens != null ? `${m.tokens} tokens` : "" }),
      el("span", { class: "role", text: m.role }), el("div", { text: m.content })));
}

let ctxSeq = 0;
async function refreshContext() {
  const id = ctxModel(), seq = ++ctxSeq;
  renderConversation();
  if (!id) { $("ctx-usage").textContent = "No model loaded."; setBar("ctx-bar", 0); $("snap-body").replaceChildren(); return; }
  try {
    const [u, s] = await Promise.all([api(`/lir/v1/models/${encodeURIComponent(id)}/context`),
      api(`/lir/v1/models/${encodeURIComponent(id)}/snapshots`)]);
    if (seq !== ctxSeq) return;
    setBar("ctx-bar", u.usage_percent);
    $("ctx-bar-wrap").setAttribute("aria-valuenow", String(Math.round(u.usage_percent)));
    $("ctx-usage").textContent = `${u.used_tokens} / ${u.max_context_size} tokens (${pct(u.usage_percent)}), KV cache ${num(u.kv_cache_bytes / 1048576)} MB of ${num(u.kv_cache_capacity_bytes / 1048576)} MB`;
    $("ctx-usage").dataset.used = String(u.used_tokens);
    const body = $("snap-body");
    body.replaceChildren();
    if (!s.snapshots.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: "5", text: "No snapshot." })));
    for (const e of s.snapshots)
      body.append(el("tr", { "data-name": e.name },
        el("td", { text: e.name }), el("td", { text: String(e.token_count) }), el("td", { text: bytes(e.size_bytes) }),
        el("td", { class: "rel", "data-ms": String(e.created_at_ms), text: ago(e.created_at_ms) }),
        el("td", {},
          el("button", { type: "button", "aria-label": `Load snapshot ${e.name}`, onclick: () => restoreSnap(e.name), text: "Load" }), " ",
          el("button", { type: "button", "aria-label": `Delete snapshot ${e.name}`, onclick: () => deleteSnap(e.name), text: "Delete" }))));
  } catch (e) {
    if (seq === ctxSeq) $("ctx-status").textContent = `context unavailable: ${e.message}`;
  }
}

async function ctxAction(what, fn) {
  const st = $("ctx-status");
  try { await fn(); st.textContent = what; st.classList.remove("error"); }
  catch (e) { st.textContent = `${what} failed: ${e.message}`; st.classList.add("error"); }
  await refreshContext();
}
$("ctx-model").addEventListener("change", refreshContext);
$("ctx-refresh").addEventListener("click", refreshContext);
$("snap-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const id = ctxModel(), name = $("snap-name").value.trim();
  ctxAction(`saved snapshot ${name}`, async () => {
    await api(`/lir/v1/models/${encodeURIComponent(id)}/snapshots`, { method: "POST", body: { name } });
    localStorage.setItem(snapKey(id, name), JSON.stringify(state.convos[id] ?? []));
  });
});
function restoreSnap(name) {
  const id = ctxModel();
  ctxAction(`loaded snapshot ${name}`, async () => {
    await api(`/lir/v1/models/${encodeURIComponent(id)}/snapshots/${encodeURIComponent(name)}/restore`, { method: "POST" });
    const saved = localStorage.getItem(snapKey(id, name));
    state.convos[id] = saved ? JSON.parse(saved) : [];
    if ($("chat-model").value === id) renderChat();
  });
}
function deleteSnap(name) {
  const id = ctxModel();
  ctxAction(`deleted snapshot ${name}`, async () => {
    await api(`/lir/v1/models/${encodeURIComponent(id)}/snapshots/${encodeURIComponent(name)}`, { method: "DELETE" });
    localStorage.removeItem(snapKey(id, name));
  });
}
$("trunc-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const n = Number.parseInt($("trunc-n").value, 10);
  ctxAction(`truncated to ${n} tokens`, () => api(`/lir/v1/models/${encodeURIComponent(ctxModel())}/context/truncate`, { method: "POST", body: { keep_tokens: n } }));
});
$("ctx-clear").addEventListener("click", () => {
  const id = ctxModel();
  ctxAction("cleared the context", async () => {
    await api(`/lir/v1/models/${encodeURIComponent(id)}/context/clear`, { method: "POST" });
    state.convos[id] = [];
    if ($("chat-model").value === id) renderChat();
  });
});

// ------------------------------------------------------------------ playground

function renderChat() {
  const conv = state.convos[$("chat-model").value] ?? [];
  const ol = $("chat-log");
  ol.replaceChildren(...conv.map((m) => chatItem(m)));
}
function chatItem(m) {
  const li = el("li", { class: m.role }, el("div", { class: "role", text: m.role }), el("div", { class: "text", text: m.content }));
  if (m.stats) li.append(el("div", { class: "stats", text: m.stats }));
  return li;
}

function samplingParams() {
  const out = {};
  for (const inp of $("sampling-grid").querySelectorAll("input, select")) {
    const v = inp.value.trim();
    if (v === "") continue;
    if (inp.name === "stop") { out.stop = v.split(",").map((s) => s.trim()).filter(Boolean); continue; }
    const x = Number(v);
    if (!Number.isFinite(x)) continue;
    out[inp.name] = ["top_k", "repeat_last_n", "mirostat", "seed", "max_tokens"].includes(inp.name) ? Math.trunc(x) : x;
  }
  return out;
}

async function sendChat() {
  const id = $("chat-model").value, text = $("chat-input").value;
  if (!id || !text.trim() || state.chatAbort) return;
  const conv = (state.convos[id] ??= []);
  const sys = $("chat-system").value.trim();
  const user = { role: "user", content: text, tokens: null };
  conv.push(user);
  $("chat-input").value = "";
  const reply = { role: "assistant", content: "", tokens: null, stats: "" };
  conv.push(reply);
  renderChat();
  renderConversation();
  const li = $("chat-log").lastChild, textDiv = li.querySelector(".text");
  const stats = el("div", { class: "stats", text: "waiting…" });
  li.append(stats);
  const messages = [...(sys ? [{ role: "system", content: sys }] : []), ...conv.slice(0, -1).map((m) => ({ role: m.role, content: m.content }))];
  const ctl = new AbortController();
  state.chatAbort = ctl;
  $("chat-send").disabled = true; $("chat-stop").disabled = false;
  $("chat-status").textContent = "generating…";
  const t0 = performance.now();
  let tFirst = 0, usage = null, finish = null, chunks = 0;
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", signal: ctl.signal, headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ model: id, messages, stream: true, stream_options: { include_usage: true }, ...samplingParams() }),
    });
    if (!r.ok) { const j = await r.json().catch(() => null); throw new Error(j?.error?.message ?? `${r.status}`); }
    await readSSE(r, (name, data) => {
      if (data === "[DONE]") return;
      const j = JSON.parse(data);
      if (j.error) throw new Error(j.error.message);
      if (j.usage) usage = j.usage;
      const c = j.choices?.[0];
      if (c?.finish_reason) finish = c.finish_reason;
      const d = c?.delta?.content;
      if (d) {
        if (!tFirst) tFirst = performance.now();
        chunks++;
        reply.content += d;
        textDiv.textContent = reply.content;
        $("chat-log").scrollTop = $("chat-log").scrollHeight;
      }
    });
    $("chat-status").textContent = `done (${finish ?? "end"})`;
  } catch (e) {
    $("chat-status").textContent = e.name === "AbortError" ? "stopped" : `error: ${e.message}`;
    if (e.name !== "AbortError") reply.error = true;
  } finally {
    const t1 = performance.now();
    const ttft = tFirst ? tFirst - t0 : null;
    const ntok = usage?.completion_tokens ?? chunks;
    const tps = tFirst && t1 > tFirst ? (Math.max(ntok - 1, 0) * 1000) / (t1 - tFirst) : null;
    reply.tokens = usage?.completion_tokens ?? null;
    if (usage) {
      // the prompt's tokens that this turn added: this prompt minus what the conversation held before
      const before = conv.slice(0, -2).reduce((a, m) => a + (m.tokens ?? 0), 0);
      user.tokens = Math.max(0, usage.prompt_tokens - before);
    }
    reply.stats = `TTFT ${ttft == null ? "–" : ttft.toFixed(0) + " ms"} · ${tps == null ? "–" : tps.toFixed(1)} tok/s · ${ntok} tokens`;
    stats.textContent = reply.stats;
    stats.dataset.ttft = String(ttft ?? "");
    stats.dataset.tps = String(tps ?? "");
    state.chatAbort = null;
    $("chat-send").disabled = false; $("chat-stop").disabled = true;
    if ($("ctx-model").value === id) refreshContext();
  }
}
$("chat-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendChat(); });
$("chat-input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); sendChat(); }
});
$("chat-stop").addEventListener("click", () => state.chatAbort?.abort());
$("chat-model").addEventListener("change", renderChat);
$("chat-new").addEventListener("click", () => { state.convos[$("chat-model").value] = []; renderChat(); renderConversation(); });

// ------------------------------------------------------------------ start

function tickRelative() {
  for (const td of document.querySelectorAll(".rel[data-ms]")) td.textContent = ago(Number(td.dataset.ms));
}

async function refreshAll() {
  await Promise.allSettled([refreshLoaded(), refreshInstalled(), loadAlerts(), loadHistory()]);
  refreshContext();
}

applyTheme(localStorage.getItem("lir.theme") ?? "auto");
buildChart();
requestAnimationFrame(drawLoop);
window.addEventListener("resize", () => chart?.setSize({ width: Math.max(300, $("hist-chart").clientWidth), height: 300 }));
setInterval(tickRelative, 1000);
setInterval(() => refreshInstalled().catch(() => {}), 15000);
refreshAll();
follow("/lir/v1/resources/live", (name, data) => { if (name === "resources") renderResources(JSON.parse(data)); },
  (ok) => { $("conn").textContent = ok ? "live" : "disconnected"; $("conn").className = `conn ${ok ? "ok" : "bad"}`; });
follow("/lir/v1/events", (name, data) => { if (name !== "error") addEvent(JSON.parse(data)); });

// For the browser tests: the page's state, and a history setter (t in seconds; series arrays).
window.lirDash = {
  state,
  get chart() { return chart; },
  setHistory(h) { state.hist = h; chartDirty = true; },
  renderResources,
  zoom(min, max) { zoomed = true; chart.setScale("x", { min, max }); },
};

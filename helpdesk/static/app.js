// The help-desk page: asks /api/ask, draws each tool result (breakdown bars, fit gauge, recommendation and
// comparison tables, launch flags), opens cited notes, and keeps the conversation of this browser tab.
// Everything is built with textContent: no answer text is ever parsed as HTML.
"use strict";

const TOKEN_KEY = "vramwise-token";
const SESSION_KEY = "vramwise-session";
const HISTORY_KEY = "vramwise-history";
const MAX_TURNS_KEPT = 30;

// A token handed over in the URL (#token=...) lives in this tab's sessionStorage only, and leaves the address bar.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
localStorage.removeItem(TOKEN_KEY); // pages of earlier versions kept it there

function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context; this does not
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
function sessionId() {
  let id = sessionStorage.getItem(SESSION_KEY);
  if (!id) { id = newSessionId(); sessionStorage.setItem(SESSION_KEY, id); }
  return id;
}

// Header values are byte strings: send the token's UTF-8 bytes one per character, as the server compares them.
function headerBytes(text) {
  return Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join("");
}
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${headerBytes(token)}` } : {};
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

const gb = (b) => (b / 1e9).toFixed(2);
const gib = (b) => (b / 2 ** 30).toFixed(2);
const both = (b) => `${gb(b)} GB (${gib(b)} GiB)`;
const zh = (answer) => answer.language === "zh";
const L = (answer, en, cn) => (zh(answer) ? cn : en);
const PARTS = {
  weights_bytes: ["weights", "权重"], kv_cache_bytes: ["KV cache", "KV 缓存"], activations_bytes: ["activations", "激活"],
  overhead_bytes: ["runtime overhead", "运行时开销"], gradients_bytes: ["gradients", "梯度"],
  optimizer_bytes: ["optimizer states", "优化器状态"], adapter_bytes: ["adapters", "适配器"],
};

function card(title) {
  const c = el("section", "card");
  c.appendChild(el("h4", "", title));
  return c;
}

function breakdownCard(answer, result) {
  const parts = Object.entries(result.breakdown || {}).filter(([, v]) => v > 0);
  if (!parts.length || !result.total_bytes) return null;
  const c = card(L(answer, "Memory breakdown", "显存构成"));
  c.classList.add("breakdown");
  const stack = el("div", "stack");
  const legend = el("div", "legend");
  parts.forEach(([name, bytes], i) => {
    const seg = el("span", `c${i % 7}`);
    seg.style.width = `${(100 * bytes) / result.total_bytes}%`;
    seg.title = `${(PARTS[name] || [name])[zh(answer) ? 1 : 0]}: ${both(bytes)}`;
    stack.appendChild(seg);
    legend.appendChild(el("span", `sw c${i % 7}`));
    legend.appendChild(el("span", "", (PARTS[name] || [name.replace(/_bytes$/, "")])[zh(answer) ? 1 : 0]));
    legend.appendChild(el("span", "num", `${gb(bytes)} GB`));
    legend.appendChild(el("span", "num gib", `${gib(bytes)} GiB`));
  });
  legend.appendChild(el("span", ""));
  legend.appendChild(el("span", "total", L(answer, "total", "合计")));
  legend.appendChild(el("span", "num total", `${gb(result.total_bytes)} GB`));
  legend.appendChild(el("span", "num total gib", `${gib(result.total_bytes)} GiB`));
  c.append(stack, legend);
  return c;
}

function fitCard(answer, result) {
  const fit = result.fit;
  if (!fit || !fit.usable_bytes) return null;
  const level = fit.level === "does_not_fit" || !fit.fits ? "no" : fit.level === "tight" ? "tight" : "fits";
  const gpus = fit.num_gpus > 1 ? `${fit.num_gpus} x ${fit.gpu}` : fit.gpu;
  const c = card(L(answer, `Fit on ${gpus}`, `${gpus} 能否装下`));
  c.classList.add("fit");
  // the gauge runs to whichever is larger, the need or the usable memory; the mark is the usable limit
  const scale = Math.max(fit.required_bytes, fit.usable_bytes);
  const gauge = el("div", `gauge ${level}`);
  gauge.setAttribute("role", "meter");
  gauge.setAttribute("aria-valuemin", "0");
  gauge.setAttribute("aria-valuemax", String(fit.usable_bytes));
  gauge.setAttribute("aria-valuenow", String(Math.min(fit.required_bytes, fit.usable_bytes)));
  const used = el("div", "used");
  used.style.width = `${(100 * Math.min(fit.required_bytes, scale)) / scale}%`;
  const cap = el("div", "cap");
  cap.style.left = `calc(${(100 * fit.usable_bytes) / scale}% - 2px)`;
  gauge.append(used, cap);
  const label = el("div", "gauge-label");
  const perGpu = fit.num_gpus > 1 ? L(answer, " per GPU", " 每卡") : "";
  label.appendChild(el("span", "", `${L(answer, "needs", "需要")} ${both(fit.required_bytes)}${perGpu}`));
  label.appendChild(el("span", "", `${L(answer, "usable", "可用")} ${both(fit.usable_bytes)}`));
  const margin = fit.headroom_bytes;
  const marginText = margin >= 0
    ? `${L(answer, "margin", "余量")} ${both(margin)}`
    : `${L(answer, "short by", "还差")} ${both(-margin)}`;
  label.appendChild(el("span", `verdict ${level} margin`, marginText));
  c.append(gauge, label);
  if (fit.verdict) c.appendChild(el("div", "meta", fit.verdict));
  const limits = [];
  if (fit.max_context_length) limits.push(`${L(answer, "max context", "最大上下文")} ${fit.max_context_length.toLocaleString()}`);
  if (fit.max_batch_size) limits.push(`${L(answer, "max batch", "最大批量")} ${fit.max_batch_size}`);
  const speed = result.speed || {};
  if (speed.decode_tokens_per_s) limits.push(`${L(answer, "decode", "解码")} ~${speed.decode_tokens_per_s} tok/s`);
  if (limits.length) c.appendChild(el("div", "meta", limits.join(" · ")));
  return c;
}

function copyText(text, button) {
  const done = () => { button.textContent = "Copied ✓"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
}
function fallbackCopy(text, done) {
  const area = el("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

function flagsCard(answer, result) {
  const detail = result.runtime_detail || {};
  if (!detail.launch_flags) return null;
  const c = card(L(answer, `Launch flags (${detail.runtime})`, `启动参数（${detail.runtime}）`));
  c.classList.add("launch");
  const row = el("div", "flags");
  const code = el("code", "launch-flags", detail.launch_flags);
  const button = el("button", "copy", "Copy");
  button.type = "button";
  button.addEventListener("click", () => copyText(detail.launch_flags, button));
  row.append(code, button);
  c.appendChild(row);
  if (detail.max_concurrency) {
    c.appendChild(el("div", "meta", `${L(answer, "concurrent sequences at this context", "此上下文可并发序列")}: ${detail.max_concurrency}`));
  }
  return c;
}

function table(headers, rows, cls) {
  const wrap = el("div", "scroll");
  const t = el("table", cls);
  const head = t.createTHead().insertRow();
  headers.forEach((h, i) => head.appendChild(el("th", i === 1 ? "left" : "", h)));
  const body = t.createTBody();
  rows.forEach((cells) => {
    const r = body.insertRow();
    if (cells.nofit) r.className = "nofit";
    cells.forEach((cell) => {
      const td = r.insertCell();
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell == null ? "–" : String(cell);
    });
  });
  wrap.appendChild(t);
  return wrap;
}

function sizeCell(bytes, largest) {
  const span = el("span");
  const bar = el("span", "minibar");
  bar.style.width = `${Math.max(2, (48 * bytes) / largest)}px`;
  span.append(bar, document.createTextNode(gb(bytes)));
  return span;
}

function recommendCard(answer, result) {
  const candidates = result.candidates || [];
  if (!candidates.length) return null;
  const c = card(L(answer, "Models that fit, best first", "能装下的模型（按得分排序）"));
  c.classList.add("recommend");
  const largest = Math.max(...candidates.map((m) => m.total_bytes));
  const rows = candidates.map((m) => [
    m.rank, m.name || m.model, m.precision, sizeCell(m.total_bytes, largest), gb(m.headroom_bytes),
    m.decode_tokens_per_s, m.quality ? `${m.quality.benchmark} ${m.quality.score}` : null,
  ]);
  const heads = zh(answer)
    ? ["#", "模型", "格式", "显存 GB", "余量 GB", "tok/s", "基准"]
    : ["#", "model", "format", "memory GB", "headroom GB", "tok/s", "benchmark"];
  const t = table(heads, rows, "ranked");
  t.querySelectorAll("tbody td:nth-child(2)").forEach((td) => td.classList.add("left"));
  c.appendChild(t);
  for (const r of (result.rejected || []).slice(0, 3)) c.appendChild(el("div", "meta", `✗ ${r.model}: ${r.reason}`));
  return c;
}

function compareCard(answer, result) {
  const rows = result.rows || [];
  if (!rows.length) return null;
  const c = card(L(answer, `${result.model} in each format`, `${result.model} 各格式对比`));
  c.classList.add("compare");
  const largest = Math.max(...rows.map((r) => r.total_bytes));
  const cells = rows.map((r) => {
    const cellsOfRow = [
      r.precision, r.name, r.bits_per_weight != null ? r.bits_per_weight.toFixed(2) : null, sizeCell(r.total_bytes, largest),
      r.fits == null ? "–" : r.fits ? "✓" : "✗", r.decode_tokens_per_s, r.quality_impact ? r.quality_impact.level : null,
    ];
    cellsOfRow.nofit = r.fits === false;
    return cellsOfRow;
  });
  const heads = zh(answer)
    ? ["格式", "名称", "bits/权重", "总显存 GB", "装得下", "tok/s", "质量损失"]
    : ["format", "name", "bits/weight", "total GB", "fits", "tok/s", "quality cost"];
  c.appendChild(table(heads, cells, "comparison"));
  if (result.verdict) c.appendChild(el("div", "meta", result.verdict));
  return c;
}

function sourcesRow(answer) {
  const seen = new Set();
  const cites = (answer.citations || []).filter((c) => !seen.has(c.note_id) && seen.add(c.note_id));
  if (!cites.length) return null;
  const row = el("div", "sources");
  row.appendChild(el("span", "", L(answer, "Sources:", "出处：")));
  for (const cite of cites) {
    const b = el("button", "source", `note:${cite.note_id}` + (cite.heading ? ` · ${cite.heading}` : ""));
    b.type = "button";
    b.dataset.note = cite.note_id;
    if (cite.source) b.title = cite.source;
    b.addEventListener("click", () => openNote(cite.note_id, answer.language === "zh" ? "zh" : "en"));
    row.appendChild(b);
  }
  return row;
}

function render(answer) {
  const box = el("div", "msg a");
  box.appendChild(el("div", "text", answer.text || ""));
  for (const call of answer.tool_calls || []) {
    const result = call.result;
    if (!result || typeof result !== "object") continue;
    const cards = call.tool === "estimate_memory"
      ? [breakdownCard(answer, result), fitCard(answer, result), flagsCard(answer, result)]
      : call.tool === "recommend_model" ? [recommendCard(answer, result)]
        : call.tool === "compare_precision" ? [compareCard(answer, result)] : [];
    cards.filter(Boolean).forEach((c) => box.appendChild(c));
  }
  const sources = sourcesRow(answer);
  if (sources) box.appendChild(sources);
  if (answer.elapsed_ms != null) {
    box.appendChild(el("div", "meta", `${answer.assistant || ""} · ${(answer.elapsed_ms / 1000).toFixed(2)} s`));
  }
  return box;
}

// ---- notes

function renderMarkdown(markdown, into) {
  let text = markdown;
  const front = /^---\n([\s\S]*?)\n---\n?/.exec(text);
  let title = "";
  const sources = [];
  if (front) {
    text = text.slice(front[0].length);
    const t = /^title:\s*(.+)$/m.exec(front[1]);
    if (t) title = t[1].replace(/^["']|["']$/g, "");
    for (const m of front[1].matchAll(/^\s*-\s*(?:url:\s*)?(https?:\/\/\S+)/gm)) sources.push(m[1]);
  }
  into.replaceChildren();
  let para = [];
  const flush = () => { if (para.length) { into.appendChild(el("p", "", para.join(" "))); para = []; } };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) { flush(); into.appendChild(el(heading[1].length <= 2 ? "h2" : "h3", "", heading[2])); continue; }
    if (line.startsWith("```") || line.startsWith("|")) {
      flush();
      const block = [];
      if (line.startsWith("```")) {
        for (i++; i < lines.length && !lines[i].startsWith("```"); i++) block.push(lines[i]);
      } else {
        for (; i < lines.length && lines[i].startsWith("|"); i++) block.push(lines[i]);
        i--;
      }
      into.appendChild(el("pre", "", block.join("\n")));
      continue;
    }
    if (/^\s*([-*]|\d+\.)\s+/.test(line)) { flush(); into.appendChild(el("p", "", `• ${line.replace(/^\s*([-*]|\d+\.)\s+/, "")}`)); continue; }
    if (!line.trim()) { flush(); continue; }
    para.push(line.trim());
  }
  flush();
  if (sources.length) {
    const src = el("div", "src", "Sources: ");
    sources.forEach((s) => src.appendChild(el("div", "", s)));
    into.appendChild(src);
  }
  return title;
}

async function openNote(noteId, lang) {
  const dialog = document.getElementById("note-dialog");
  const body = document.getElementById("note-body");
  const titleBox = document.getElementById("note-title");
  const langs = document.getElementById("note-langs");
  titleBox.textContent = `note:${noteId}`;
  body.replaceChildren(el("div", "pending", "…"));
  langs.replaceChildren();
  if (!dialog.open) dialog.showModal();
  try {
    let r = await fetch(`/api/notes/${encodeURIComponent(noteId)}?lang=${lang}`, { headers: authHeaders() });
    if (r.status === 404 && lang !== "en") r = await fetch(`/api/notes/${encodeURIComponent(noteId)}?lang=en`, { headers: authHeaders() });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
    const title = renderMarkdown(data.markdown, body);
    titleBox.textContent = title ? `${title} (note:${noteId})` : `note:${noteId}`;
    for (const other of data.langs.filter((l) => l !== data.lang)) {
      const b = el("button", "", other === "zh" ? "中文" : "English");
      b.type = "button";
      b.addEventListener("click", () => openNote(noteId, other));
      langs.appendChild(b);
    }
  } catch (e) {
    body.replaceChildren(el("div", "err", String(e.message || e)));
  }
}

// ---- conversation

const log = () => document.getElementById("log");

function loadHistory() {
  try { return JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]"); } catch { return []; }
}
function saveTurn(question, answer) {
  const turns = loadHistory();
  turns.push({ question, answer });
  while (turns.length > MAX_TURNS_KEPT) turns.shift();
  try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(turns)); } catch { /* storage full: history is a convenience */ }
}

function scrollToEnd() { window.scrollTo(0, document.body.scrollHeight); }

async function ask(question) {
  const input = document.getElementById("question");
  const send = document.getElementById("send");
  log().appendChild(el("div", "msg q", question));
  const pending = el("div", "msg a pending");
  pending.setAttribute("aria-busy", "true");
  const status = el("span", "status", "Working out the numbers… 正在计算…");
  pending.append(el("span", "spinner"), status);
  log().appendChild(pending);
  scrollToEnd();
  send.disabled = true;
  input.setAttribute("aria-busy", "true");
  const started = performance.now();
  const timer = setInterval(() => {
    status.textContent = `Working out the numbers… 正在计算… ${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 200);
  try {
    const r = await fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ question, session_id: sessionId() }),
    });
    let data;
    try { data = await r.json(); } catch { data = { error: `HTTP ${r.status}` }; }
    if (r.ok) {
      pending.replaceWith(render(data));
      saveTurn(question, data);
    } else {
      const hint = r.status === 401 ? " — open the page as /#token=<your token>" : "";
      pending.replaceWith(el("div", "msg a err", (data.error || `HTTP ${r.status}`) + hint));
    }
  } catch (e) {
    pending.replaceWith(el("div", "msg a err", String(e)));
  } finally {
    clearInterval(timer);
    send.disabled = false;
    input.removeAttribute("aria-busy");
    scrollToEnd();
  }
}

function restore() {
  for (const turn of loadHistory()) {
    log().appendChild(el("div", "msg q", turn.question));
    log().appendChild(render(turn.answer));
  }
  scrollToEnd();
}

document.addEventListener("DOMContentLoaded", () => {
  restore();
  const input = document.getElementById("question");
  document.getElementById("ask").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (q && !document.getElementById("send").disabled) { input.value = ""; ask(q); }
  });
  document.querySelectorAll(".example").forEach((b) => b.addEventListener("click", () => {
    if (!document.getElementById("send").disabled) ask(b.textContent);
  }));
  document.getElementById("new-chat").addEventListener("click", () => {
    sessionStorage.removeItem(HISTORY_KEY);
    sessionStorage.setItem(SESSION_KEY, newSessionId());
    log().replaceChildren();
  });
  const dialog = document.getElementById("note-dialog");
  document.getElementById("note-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
});

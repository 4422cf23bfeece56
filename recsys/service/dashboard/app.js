// The recsys dashboard: reads the /v1 API of the server that served it, with the API key kept in this
// tab's sessionStorage. Every piece of data is placed with textContent or as an SVG attribute, never
// parsed as HTML: product titles, reviews and campaign copy are user content.
"use strict";

const KEY = "recsys.apiKey";
const SVG = "http://www.w3.org/2000/svg";
let liveTimer = null;

// -- small DOM helpers ----------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en");
  return v.toFixed(digits);
}

function card(title, id, ...body) {
  return el("div", { class: "card", id }, el("h2", {}, title), ...body);
}

function table(headers, rows, numeric = []) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)))),
    el("tbody", {}, rows));
}

function row(cells, numeric = [], attrs = {}) {
  return el("tr", attrs, cells.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : null }, c)));
}

function pairs(list) {
  return el("dl", {}, list.filter(([, v]) => v !== undefined).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function shareBar(share, width = 90) {
  const w = Math.max(0, Math.min(1, share)) * width;
  return svg("svg", { class: "bar", width, height: 10, viewBox: `0 0 ${width} 10` },
    svg("rect", { x: 0, y: 0, width, height: 10, rx: 2, fill: "#eef1f6" }),
    svg("rect", { x: 0, y: 0, width: w, height: 10, rx: 2, fill: "#2f6fde" }));
}

function itemLink(productId, title) {
  return el("a", { class: "item title", href: `#product/${encodeURIComponent(productId)}` }, title || productId);
}

// -- the API ---------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = sessionStorage.getItem(KEY);
  if (key) headers["X-API-Key"] = key;
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method: options.method || "GET", headers, credentials: "omit",
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
  });
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

function showError(target, err) {
  const body = err instanceof ApiError ? err.body : {};
  const box = el("div", { class: "card wide error-card" },
    el("h2", { class: "error" }, body.error || "Error"),
    el("p", { class: "error" }, err.message),
    body.hint ? el("p", { class: "muted" }, "Hint: ", body.hint) : null);
  target.replaceChildren(box);
  if (err instanceof ApiError && err.status === 401) notice("This server needs an API key: enter it at the top right.");
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function loading(target) {
  target.replaceChildren(el("p", { class: "empty" }, "Loading…"));
}

// -- recommendations and ads -----------------------------------------------------------------------------------

function partsCell(parts) {
  const entries = Object.entries(parts || {}).filter(([, v]) => Math.abs(v) >= 0.0005);
  entries.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  return entries.map(([k, v]) => el("span", { class: "tag" }, `${k} ${fmt(v, 3)}`));
}

function resultsCard(title, id, answer) {
  const results = answer.results || [];
  const meta = [answer.strategy, answer.fallback ? `fallback: ${answer.fallback}` : null,
                `config ${answer.config_id}`, answer.arm ? `arm ${answer.arm}` : null].filter(Boolean).join(" · ");
  if (!results.length) return card(title, id, el("p", { class: "muted" }, meta), el("p", { class: "empty" }, "No results."));
  const rows = results.map((r, i) => row([
    String(i + 1),
    el("div", {}, itemLink(r.product_id, r.title), " ", el("span", { class: "pid" }, r.product_id),
      r.because ? el("div", { class: "because" }, r.because) : null),
    fmt(r.score, 4),
    el("div", {}, partsCell(r.parts)),
    el("div", {}, (r.sources || []).map((s) => el("span", { class: "tag ok" }, s))),
  ], [0, 2], { class: "result", "data-product-id": r.product_id }));
  return card(title, id, el("p", { class: "muted" }, meta),
    table(["#", "product", "score", "score parts", "sources"], rows, [0, 2]));
}

function adsCard(answer) {
  const ads = answer.ads || [];
  const body = ads.length
    ? ads.map((a) => el("div", { class: "ad", "data-campaign-id": a.campaign_id },
        el("div", { class: "head" }, a.headline),
        a.body ? el("div", {}, a.body) : null,
        a.product_id ? el("div", {}, "→ ", itemLink(a.product_id, a.product_title)) : null,
        el("div", { class: "meta" }, `${a.advertiser} · ${a.campaign_id} · ${a.bid_type.toUpperCase()} ${fmt(a.bid, 2)}`
          + ` · relevance ${fmt(a.relevance, 3)} · pCTR ${fmt(a.pctr * 100, 2)}% · eCPM ${fmt(a.ecpm, 2)}`),
        el("div", { class: "because" }, a.why)))
    : [el("p", { class: "empty" }, "No ad beside this answer (no campaigns, or none relevant enough).")];
  // With explain=true the API lists why each other candidate campaign got no slot (paused, budget, cap, …).
  const excluded = answer.ads_excluded || [];
  const why = excluded.length
    ? [el("h3", {}, "Excluded"), table(["campaign", "why"], excluded.map((x) => row([x.campaign_id, x.reason])))]
    : [];
  return card("Ads", "ads", ...body, ...why);
}

// -- the user view ---------------------------------------------------------------------------------------------

function portraitCard(p) {
  const interests = (p.interests || []).map((it) => row([
    el("div", {}, el("strong", {}, it.label), el("div", {}, (it.terms || []).map((t) => el("span", { class: "tag" }, t.term)))),
    el("div", {}, shareBar(it.share), " ", `${fmt(it.share * 100, 0)}%`),
    fmt(it.n_items),
  ], [2]));
  const cats = (p.categories || []).map((c) => el("span", { class: "tag" }, `${c.category} ${fmt(c.weight, 2)}`));
  const searches = (p.searches || []).map((s) => el("span", { class: "tag warn" }, s.text));
  return card("Interest portrait", "portrait",
    el("p", { class: "muted" }, `${fmt(p.n_events)} events · language ${p.language} · `
      + `${p.live_events} live events since the build` + (p.has_profile ? "" : " · no profile vector")),
    interests.length ? table(["interest", "share", "items"], interests, [2]) : el("p", { class: "empty" }, "No interests."),
    cats.length ? [el("h3", {}, "Categories"), el("div", {}, cats)] : null,
    searches.length ? [el("h3", {}, "Searches"), el("div", {}, searches)] : null);
}

function historyCard(p) {
  const rows = (p.items || []).map((it) => row([
    el("div", {}, itemLink(it.product_id, it.title), " ", el("span", { class: "pid" }, it.product_id),
      el("div", { class: "muted" }, it.category)),
    (it.events || []).join(", "),
    fmt(it.weight, 2),
    it.sentiment === null ? "–" : fmt(it.sentiment, 2),
    fmt(it.contribution, 3),
  ], [2, 3, 4], { class: "history-item" }));
  return card("History", "history",
    rows.length ? table(["product", "what they did", "weight", "sentiment", "contribution"], rows, [2, 3, 4])
                : el("p", { class: "empty" }, "No product events."));
}

async function lookUpUser(userId) {
  const out = document.getElementById("user-out");
  const k = document.getElementById("user-k").value || 10;
  document.getElementById("user-id").value = userId;
  loading(out);
  const id = encodeURIComponent(userId);
  try {
    const [recs, profile] = await Promise.all([
      api(`/v1/users/${id}/recommendations?k=${encodeURIComponent(k)}&explain=true`),
      api(`/v1/users/${id}/profile`),
    ]);
    notice("");
    out.replaceChildren(el("div", { class: "main" }, resultsCard(`Recommendations for ${userId}`, "recs", recs),
                                                     historyCard(profile)),
                        el("div", { class: "side" }, adsCard(recs), portraitCard(profile)));
  } catch (err) {
    showError(out, err);
  }
}

// -- the product and search views ------------------------------------------------------------------------------

async function lookUpProduct(productId) {
  const out = document.getElementById("product-out");
  const k = document.getElementById("product-k").value || 10;
  document.getElementById("product-id").value = productId;
  loading(out);
  try {
    const answer = await api(`/v1/items/${encodeURIComponent(productId)}/similar?k=${encodeURIComponent(k)}&explain=true`);
    notice("");
    out.replaceChildren(el("div", { class: "main" }, resultsCard(`Similar to ${productId}`, "similar", answer)),
                        el("div", { class: "side" }, adsCard(answer)));
  } catch (err) {
    showError(out, err);
  }
}

async function runSearch(text) {
  const out = document.getElementById("search-out");
  const k = Number(document.getElementById("search-k").value || 10);
  loading(out);
  try {
    const answer = await api("/v1/recommendations", { method: "POST", json: { texts: [text], k, explain: true } });
    notice("");
    out.replaceChildren(el("div", { class: "main" }, resultsCard(`Results for “${text}”`, "search-results", answer)),
                        el("div", { class: "side" }, adsCard(answer)));
  } catch (err) {
    showError(out, err);
  }
}

// -- the overview ----------------------------------------------------------------------------------------------

function versionPanel(o) {
  const m = o.manifest;
  const ix = m.index;
  const met = ix.target_met === null ? null
    : el("span", { class: ix.target_met ? "tag ok" : "tag warn" }, ix.target_met ? "target met" : "below target");
  return pairs([
    ["tenant", o.tenant],
    ["version", el("strong", { id: "index-version" }, o.index_version)],
    ["built", `${m.created_at} in ${fmt(m.build_seconds, 1)} s (${m.lineage}${m.parent ? ` from ${m.parent}` : ""})`],
    ["encoder", `${m.encoder.name} · ${m.encoder.dim}-d · ${m.encoder.engine} · ${fmt(m.encode_texts_per_s, 0)} texts/s`],
    ["index", el("span", {}, el("code", {}, ix.factory), ` · ${fmt(ix.count)} vectors`
      + (ix.unique_count !== null && ix.unique_count !== ix.count ? ` (${fmt(ix.unique_count)} distinct)` : ""))],
    ["recall@10", el("span", {}, `${fmt(ix.recall_at_10, 3)} vs exact (${ix.recall_queries} queries)`
      + (ix.target_recall !== null ? `, target ${fmt(ix.target_recall, 2)} ` : " "), met)],
    ["search", `${ix.qps === null ? "–" : fmt(ix.qps, 0)} QPS on one thread`
      + (Object.keys(ix.search_params).length ? ` · ${JSON.stringify(ix.search_params)}` : "")],
    ["data", `${m.data.source}: ${fmt(m.data.n_products)} products, ${fmt(m.data.n_events)} events, `
      + `${fmt(m.data.n_users)} users (${fmt(m.data.n_users_with_profile)} with a profile), as of ${m.data.as_of}`],
    ["blend config", m.blend_config_id],
    ["campaigns", o.campaigns ? `${o.campaigns} served` : "none (ads off)"],
    ["events stored", fmt(o.events_stored)],
  ]);
}

function rankerPanel(r) {
  const names = Object.keys(r.candidates);
  const metrics = [...new Set(names.flatMap((n) => Object.keys(r.candidates[n])))];
  return [
    pairs([["served", el("strong", {}, r.kind)], ["chosen by", r.chosen_by], ["metric", r.metric || "–"]]),
    r.detail ? el("p", { class: "muted" }, r.detail) : null,
    names.length ? table(["candidate", ...metrics],
      names.map((n) => row([n === r.kind ? el("strong", {}, n) : n, ...metrics.map((k) => fmt(r.candidates[n][k], 4))],
                           metrics.map((_, i) => i + 1))), metrics.map((_, i) => i + 1)) : null,
  ];
}

function evaluationPanel(e) {
  if (!e) return [el("p", { class: "empty" }, "No evaluation report in the index folder. Run ",
    el("code", {}, "recsys evaluate --data DIR --out INDEX/eval"), " to see one here.")];
  const best = Math.max(...e.methods.map((m) => m.recall || 0));
  const rows = e.methods.map((m) => m.skipped
    ? row([m.method, el("span", { class: "muted" }, `skipped: ${m.skipped}`), "", "", ""])
    : row([m.method, el("div", {}, shareBar(best ? (m.recall || 0) / best : 0, 70), " ", fmt(m.recall, 4)),
           fmt(m.ndcg, 4), fmt(m.mrr, 4), fmt(m.coverage, 3)], [2, 3, 4]));
  return [el("p", { class: "muted" }, `${e.file} · ${e.modified} · split ${e.split || "?"} · `
            + `${fmt(e.users_evaluated)} users evaluated`),
          table(["method", `recall@${e.k}`, `NDCG@${e.k}`, "MRR", `coverage@${e.k}`], rows, [2, 3, 4])];
}

function audiencePanel(a) {
  if (!a) return [el("p", { class: "empty" }, "No audience summary in the index folder. Run ",
    el("code", {}, "recsys audience build … --out INDEX/audiences"), " to see one here.")];
  const rows = a.campaigns.map((c) => row([c.campaign_id, fmt(c.reach), fmt(c.reach_target), fmt(c.reach_holdout),
                                           fmt(c.score_p50, 3), fmt(c.estimated_cost, 2)], [1, 2, 3, 4, 5]));
  return [el("p", { class: "muted" }, `${a.file} · ${a.modified} · ${fmt(a.distinct_users)} distinct users · `
            + `estimated cost ${fmt(a.estimated_cost, 2)} · mean overlap (Jaccard) ${fmt(a.mean_jaccard, 3)}`),
          table(["campaign", "reach", "target", "holdout", "median score", "est. cost"], rows, [1, 2, 3, 4, 5])];
}

function minuteChart(perMinute) {
  const W = 560, H = 170, L = 34, B = 22, T = 8;
  const n = perMinute.length;
  const top = Math.max(1, ...perMinute.map((m) => m.events));
  const bw = (W - L - 4) / Math.max(1, n);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const parts = [svg("line", { x1: L, x2: W, y1: y(0), y2: y(0), stroke: "#c9d0dc" }),
                 svg("text", { x: L - 4, y: y(top) + 4, "text-anchor": "end" }, fmt(top)),
                 svg("text", { x: L - 4, y: y(0) + 4, "text-anchor": "end" }, "0")];
  perMinute.forEach((m, i) => {
    const h = y(0) - y(m.events);
    parts.push(svg("rect", { x: L + i * bw + 0.5, y: y(m.events), width: Math.max(1, bw - 1), height: Math.max(0, h),
                             fill: "#2f6fde", class: "minute" },
      svg("title", {}, `${m.minute}: ${m.events} events`)));
  });
  const label = (i) => new Date(perMinute[i].minute).toISOString().slice(11, 16);
  if (n) {
    parts.push(svg("text", { x: L, y: H - 6 }, label(0)));
    parts.push(svg("text", { x: W, y: H - 6, "text-anchor": "end" }, `${label(n - 1)} UTC`));
  }
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "events per minute" }, parts);
}

function trendingPanel(items) {
  if (!items.length) return [el("p", { class: "empty" }, "Empty catalogue.")];
  const top = Math.max(1e-9, ...items.map((t) => t.trending));
  return [table(["product", "trending", "live"], items.map((t) => row([
    el("div", {}, itemLink(t.product_id, t.title), " ", el("span", { class: "pid" }, t.product_id)),
    el("div", {}, shareBar(t.trending / top, 60), " ", fmt(t.trending, 3)),
    fmt(t.live_weight, 1),
  ], [1, 2], { class: "trending-item" })), [1, 2])];
}

async function refreshLive() {
  try {
    const live = await api("/v1/dashboard/live?minutes=60&top=10");
    document.getElementById("live-total").textContent = `${fmt(live.total)} in the last ${live.minutes} min`;
    document.getElementById("live-chart").replaceChildren(minuteChart(live.per_minute));
    const types = Object.entries(live.by_type).map(([t, n]) => `${t} ${n}`).join(" · ");
    document.getElementById("live-types").textContent = types || "No events stored in this hour.";
    document.querySelector("#trending-panel .body").replaceChildren(...trendingPanel(live.trending));
  } catch (err) {
    showError(document.querySelector("#live-panel .body"), err);
  }
}

async function loadOverview() {
  const body = (id) => document.querySelector(`#${id} .body`);
  try {
    const o = await api("/v1/dashboard/overview");
    notice("");
    document.getElementById("where").textContent = `tenant ${o.tenant} · index ${o.index_version}`;
    body("version-panel").replaceChildren(versionPanel(o));
    body("ranker-panel").replaceChildren(...rankerPanel(o.manifest.ranker).filter(Boolean));
    body("evaluation-panel").replaceChildren(...evaluationPanel(o.evaluation));
    body("audience-panel").replaceChildren(...audiencePanel(o.audiences));
    await refreshLive();
  } catch (err) {
    showError(body("version-panel"), err);
  }
}

// -- navigation ------------------------------------------------------------------------------------------------

function route() {
  const [view, arg] = (location.hash.slice(1) || "overview").split("/");
  const name = ["overview", "user", "product", "search"].includes(view) ? view : "overview";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${name}`;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === name);
  clearInterval(liveTimer);
  if (name === "overview") {
    loadOverview();
    liveTimer = setInterval(refreshLive, 30000);
  }
  const value = arg ? decodeURIComponent(arg) : "";
  if (name === "user" && value) lookUpUser(value);
  if (name === "product" && value) lookUpProduct(value);
  if (name === "search" && value) { document.getElementById("search-text").value = value; runSearch(value); }
}

function go(view, value) {
  const hash = `#${view}/${encodeURIComponent(value)}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

function init() {
  const keyInput = document.getElementById("api-key");
  keyInput.value = sessionStorage.getItem(KEY) || "";
  document.getElementById("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = keyInput.value.trim();
    if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
    notice("");
    route();
  });
  document.getElementById("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    keyInput.value = "";
    route();
  });
  const submit = (formId, inputId, view) => document.getElementById(formId).addEventListener("submit", (e) => {
    e.preventDefault();
    const value = document.getElementById(inputId).value.trim();
    if (value) go(view, value);
  });
  submit("user-form", "user-id", "user");
  submit("product-form", "product-id", "product");
  submit("search-form", "search-text", "search");
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", init);

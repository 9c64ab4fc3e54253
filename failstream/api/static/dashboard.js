// Failstream dashboard: live counts over WS /api/v1/live, everything else from the REST API.
//
// The API key is asked for once per tab and kept in sessionStorage (gone when the
// tab closes); REST calls send it as X-API-Key, the WebSocket offers it as the
// subprotocol "apikey.<base64url>" (browsers cannot set WebSocket headers, and this
// keeps it out of URLs and access logs). Data is only ever written with
// textContent, never as HTML.

const KEY_STORE = "failstream.apiKey";
const SUBPROTOCOL = "failstream.live.v1";
const CHART_SECONDS = 120;
const REFRESH_MS = 5000;

const state = {
  openedAt: Date.now(),
  lastTs: null, // ts of the last second received: the resume point on reconnect
  total: 0,
  alerts: 0,
  series: [], // [{ts, failures}] of the last CHART_SECONDS seconds
  ws: null,
  retryMs: 1000,
  refreshTimer: null,
  lastRefresh: 0,
  alertBySubject: new Map(),
};

const $ = (id) => document.getElementById(id);

class AuthError extends Error {}

// ---------------------------------------------------------------- key

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

function askKey(problem) {
  const dialog = $("key-dialog");
  $("key-problem").hidden = !problem;
  $("key-problem").textContent = problem || "";
  $("key-input").value = "";
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
}

async function useKey(key) {
  sessionStorage.setItem(KEY_STORE, key);
  const res = await fetch("/api/v1/stats/summary?window=15m", { headers: { "X-API-Key": key } });
  if (res.status === 401) {
    sessionStorage.removeItem(KEY_STORE);
    askKey("That key was refused: use one of FAILSTREAM_API_READ_KEYS.");
    return;
  }
  $("key-dialog").close();
  start(true);
}

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// ---------------------------------------------------------------- REST

async function getJson(path) {
  const res = await fetch(path, { headers: { "X-API-Key": apiKey() } });
  if (res.status === 401) {
    askKey("The API refused the key (401); enter a read key.");
    throw new AuthError("401");
  }
  if (res.status === 404) return null;
  if (!res.ok) {
    let detail = "";
    try {
      detail = (await res.json()).detail;
    } catch (_) {
      /* not JSON */
    }
    throw new Error(`${path.split("?")[0]}: HTTP ${res.status} ${typeof detail === "string" ? detail : ""}`);
  }
  return res.json();
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

// ---------------------------------------------------------------- formatting

function fmtNum(n) {
  return Number(n || 0).toLocaleString();
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

function fmtAgo(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return fmtTime(ms);
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function badge(value) {
  const b = el("span", value || "none", "badge");
  b.classList.add(`b-${String(value || "none").replace(/[^A-Za-z-]/g, "")}`);
  return b;
}

function ipLink(ip) {
  const a = el("a", ip);
  a.href = `#/ip/${encodeURIComponent(ip)}`;
  a.className = "ip-link";
  return a;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell);
    else if (cell && typeof cell === "object") {
      td.textContent = cell.text;
      if (cell.cls) td.className = cell.cls;
      if (cell.title) td.title = cell.title;
    } else td.textContent = cell ?? "";
    tr.append(td);
  }
  return tr;
}

function fillRows(tableId, rows, emptyText, columns) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
  if (!rows.length) {
    const td = el("td", emptyText, "empty");
    td.colSpan = columns;
    body.append(el("tr"));
    body.lastChild.append(td);
  }
}

function fillBars(tableId, counts, emptyText) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  const max = entries.length ? entries[0][1] : 1;
  const rows = entries.map(([label, n]) => {
    const fill = el("div", null, "meter-fill");
    fill.style.width = `${Math.max(1, (100 * n) / max)}%`;
    return row([{ text: label, cls: "label-cell", title: label }, fill, { text: fmtNum(n), cls: "num" }]);
  });
  fillRows(tableId, rows, emptyText, 3);
}

// ---------------------------------------------------------------- live feed

function setConnected(on, text) {
  const pill = $("conn");
  pill.textContent = text;
  pill.className = `pill ${on ? "pill-on" : "pill-off"}`;
}

function connectLive() {
  const url = new URL("/api/v1/live", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  // first connection: replay the last seconds so the chart starts filled; later: resume
  const since = state.lastTs ?? Math.floor(state.openedAt / 1000) * 1000 - CHART_SECONDS * 1000;
  url.searchParams.set("since", String(since));
  const ws = new WebSocket(url, [SUBPROTOCOL, `apikey.${base64url(apiKey())}`]);
  state.ws = ws;
  ws.onopen = () => {
    state.retryMs = 1000;
    setConnected(true, "live");
  };
  ws.onmessage = (event) => onSecond(JSON.parse(event.data));
  ws.onclose = () => {
    if (state.ws !== ws) return; // replaced on purpose (new key)
    setConnected(false, "reconnecting…");
    setTimeout(connectLive, state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 10000);
  };
}

function onSecond(second) {
  if (state.lastTs !== null && second.ts <= state.lastTs) return; // already seen
  state.lastTs = second.ts;
  if (second.ts + 1000 > state.openedAt) {
    // replayed seconds from before the page opened fill the chart, not the counters
    state.total += second.failures;
    state.alerts += second.alerts;
  }
  state.series.push({ ts: second.ts, failures: second.failures });
  if (state.series.length > CHART_SECONDS) state.series.splice(0, state.series.length - CHART_SECONDS);
  $("live-last").textContent = fmtNum(second.failures);
  $("live-last-at").textContent = `second ending ${new Date(second.ts + 1000).toLocaleTimeString()}`;
  $("live-total").textContent = fmtNum(state.total);
  $("live-alerts").textContent = fmtNum(state.alerts);
  $("workers").textContent =
    second.records > 0 ? `stream workers reporting (${second.records}/s)` : "no stream worker reporting";
  drawChart();
  // new failures or alerts: fetch the tables soon, at most every 2 s
  if ((second.failures > 0 || second.alerts > 0) && Date.now() - state.lastRefresh > 2000) refresh();
}

function drawChart() {
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  const width = 600;
  const height = 120;
  const slot = width / CHART_SECONDS;
  const max = Math.max(1, ...state.series.map((p) => p.failures));
  const nodes = [];
  const offset = CHART_SECONDS - state.series.length;
  state.series.forEach((point, i) => {
    const h = ((height - 14) * point.failures) / max;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String((offset + i) * slot + 0.5));
    rect.setAttribute("y", String(height - h));
    rect.setAttribute("width", String(Math.max(1, slot - 1)));
    rect.setAttribute("height", String(h));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${new Date(point.ts).toLocaleTimeString()}: ${point.failures}`;
    rect.append(title);
    nodes.push(rect);
  });
  $("chart-max").textContent = `scale: 0 – ${max}/s`;
  svg.replaceChildren(...nodes);
}

// ---------------------------------------------------------------- overview

async function refreshOverview() {
  const window_ = $("window").value;
  const [summary, alerts, emails] = await Promise.all([
    getJson(`/api/v1/stats/summary?window=${encodeURIComponent(window_)}`),
    getJson("/api/v1/alerts?limit=50"),
    getJson("/api/v1/emails?limit=10"),
  ]);
  state.alertBySubject = new Map();
  for (const a of alerts?.items || []) {
    if (!state.alertBySubject.has(a.subject)) state.alertBySubject.set(a.subject, a); // newest first
  }
  if (summary) {
    $("window-total").textContent = fmtNum(summary.total);
    $("window-range").textContent = `since ${fmtTime(summary.start)}`;
    fillBars("reasons", summary.by_reason, "no failures in this window");
    const ipRows = summary.top_ips.map((t) => {
      // the summary carries each IP's latest alert, however old; the recent list only the newest 50
      const alert = "alert" in t ? t.alert : state.alertBySubject.get(t.ip);
      const count = {
        text: fmtNum(t.count) + (t.count_scope === "all_time" ? "*" : ""),
        cls: "num",
        title: t.count_scope === "all_time" ? "all-time total (this IP also failed before the window)" : "",
      };
      return row([ipLink(t.ip), count, fmtAgo(t.last_seen), alertCell(alert)]);
    });
    fillRows("top-ips", ipRows, "no failing IPs in this window", 4);
  }
  const alertRows = (alerts?.items || []).slice(0, 10).map((a) => {
    return row([fmtAgo(a.created_at), a.rule, subjectCell(a.subject), badge(a.state), badge(a.status)]);
  });
  fillRows("alerts", alertRows, "no alerts yet", 5);
  if (emails) {
    $("emails-sent").textContent = fmtNum(emails.today.sent);
    $("emails-created").textContent = fmtNum(emails.today.created);
    $("emails-failed").textContent = fmtNum(emails.today.failed);
    const emailRows = emails.items.map((m) =>
      row([fmtAgo(m.created_at), m.kind, { text: m.subject, title: m.subject }, badge(m.status), { text: m.attempts, cls: "num" }]),
    );
    fillRows("emails", emailRows, "no emails yet", 5);
  }
}

// "203.0.113.7" or "203.0.113.7 POST /api/submit" (per-route rule): the IP links to its detail
function subjectCell(subject) {
  const match = String(subject).match(/^([0-9a-fA-F:.]+)( .*)?$/);
  if (!match || !/[.:]/.test(match[1])) return subject;
  const span = el("span");
  span.append(ipLink(match[1]), match[2] || "");
  return span;
}

function alertCell(alert) {
  if (!alert) return badge("none");
  const span = el("span");
  span.append(badge(alert.state), " ", badge(alert.status));
  span.title = `${alert.rule}: ${alert.count} failures, ${fmtTime(alert.created_at)}`;
  return span;
}

// ---------------------------------------------------------------- IP detail

function currentIp() {
  const match = location.hash.match(/^#\/ip\/(.+)$/);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch (_) {
    return match[1]; // a malformed %-escape: show it as typed rather than stop refreshing
  }
}

async function refreshIp(ip) {
  $("ip-name").textContent = ip;
  const detail = await getJson(`/api/v1/ips/${encodeURIComponent(ip)}?recent=20`);
  $("ip-missing").hidden = detail !== null;
  $("ip-body").hidden = detail === null;
  if (!detail) return;
  // a prefix's failures are stored per address: its figures are its newest alert's episode
  const prefix = detail.scope === "prefix";
  $("ip-kind").textContent = prefix ? "Prefix" : "IP";
  $("ip-total-label").textContent = prefix ? "failures (latest episode)" : "failures (all time)";
  $("ip-total").textContent = fmtNum(detail.total);
  $("ip-first").textContent = fmtTime(detail.first_seen);
  $("ip-last").textContent = `${fmtTime(detail.last_seen)} (${fmtAgo(detail.last_seen)})`;
  const latest = detail.alerts[0];
  $("ip-alert").replaceChildren(latest ? alertCell(latest) : badge("none"));
  fillBars("ip-reasons", detail.reasons, "none");
  fillBars("ip-statuses", detail.statuses, "none");
  fillBars("ip-routes", detail.routes, "none");
  fillBars("ip-services", detail.services, "none");
  fillRows(
    "ip-failures",
    detail.recent_failures.map((f) =>
      row([
        fmtTime(f.ts),
        f.service,
        `${f.method} ${f.route}`,
        { text: f.status, cls: "num" },
        f.reason,
        { text: f.user_agent, title: f.user_agent },
      ]),
    ),
    prefix
      ? "not listed for a prefix: failures are kept per address"
      : "none kept (failures older than the retention are swept)",
    6,
  );
  fillRows(
    "ip-alerts",
    detail.alerts.map((a) =>
      row([fmtTime(a.created_at), a.rule, badge(a.state), { text: fmtNum(a.count), cls: "num" }, badge(a.status)]),
    ),
    "no alert about this IP",
    5,
  );
}

// ---------------------------------------------------------------- wiring

async function refresh() {
  clearTimeout(state.refreshTimer);
  state.lastRefresh = Date.now();
  const ip = currentIp();
  $("overview").hidden = ip !== null;
  $("ip-detail").hidden = ip === null;
  try {
    if (ip !== null) await refreshIp(ip);
    else await refreshOverview();
    showError("");
  } catch (err) {
    if (!(err instanceof AuthError)) showError(`Could not load: ${err.message}`);
  }
  state.refreshTimer = setTimeout(refresh, REFRESH_MS);
}

function start(keyChanged) {
  if (keyChanged && state.ws) {
    const old = state.ws;
    state.ws = null;
    old.close();
  }
  if (!state.ws) connectLive();
  refresh();
}

function init() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (key) useKey(key);
  });
  $("change-key").addEventListener("click", () => askKey(""));
  $("window").addEventListener("change", refresh);
  window.addEventListener("hashchange", () => {
    window.scrollTo(0, 0);
    refresh();
  });
  drawChart();
  if (apiKey()) start(false);
  else askKey("");
}

init();

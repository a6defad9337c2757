// powermonitor dashboard: plain JavaScript, no build step.
//
// Data: GET /api/plugs for the cards (refreshed every minute for today's kWh and cost),
// GET /api/events (server-sent events) for live readings, /api/plugs/{id}/history and
// /api/energy for the charts. Switching posts to /api/plugs/{id}/switch with the token in an
// Authorization header (asked once, kept in localStorage). Gaps arrive as null points and are
// drawn as gaps (spanGaps: false). Views: "#/" (all plugs) and "#/plug/<id>" (one plug).
//
// Longer than ~500 lines because it is one page's script without a build step: splitting it
// would mean ES modules or a shared global per part; its sections (formatting, cards, charts,
// views, live events) share the page state. insight.js, loaded after it, reuses its el().
"use strict";

(() => {
  const TOKEN_KEY = "powermonitor.token";
  const THEME_KEY = "powermonitor.theme";
  const LIVE_WINDOW_S = 10 * 60;
  const REFRESH_PLUGS_MS = 60 * 1000;
  const REFRESH_CHARTS_MS = 5 * 60 * 1000;
  const RANGES = { "1h": "1h", "24h": "24h", "7d": "7d", "30d": "30d", "1y": "365d" }; // button → since

  const state = {
    plugs: new Map(), // id -> plug as /api/plugs returns it (reading updated live)
    order: [],
    currency: "EUR",
    zone: "UTC",
    detail: null, // plug id shown alone, or null for the overview
    historyPlug: null,
    range: "24h",
    live: new Map(), // id -> {t: [], p: []}: live power, null = offline
    liveStatus: "connecting",
  };
  const charts = { live: null, history: null, energy: null };
  const chartData = { history: null, energy: null };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- formatting

  const dash = "–";
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);

  function fmtPower(w) {
    if (!isNum(w)) return dash;
    return w < 100 ? w.toFixed(1) : Math.round(w).toLocaleString();
  }
  function fmtPowerUnit(w) {
    if (!isNum(w)) return dash;
    return w >= 10000 ? (w / 1000).toFixed(2) + " kW" : fmtPower(w) + " W";
  }
  function fmtKwh(kwh) {
    if (!isNum(kwh)) return dash;
    const digits = kwh < 10 ? 3 : kwh < 100 ? 2 : 1;
    return kwh.toFixed(digits) + " kWh";
  }
  function fmtCost(value) {
    if (!isNum(value)) return dash;
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: state.currency }).format(value);
    } catch (_) {
      return value.toFixed(2) + " " + state.currency;
    }
  }
  function fmtTime(iso) {
    if (!iso) return dash;
    try {
      return new Date(iso).toLocaleString(undefined, { timeZone: state.zone });
    } catch (_) {
      return new Date(iso).toLocaleString();
    }
  }
  function fmtCostAxis(value) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: state.currency,
        notation: "compact", maximumFractionDigits: 2 }).format(value);
    } catch (_) {
      return String(+value.toFixed(2));
    }
  }
  function fmtDay(ts) {
    const options = { month: "short", day: "numeric" };
    try {
      return new Date(ts * 1e3).toLocaleDateString(undefined, { ...options, timeZone: state.zone });
    } catch (_) {
      return new Date(ts * 1e3).toLocaleDateString(undefined, options);
    }
  }
  const fmtVolt = (v) => (isNum(v) ? v.toFixed(1) + " V" : dash);
  const fmtMilliamp = (a) => (isNum(a) ? Math.round(a * 1000) + " mA" : dash);

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  let toastTimer = null;
  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  async function api(path, options) {
    const response = await fetch(path, options);
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const detail = body && body.detail;
      const text = typeof detail === "string" ? detail
        : Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : response.statusText;
      const error = new Error(text || "HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function color(i) {
    const hues = [211, 145, 28, 350, 265, 185, 50, 320, 95, 0];
    const hue = i < hues.length ? hues[i] : (i * 137.508) % 360;
    return "hsl(" + hue + " 70% 50%)";
  }

  // ---------------------------------------------------------------- theme

  function applyTheme() {
    const theme = localStorage.getItem(THEME_KEY);
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }

  function toggleTheme() {
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    const current = document.documentElement.dataset.theme || (dark ? "dark" : "light");
    const next = current === "dark" ? "light" : "dark";
    if (next === (dark ? "dark" : "light")) localStorage.removeItem(THEME_KEY); // back to the system's
    else localStorage.setItem(THEME_KEY, next);
    applyTheme();
    rebuildCharts();
  }

  // ---------------------------------------------------------------- token

  const getToken = () => localStorage.getItem(TOKEN_KEY) || "";

  function openToken(message, isError) {
    $("token-panel").hidden = false;
    const msg = $("token-message");
    msg.textContent = message || (getToken() ? "A token is saved in this browser." : "");
    msg.className = "message" + (isError ? " error" : "");
    $("token-input").focus();
  }

  function setupToken() {
    $("token-button").addEventListener("click", () => {
      if ($("token-panel").hidden) openToken();
      else $("token-panel").hidden = true;
    });
    $("token-close").addEventListener("click", () => { $("token-panel").hidden = true; });
    $("token-forget").addEventListener("click", () => {
      localStorage.removeItem(TOKEN_KEY);
      openToken("Token forgotten.");
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) { openToken("Paste the token first.", true); return; }
      localStorage.setItem(TOKEN_KEY, value);
      $("token-input").value = "";
      $("token-panel").hidden = true;
      toast("Token saved: you can switch plugs now.");
    });
  }

  // ---------------------------------------------------------------- cards

  function toggleButton(plug, outlet, on, label) {
    const button = el("button", {
      type: "button", class: "toggle", role: "switch", "aria-checked": String(on === true),
      "data-outlet": outlet, title: "Switch " + (label ? "outlet " + outlet : plug.name) + " on or off",
    }, el("span", { class: "track" }), el("span", { text: label || (on ? "on" : "off") }));
    button.disabled = !plug.online;
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      switchPlug(plug.id, outlet, button.getAttribute("aria-checked") !== "true", button);
    });
    return button;
  }

  function cardFor(plug) {
    let card = document.querySelector('.card[data-id="' + CSS.escape(plug.id) + '"]');
    if (!card) {
      card = el("article", { class: "card", "data-id": plug.id, tabindex: "0" });
      card.addEventListener("click", () => { location.hash = "#/plug/" + encodeURIComponent(plug.id); });
      card.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && event.target === card) card.click();
      });
    }
    return card;
  }

  function renderCard(plug) {
    const card = cardFor(plug);
    const r = plug.reading || {};
    card.className = "card " + (plug.online ? "online" : "offline");
    card.dataset.ts = r.ts || "";
    const switches = Object.entries(r.switches || {});
    const toggles = switches.length > 1
      ? switches.map(([outlet, on]) => toggleButton(plug, outlet, on, outlet))
      : [toggleButton(plug, switches.length ? switches[0][0] : "1", r.switch)];
    card.replaceChildren(
      el("div", { class: "card-head" },
        el("h3", { text: plug.name, title: plug.name + " (" + plug.id + ")" }),
        el("span", { class: "state", text: plug.online ? "online" : "offline" })),
      el("div", { class: "power", "data-field": "power" },
        el("span", { class: "value", text: plug.online ? fmtPower(r.power_w) : dash }),
        el("span", { class: "unit", text: "W" })),
      el("dl", {},
        el("div", {}, el("dt", { text: "Voltage" }), el("dd", { "data-field": "voltage", text: plug.online ? fmtVolt(r.voltage_v) : dash })),
        el("div", {}, el("dt", { text: "Current" }), el("dd", { "data-field": "current", text: plug.online ? fmtMilliamp(r.current_a) : dash })),
        el("div", {}, el("dt", { text: "Today" }), el("dd", { "data-field": "today", text: fmtKwh(plug.today_kwh) })),
        el("div", {}, el("dt", { text: "Cost today" }), el("dd", { "data-field": "cost", text: fmtCost(plug.today_cost) }))),
      el("div", { class: "switches" }, ...toggles),
    );
    if (!plug.online && plug.reason) card.append(el("p", { class: "reason", text: plug.reason }));
    return card;
  }

  function renderCards() {
    const box = $("cards");
    const cards = state.order.map((id) => renderCard(state.plugs.get(id)));
    box.replaceChildren(...cards);
    $("empty").hidden = state.order.length > 0;
    applyView();
  }

  function renderSummary() {
    let power = 0;
    let kwh = 0;
    let cost = 0;
    for (const plug of state.plugs.values()) {
      if (plug.online && plug.reading && isNum(plug.reading.power_w)) power += plug.reading.power_w;
      if (isNum(plug.today_kwh)) kwh += plug.today_kwh;
      if (isNum(plug.today_cost)) cost += plug.today_cost;
    }
    $("total-power").textContent = fmtPowerUnit(power);
    $("today-energy").textContent = fmtKwh(kwh);
    $("today-cost").textContent = fmtCost(cost);
  }

  function renderFacts() {
    const plug = state.detail && state.plugs.get(state.detail);
    $("facts").hidden = !plug;
    if (!plug) return;
    const r = plug.reading || {};
    const facts = [
      ["Device id", plug.id], ["Address", plug.host + ":" + plug.port],
      ["Protocol", plug.protocol || dash], [plug.online ? "Online since" : "Offline since", fmtTime(plug.since)],
      ["Power factor", isNum(r.power_factor) ? r.power_factor.toFixed(2) : dash],
      ["Apparent power", isNum(r.apparent_power_va) ? r.apparent_power_va.toFixed(1) + " VA" : dash],
      ["Last reading", fmtTime(r.timestamp)], ["Total energy", fmtKwh(plug.total_kwh)],
      ["Total cost", fmtCost(plug.total_cost)],
    ];
    if (!plug.online && plug.reason) facts.push(["Why offline", plug.reason]);
    $("facts").replaceChildren(el("h2", { text: "Details" }),
      el("dl", {}, ...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v })))));
  }

  async function loadPlugs() {
    const data = await api("/api/plugs");
    state.currency = data.currency;
    state.zone = data.timezone;
    state.order = data.plugs.map((p) => p.id);
    state.plugs = new Map(data.plugs.map((p) => [p.id, p]));
    for (const plug of data.plugs) {
      if (!state.live.has(plug.id)) state.live.set(plug.id, { t: [], p: [] });
    }
    renderCards();
    renderSummary();
    renderFacts();
    fillHistorySelect();
  }

  // ---------------------------------------------------------------- switching

  async function switchPlug(id, outlet, on, button) {
    const token = getToken();
    const plug = state.plugs.get(id);
    if (!token) {
      openToken("Enter the token to switch " + (plug ? plug.name : "plugs") + ".");
      return;
    }
    button.classList.add("busy");
    button.disabled = true;
    try {
      const result = await api("/api/plugs/" + encodeURIComponent(id) + "/switch", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify({ on: on, outlet: Number(outlet) }),
      });
      if (plug) {
        plug.reading = result.reading;
        plug.online = true;
        renderCard(plug);
        renderSummary();
      }
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        localStorage.removeItem(TOKEN_KEY);
        openToken("The token was not accepted: " + error.message, true);
      } else {
        toast(error.message);
      }
      if (plug) renderCard(plug);
    } finally {
      button.classList.remove("busy");
    }
  }

  // ---------------------------------------------------------------- charts

  function chartSize(box) {
    const phone = window.innerWidth <= 600;
    return { width: Math.max(200, box.clientWidth), height: phone ? 200 : 260 };
  }

  // y axes as wide as their longest label (uPlot's default width clips "12.5 kWh")
  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    let size = axis.ticks.size + axis.gap;
    const longest = (values || []).reduce((a, v) => (v.length > a.length ? v : a), "");
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size) + 2;
  }

  function baseOptions(box, series, yUnit) {
    const text = css("--muted");
    const grid = css("--grid");
    return {
      ...chartSize(box),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.zone),
      series: [{}, ...series],
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.1)] } },
      axes: [
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } },
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, size: axisSize,
          values: (u, values) => values.map((v) => v + " " + yUnit) },
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
    };
  }

  function lineSeries(label, stroke, extra) {
    return {
      label, stroke, width: 2, spanGaps: false, points: { show: false },
      value: (u, v) => (v == null ? dash : fmtPowerUnit(v)), ...extra,
    };
  }

  function place(key, boxId, options, data) {
    if (charts[key]) charts[key].destroy();
    const box = $(boxId);
    box.replaceChildren();
    charts[key] = new uPlot(options, data, box);
    return charts[key];
  }

  // live power: one series per plug (overview) or the detail plug alone
  function liveIds() {
    return state.detail ? [state.detail] : state.order;
  }

  function liveData() {
    const ids = liveIds();
    const tables = ids.map((id) => {
      const buf = state.live.get(id) || { t: [], p: [] };
      return [buf.t, buf.p];
    });
    if (!tables.length) return [[]];
    if (tables.length === 1) return [tables[0][0].slice(), tables[0][1].slice()];
    return uPlot.join(tables, tables.map(() => [0, 2])); // 2: keep nulls (offline) as gaps
  }

  function buildLive() {
    const ids = liveIds();
    const series = ids.map((id, i) => lineSeries(state.plugs.get(id)?.name || id, color(i)));
    const options = baseOptions($("live-chart"), series, "W");
    options.legend.show = ids.length <= 12;
    options.scales.x = { time: true, range: (u, min, max) => { // the last 10 minutes, or less at first
      const end = Math.max(Date.now() / 1e3, max || 0);
      const start = min == null ? end - 30 : Math.min(end - 30, min);
      return [Math.max(start, end - LIVE_WINDOW_S), end];
    } };
    place("live", "live-chart", options, liveData());
    $("live-scope").textContent = state.detail ? "" : "(every plug, last 10 minutes)";
  }

  let liveFrame = 0;
  function redrawLive() {
    if (liveFrame) return;
    liveFrame = requestAnimationFrame(() => {
      liveFrame = 0;
      if (charts.live) charts.live.setData(liveData());
    });
  }

  function pushLive(id, ts, power) {
    let buf = state.live.get(id);
    if (!buf) { buf = { t: [], p: [] }; state.live.set(id, buf); }
    if (buf.t.length && ts <= buf.t[buf.t.length - 1]) return;
    buf.t.push(ts);
    buf.p.push(isNum(power) ? power : null);
    const cutoff = ts - LIVE_WINDOW_S;
    let drop = 0;
    while (drop < buf.t.length && buf.t[drop] < cutoff) drop++;
    if (drop) { buf.t.splice(0, drop); buf.p.splice(0, drop); }
    if (liveIds().includes(id)) redrawLive();
  }

  // history: mean power (and the bucket maximum for rollups) of one plug
  function fillHistorySelect() {
    const select = $("history-plug");
    const current = state.historyPlug && state.plugs.has(state.historyPlug) ? state.historyPlug : state.order[0];
    select.replaceChildren(...state.order.map((id) => el("option", { value: id, text: state.plugs.get(id).name })));
    if (current) select.value = current;
    state.historyPlug = current || null;
  }

  async function loadHistory() {
    const id = state.detail || state.historyPlug;
    for (const b of document.querySelectorAll(".ranges button")) {
      b.classList.toggle("active", b.dataset.range === state.range);
    }
    if (!id) return;
    const query = "since=" + RANGES[state.range];
    try {
      const data = await api("/api/plugs/" + encodeURIComponent(id) + "/history?" + query);
      if ((state.detail || state.historyPlug) !== id) return; // the view moved on meanwhile
      chartData.history = data;
      buildHistory();
      const n = data.series.power_w.filter((v) => v != null).length;
      $("history-note").textContent = n
        ? "Resolution " + data.resolution + " (" + n + " points); gaps are times the plug was offline."
        : "No measurements in this range yet.";
    } catch (error) {
      $("history-note").textContent = "Could not load the history: " + error.message;
    }
  }

  function buildHistory() {
    const data = chartData.history;
    if (!data) return;
    const ts = data.series.ts;
    const mean = data.series.power_w;
    const series = [lineSeries(data.resolution === "raw" ? "Power" : "Mean power", css("--accent"),
      { fill: css("--accent").startsWith("#") ? css("--accent") + "22" : undefined })];
    const columns = [ts, mean];
    if (data.resolution !== "raw") {
      series.push(lineSeries("Peak", css("--cost"), { width: 1, dash: [4, 4] }));
      columns.push(data.series.power_max_w);
    }
    const options = baseOptions($("history-chart"), series, "W");
    options.scales.x = { time: true, range: () => [data.since_ts, data.until_ts] };
    place("history", "history-chart", options, columns);
    $("history-scope").textContent = state.detail ? "" : "of";
    $("history-plug").hidden = !!state.detail;
  }

  // energy per day: kWh bars, with the cost as points on a second axis
  async function loadEnergy() {
    const days = Math.max(7, { "7d": 7, "30d": 30, "1y": 365 }[state.range] || 0);
    const query = ["by=day", "since=" + days + "d"];
    if (state.detail) query.push("device=" + encodeURIComponent(state.detail));
    const id = state.detail;
    try {
      const data = await api("/api/energy?" + query.join("&"));
      if (state.detail !== id) return;
      chartData.energy = data;
      buildEnergy();
      const kwh = data.totals.reduce((a, t) => a + t.kwh, 0);
      const cost = data.totals.reduce((a, t) => a + t.cost, 0);
      $("energy-note").textContent = data.totals.length
        ? "Last " + days + " days: " + fmtKwh(kwh) + ", " + fmtCost(cost) + " (measured energy; offline time counts nothing)."
        : "No energy recorded in the last " + days + " days yet.";
    } catch (error) {
      $("energy-note").textContent = "Could not load the energy: " + error.message;
    }
  }

  function buildEnergy() {
    const data = chartData.energy;
    if (!data) return;
    const mid = data.totals.map((t) => (t.start_ts + t.end_ts) / 2);
    const kwh = data.totals.map((t) => t.kwh);
    const cost = data.totals.map((t) => t.cost);
    const box = $("energy-chart");
    const lastEnd = data.totals.length ? data.totals[data.totals.length - 1].end_ts : 0;
    const options = baseOptions(box, [
      { label: "Energy", stroke: css("--bar"), fill: css("--bar"), width: 1,
        paths: uPlot.paths.bars({ size: [0.7, 48] }), points: { show: false },
        value: (u, v) => (v == null ? dash : fmtKwh(v)) },
      { label: "Cost", stroke: css("--cost"), scale: "cost", width: 0, paths: () => null,
        points: { show: true, size: 7, fill: css("--cost") },
        value: (u, v) => (v == null ? dash : fmtCost(v)) },
    ], "kWh");
    // one label per bar, thinned out so labels stay about 60 px apart (counted back from today)
    const x0 = Date.parse(data.since) / 1e3;
    const x1 = Math.max(Date.parse(data.until) / 1e3, lastEnd);
    const pxPerDay = Math.max(1, box.clientWidth - 110) / Math.max(1, (x1 - x0) / 86400);
    const every = Math.max(1, Math.ceil(60 / pxPerDay));
    const last = mid[mid.length - 1];
    options.axes[0].splits = () => mid.filter((m) => Math.round((last - m) / 86400) % every === 0);
    options.axes[0].values = (u, splits) => splits.map(fmtDay);
    options.axes[1].values = (u, values) => values.map((v) => +v.toFixed(3) + " kWh");
    options.axes.push({ scale: "cost", side: 1, stroke: css("--muted"), grid: { show: false }, size: axisSize,
      values: (u, values) => values.map(fmtCostAxis) });
    options.scales.cost = { range: (u, min, max) => [0, Math.max(0.01, (max || 0) * 1.1)] };
    options.scales.x = { time: true, range: () => [x0, x1] };
    place("energy", "energy-chart", options, [mid, kwh, cost]);
    $("energy-scope").textContent = state.detail ? "" : "(all plugs)";
  }

  function rebuildCharts() {
    buildLive();
    buildHistory();
    buildEnergy();
  }

  function resizeCharts() {
    for (const [key, boxId] of [["live", "live-chart"], ["history", "history-chart"], ["energy", "energy-chart"]]) {
      if (charts[key]) charts[key].setSize(chartSize($(boxId)));
    }
  }

  // ---------------------------------------------------------------- views

  function applyView() {
    document.body.classList.toggle("detail", !!state.detail);
    $("detail-nav").hidden = !state.detail;
    for (const card of document.querySelectorAll(".card")) {
      card.hidden = !!state.detail && card.dataset.id !== state.detail;
    }
  }

  async function seedLive(id) {
    try {
      const data = await api("/api/plugs/" + encodeURIComponent(id) + "/history?since=10m&resolution=raw");
      const buf = { t: data.series.ts.slice(), p: data.series.power_w.slice() };
      const old = state.live.get(id) || { t: [], p: [] };
      for (let i = 0; i < old.t.length; i++) {
        if (!buf.t.length || old.t[i] > buf.t[buf.t.length - 1]) { buf.t.push(old.t[i]); buf.p.push(old.p[i]); }
      }
      state.live.set(id, buf);
      redrawLive();
    } catch (_) { /* the live stream fills it anyway */ }
  }

  function route() {
    const match = location.hash.match(/^#\/plug\/(.+)$/);
    const id = match ? decodeURIComponent(match[1]) : null;
    state.detail = id && state.plugs.has(id) ? id : null;
    document.title = state.detail ? state.plugs.get(state.detail).name + " · powermonitor" : "powermonitor";
    applyView();
    renderFacts();
    buildLive();
    if (state.detail) seedLive(state.detail);
    loadHistory();
    loadEnergy();
    window.scrollTo(0, 0);
  }

  // ---------------------------------------------------------------- live events

  function setLiveStatus(status) {
    state.liveStatus = status;
    const pill = $("live-status");
    pill.textContent = status === "live" ? "live" : status === "down" ? "reconnecting…" : "connecting…";
    pill.className = "pill " + status;
  }

  function connectEvents() {
    const source = new EventSource("/api/events");
    source.addEventListener("open", () => setLiveStatus("live"));
    source.addEventListener("error", () => setLiveStatus("down")); // EventSource retries by itself
    source.addEventListener("reading", (event) => {
      const r = JSON.parse(event.data);
      const plug = state.plugs.get(r.id);
      pushLive(r.id, r.ts, r.power_w);
      if (!plug) return;
      const wasOnline = plug.online;
      plug.reading = r;
      plug.online = true;
      renderCard(plug);
      renderSummary();
      if (state.detail === r.id || !wasOnline) renderFacts();
    });
    source.addEventListener("availability", (event) => {
      const a = JSON.parse(event.data);
      const plug = state.plugs.get(a.id);
      if (!a.online) pushLive(a.id, a.ts, null);
      if (!plug) return;
      plug.online = a.online;
      plug.since = a.timestamp;
      plug.reason = a.reason;
      renderCard(plug);
      renderSummary();
      renderFacts();
    });
    return source;
  }

  // ---------------------------------------------------------------- start

  async function start() {
    applyTheme();
    setupToken();
    $("theme-button").addEventListener("click", toggleTheme);
    $("history-plug").addEventListener("change", (event) => {
      state.historyPlug = event.target.value;
      loadHistory();
    });
    for (const button of document.querySelectorAll(".ranges button")) {
      button.addEventListener("click", () => {
        state.range = button.dataset.range;
        loadHistory();
        loadEnergy();
      });
    }
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", rebuildCharts);
    window.addEventListener("hashchange", route);
    new ResizeObserver(resizeCharts).observe(document.querySelector("main"));
    try {
      await loadPlugs();
    } catch (error) {
      toast("Could not load the plugs: " + error.message);
    }
    route();
    connectEvents();
    setInterval(() => loadPlugs().catch(() => {}), REFRESH_PLUGS_MS);
    setInterval(() => { loadHistory(); loadEnergy(); }, REFRESH_CHARTS_MS);
  }

  // for the browser tests and curious users: the live state and the charts; insight.js
  // (loaded after this file) builds its DOM with the same el()
  window.powermonitor = { state, charts, data: chartData, el };
  start();
})();

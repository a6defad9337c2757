// Insight panels: "What costs most", recent alerts, and the plug page's appliance cycles.
// Plain DOM, no framework, same-origin JSON only (see web/insight_api.py).
(function () {
  "use strict";
  const dash = "–";
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);

  const el = window.powermonitor.el; // app.js, loaded first (both scripts are deferred)
  function money(value, currency) {
    if (!isNum(value)) return dash;
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
    } catch (_) {
      return value.toFixed(2) + " " + currency;
    }
  }
  const kwh = (v) => (isNum(v) ? v.toFixed(v < 10 ? 3 : 1) + " kWh" : dash);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : dash);
  async function get(path) {
    const response = await fetch(path);
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }
  function panel(id, title) {
    const box = el("section", { id, class: "panel insight" }, el("h2", { text: title }),
      el("div", { class: "insight-body" }));
    document.querySelector("main").append(box);
    return box.querySelector(".insight-body");
  }
  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map((h) => el("th", { text: h })));
    const body = rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", { text: c }))));
    return el("table", { class: "insight-table" }, el("thead", {}, head), el("tbody", {}, ...body));
  }
  function note(text) { return el("p", { class: "note", text }); }

  let costs, alerts, cycles;

  async function loadReport() {
    try {
      const r = await get("/api/report?since=30d");
      const rows = r.plugs.map((p) => [p.name, kwh(p.kwh), money(p.cost, r.currency),
        p.share.toFixed(0) + " %", p.always_on, money(p.standby_cost_per_year, r.currency),
        money(p.cost_per_month, r.currency), String(p.cycles)]);
      costs.replaceChildren(
        rows.length ? table(["Plug", "Energy", "Cost", "Share", "Always on", "Standby / year",
          "Month at this rate", "Cycles"], rows) : note("No measurements in the last 30 days yet."),
        note("Last 30 days. Always on: the 5th percentile of minute averages (switched-off " +
          "time left out); plugs cannot measure below 0.5 W."));
    } catch (e) { costs.replaceChildren(note("Report unavailable: " + e.message)); }
  }

  async function loadAlerts() {
    try {
      const data = await get("/api/alerts?limit=20");
      const rows = data.alerts.map((a) => [when(a.time), a.alert, a.plug || a.plug_id, a.event,
        a.message, a.deliveries.map((d) => d.channel + (d.delivered ? " ✓" : " …")).join(", ") || dash]);
      alerts.replaceChildren(rows.length
        ? table(["Time", "Alert", "Plug", "Event", "Details", "Sent"], rows)
        : note("No alerts yet. Rules go in [[alerts]] in the config file."));
    } catch (e) { alerts.replaceChildren(note("Alerts unavailable: " + e.message)); }
  }

  async function loadCycles() {
    const match = location.hash.match(/^#\/plug\/(.+)$/);
    cycles.closest("section").hidden = !match;
    if (!match) return;
    try {
      const data = await get("/api/plugs/" + match[1] + "/cycles?since=30d");
      const rows = data.cycles.slice().reverse().map((c) => [when(c.start),
        (c.duration_s / 60).toFixed(0) + " min", kwh(c.kwh), money(c.cost, data.currency),
        Math.round(c.peak_w) + " W"]);
      cycles.replaceChildren(rows.length
        ? table(["Start", "Duration", "Energy", "Cost", "Peak"], rows)
        : note("No cycles recorded: give this plug a when = \"finished\" rule in [[alerts]]."));
    } catch (e) { cycles.replaceChildren(note("Cycles unavailable: " + e.message)); }
  }

  function start() {
    cycles = panel("cycles-panel", "Appliance cycles");
    costs = panel("costs-panel", "What costs most");
    alerts = panel("alerts-panel", "Recent alerts");
    const refresh = () => { loadReport(); loadAlerts(); loadCycles(); };
    window.addEventListener("hashchange", loadCycles);
    refresh();
    setInterval(refresh, 60000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// The portcullis dashboard: polls /api/stats and /api/alerts every second and redraws.
// A bearer token, when the server wants one, is taken from the page's address: /#token=TOKEN.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function rows(id, list, cells) {
  const body = document.querySelector("#" + id + " tbody");
  if (list.length === 0) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.textContent = "none";
    cell.className = "none";
    row.appendChild(cell);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...list.map((item) => {
    const row = document.createElement("tr");
    for (const [value, cls] of cells(item)) {
      const cell = document.createElement("td");
      cell.textContent = value === null || value === undefined ? "–" : String(value);
      if (cls) cell.className = cls;
      row.appendChild(cell);
    }
    return row;
  }));
}

function sum(object) {
  return Object.values(object || {}).reduce((a, b) => a + b, 0);
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (seconds % 60) + "s";
}

function plot(values) {
  const canvas = document.getElementById("plot");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const top = Math.max(1, ...values);
  ctx.strokeStyle = "#dde1e6";
  ctx.beginPath();
  ctx.moveTo(0, h - 0.5);
  ctx.lineTo(w, h - 0.5);
  ctx.stroke();
  ctx.fillStyle = "#58636e";
  ctx.font = "12px sans-serif";
  ctx.fillText(Math.round(top) + " q/s", 4, 14);
  if (values.length < 2) return;
  ctx.strokeStyle = "#0969da";
  ctx.lineWidth = 2;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = (i / (values.length - 1)) * w;
    const y = h - 2 - (v / top) * (h - 20);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function showStats(s) {
  text("qps", Math.round(s.queries_per_second).toLocaleString());
  text("total", s.queries_total.toLocaleString());
  text("limited", s.rate_limited.toLocaleString());
  text("blocked", s.blocked.toLocaleString());
  text("dropped", sum(s.drops).toLocaleString());
  text("cache", s.cache.entries.toLocaleString());
  text("uptime", duration(s.uptime_seconds));
  plot(s.queries_per_second_history);
  const responses = sum(s.responses) || 1;
  const rcodes = Object.entries(s.responses).sort((a, b) => b[1] - a[1]);
  rows("rcodes", rcodes, ([rcode, n]) => [[rcode], [n.toLocaleString(), "n"], [(100 * n / responses).toFixed(1) + " %", "n"]]);
  const types = Object.entries(s.queries_by_type).sort((a, b) => b[1] - a[1]);
  rows("qtypes", types, ([qtype, n]) => [[qtype], [n.toLocaleString(), "n"]]);
  rows("names", s.top_names, (t) => [[t.name], ["≈ " + t.queries.toLocaleString(), "n"]]);
  rows("clients", s.top_clients, (t) => [[t.client], ["≈ " + t.queries.toLocaleString(), "n"]]);
  rows("zones", s.zones, (z) => [[z.zone], [z.serial], [z.loaded ? z.loaded_at : "not loaded", z.loaded ? "" : "down"]]);
  rows("upstreams", s.upstreams, (u) => [[u.zone], [u.address], [u.up ? "up" : "down", u.up ? "up" : "down"],
    [u.srtt_ms === null ? null : u.srtt_ms.toFixed(1), "n"], [u.in_flight, "n"], [u.queries, "n"], [u.failures, "n"]]);
}

function showAlerts(list) {
  const newest = list.slice().reverse();
  rows("alerts", newest, (a) => [[a.kind], [a.domain], [a.client], [a.action, a.action === "block" ? "block" : ""],
    [a.score, "n"], [a.count, "n"], [a.last_seen], [a.detail]]);
}

async function get(path) {
  const response = await fetch(path, { headers, cache: "no-store" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const [stats, alerts] = await Promise.all([get("/api/stats"), get("/api/alerts")]);
    showStats(stats);
    showAlerts(alerts);
    status.textContent = "live · portcullis " + stats.version + " · " + stats.time;
    status.className = "status";
  } catch (error) {
    status.textContent = String(error.message || error);
    status.className = "status error";
  }
}

refresh();
setInterval(refresh, 1000);

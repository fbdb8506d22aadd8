// flashline line view: read-only. Every station's summary, last rows and failures from
// /api/stations (reloaded every few seconds), a MAC search across stations from
// /api/search. Every value from the database goes into the page as text (textContent).
"use strict";
// Uses common.js ($, el, percent, localTime, row, getJson).

const RELOAD_MS = 5000;

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return Math.round(seconds) + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

function table(heads, rows) {
  const t = el("table");
  const tr = el("tr");
  for (const h of heads) tr.append(el("th", null, h));
  t.append(el("thead"));
  t.tHead.append(tr);
  const body = el("tbody");
  body.append(...rows);
  t.append(body);
  return t;
}

function stationSection(s) {
  const sec = el("section", "station");
  sec.dataset.station = s.station_id;
  sec.append(el("h2", null, "Station " + s.station_id));
  const two = el("div", "two");
  const rows = el("div");
  rows.append(el("h3", null, "Last rows"));
  rows.append(table(["time", "slot", "MAC", "result", "rework"], s.last_rows.map((r) =>
    row([localTime(r.started_at), r.slot, r.mac, r.result, r.rework ? "rework" : ""], r.result))));
  const fails = el("div");
  fails.append(el("h3", null, "Last failures"));
  fails.append(s.last_failures.length
    ? table(["time", "slot", "MAC", "stage", "reason"], s.last_failures.map((r) =>
      row([localTime(r.started_at), r.slot, r.mac, r.failure_stage, r.failure_reason], "fail")))
    : el("p", "muted", "none"));
  two.append(rows, fails);
  sec.append(two);
  return sec;
}

async function load() {
  try {
    const stations = await getJson("/api/stations");
    let pass = 0, fail = 0;
    for (const s of stations) { pass += s.pass; fail += s.fail; }
    $("n-stations").textContent = stations.length;
    $("n-pass").textContent = pass;
    $("n-fail").textContent = fail;
    $("yield").textContent = pass + fail ? percent((100 * pass) / (pass + fail)) : "–";
    $("stations").tBodies[0].replaceChildren(...stations.map((s) => row([s.station_id, s.rows, s.pass, s.fail,
      percent(s.yield_percent), localTime(s.newest_ended), age(s.lag_seconds)])));
    $("details").replaceChildren(...stations.map(stationSection));
    $("link").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("link").textContent = "cannot load: " + e.message;
  }
}

$("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("search-error");
  const note = $("search-note");
  const results = $("results");
  err.hidden = true;
  note.hidden = true;
  try {
    const found = await getJson("/api/search?mac=" + encodeURIComponent($("mac").value.trim()));
    results.tBodies[0].replaceChildren(...(found.rows.length
      ? found.rows.map((r) => row([localTime(r.started_at), r.station_id, r.result, r.slot, r.rework ? "rework" : "",
        r.image_name, r.failure_stage, r.failure_reason], r.result))
      : [row(["no attempt with this MAC on the line"])]));
    results.hidden = false;
    if (found.across_stations) {
      note.textContent = found.mac + " was flashed at " + found.stations.length + " stations (" +
        found.stations.join(", ") + "): rework across stations";
      note.hidden = false;
    }
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    results.hidden = true;
  }
});

load();
setInterval(load, RELOAD_MS);

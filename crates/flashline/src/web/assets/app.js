// flashline dashboard: read-only. The live slots come from /events (server-sent events,
// one JSON view per change); failures, yield and the MAC search from /api/*. Every value
// from the station goes into the page as text (textContent), never as markup.
"use strict";
// Uses common.js ($, el, percent, localTime, row, getJson).

function slotCard(s) {
  const card = el("div", "slot " + s.phase);
  card.dataset.slot = s.name;
  const head = el("div");
  head.append(el("span", "name", s.name));
  const state = { pass: "PASS", fail: "FAIL", running: s.stage || "running", queued: "queued", empty: "empty" }[s.phase];
  head.append(el("span", "state", state));
  card.append(head);
  if (s.phase === "running" && s.total > 0) {
    const bar = el("div", "bar");
    const fill = el("div");
    fill.style.width = Math.min(100, (100 * s.done) / s.total).toFixed(1) + "%";
    bar.append(fill);
    card.append(bar);
  }
  card.append(el("div", "mac", s.mac || "–"));
  if (s.serial) card.append(el("div", "serial", s.serial));
  const booted = s.boot && s.boot.result === "pass" && s.boot.seconds !== null ? "boot " + s.boot.seconds.toFixed(1) + " s" : null;
  const detail = [s.chip, s.seconds !== null ? s.seconds.toFixed(1) + " s" : null, booted, s.rework ? "rework" : null]
    .filter(Boolean).join(" · ");
  card.append(el("div", "detail", detail || s.port));
  if (s.phase === "fail") card.append(el("div", "reason", s.failed_stage + ": " + s.reason));
  // A board that did not boot: its last console lines, as text (they are the board's).
  if (s.boot && s.boot.result === "fail" && s.boot.lines.length) {
    card.append(el("pre", "console", s.boot.lines.join("\n")));
  }
  return card;
}

let lastDone = "";

function showView(v) {
  $("station").textContent = v.station;
  // One image per chip family; a station of one chip shows just its image.
  const image = (i) => i.name + " · sha256 " + i.sha256.slice(0, 16) + "…";
  $("image").textContent = v.images.length === 1
    ? image(v.images[0])
    : v.images.map((i) => (i.chip || "any") + ": " + image(i)).join("  |  ");
  for (const k of ["pass", "fail", "running", "queued", "rework"]) $("n-" + k).textContent = v[k];
  $("yield").textContent = percent(v.yield_percent);
  $("rate").textContent = v.boards_per_hour === null ? "–" : Math.round(v.boards_per_hour);
  const notice = $("notice");
  notice.hidden = !v.notice;
  notice.textContent = v.notice || "";
  const slots = $("slots");
  slots.replaceChildren(...(v.slots.length ? v.slots.map(slotCard) : [el("p", "muted", "No boards yet.")]));
  // The audit tables change when a board finishes.
  const done = v.pass + ":" + v.fail;
  if (done !== lastDone) {
    lastDone = done;
    loadFailures();
    loadYield();
  }
}

async function loadFailures() {
  try {
    const rows = await getJson("/api/failures?limit=20");
    $("failures").tBodies[0].replaceChildren(
      ...rows.map((r) => row([localTime(r.started_at), r.slot, r.mac, r.serial, r.failure_stage, r.failure_reason], "fail")));
  } catch (e) { /* the next change retries */ }
}

function yieldOf(c) {
  const done = c.pass + c.fail;
  return done ? percent((100 * c.pass) / done) : "–";
}

async function loadYield() {
  try {
    const s = await getJson("/api/yield?hours=24");
    $("per-slot").tBodies[0].replaceChildren(...s.per_slot.map((x) => row([x.slot, x.pass, x.fail, yieldOf(x)])));
    $("per-hour").tBodies[0].replaceChildren(...s.per_hour.map((x) => row([localTime(x.hour), x.pass, x.fail, yieldOf(x)])));
  } catch (e) { /* the next change retries */ }
}

$("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("search-error");
  const table = $("results");
  err.hidden = true;
  try {
    const rows = await getJson("/api/search?mac=" + encodeURIComponent($("mac").value.trim()));
    table.tBodies[0].replaceChildren(...(rows.length
      ? rows.map((r) => row([localTime(r.started_at), r.result, r.slot, r.serial, r.image_name, r.failure_stage, r.failure_reason], r.result))
      : [row(["no attempt with this MAC"])]));
    table.hidden = false;
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    table.hidden = true;
  }
});

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("view", (e) => {
    $("link").textContent = "live";
    showView(JSON.parse(e.data));
  });
  source.addEventListener("stopped", () => {
    // The station has stopped: the page keeps its last state.
    source.close();
    $("link").textContent = "station stopped";
  });
  source.onerror = () => { $("link").textContent = "reconnecting…"; };
}

connect();

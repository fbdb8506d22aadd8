// Helpers both read-only pages share (the station dashboard and the line view). Values
// from the station or the database become text nodes (textContent), never markup.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function percent(p) {
  return p === null || p === undefined ? "–" : p.toFixed(1) + " %";
}

function localTime(t) {
  if (t === null || t === undefined) return "–";
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString();
}

function row(cells, cls) {
  const tr = el("tr", cls);
  for (const c of cells) tr.append(el("td", null, c === null || c === undefined ? "–" : c));
  return tr;
}

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

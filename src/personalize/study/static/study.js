// The study page: one pair at a time; a judgment is acknowledged (committed to SQLite) by the
// server before the next pair is shown. Everything comes from this server; no library, no CDN.
"use strict";

const SHOWN_HISTORY = 3; // history items visible before "show all"
const KEYS = { a: "A", "1": "A", ArrowLeft: "A", b: "B", "2": "B", ArrowRight: "B",
               t: "tie", "3": "tie", s: "skip", "0": "skip" };
const state = { rater: null, pair: null, shownAt: 0, busy: false };
const $ = (id) => document.getElementById(id);

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function setBusy(busy) {
  state.busy = busy;
  for (const button of document.querySelectorAll("button.choice")) button.disabled = busy;
}

function setProgress(progress) {
  const pct = progress.total ? Math.round((100 * progress.judged) / progress.total) : 100;
  $("progress-wrap").hidden = false;
  $("progress-fill").style.width = pct + "%";
  $("progress").setAttribute("aria-valuenow", String(pct));
  $("progress-text").textContent = `${progress.judged} of ${progress.total} judged`;
}

function renderHistory(items, total) {
  const list = $("history");
  list.replaceChildren();
  list.classList.remove("expanded");
  items.forEach((text, i) => {
    const li = document.createElement("li");
    li.textContent = text; // textContent: outputs and history are data, never markup
    if (i >= SHOWN_HISTORY) li.className = "extra";
    list.appendChild(li);
  });
  $("history-count").textContent = total > items.length
    ? `(${total} items, the ${items.length} most recent shown)` : `(${total} items, most recent first)`;
  const toggle = $("history-toggle");
  toggle.hidden = items.length <= SHOWN_HISTORY;
  toggle.textContent = `show all ${items.length}`;
}

function toggleHistory() {
  const list = $("history");
  if ($("history-toggle").hidden) return;
  const expanded = list.classList.toggle("expanded");
  $("history-toggle").textContent = expanded ? "show fewer" : `show all ${list.children.length}`;
}

async function api(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON: reported below */ }
  if (!response.ok || body === null) throw new Error((body && body.error) || `server answered ${response.status}`);
  return body;
}

async function loadNext() {
  const data = await api(`/api/next?rater=${encodeURIComponent(state.rater)}`);
  setProgress(data.progress);
  $("intro").hidden = true;
  if (data.done) {
    state.pair = null;
    $("task").hidden = true;
    $("done").hidden = false;
    return;
  }
  state.pair = data.pair;
  renderHistory(data.pair.history, data.pair.history_total);
  $("input").textContent = data.pair.input;
  $("output-a").textContent = data.pair.a;
  $("output-b").textContent = data.pair.b;
  $("done").hidden = true;
  $("task").hidden = false;
  document.body.dataset.pairId = String(data.pair.id);
  state.shownAt = performance.now();
}

async function choose(choice) {
  if (state.busy || !state.pair) return;
  setBusy(true);
  setStatus("saving…");
  const seconds = (performance.now() - state.shownAt) / 1000;
  try {
    const body = JSON.stringify({ rater: state.rater, pair_id: state.pair.id, choice, seconds });
    const saved = await api("/api/judge", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    setStatus(`saved: ${saved.stored}` + (saved.new ? "" : " (already judged)"));
    await loadNext();
  } catch (error) {
    // not acknowledged: the same pair stays, the rater can press again
    setStatus(`not saved, try again: ${error.message}`, true);
  } finally {
    setBusy(false);
  }
}

async function start(name) {
  state.rater = name.trim();
  if (!state.rater) return;
  try {
    await loadNext();
  } catch (error) {
    setStatus(error.message, true);
    state.rater = null;
    return;
  }
  localStorage.setItem("personalize-study-rater", state.rater);
  $("rater-form").hidden = true;
  $("rater-name").textContent = state.rater;
  $("rater-shown").hidden = false;
  setStatus("");
}

document.addEventListener("DOMContentLoaded", () => {
  $("rater-form").addEventListener("submit", (event) => { event.preventDefault(); start($("rater").value); });
  $("change-rater").addEventListener("click", () => {
    state.rater = null; state.pair = null;
    $("rater-form").hidden = false; $("rater-shown").hidden = true; $("task").hidden = true;
    $("done").hidden = true; $("intro").hidden = false; $("rater").focus();
  });
  $("history-toggle").addEventListener("click", toggleHistory);
  for (const button of document.querySelectorAll("button.choice")) {
    button.addEventListener("click", () => choose(button.dataset.choice));
  }
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "h") { toggleHistory(); return; }
    if (KEYS[key]) { event.preventDefault(); choose(KEYS[key]); }
  });
  const given = new URLSearchParams(location.search).get("rater") || localStorage.getItem("personalize-study-rater");
  if (given) { $("rater").value = given; start(given); } else { $("rater").focus(); }
});

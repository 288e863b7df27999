// tagsim's page, the Review tab: the queue, one document at a time, and the documents the
// Try tab links to (#doc=<id>). Uses app.js's helpers; text goes in through textContent only.
"use strict";

const queue = {items: [], at: 0, done: 0, loaded: false};
let shown = null;  // the item on screen: a queue entry, or a document opened by id

const ORIGIN = {
  predicted: () => "predicted by the model when the document was added; no person has checked it",
  given: () => "given when the document was added",
  corpus: () => "from the labelled corpus",
  reviewed: (s) => `reviewed by ${s.reviewer || "an unnamed reviewer"} at ${s.at}` +
    (s.model_version ? ` (model ${s.model_version})` : ""),
};

function shownLabels(value) {
  const labels = [].concat(value ?? []);
  return labels.length ? labels.join(", ") : "no label";
}

function sameLabels(a, b) {
  const x = [].concat(a ?? []).sort(), y = [].concat(b ?? []).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function byPerson(status) { return !status || status.status !== "predicted"; }

function progress() {
  $("progress").textContent = queue.items.length
    ? `${queue.done} of ${queue.items.length} reviewed` : "";
}

function boxes(headName) {
  return [...document.querySelectorAll(`fieldset[data-head="${headName}"] input`)];
}

function showItem(item) {
  // A new item: the last message goes, the stored labels are checked, their origin follows.
  say("");
  progress();
  shown = item;
  if (!item) {
    $("item").hidden = true;
    if (queue.loaded) say(queue.items.length ? "the queue is done: load it again for more" : "nothing to review");
    return;
  }
  $("item").hidden = false;
  $("item-title").textContent = item.title || item.id;
  $("item-meta").textContent = `${item.id} · ${item.source === "api" ? "added" : "corpus"}` +
    (item.uncertainty === undefined ? "" : ` · uncertainty ${item.uncertainty.toFixed(3)}`) +
    (item.scored_by ? ` · scored by ${item.scored_by}` : "");
  $("item-text").textContent = item.text || "(the index kept no text for this document)";
  for (const head of HEADS) {
    const chosen = new Set([].concat(item.labels[head.name] ?? []));
    for (const box of boxes(head.name)) {
      box.checked = chosen.has(box.value);
      const score = box.parentElement.querySelector(".score");
      score.textContent = head.name === item.head && item.scores ? item.scores[box.value].toFixed(3) : "";
    }
    document.querySelector(`[data-provenance="${head.name}"]`).textContent = "";
  }
  $("item-history").replaceChildren(el("li", "loading…"));
  $("note").value = "";
  item.details ??= api("GET", `/v1/documents/${encodeURIComponent(item.id)}`);
  item.details.then((doc) => { if (shown === item) showDetails(item, doc); },
                    (err) => { if (shown === item) say("Error: " + err.message, "error"); });
  boxes(item.head)[0]?.focus();
}

function showDetails(item, doc) {
  for (const head of HEADS) {
    const status = doc.label_status[head.name] || {};
    let line = `stored: ${shownLabels(doc[head.name])} — ${(ORIGIN[status.status] || (() => "origin unknown"))(status)}`;
    if (head.name === item.head && item.answer !== undefined && item.answer !== null) {
      line += `; the model says ${shownLabels(item.answer)}`;
    }
    document.querySelector(`[data-provenance="${head.name}"]`).textContent = line;
  }
  const list = $("item-history");
  list.replaceChildren();
  for (const c of doc.history) {
    const labels = Object.entries(c.labels).map(([h, v]) => `${h}: ${shownLabels(v)}`).join("; ");
    list.append(el("li", `${c.created_at} · ${c.reviewer || "an unnamed reviewer"} · ${labels}` +
      (c.note ? ` · “${c.note}”` : "")));
  }
  if (!doc.history.length) list.append(el("li", "none yet"));
}

async function loadQueue(ev) {
  ev.preventDefault();
  sessionStorage.setItem(REVIEWER_KEY, $("reviewer").value);
  const head = $("queue-head").value;
  say("loading the queue…");
  try {
    const limit = Math.min(500, Math.max(1, Number($("queue-limit").value) || 20));
    const data = await api("GET",
      `/v1/review?head=${encodeURIComponent(head)}&limit=${limit}&text=1`);
    Object.assign(queue, {items: data.results.map((r) => ({...r, head})), at: 0, done: 0,
                          loaded: true});
    showItem(queue.items[0]);
  } catch (err) { say("Error: " + err.message, "error"); }
}

async function openDocument(id) {
  // A document by id (a link of the Try tab): its labels, their origin and its history.
  show("review");
  say("opening " + id + "…");
  try {
    const doc = await api("GET", `/v1/documents/${encodeURIComponent(id)}`);
    const item = {id: doc.id, title: doc.title, text: doc.text, source: doc.source,
                  labels: Object.fromEntries(HEADS.map((h) => [h.name, doc[h.name]])),
                  details: Promise.resolve(doc), answer: null, scores: null, opened: true,
                  head: $("queue-head").value};
    if (doc.text && doc.text.trim()) {
      const head = HEADS.find((h) => h.name === item.head);
      const answer = await api("POST", "/v1/tag", {title: doc.title || null, text: doc.text});
      const labels = labelsOf(head, answer);
      item.answer = head.multilabel ? labels : labels[0];
      item.scores = answer[head.scores_field];
    }
    showItem(item);
  } catch (err) { say("Error: " + err.message, "error"); }
}

function confirmReplace(replaced) {
  // Resolves true to replace, false to keep: Esc or "Keep" (focused first) keeps.
  const dialog = $("confirm");
  $("confirm-text").replaceChildren(...replaced.map((r) =>
    el("li", `${r.head}: ${shownLabels(r.from)} (${r.origin}) → ${shownLabels(r.to)}`)));
  return new Promise((resolve) => {
    const done = (answer) => { dialog.onclose = null; dialog.close(); resolve(answer); };
    $("confirm-keep").onclick = () => done(false);
    $("confirm-replace").onclick = () => done(true);
    dialog.onclose = () => resolve(false);
    dialog.showModal();
    $("confirm-keep").focus();
  });
}

let saving = false;  // one save at a time: a second key press does not save (or skip) twice

async function save(useAnswer) {
  if (saving) return;
  saving = true;
  try { await saveShown(useAnswer); } finally { saving = false; }
}

async function saveShown(useAnswer) {
  const item = shown;
  if (!item) return;
  if (useAnswer && (item.answer === null || item.answer === undefined)) {
    say("there is no model answer for a document without text; check the labels and save them", "error");
    return;
  }
  const body = {reviewer: $("reviewer").value || null, note: $("note").value || null};
  for (const head of HEADS) {
    const picked = boxes(head.name).filter((b) => b.checked).map((b) => b.value);
    const value = useAnswer && head.name === item.head ? item.answer
      : head.multilabel ? picked : picked[0];
    // The queued head is what the reviewer answers; another head only when they changed it.
    if (value !== undefined && (head.name === item.head || !sameLabels(value, item.labels[head.name]))) {
      body[head.name] = value;
    }
  }
  try {
    const doc = await item.details.catch(() => ({label_status: {}}));
    const replaced = HEADS.filter((h) => h.name in body && byPerson(doc.label_status[h.name])
                                         && !sameLabels(body[h.name], item.labels[h.name]))
      .map((h) => ({head: h.name, from: item.labels[h.name], to: body[h.name],
                    origin: (ORIGIN[doc.label_status[h.name]?.status] || (() => "origin unknown"))(
                      doc.label_status[h.name] || {})}));
    if (replaced.length && !(await confirmReplace(replaced))) {
      say("kept the stored labels; nothing saved");
      boxes(item.head)[0]?.focus();
      return;
    }
    await api("PATCH", `/v1/documents/${encodeURIComponent(item.id)}`, body);
    if (item.opened) {
      await openDocument(item.id);
      say(`saved ${item.id}`);
      return;
    }
    queue.done += 1;
    queue.at += 1;
    showItem(queue.items[queue.at]);
    const finished = queue.at >= queue.items.length;
    say(`saved ${item.id}` + (finished ? "; the queue is done: load it again for more" : ""));
  } catch (err) { say("Error: " + err.message, "error"); }
}

function skip() {
  if (shown && !shown.opened) queue.at += 1;
  showItem(queue.items[queue.at]);  // an opened document goes back to the queue
}

function openFromHash() {
  const match = /^#doc=(.+)$/.exec(location.hash);
  if (match) openDocument(decodeURIComponent(match[1]));
}

$("queue-form").onsubmit = loadQueue;
$("correct-form").onsubmit = (ev) => { ev.preventDefault(); save(false); };
$("accept").onclick = () => save(true);
$("skip").onclick = skip;
$("reviewer").value = sessionStorage.getItem(REVIEWER_KEY) || "";
window.addEventListener("hashchange", openFromHash);
openFromHash();

document.addEventListener("keydown", (ev) => {
  const typing = ev.target.matches(
    "input[type=text], input[type=password], input[type=number], textarea, select");
  if ($("review").hidden || $("item").hidden || $("confirm").open || typing
      || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  if (key === "a") { ev.preventDefault(); save(true); }
  else if (key === "s") { ev.preventDefault(); save(false); }
  else if (key === "n") { ev.preventDefault(); $("skip").click(); }
  else if (/^[1-9]$/.test(key)) {
    const box = boxes(shown.head)[Number(key) - 1];
    if (box) { ev.preventDefault(); box.click(); box.focus(); }
  }
});

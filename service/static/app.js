// tagsim's page: plain JavaScript, no framework. Every text from the server or the user
// goes into the page through textContent, never innerHTML, so nothing in it can run.
"use strict";

const HEADS = JSON.parse(document.getElementById("heads").textContent);
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "tagsim-token";
const REVIEWER_KEY = "tagsim-reviewer";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function say(message) { $("status").textContent = message; }

let tokenWaiter = null;
function askToken() {
  // Once per tab: the token lives in sessionStorage, never in a URL.
  if (!tokenWaiter) {
    tokenWaiter = new Promise((resolve) => {
      const form = $("token-form");
      form.hidden = false;
      $("token").focus();
      form.onsubmit = (ev) => {
        ev.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $("token").value);
        form.hidden = true;
        tokenWaiter = null;
        resolve();
      };
    });
  }
  return tokenWaiter;
}

async function api(method, path, body) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {method, headers,
      body: body === undefined ? undefined : JSON.stringify(body)});
    if (res.status === 401) { await askToken(); continue; }
    const data = res.status === 204 ? {} : await res.json();
    if (!res.ok) throw new Error(data.error ? data.error.message : res.statusText);
    return data;
  }
  throw new Error("the token was not accepted");
}

// --- tabs ---------------------------------------------------------------
function show(name) {
  for (const tab of ["try", "review"]) {
    $(tab).hidden = tab !== name;
    $("tab-" + tab).setAttribute("aria-selected", String(tab === name));
  }
}
$("tab-try").onclick = () => show("try");
$("tab-review").onclick = () => { show("review"); $("queue-head").focus(); };

// --- Try ----------------------------------------------------------------
function labelsOf(head, answer) {
  const value = answer[head.name];
  return head.multilabel ? value.map((v) => v.label) : [value.label];
}

function highlight(container, text, terms) {
  // Marks each occurrence of an explanation term; the pieces are text nodes.
  container.replaceChildren();
  const words = [...new Set(terms)].filter((t) => t.trim()).sort((a, b) => b.length - a.length);
  if (!words.length) { container.textContent = text; return; }
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/ /g, "\\s+"));
  const pattern = new RegExp("\\b(" + escaped.join("|") + ")\\b", "gi");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    container.append(document.createTextNode(text.slice(last, match.index)));
    container.append(el("mark", match[0]));
    last = match.index + match[0].length;
  }
  container.append(document.createTextNode(text.slice(last)));
}

async function tryIt(ev) {
  ev.preventDefault();
  const title = $("try-title").value, text = $("try-text").value;
  say("tagging…");
  try {
    const answer = await api("POST", "/v1/tag", {title: title || null, text, explain: true});
    const tags = $("tags");
    tags.replaceChildren();
    const terms = [];
    for (const head of HEADS) {
      const box = el("div", undefined, "head");
      box.append(el("h3", head.name));
      const list = el("ul");
      const chosen = labelsOf(head, answer);
      for (const label of chosen) {
        const item = el("li", `${label} ${answer[head.scores_field][label].toFixed(3)}`, "tag");
        item.dataset.head = head.name;
        const why = (answer.explanation[head.name] || {})[label] || [];
        why.forEach((t) => terms.push(t.term));
        item.append(el("span", why.length ? " — " + why.map((t) => t.term).join(", ") : "", "terms"));
        list.append(item);
      }
      if (!chosen.length) list.append(el("li", "no label passes its threshold"));
      box.append(list);
      tags.append(box);
    }
    highlight($("highlighted"), (title ? title + "\n" : "") + text, terms);
    const query = {title: title || null, text, k: 5, terms: 5};
    document.querySelectorAll(".filters select").forEach((s) => {
      if (s.value) query[s.dataset.field] = s.value;
    });
    const similar = await api("POST", "/v1/similar", query);
    const list = $("similar");
    list.replaceChildren();
    for (const r of similar.results) {
      const item = el("li", undefined, "similar");
      item.append(el("strong", r.title || r.id), el("span", ` ${r.score.toFixed(3)}`, "score"));
      const labels = HEADS.map((h) => [].concat(r[h.name] || []).join(", ")).join(" · ");
      item.append(el("div", labels, "meta"));
      item.append(el("div", "shared: " + r.shared_terms.map((t) => t.term).join(", "), "terms"));
      list.append(item);
    }
    if (!similar.results.length) list.append(el("li", "no similar article with these filters"));
    $("try-result").hidden = false;
    say("");
  } catch (err) { say("Error: " + err.message); }
}
$("try-form").onsubmit = tryIt;
$("try-text").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) $("try-form").requestSubmit();
});

// --- Review -------------------------------------------------------------
const queue = {items: [], at: 0, done: 0, head: null};

function progress() {
  $("progress").textContent = `${queue.done} of ${queue.items.length} reviewed`;
}

function boxes(headName) {
  return [...document.querySelectorAll(`fieldset[data-head="${headName}"] input`)];
}

function showItem() {
  progress();
  const item = queue.items[queue.at];
  if (!item) {
    $("item").hidden = true;
    say(queue.items.length ? "the queue is done: load it again for more" : "nothing to review");
    return;
  }
  $("item").hidden = false;
  $("item-title").textContent = item.title || item.id;
  $("item-meta").textContent =
    `${item.id} · uncertainty ${item.uncertainty.toFixed(3)} · scored by ${item.scored_by}`;
  $("item-text").textContent = item.text || "(the index kept no text for this document)";
  for (const head of HEADS) {
    const current = head.name === queue.head ? item.answer : item.labels[head.name];
    const chosen = new Set([].concat(current || []));
    for (const box of boxes(head.name)) {
      box.checked = chosen.has(box.value);
      const score = box.parentElement.querySelector(".score");
      score.textContent = head.name === queue.head ? item.scores[box.value].toFixed(3) : "";
    }
  }
  $("note").value = "";
  boxes(queue.head)[0]?.focus();
}

async function loadQueue(ev) {
  ev.preventDefault();
  sessionStorage.setItem(REVIEWER_KEY, $("reviewer").value);
  queue.head = $("queue-head").value;
  say("loading the queue…");
  try {
    const limit = Math.min(500, Math.max(1, Number($("queue-limit").value) || 20));
    const data = await api("GET",
      `/v1/review?head=${encodeURIComponent(queue.head)}&limit=${limit}&text=1`);
    Object.assign(queue, {items: data.results, at: 0, done: 0});
    say("");
    showItem();
  } catch (err) { say("Error: " + err.message); }
}

async function save(useAnswer) {
  const item = queue.items[queue.at];
  if (!item) return;
  const body = {reviewer: $("reviewer").value || null, note: $("note").value || null};
  for (const head of HEADS) {
    const picked = boxes(head.name).filter((b) => b.checked).map((b) => b.value);
    if (useAnswer && head.name === queue.head) body[head.name] = item.answer;
    else if (head.multilabel) body[head.name] = picked;
    else if (picked.length) body[head.name] = picked[0];
  }
  try {
    await api("PATCH", `/v1/documents/${encodeURIComponent(item.id)}`, body);
    queue.done += 1;
    queue.at += 1;
    showItem();
    const finished = queue.at >= queue.items.length;
    say(`saved ${item.id}` + (finished ? "; the queue is done: load it again for more" : ""));
  } catch (err) { say("Error: " + err.message); }
}

$("queue-form").onsubmit = loadQueue;
$("correct-form").onsubmit = (ev) => { ev.preventDefault(); save(false); };
$("accept").onclick = () => save(true);
$("skip").onclick = () => { queue.at += 1; showItem(); };
$("reviewer").value = sessionStorage.getItem(REVIEWER_KEY) || "";

document.addEventListener("keydown", (ev) => {
  if (ev.altKey && (ev.key === "1" || ev.key === "2")) {
    ev.preventDefault();
    $(ev.key === "1" ? "tab-try" : "tab-review").click();
    return;
  }
  const typing = ev.target.matches(
    "input[type=text], input[type=password], input[type=number], textarea, select");
  if ($("review").hidden || $("item").hidden || typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  if (key === "a") { ev.preventDefault(); save(true); }
  else if (key === "s") { ev.preventDefault(); save(false); }
  else if (key === "n") { ev.preventDefault(); $("skip").click(); }
  else if (/^[1-9]$/.test(key)) {
    const box = boxes(queue.head)[Number(key) - 1];
    if (box) { ev.preventDefault(); box.click(); box.focus(); }
  }
});

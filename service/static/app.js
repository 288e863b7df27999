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

function say(message, kind = "info") {
  // Errors in red; anything else in the page's neutral colour, gone with the next item.
  $("status").textContent = message;
  $("status").className = kind;
}

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

const COLOURS = 8;  // app.css has classes c0..c7: one per label, and its number besides

function highlight(container, text, marked) {
  // Marks each occurrence of an explanation term in the colour of its (first) label and
  // with the numbers of all its labels (data-key, shown by the style sheet): the label is
  // readable without telling colours apart. The pieces are text nodes.
  container.replaceChildren();
  const keys = new Map();  // term, lower case and spaces collapsed -> label numbers
  for (const {term, key} of marked) {
    if (!term.trim()) continue;
    const norm = term.toLowerCase().replace(/\s+/g, " ");
    if (!keys.has(norm)) keys.set(norm, []);
    if (!keys.get(norm).includes(key)) keys.get(norm).push(key);
  }
  const words = [...keys.keys()].sort((a, b) => b.length - a.length);
  if (!words.length) { container.textContent = text; return; }
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/ /g, "\\s+"));
  const pattern = new RegExp("\\b(" + escaped.join("|") + ")\\b", "gi");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const labels = keys.get(match[0].toLowerCase().replace(/\s+/g, " ")) || [];
    container.append(document.createTextNode(text.slice(last, match.index)));
    const mark = el("mark", match[0], labels.length ? "c" + ((labels[0] - 1) % COLOURS) : "");
    mark.dataset.key = labels.join(",");
    container.append(mark);
    last = match.index + match[0].length;
  }
  container.append(document.createTextNode(text.slice(last)));
}

function clearAnswer() {
  $("try-result").hidden = true;
  for (const id of ["warnings", "tags", "legend", "highlighted", "similar"]) $(id).replaceChildren();
}

function documentLink(id, text) {
  // A link to open the document in the Review tab (#doc=<id>), by mouse or keyboard.
  const link = el("a", text);
  link.href = "#doc=" + encodeURIComponent(id);
  link.onclick = () => { if (location.hash === link.getAttribute("href")) openDocument(id); };
  return link;
}

async function tryIt(ev) {
  ev.preventDefault();
  const title = $("try-title").value, text = $("try-text").value;
  say("tagging…");
  clearAnswer();
  try {
    const answer = await api("POST", "/v1/tag", {title: title || null, text, explain: true});
    // The answer's warnings (text that does not look like English) come before its labels.
    for (const warning of answer.warnings || []) $("warnings").append(el("li", warning));
    const tags = $("tags");
    tags.replaceChildren();
    $("legend").replaceChildren();
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
        const key = $("legend").children.length + 1;
        const entry = el("li", undefined, "c" + ((key - 1) % COLOURS));
        entry.dataset.key = String(key);
        entry.append(el("span", `${label} (${head.name})`, "legend-label"));
        $("legend").append(entry);
        why.forEach((t) => terms.push({term: t.term, key}));
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
      const heading = el("strong");
      heading.append(documentLink(r.id, r.title || r.id));
      item.append(heading, el("span", ` ${r.score.toFixed(3)}`, "score"));
      const labels = HEADS.map((h) => [].concat(r[h.name] || []).join(", ")).join(" · ");
      item.append(el("div", labels, "meta"));
      item.append(el("div", "shared: " + r.shared_terms.map((t) => t.term).join(", "), "terms"));
      list.append(item);
    }
    if (!similar.results.length) list.append(el("li", "no similar article with these filters"));
    $("try-result").hidden = false;
    say("");
  } catch (err) {
    clearAnswer();  // no answer of an earlier text left standing beside this one's error
    say("Error: " + err.message, "error");
  }
}
$("try-form").onsubmit = tryIt;
$("try-text").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) $("try-form").requestSubmit();
});

document.addEventListener("keydown", (ev) => {
  if (ev.altKey && (ev.key === "1" || ev.key === "2")) {
    ev.preventDefault();
    $(ev.key === "1" ? "tab-try" : "tab-review").click();
  }
});

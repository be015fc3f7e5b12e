// factcheck popup: starts a check in the target tab and lists its claims as they are judged.
// The target is the active tab, or ?tab=ID (used by tests, which open the popup page in a tab).
"use strict";

const MARK = { supported: "✓", contradicted: "✗", unverified: "?" };
const LABEL = { supported: "Supported", contradicted: "Contradicted", unverified: "Unverified" };
const $ = (id) => document.getElementById(id);
let tabId = null;

async function targetTab() {
  const p = new URLSearchParams(location.search).get("tab");
  if (p && /^\d+$/.test(p)) return Number(p);
  const [t] = await chrome.tabs.query({ active: true, currentWindow: true });
  return t ? t.id : null;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function statusText(state) {
  if (!state) return ["idle", "Not checked yet."];
  const n = state.total || (state.claims || []).length;
  switch (state.status) {
    case "starting":
    case "extracting":
      return ["extracting", "Reading the page…"];
    case "checking":
      return ["checking", `Checking claims: ${state.done || 0} of ${n} done…`];
    case "done":
      return ["done", `${n} claim${n === 1 ? "" : "s"} checked.`];
    case "error":
      return ["error", (state.error && state.error.message) || "Something went wrong."];
    default:
      return ["idle", "Not checked yet."];
  }
}

function render(state) {
  const [kind, text] = statusText(state);
  const status = $("status");
  status.dataset.state = kind;
  status.dataset.kind = state && state.error ? state.error.kind : "";
  status.textContent = text;
  const busy = kind === "extracting" || kind === "checking";
  $("check-page").disabled = busy;
  $("check-selection").disabled = busy;
  const notice = $("notice");
  notice.hidden = !(state && state.notice);
  notice.textContent = (state && state.notice) || "";
  const progress = $("progress");
  progress.hidden = !busy;
  progress.max = Math.max(1, (state && state.total) || 1);
  progress.value = (state && state.done) || 0;
  if (kind === "extracting") progress.removeAttribute("value"); // indeterminate while extracting
  const list = $("claims");
  list.replaceChildren();
  for (const c of (state && state.claims) || []) {
    const li = el("li");
    li.dataset.claimId = c.id;
    const label = c.reviewed_label || c.label; // a person's review, when the server's record has one, is published
    li.dataset.label = label || c.status;
    li.tabIndex = 0;
    const head = el("span", "head");
    if (label) {
      head.append(el("span", `mk ${label}`, MARK[label] || "?"), el("span", "label", LABEL[label] || label));
      if (c.reviewed_label) head.append(el("span", "confidence", "reviewed"));
      else if (typeof c.confidence === "number") head.append(el("span", "confidence", `${Math.round(c.confidence * 100)}%`));
    } else {
      head.append(el("span", "mk", c.status === "error" ? "!" : "…"),
                  el("span", "label", c.status === "error" ? "Error" : "Checking"));
    }
    li.append(head, el("span", "text", c.text));
    const src = [c.source, c.title].filter((x) => x).join(" · ");
    if (src) li.append(el("span", "source", src));
    if (c.error) li.append(el("span", "source", c.error));
    const reveal = () => chrome.runtime.sendMessage({ type: "reveal", tabId, claimId: c.id });
    li.addEventListener("click", reveal);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); reveal(); } });
    list.append(li);
  }
}

async function refresh() {
  const key = `tab:${tabId}`;
  const got = await chrome.storage.session.get(key);
  let state = got[key] || null;
  if (!state) {
    const { apiBase } = await chrome.storage.local.get("apiBase");
    if (!apiBase) state = { status: "error", error: { kind: "no_api", message: "No API configured. Set the API URL in Options." } };
  }
  render(state);
}

async function start(mode) {
  if (tabId === null) return;
  render({ status: "starting", claims: [] });
  const res = await chrome.runtime.sendMessage({ type: "run", tabId, mode, clickedAt: Date.now() });
  if (res && !res.ok) await refresh();
}

document.addEventListener("DOMContentLoaded", async () => {
  tabId = await targetTab();
  $("check-page").addEventListener("click", () => start("page"));
  $("check-selection").addEventListener("click", () => start("selection"));
  $("clear").addEventListener("click", async () => {
    await chrome.runtime.sendMessage({ type: "clear", tabId });
    render(null);
  });
  $("open-options").addEventListener("click", (e) => {
    e.preventDefault();
    chrome.runtime.openOptionsPage();
  });
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "session" && changes[`tab:${tabId}`]) render(changes[`tab:${tabId}`].newValue || null);
    if (area === "local" && changes.apiBase) refresh();
  });
  if (tabId === null) {
    render({ status: "error", error: { kind: "no_tab", message: "No tab to check." } });
    return;
  }
  await refresh();
});

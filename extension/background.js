// factcheck extension: service worker (Chrome) / event page (Firefox).
// Owns the API key and every call to the factcheck server: content scripts and the popup ask it by
// message. Fetches from here carry the extension's origin and, with a host permission for the API
// origin, are not subject to the page's CORS rules.
"use strict";

const DEFAULTS = Object.freeze({
  apiBase: "",       // e.g. http://127.0.0.1:8000
  apiKey: "",        // sent as X-API-Key
  autoCheck: false,  // check every page on load (needs a host permission for the page)
  useAsOf: true,     // send the page's publication date as as_of
  maxClaims: 15,     // max_claims for /extract (server caps at 50)
  concurrency: 3,    // parallel /check calls per page
});
const API_PATHS = new Set(["/extract", "/check"]);
const REQUEST_TIMEOUT_MS = 120_000;
const MAX_RETRIES_429 = 3;
const MENU_ID = "fcx-check-selection";

const stateKey = (tabId) => `tab:${tabId}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getConfig() {
  const stored = await chrome.storage.local.get(Object.keys(DEFAULTS));
  const cfg = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (stored[k] !== undefined && stored[k] !== null) cfg[k] = stored[k];
  cfg.maxClaims = Math.max(1, Math.min(50, Number(cfg.maxClaims) || DEFAULTS.maxClaims));
  cfg.concurrency = Math.max(1, Math.min(4, Number(cfg.concurrency) || DEFAULTS.concurrency));
  return cfg;
}

/** The http(s) origin of the configured API base, or null when none or malformed. */
function apiOrigin(base) {
  if (!base) return null;
  try {
    const u = new URL(base);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : null;
  } catch {
    return null;
  }
}

async function hasHostPermission(origin) {
  try {
    return await chrome.permissions.contains({ origins: [`${origin}/*`] });
  } catch {
    return false;
  }
}

const KIND_FOR_STATUS = { 401: "key_refused", 403: "key_refused", 413: "too_large", 422: "bad_input", 429: "overloaded" };

/**
 * One API call. Never throws: {ok: true, status, data} or {ok: false, kind, status?, code?, message}.
 * kind: no_api | no_permission | unreachable | key_refused | cors_refused | too_large | bad_input |
 *       overloaded | unavailable | http_error
 */
async function apiCall(path, body) {
  const cfg = await getConfig();
  const origin = apiOrigin(cfg.apiBase);
  if (!origin) return { ok: false, kind: "no_api", message: "No API configured. Set the API URL in the options." };
  const url = cfg.apiBase.replace(/\/+$/, "") + path;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (cfg.apiKey) headers["X-API-Key"] = cfg.apiKey;
  for (let attempt = 0; ; attempt++) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    let resp;
    let data = null;
    try {
      resp = await fetch(url, {
        method: body === undefined ? "GET" : "POST",
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal,
        credentials: "omit",
        cache: "no-store",
        redirect: "error",
      });
      try {
        data = await resp.json();
      } catch {
        data = null;
      }
    } catch (err) {
      clearTimeout(timer);
      if (ctl.signal.aborted) {
        return { ok: false, kind: "unreachable", origin,
                 message: `No answer from ${origin} within ${REQUEST_TIMEOUT_MS / 1000} s.` };
      }
      const granted = await hasHostPermission(origin);
      return granted
        ? { ok: false, kind: "unreachable", origin, message: `API unreachable at ${origin}. Is the server running?` }
        : { ok: false, kind: "no_permission", origin,
            message: `No permission to reach ${origin}. Open the options and save to grant it.` };
    }
    clearTimeout(timer);
    if (resp.ok) return { ok: true, status: resp.status, data };
    const err = (data && typeof data === "object" && data.error) || {};
    if (resp.status === 429 && attempt < MAX_RETRIES_429) {
      const wait = Math.min(15, Math.max(1, Number(resp.headers.get("Retry-After")) || 1));
      await sleep(wait * 1000);
      continue;
    }
    let kind = KIND_FOR_STATUS[resp.status] || (resp.status >= 500 ? "unavailable" : "http_error");
    if (resp.status === 403 && err.code === "cors_refused") kind = "cors_refused";
    const message = kind === "key_refused"
      ? `API key refused by ${origin} (HTTP ${resp.status}). Check the key in the options.`
      : `${typeof err.message === "string" ? err.message : "HTTP error"} (HTTP ${resp.status})`;
    return { ok: false, kind, status: resp.status, code: typeof err.code === "string" ? err.code : undefined, message };
  }
}

async function setState(tabId, state) {
  await chrome.storage.session.set({ [stateKey(tabId)]: { ...state, tabId, updatedAt: Date.now() } });
  let text = "";
  if (state.status === "error") text = "!";
  else if (state.status === "checking" || state.status === "extracting" || state.status === "starting") text = "…";
  else if (state.status === "done") text = String((state.claims || []).length);
  try {
    await chrome.action.setBadgeText({ tabId, text });
    if (text) await chrome.action.setBadgeBackgroundColor({ tabId, color: state.status === "error" ? "#D55E00" : "#0072B2" });
  } catch {
    /* tab gone */
  }
}

async function clearState(tabId) {
  await chrome.storage.session.remove(stateKey(tabId));
  try {
    await chrome.action.setBadgeText({ tabId, text: "" });
  } catch {
    /* tab gone */
  }
}

async function ensureInjected(tabId, frameId) {
  const target = { tabId, frameIds: [frameId] };
  const [probe] = await chrome.scripting.executeScript({ target, func: () => !!globalThis.__factcheckExt });
  if (probe && probe.result) return;
  // USER origin: our !important rules win over the page's, and nothing is added to the page's DOM.
  await chrome.scripting.insertCSS({ target, files: ["highlight.css"], origin: "USER" });
  await chrome.scripting.executeScript({ target, files: ["content.js"] });
}

/** Inject the content script into one frame of a tab and start a check there (page or selection). */
async function startRun(tabId, { frameId = 0, mode = "page", clickedAt = Date.now(), notify = false } = {}) {
  const base = { mode, clickedAt, claims: [] };
  const cfg = await getConfig();
  if (!apiOrigin(cfg.apiBase)) {
    const error = { kind: "no_api", message: "No API configured. Set the API URL in the options." };
    await setState(tabId, { ...base, status: "error", error });
    return { ok: false, ...error };
  }
  try {
    await ensureInjected(tabId, frameId);
  } catch (e) {
    const error = { kind: "restricted", message: `This page can't be checked (${e && e.message ? e.message : e}).` };
    await setState(tabId, { ...base, status: "error", error });
    return { ok: false, ...error };
  }
  await setState(tabId, { ...base, status: "starting" });
  try {
    await chrome.tabs.sendMessage(tabId, { type: "fcx-run", mode, clickedAt, notify }, { frameId });
  } catch (e) {
    const error = { kind: "restricted", message: `The page did not answer (${e && e.message ? e.message : e}).` };
    await setState(tabId, { ...base, status: "error", error });
    return { ok: false, ...error };
  }
  return { ok: true };
}

async function testConnection() {
  const health = await apiCall("/health");
  if (!health.ok) return health;
  // /health is open; a tiny /extract proves the key (no model work for a one-line text).
  const probe = await apiCall("/extract", { text: "Connection test from the factcheck extension.", max_claims: 1 });
  if (!probe.ok) return probe;
  const h = health.data || {};
  return { ok: true, status: h.status, version: h.version, judge: h.judge && `${h.judge.name}/${h.judge.version}` };
}

async function handleMessage(msg, sender) {
  if (!msg || typeof msg !== "object") return { ok: false, kind: "error", message: "bad message" };
  switch (msg.type) {
    case "api": // from a content script
      if (!API_PATHS.has(msg.path)) return { ok: false, kind: "error", message: "path not allowed" };
      return apiCall(msg.path, msg.body);
    case "config": {
      const cfg = await getConfig();
      return { ok: true, configured: !!apiOrigin(cfg.apiBase), apiOrigin: apiOrigin(cfg.apiBase),
               apiBase: apiOrigin(cfg.apiBase) ? cfg.apiBase.replace(/\/+$/, "") : null,
               useAsOf: !!cfg.useAsOf, maxClaims: cfg.maxClaims, concurrency: cfg.concurrency };
    }
    case "state": // progress from a content script
      if (sender.tab && sender.tab.id >= 0) await setState(sender.tab.id, msg.state);
      return { ok: true };
    case "run": // from the popup
      return startRun(Number(msg.tabId), { mode: msg.mode === "selection" ? "selection" : "page",
                                           clickedAt: Number(msg.clickedAt) || Date.now() });
    case "clear":
    case "reveal": {
      const tabId = Number(msg.tabId);
      if (msg.type === "clear") await clearState(tabId);
      try {
        await chrome.tabs.sendMessage(tabId, { type: `fcx-${msg.type}`, claimId: msg.claimId });
      } catch {
        /* no content script in that tab: nothing to clear */
      }
      return { ok: true };
    }
    case "test":
      return testConnection();
    default:
      return { ok: false, kind: "error", message: `unknown message ${String(msg.type)}` };
  }
}

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id) return false;
  handleMessage(msg, sender).then(sendResponse, (e) =>
    sendResponse({ ok: false, kind: "error", message: String((e && e.message) || e) }));
  return true; // answer asynchronously
});

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: MENU_ID, title: "Fact-check selection", contexts: ["selection"] }, () => {
    void chrome.runtime.lastError; // already exists after an update
  });
});

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId !== MENU_ID || !tab || !(tab.id >= 0)) return;
  startRun(tab.id, { frameId: info.frameId || 0, mode: "selection", notify: true });
});

chrome.tabs.onUpdated.addListener(async (tabId, info, tab) => {
  if (info.status === "loading") {
    await clearState(tabId); // a new document: old highlights are gone
    return;
  }
  if (info.status !== "complete" || !tab.url || !/^https?:/.test(tab.url)) return;
  const cfg = await getConfig();
  const api = apiOrigin(cfg.apiBase);
  if (!cfg.autoCheck || !api) return;
  const origin = new URL(tab.url).origin;
  if (origin === api || !(await hasHostPermission(origin))) return;
  startRun(tabId, { mode: "page", notify: false });
});

chrome.tabs.onRemoved.addListener((tabId) => {
  chrome.storage.session.remove(stateKey(tabId));
});

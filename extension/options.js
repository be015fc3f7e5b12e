// factcheck options: API base URL and key, auto-check, as_of from the page date.
"use strict";

const DEFAULTS = { apiBase: "", apiKey: "", autoCheck: false, useAsOf: true, maxClaims: 15 };
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const ALL_SITES = ["http://*/*", "https://*/*"];
const $ = (id) => document.getElementById(id);

function say(text, ok) {
  $("result").textContent = text;
  $("result").dataset.ok = String(ok);
}

/** Normalised base URL (no trailing slash) or null. */
function parseBase(raw) {
  const v = raw.trim();
  if (!v) return "";
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
    if (u.username || u.password || u.search || u.hash) return null;
    return (u.origin + u.pathname).replace(/\/+$/, "");
  } catch {
    return null;
  }
}

async function load() {
  const cfg = { ...DEFAULTS, ...(await chrome.storage.local.get(Object.keys(DEFAULTS))) };
  $("apiBase").value = cfg.apiBase;
  $("apiKey").value = cfg.apiKey;
  $("autoCheck").checked = !!cfg.autoCheck;
  $("useAsOf").checked = !!cfg.useAsOf;
  $("maxClaims").value = cfg.maxClaims;
  document.documentElement.dataset.loaded = "true";
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const base = parseBase($("apiBase").value);
  if (base === null) {
    say("The API URL must be an http(s) URL like http://127.0.0.1:8000 (no user, query or fragment).", false);
    return;
  }
  // Ask for host permissions synchronously inside the click (a user gesture is required).
  const wanted = [];
  if (base) {
    const u = new URL(base);
    if (!LOOPBACK.has(u.hostname)) wanted.push(`${u.origin}/*`);
  }
  if ($("autoCheck").checked) wanted.push(...ALL_SITES);
  const asked = wanted.length ? chrome.permissions.request({ origins: wanted }) : Promise.resolve(true);
  asked.then(async (granted) => {
    let autoCheck = $("autoCheck").checked;
    if (!granted) {
      if (autoCheck) autoCheck = $("autoCheck").checked = false;
      say("Permission not granted: the extension cannot reach that API (and auto-check stays off).", false);
    }
    const maxClaims = Math.max(1, Math.min(50, Math.round(Number($("maxClaims").value) || DEFAULTS.maxClaims)));
    await chrome.storage.local.set({
      apiBase: base, apiKey: $("apiKey").value.trim(), autoCheck, useAsOf: $("useAsOf").checked, maxClaims,
    });
    $("apiBase").value = base;
    $("maxClaims").value = maxClaims;
    if (granted) say(base ? "Saved." : "Saved. No API configured: checks are off until you set one.", true);
  }, (err) => say(`Could not request permission: ${err && err.message ? err.message : err}`, false));
});

$("test").addEventListener("click", async () => {
  say("Testing the saved settings…", true);
  const res = await chrome.runtime.sendMessage({ type: "test" });
  if (res && res.ok) say(`Connected: server ${res.version || "?"}, judge ${res.judge || "?"}, index ${res.status}. Key accepted.`, true);
  else say((res && res.message) || "No answer.", false);
});

load();

// factcheck extension: content script, injected on demand (never declared for all pages).
// Builds a plain-text model of the page's main text with a character map back to DOM text nodes,
// sends the text to the API (through the service worker), maps each returned sentence's offsets
// back to DOM ranges and wraps them in <fcx-hl> elements. Every DOM change is logged so that
// "clear" restores the page's original nodes exactly. API text only ever reaches the DOM through
// textContent / attributes, never as HTML.
(() => {
  "use strict";
  if (globalThis.__factcheckExt) return;

  const HL = "fcx-hl";
  const HOST = "fcx-ui-host";
  const MAX_CHARS = 50_000;   // the server's default max_extract_chars
  const MAX_BODY_BYTES = 60_000; // the server's default max_body_bytes is 64,000; leave room for the rest
  const SELECTION_AS_CLAIM = 1_000; // a selection up to this long is checked as one claim (max_claim_chars)
  const LABELS = {
    supported: { marker: "✓", text: "Supported" },
    contradicted: { marker: "✗", text: "Contradicted" },
    unverified: { marker: "?", text: "Unverified" },
  };

  const SKIP_TAGS = new Set([
    "SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TEXTAREA", "INPUT", "SELECT", "OPTION", "BUTTON", "SVG",
    "MATH", "IFRAME", "FRAME", "FRAMESET", "OBJECT", "EMBED", "CANVAS", "VIDEO", "AUDIO", "NAV", "ASIDE",
    "FOOTER", "DIALOG", "HEAD", "MENU", "FCX-HL", "FCX-UI-HOST", // not FORM: some sites wrap the whole page in one
  ]);
  const SKIP_ROLES = new Set(["navigation", "complementary", "contentinfo", "banner", "search", "dialog",
                              "alertdialog", "menu", "menubar", "toolbar"]);
  const CLUTTER = /(?:^|[\s_-])(?:comments?|comment-list|commentlist|disqus|repl(?:y|ies)|respond|share|sharing|social|newsletter|subscribe|subscription|related|recommended|promo|advert(?:isement)?|ads?|sponsored|cookie|consent|sidebar|widget|menu|breadcrumbs?|popup|modal|masthead|site-footer|site-header|skip-link|byline-share|paywall)(?:$|[\s_-])/i;
  const BLOCK_TAGS = new Set([
    "ADDRESS", "ARTICLE", "BLOCKQUOTE", "BODY", "DD", "DETAILS", "DIV", "DL", "DT", "FIELDSET", "FIGCAPTION",
    "FIGURE", "H1", "H2", "H3", "H4", "H5", "H6", "HEADER", "HR", "LI", "MAIN", "OL", "P", "PRE", "SECTION",
    "SUMMARY", "TABLE", "TBODY", "TD", "TFOOT", "TH", "THEAD", "TR", "UL", "CAPTION", "HTML",
  ]);
  const INVISIBLE = /[\u00AD\u200B-\u200D\u2060\uFEFF]/; // soft hyphen and zero-width characters
  const SPACE = /[\s\u00A0]/;

  // ---------------------------------------------------------------- text model

  function pText(el) {
    let n = 0;
    for (const p of el.querySelectorAll("p")) n += p.textContent.length;
    return n;
  }

  /** The element holding the main text: the biggest <article>, else <main>, else <body>. */
  function mainRoot() {
    const body = document.body || document.documentElement;
    let bestArticle = null;
    let bestArticleLen = 0;
    for (const a of document.querySelectorAll("article, [itemprop='articleBody']")) {
      const n = pText(a);
      if (n > bestArticleLen) [bestArticle, bestArticleLen] = [a, n];
    }
    const main = document.querySelector("main, [role='main']");
    const mainLen = main ? pText(main) : 0;
    if (bestArticle && bestArticleLen >= 200 && bestArticleLen >= 0.5 * mainLen) return bestArticle;
    if (main && mainLen >= 200) return main;
    return bestArticle && bestArticleLen > 0 ? bestArticle : body;
  }

  function isClutter(el, root) {
    if (SKIP_TAGS.has(el.tagName.toUpperCase())) return true;
    if (el.hidden || el.getAttribute("aria-hidden") === "true" || el.inert) return true;
    const role = el.getAttribute("role");
    if (role && SKIP_ROLES.has(role)) return true;
    if (el.tagName === "HEADER" && !el.closest("article")) return true;
    if (el !== root) {
      const cls = typeof el.className === "string" ? el.className : "";
      if (CLUTTER.test(cls) || CLUTTER.test(el.id || "")) return true;
    }
    if (typeof el.checkVisibility === "function" && !el.checkVisibility({ visibilityProperty: true })) return true;
    return false;
  }

  function blockOf(node, root, cache) {
    let el = node.parentElement;
    const start = el;
    if (cache.has(start)) return cache.get(start);
    while (el && el !== root && !BLOCK_TAGS.has(el.tagName)) el = el.parentElement;
    const block = el || root;
    cache.set(start, block);
    return block;
  }

  /**
   * Plain text of `root` (optionally only inside `range`) with whitespace collapsed, blocks on their
   * own lines, and for every text node the text offset it starts at and a per-character map back to
   * offsets in that node. Stops collecting once `limit` characters are exceeded.
   */
  function buildModel(root, { range = null, limit = Infinity } = {}) {
    const out = [];
    let len = 0;
    const segs = [];
    let lastSpace = true;
    let lastBlock = null;
    let pendingBreak = false;
    let truncated = false;
    const blockCache = new Map();
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode(n) {
        if (n.nodeType === Node.ELEMENT_NODE) {
          if (n !== root && isClutter(n, root)) return NodeFilter.FILTER_REJECT;
          return NodeFilter.FILTER_ACCEPT;
        }
        if (range && !range.intersectsNode(n)) return NodeFilter.FILTER_SKIP;
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    const newline = () => {
      if (len > 0 && out[out.length - 1] !== "\n") {
        out.push("\n");
        len += 1;
      }
      lastSpace = true;
    };
    for (let n = walker.currentNode; n; n = walker.nextNode()) {
      if (n.nodeType === Node.ELEMENT_NODE) {
        if (n.tagName === "BR" || n.tagName === "HR") pendingBreak = true;
        continue;
      }
      const data = n.data;
      let from = 0;
      let to = data.length;
      if (range) {
        if (n === range.startContainer) from = range.startOffset;
        if (n === range.endContainer) to = range.endOffset;
      }
      const block = blockOf(n, root, blockCache);
      if (pendingBreak || (lastBlock && block !== lastBlock)) newline();
      pendingBreak = false;
      lastBlock = block;
      const map = [];
      const segStart = len;
      let chunk = "";
      for (let i = from; i < to; i++) {
        const c = data[i];
        if (SPACE.test(c)) {
          if (lastSpace) continue;
          chunk += " ";
          lastSpace = true;
        } else if (INVISIBLE.test(c)) {
          continue;
        } else {
          chunk += c;
          lastSpace = false;
        }
        map.push(i);
      }
      if (map.length) {
        out.push(chunk);
        len += chunk.length;
        segs.push({ node: n, start: segStart, map });
      }
      if (len > limit) {
        truncated = true;
        break;
      }
    }
    return { text: out.join(""), segs, truncated };
  }

  /** Cut `text` to at most `maxChars` characters (and a JSON body under MAX_BODY_BYTES), at a line or sentence end. */
  function cutText(text, maxChars) {
    const enc = new TextEncoder();
    let limit = Math.min(maxChars, text.length);
    for (;;) {
      let cut = text.slice(0, limit);
      if (limit < text.length) {
        const nl = cut.lastIndexOf("\n");
        const dot = Math.max(cut.lastIndexOf(". "), cut.lastIndexOf("! "));
        const at = Math.max(nl, dot + 1);
        if (at > limit * 0.5) cut = cut.slice(0, at);
      }
      const bytes = enc.encode(JSON.stringify({ text: cut, max_claims: 50 })).length;
      if (bytes <= MAX_BODY_BYTES || limit < 1000) return cut;
      limit = Math.floor(limit * (MAX_BODY_BYTES / bytes) * 0.97);
    }
  }

  /** DOM pieces [{node, from, to}] (original text nodes, offsets in their original data) for text[start:end). */
  function piecesFor(model, start, end) {
    const segs = model.segs;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) { // last segment starting at or before `start`
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid].start <= start) lo = mid;
      else hi = mid - 1;
    }
    const pieces = [];
    for (let i = lo; i < segs.length && segs[i].start < end; i++) {
      const s = segs[i];
      const a = Math.max(start, s.start) - s.start;
      const b = Math.min(end, s.start + s.map.length) - s.start;
      if (a < b) pieces.push({ node: s.node, from: s.map[a], to: s.map[b - 1] + 1 });
    }
    return pieces;
  }

  // ---------------------------------------------------------------- DOM edits with an undo log

  let undo = [];            // [{kind: "split", node, next} | {kind: "wrap", mark, node}]
  let fragments = new Map(); // original text node -> [{node, off}] sorted by off

  function fragsOf(orig) {
    let f = fragments.get(orig);
    if (!f) {
      f = [{ node: orig, off: 0 }];
      fragments.set(orig, f);
    }
    return f;
  }

  function findFrag(frags, x) {
    let k = 0;
    while (k + 1 < frags.length && frags[k + 1].off <= x) k++;
    return k;
  }

  function splitAt(orig, x) {
    const frags = fragsOf(orig);
    const k = findFrag(frags, x);
    const f = frags[k];
    const local = x - f.off;
    if (local <= 0 || local >= f.node.data.length) return;
    const next = f.node.splitText(local);
    frags.splice(k + 1, 0, { node: next, off: x });
    undo.push({ kind: "split", node: f.node, next });
  }

  /** Wrap each piece in an <fcx-hl>; returns the created elements (empty if the text changed). */
  function wrapPieces(pieces) {
    for (const p of pieces) { // every fragment of the range must still be in the page and not yet wrapped
      const frags = fragsOf(p.node);
      for (let k = findFrag(frags, p.from); k < frags.length && frags[k].off < p.to; k++) {
        const n = frags[k].node;
        if (!n.isConnected || n.parentElement?.closest(HL)) return [];
      }
    }
    const marks = [];
    for (const p of pieces) {
      splitAt(p.node, p.from);
      splitAt(p.node, p.to);
      const frags = fragsOf(p.node);
      const f = frags[findFrag(frags, p.from)];
      if (!f.node.parentNode) continue;
      const mark = document.createElement(HL);
      f.node.parentNode.insertBefore(mark, f.node);
      mark.appendChild(f.node);
      undo.push({ kind: "wrap", mark, node: f.node });
      marks.push(mark);
    }
    return marks;
  }

  function restoreDom() {
    for (let i = undo.length - 1; i >= 0; i--) {
      const u = undo[i];
      try {
        if (u.kind === "wrap") {
          if (u.mark.parentNode) {
            u.mark.parentNode.insertBefore(u.node, u.mark);
            u.mark.remove();
          }
        } else if (u.next.parentNode && u.next.previousSibling === u.node) {
          u.node.appendData(u.next.data);
          u.next.remove();
        }
      } catch {
        /* the page changed that node meanwhile; leave it */
      }
    }
    undo = [];
    fragments = new Map();
  }

  // ---------------------------------------------------------------- UI: card and toast in a shadow root

  let host = null;
  let shadow = null;
  let card = null;
  let toastEl = null;
  let cardFor = null;
  let hideTimer = 0;
  let recordBase = null; // the API's base URL, for links to a verdict's stored record

  const CARD_CSS = `
    :host { all: initial; }
    .card { position: fixed; z-index: 2147483647; max-width: min(420px, calc(100vw - 16px)); box-sizing: border-box;
      background: #fff; color: #1a1a1a; border: 1px solid #767676; border-radius: 8px; padding: 10px 12px;
      box-shadow: 0 4px 18px rgba(0,0,0,.25); font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      text-align: left; white-space: normal; }
    .card[hidden], .toast[hidden] { display: none; }
    .verdict { font-weight: 700; display: flex; gap: 6px; align-items: baseline; }
    .badge { display: inline-block; min-width: 1.4em; text-align: center; border-radius: 4px; color: #fff; padding: 0 4px; }
    .supported .badge { background: #0072B2; }
    .contradicted .badge { background: #D55E00; }
    .unverified .badge { background: #595959; }
    .conf { font-weight: 400; color: #444; }
    .reviewed { font-weight: 400; font-size: 12.5px; border: 1px solid #767676; border-radius: 4px; padding: 0 4px; }
    .review-note { margin: 6px 0; padding: 4px 8px; background: #f3f3f3; border-radius: 4px; }
    .explanation { margin: 6px 0; color: #333; }
    .parts { margin: 6px 0; padding-left: 0; list-style: none; }
    .part { margin: 2px 0; }
    .part .badge { font-size: 12px; }
    .cite { border-top: 1px solid #ddd; margin-top: 8px; padding-top: 6px; }
    blockquote { margin: 4px 0; padding: 2px 8px; border-left: 3px solid #999; font-style: italic; }
    .meta { color: #444; font-size: 12.5px; }
    a { color: #0b57d0; }
    a:focus-visible, .card:focus-visible { outline: 2px solid #0b57d0; outline-offset: 2px; }
    .toast { position: fixed; z-index: 2147483647; right: 16px; bottom: 16px; max-width: 360px; background: #1a1a1a;
      color: #fff; padding: 10px 14px; border-radius: 8px; font: 14px/1.4 system-ui, sans-serif; }
  `;

  function ensureHost() {
    if (host && host.isConnected) return;
    host = document.createElement(HOST);
    host.setAttribute("style", "all: initial !important; position: fixed !important; top: 0 !important; left: 0 !important; width: 0 !important; height: 0 !important; z-index: 2147483647 !important;");
    shadow = host.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = CARD_CSS;
    card = document.createElement("div");
    card.className = "card";
    card.hidden = true;
    card.tabIndex = -1;
    card.setAttribute("role", "dialog");
    card.setAttribute("aria-label", "Fact-check verdict");
    card.addEventListener("mouseenter", () => clearTimeout(hideTimer));
    card.addEventListener("mouseleave", () => scheduleHide());
    card.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        const back = cardFor;
        hideCard();
        back?.focus();
      }
    });
    card.addEventListener("focusout", (e) => {
      if (!card.contains(e.relatedTarget) && e.relatedTarget !== cardFor) scheduleHide();
    });
    toastEl = document.createElement("div");
    toastEl.className = "toast";
    toastEl.hidden = true;
    toastEl.setAttribute("role", "status");
    shadow.append(style, card, toastEl);
    // Outside <body>: the page's own content is untouched by the UI.
    document.documentElement.appendChild(host);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function safeUrl(u) {
    try {
      const url = new URL(String(u));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  // The label readers see: a person's review when the server's record has one, else the model's.
  function publishedLabel(v) {
    if (LABELS[v?.reviewed_label]) return v.reviewed_label;
    return LABELS[v?.label] ? v.label : "unverified";
  }

  function fillCard(claim) {
    const v = claim.verdict;
    const label = publishedLabel(v);
    const reviewed = !!LABELS[v.reviewed_label];
    card.replaceChildren();
    card.className = `card ${label}`;
    const head = el("div", "verdict");
    head.append(el("span", "badge", LABELS[label].marker), el("span", "label", LABELS[label].text));
    if (reviewed) head.append(el("span", "reviewed", "Reviewed"));
    else if (typeof v.confidence === "number") head.append(el("span", "conf", `${Math.round(v.confidence * 100)}% confidence`));
    card.append(head);
    if (reviewed) {
      if (v.review_note) card.append(el("p", "review-note", v.review_note));
      const model = LABELS[v.label] ? LABELS[v.label].text : v.label;
      card.append(el("p", "meta model-label", `Machine verdict: ${model}`));
    }
    if (v.explanation) card.append(el("p", "explanation", v.explanation));
    // A compound claim: each part with its own label, so the reader sees which part failed.
    const parts = Array.isArray(v.parts) ? v.parts.filter((p) => p && LABELS[p.label]) : [];
    if (parts.length) {
      const list = el("ul", "parts");
      for (const p of parts) {
        const item = el("li", `part ${p.label}`);
        item.append(el("span", "badge", LABELS[p.label].marker), document.createTextNode(` ${LABELS[p.label].text}: `));
        item.append(el("span", "part-text", String(p.text || "")));
        list.append(item);
      }
      card.append(list);
    }
    const cites = Array.isArray(v.citations) ? v.citations.slice(0, 2) : [];
    if (!cites.length) card.append(el("p", "meta", "No evidence passage was cited."));
    for (const c of cites) {
      const box = el("div", "cite");
      if (c.stance) box.append(el("div", "meta", `Evidence (${c.stance}):`));
      box.append(el("blockquote", "quote", c.quote));
      const meta = el("div", "meta");
      const bits = [c.source, c.title, c.published].filter((x) => x);
      meta.append(el("span", "source", bits.join(" · ") || c.article_id));
      const href = safeUrl(c.url);
      if (href) {
        meta.append(document.createTextNode(" "));
        const a = el("a", "evidence-link", "Open evidence");
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        meta.append(a);
      }
      box.append(meta);
      card.append(box);
    }
    const record = recordBase && typeof v.verdict_id === "string" && /^[A-Za-z0-9_-]+$/.test(v.verdict_id)
      ? safeUrl(`${recordBase}/verdicts/${v.verdict_id}`) : null;
    if (record) {
      const p = el("p", "meta");
      const a = el("a", "record-link", "Verdict record");
      a.href = record;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      p.append(a);
      card.append(p);
    }
  }

  function showCard(mark) {
    const claim = claimsById.get(mark.dataset.fcxId);
    if (!claim || !claim.verdict) return;
    ensureHost();
    clearTimeout(hideTimer);
    cardFor = claim.marks[0];
    fillCard(claim);
    card.hidden = false;
    const r = mark.getBoundingClientRect();
    const w = card.offsetWidth;
    const h = card.offsetHeight;
    const left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8));
    const below = r.bottom + 6;
    const top = below + h > window.innerHeight - 8 && r.top - h - 6 > 8 ? r.top - h - 6 : below;
    card.style.left = `${left}px`;
    card.style.top = `${Math.max(8, top)}px`;
  }

  function hideCard() {
    clearTimeout(hideTimer);
    if (card) card.hidden = true;
    cardFor = null;
  }

  function scheduleHide() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hideCard, 300);
  }

  function toast(message) {
    ensureHost();
    toastEl.textContent = message;
    toastEl.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { toastEl.hidden = true; }, 8000);
  }

  const markOf = (t) => (t instanceof Element ? t.closest(HL) : null);
  const listeners = {
    mouseover: (e) => { const m = markOf(e.target); if (m) showCard(m); },
    mouseout: (e) => {
      const m = markOf(e.target);
      if (m && !markOf(e.relatedTarget)) scheduleHide();
    },
    focusin: (e) => { const m = markOf(e.target); if (m) showCard(m); },
    focusout: (e) => {
      const m = markOf(e.target);
      if (m && !(e.relatedTarget && host && e.relatedTarget === host)) scheduleHide();
    },
    keydown: (e) => {
      const m = markOf(e.target);
      if (!m) return;
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        showCard(m);
        (card.querySelector("a") || card).focus();
      } else if (e.key === "Escape") {
        hideCard();
      }
    },
  };
  let listening = false;
  function listen(on) {
    if (on === listening) return;
    for (const [type, fn] of Object.entries(listeners)) {
      if (on) document.addEventListener(type, fn, true);
      else document.removeEventListener(type, fn, true);
    }
    listening = on;
  }

  // ---------------------------------------------------------------- checking

  let runId = 0;
  let claimsById = new Map();
  let state = null;

  function publicState() {
    return {
      ...state,
      claims: state.claims.map((c) => ({
        id: c.id, text: c.text, start: c.start, end: c.end, status: c.status, highlighted: c.marks.length > 0,
        label: c.verdict?.label ?? null, confidence: c.verdict?.confidence ?? null,
        reviewed_label: c.verdict?.reviewed_label ?? null, verdict_id: c.verdict?.verdict_id ?? null,
        source: c.verdict?.citations?.[0]?.source ?? null, title: c.verdict?.citations?.[0]?.title ?? null,
        quote: c.verdict?.citations?.[0]?.quote ?? null, url: safeUrl(c.verdict?.citations?.[0]?.url) ?? null,
        error: c.error ?? null,
      })),
    };
  }

  function report() {
    chrome.runtime.sendMessage({ type: "state", state: publicState() }).catch(() => {});
  }

  function clearAll() {
    runId++;
    hideCard();
    restoreDom();
    claimsById = new Map();
    state = null;
    listen(false);
    if (host) {
      host.remove();
      host = shadow = card = toastEl = null;
    }
  }

  function pageDate() {
    const sels = [
      "meta[property='article:published_time']", "meta[name='article:published_time']",
      "meta[itemprop='datePublished']", "meta[name='date']", "meta[name='pubdate']", "meta[name='DC.date.issued']",
    ];
    const vals = [];
    for (const s of sels) {
      const m = document.querySelector(s);
      if (m) vals.push(m.getAttribute("content"));
    }
    for (const t of document.querySelectorAll("[itemprop='datePublished'][datetime], article time[datetime], time[datetime]")) {
      vals.push(t.getAttribute("datetime"));
      break;
    }
    for (const v of vals) {
      if (!v) continue;
      const m = /^\s*(\d{4})-(\d{2})-(\d{2})/.exec(v);
      let iso = m ? `${m[1]}-${m[2]}-${m[3]}` : null;
      if (!iso) {
        const t = Date.parse(v);
        if (!Number.isNaN(t)) iso = new Date(t).toISOString().slice(0, 10);
      }
      if (!iso) continue;
      const t = Date.parse(`${iso}T00:00:00Z`);
      if (!Number.isNaN(t) && t <= Date.now() + 86_400_000 && iso >= "1900-01-01") return iso;
    }
    return null;
  }

  const api = (path, body) => chrome.runtime.sendMessage({ type: "api", path, body });
  const norm = (s) => s.replace(/\s+/g, " ").trim().toLowerCase();

  /** Extract claims, then check each unique claim with a few requests in flight, highlighting as they return. */
  async function run(mode, clickedAt, notify) {
    clearAll();
    const my = runId;
    const stale = () => my !== runId;
    state = { status: "extracting", mode, clickedAt, startedAt: Date.now(), firstHighlightAt: null,
              lastHighlightAt: null, claims: [], total: 0, done: 0, error: null, notice: null,
              sentChars: 0, pageChars: 0, asOf: null };
    const fail = (kind, message) => {
      if (stale()) return;
      state.status = "error";
      state.error = { kind, message };
      report();
      if (notify) toast(`factcheck: ${message}`);
    };
    report();

    const cfg = await chrome.runtime.sendMessage({ type: "config" });
    if (stale()) return;
    if (!cfg || !cfg.configured) return fail("no_api", "No API configured. Set the API URL in the options.");

    let model;
    if (mode === "selection") {
      const sel = window.getSelection();
      if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return fail("no_selection", "Select some text on the page first.");
      const range = sel.getRangeAt(0);
      const container = range.commonAncestorContainer;
      const root = container.nodeType === Node.ELEMENT_NODE ? container : container.parentElement;
      model = buildModel(root, { range, limit: MAX_CHARS * 2 });
    } else {
      model = buildModel(mainRoot(), { limit: MAX_CHARS * 2 });
    }
    const full = model.text;
    const text = cutText(full, MAX_CHARS);
    state.pageChars = full.length;
    state.pageTruncated = model.truncated;
    state.sentChars = text.length;
    if (text.length < full.length || model.truncated) {
      state.notice = `Long page: checked the first ${text.length.toLocaleString("en")} characters only.`;
    }
    if (!text.trim()) {
      return fail(mode === "selection" ? "no_selection" : "no_claims",
                  mode === "selection" ? "The selection has no text to check." : "No check-worthy sentences found on this page.");
    }
    const asOf = cfg.useAsOf ? pageDate() : null;
    const pageUrl = location.href.length <= 2000 && /^https?:/.test(location.href) ? location.href : null;
    recordBase = cfg.apiBase || null;
    state.asOf = asOf;

    let found;
    const trimmed = text.trim();
    if (mode === "selection" && trimmed.length <= SELECTION_AS_CLAIM) {
      const start = text.indexOf(trimmed);
      found = [{ text: trimmed, start, end: start + trimmed.length }];
    } else {
      const body = { text, max_claims: cfg.maxClaims };
      if (pageUrl) body.url = pageUrl;
      let res = await api("/extract", body);
      if (stale()) return;
      // A server with a smaller limit says so in its 422 message; retry once with its number.
      const lim = res && !res.ok && res.kind === "bad_input" && /limit is (\d+)/.exec(res.message || "");
      if (lim || (res && !res.ok && res.kind === "too_large")) {
        const smaller = cutText(text, lim ? Number(lim[1]) : Math.floor(text.length / 2));
        body.text = smaller;
        state.sentChars = smaller.length;
        state.notice = `Long page: checked the first ${smaller.length.toLocaleString("en")} characters only.`;
        res = await api("/extract", body);
        if (stale()) return;
      }
      if (!res || !res.ok) return fail(res?.kind || "error", res?.message || "The extension could not reach its service worker.");
      found = Array.isArray(res.data?.claims) ? res.data.claims : [];
    }

    // Keep only claims whose offsets point at exactly their text in what we sent.
    const claims = [];
    for (const c of found) {
      if (typeof c.start !== "number" || typeof c.end !== "number" || typeof c.text !== "string") continue;
      if (full.slice(c.start, c.end) !== c.text || !c.text.trim()) continue;
      claims.push({ id: `c${claims.length}`, text: c.text, start: c.start, end: c.end, status: "pending",
                    verdict: null, marks: [], error: null });
    }
    if (!claims.length) {
      return fail("no_claims",
                  mode === "selection" ? "No check-worthy claim in the selection." : "No check-worthy sentences found on this page.");
    }
    state.claims = claims;
    for (const c of claims) claimsById.set(c.id, c);
    state.total = claims.length;
    state.status = "checking";
    report();
    listen(true);

    // One request per distinct claim text; each answer highlights every occurrence.
    const groups = new Map();
    for (const c of claims) {
      const k = norm(c.text);
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(c);
    }
    const queue = [...groups.values()];
    let fatal = null;

    const apply = (group, res) => {
      for (const c of group) {
        if (!res.ok) {
          c.status = "error";
          c.error = res.message;
          continue;
        }
        c.verdict = res.data;
        c.status = "done";
        const label = publishedLabel(res.data);
        const marks = wrapPieces(piecesFor(model, c.start, c.end));
        marks.forEach((m, i) => {
          m.className = `${HL} ${HL}--${label}`;
          m.dataset.fcxId = c.id;
          m.dataset.fcxLabel = label;
          if (i === marks.length - 1) m.dataset.fcxLast = "";
        });
        if (marks.length) {
          const first = marks[0];
          first.tabIndex = 0;
          first.setAttribute("role", "button");
          const pct = typeof res.data.confidence === "number" ? `, ${Math.round(res.data.confidence * 100)}% confidence` : "";
          first.setAttribute("aria-label", `${LABELS[label].text}${pct}: ${c.text}. Press Enter for the evidence.`);
          const now = Date.now();
          state.firstHighlightAt ??= now;
          state.lastHighlightAt = now;
        }
        c.marks = marks;
      }
      state.done += group.length;
    };

    const worker = async () => {
      while (queue.length && !fatal && !stale()) {
        const group = queue.shift();
        const body = { claim: group[0].text };
        if (asOf) body.as_of = asOf;
        if (pageUrl) body.url = pageUrl; // kept on the server's record of the verdict
        const res = await api("/check", body);
        if (stale()) return;
        if (!res || (!res.ok && ["no_api", "no_permission", "unreachable", "key_refused", "cors_refused"].includes(res.kind))) {
          fatal = res || { kind: "error", message: "no answer from the service worker" };
          return;
        }
        apply(group, res);
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.min(cfg.concurrency || 3, queue.length) }, worker));
    if (stale()) return;
    if (fatal) return fail(fatal.kind, fatal.message);
    state.status = "done";
    report();
  }

  function reveal(claimId) {
    const c = claimsById.get(claimId);
    if (!c || !c.marks.length) return;
    c.marks[0].scrollIntoView({ block: "center", behavior: "smooth" });
    c.marks[0].focus({ preventScroll: true });
  }

  chrome.runtime.onMessage.addListener((msg, _sender, sendResponse) => {
    if (!msg || typeof msg.type !== "string") return false;
    if (msg.type === "fcx-run") {
      run(msg.mode, msg.clickedAt, !!msg.notify).catch((e) => {
        if (state) {
          state.status = "error";
          state.error = { kind: "error", message: String(e && e.message || e) };
          report();
        }
      });
      sendResponse({ ok: true });
    } else if (msg.type === "fcx-clear") {
      clearAll();
      sendResponse({ ok: true });
    } else if (msg.type === "fcx-reveal") {
      reveal(msg.claimId);
      sendResponse({ ok: true });
    }
    return false;
  });

  globalThis.__factcheckExt = { version: 1 };
})();

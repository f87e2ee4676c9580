// The search page: reads the form, calls GET /search, renders posts with their best sections
// and image hits; `?post=` shows one post's sections (the reader) with its related posts.
// Plain DOM, no build step. Text goes in through textContent; only the server's snippetHtml
// (HTML-escaped there, with <mark> added) is set as HTML.
// Typing searches as you go: a short debounce, and each new search aborts the one in flight,
// so an earlier keystroke's slower answer never replaces a later one's.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["q", "site", "mode", "kind", "tags", "from", "to", "limit"];
const DEFAULTS = { mode: "hybrid", kind: "all", limit: "10" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key === "html") node.innerHTML = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function formParams() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const value = $(name).value.trim();
    if (value && value !== DEFAULTS[name]) params.set(name, value);
  }
  return params;
}

function fillForm(params) {
  for (const name of FIELDS) {
    if (name === "site") continue; // set once the site list is loaded
    const value = params.get(name);
    $(name).value = value !== null ? value : (DEFAULTS[name] || "");
  }
}

function postHref(site, postId, anchor) {
  const params = new URLSearchParams({ site, post: postId });
  const q = $("q").value.trim();
  if (q) params.set("q", q);
  return "/?" + params.toString() + (anchor ? "#" + encodeURIComponent(anchor) : "");
}

// Where the site publishes a post, as a link target: an http(s) URL or a root-relative path,
// nothing else (a `javascript:` or `data:` URL from a post's front matter is never a link).
function siteHref(url) {
  if (typeof url !== "string" || !url) return null;
  if (/[\u0000-\u0020\u007f\\]/.test(url)) return null; // no spaces, controls or backslashes
  if (url.startsWith("/")) return url.startsWith("//") ? null : url;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
}

// Dates are UTC in the answers; shown as the day they name ("2 May 2024").
const DATE_FORMAT = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });

function fmtDate(iso) {
  const date = iso ? new Date(iso) : null;
  return date && !Number.isNaN(date.getTime()) ? DATE_FORMAT.format(date) : "";
}

function timeEl(iso) {
  const text = fmtDate(iso);
  return text ? el("time", { datetime: iso, text }) : null;
}

// The date, the authors and the path of a post, " · " between those it has.
function postMeta(post, ...rest) {
  const parts = [timeEl(post.date), post.authors && post.authors.length ? `by ${post.authors.join(", ")}` : null, ...rest]
    .filter(Boolean);
  const nodes = [];
  parts.forEach((part, i) => {
    if (i) nodes.push(document.createTextNode(" · "));
    nodes.push(typeof part === "string" ? el("span", { text: part }) : part);
  });
  return nodes;
}

function fmtScores(scores) {
  const parts = [];
  if (scores.text) parts.push(`text #${scores.text.rank}`);
  if (scores.vector) parts.push(`vector #${scores.vector.rank} (${scores.vector.similarity.toFixed(3)})`);
  return parts.join(" · ");
}

function setStatus(text, isWarning = false) {
  const status = $("status");
  status.textContent = text;
  status.className = isWarning ? "warning" : "";
}

async function getJSON(url, signal) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function loadSites(wanted) {
  const select = $("site");
  // Registered sites with nothing loaded yet have no revision to search.
  const sites = (await getJSON("/sites")).sites.filter((s) => s.revision);
  select.replaceChildren(...sites.map((s) => el("option", { value: s.site, text: s.site })));
  if (wanted && sites.some((s) => s.site === wanted)) select.value = wanted;
  return sites.length;
}

function renderResult(site, result) {
  const sections = el("ul", { class: "sections" });
  for (const section of result.sections) {
    const label = section.heading || "Introduction";
    sections.append(
      el("li", { class: "section" },
        el("a", { href: postHref(site, result.postId, section.anchor), text: label }),
        el("p", { class: "snippet", html: section.snippetHtml }))
    );
  }
  const tags = el("span", {}, ...result.tags.map((t) => el("span", { class: "tag", text: t })));
  // The title opens the post where its site publishes it; without a usable URL, the reader.
  const href = siteHref(result.url);
  const title = el("a", { href: href || postHref(site, result.postId), text: result.title || result.postId,
    class: href ? "external" : null });
  return el("li", { class: "result", "data-post-id": result.postId },
    el("h3", {}, title),
    el("div", { class: "meta" },
      ...postMeta(result, result.path), document.createTextNode(" "),
      tags,
      el("span", { class: "score", text: ` score ${result.score.toFixed(4)} · ${fmtScores(result.scores)}` })),
    sections);
}

function renderImage(site, image) {
  const alt = image.alt[0] || image.description || image.path;
  const picture = image.thumbnailUrl
    ? el("img", { src: image.thumbnailUrl, alt, loading: "lazy", width: image.width, height: image.height })
    : el("div", { class: "noimg", text: image.path.split(".").pop().toUpperCase() });
  const posts = el("div", {}, ...image.posts.map((p) =>
    el("a", { href: postHref(site, p.postId), text: p.title || p.postId })));
  return el("li", { class: "image", "data-path": image.path },
    picture, el("div", { class: "caption", text: alt }), posts);
}

// Long enough to skip the keystrokes of a burst (a paste, a fast typist), short enough that
// the answer to the last one still shows within about 100 ms.
const DEBOUNCE_MS = 40;
let inFlight = null; // the AbortController of the search whose answer we are waiting for

async function runSearch(push) {
  if (inFlight) inFlight.abort(); // whatever it answers is no longer wanted
  inFlight = null;
  const params = formParams();
  const url = "/?" + params.toString();
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  $("reader").hidden = true;
  if (!params.get("q") || !$("site").value) {
    $("results-section").hidden = true;
    $("images").hidden = true;
    setStatus(params.get("q") ? "No site to search yet: run a job first." : "");
    return;
  }
  params.set("site", $("site").value);
  setStatus("Searching…");
  const controller = new AbortController();
  inFlight = controller;
  const started = performance.now();
  let body;
  try {
    body = await getJSON("/search?" + params.toString(), controller.signal);
  } catch (err) {
    if (controller.signal.aborted) return; // superseded by a later search
    setStatus(err.message, true);
    return;
  } finally {
    if (inFlight === controller) inFlight = null;
  }
  // The body can be read just as a later keystroke aborts: only the latest search renders.
  if (controller.signal.aborted) return;
  const ms = Math.round(performance.now() - started);
  $("results").replaceChildren(...body.results.map((r) => renderResult(body.site, r)));
  $("image-list").replaceChildren(...body.images.map((i) => renderImage(body.site, i)));
  $("results-section").hidden = body.results.length === 0;
  $("images").hidden = body.images.length === 0;
  const summary = `${body.results.length} posts, ${body.images.length} images · ${body.modeUsed} · ${ms} ms`;
  setStatus(body.warnings.length ? `${summary} · ${body.warnings.join("; ")}` : summary,
    body.warnings.length > 0);
  // What is on screen, for tests and anything else watching the page.
  $("results").dataset.query = body.query;
  document.dispatchEvent(new CustomEvent("pressroom:results", { detail: { query: body.query } }));
}

async function showPost(site, postId) {
  $("results-section").hidden = true;
  $("images").hidden = true;
  const reader = $("reader");
  let post;
  try {
    post = await getJSON(`/posts/${encodeURIComponent(site)}/${encodeURIComponent(postId)}`);
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  setStatus("");
  const href = siteHref(post.url);
  const title = post.title || post.postId;
  const children = [
    el("h2", {}, href ? el("a", { href, class: "external", text: title }) : document.createTextNode(title)),
    el("div", { class: "meta" }, ...postMeta(post, post.path, ...post.tags)),
  ];
  for (const section of post.sections) {
    const heading = section.heading ? el(`h${Math.min(6, Math.max(3, section.level + 1))}`, { text: section.heading }) : null;
    children.push(el("section", { id: section.anchor || null }, heading, el("pre", { text: section.text })));
  }
  const related = el("ul", { id: "related" }, ...post.related.map((r) =>
    el("li", {}, el("a", { href: postHref(site, r.postId), text: r.title || r.postId }),
      r.date ? document.createTextNode(" · ") : null, timeEl(r.date),
      el("span", { class: "score", text: ` similarity ${r.similarity.toFixed(3)}` }))));
  children.push(el("h3", { text: "Related posts" }), related);
  reader.replaceChildren(...children);
  reader.hidden = false;
  const anchor = decodeURIComponent(location.hash.slice(1));
  if (anchor) document.getElementById(anchor)?.scrollIntoView();
}

let timer = null;

async function main() {
  const params = new URLSearchParams(location.search);
  fillForm(params);
  try {
    if (!(await loadSites(params.get("site")))) setStatus("No site has been loaded yet: run a job first.");
  } catch (err) {
    setStatus(`Cannot list sites: ${err.message}`, true);
  }
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    runSearch(true);
  });
  $("q").addEventListener("input", () => {
    clearTimeout(timer);
    if (inFlight) inFlight.abort(); // its query is already out of date
    timer = setTimeout(() => runSearch(false), DEBOUNCE_MS);
  });
  for (const name of ["site", "mode", "kind", "from", "to", "limit"]) {
    $(name).addEventListener("change", () => runSearch(false));
  }
  window.addEventListener("popstate", () => location.reload());
  if (params.get("post") && params.get("site")) await showPost(params.get("site"), params.get("post"));
  else if (params.get("q")) await runSearch(false);
}

main();

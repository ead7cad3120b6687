// agtoken web client: fetch a token, "join" (ask the server's verifier what Agora's edge would
// answer), renew it the way the Agora Web SDK does, and show what is inside any token.
//
// The API base: `?api=https://tokens.example.com` in the page's address, else the
// <meta name="agtoken-api"> of index.html, else the origin (and path) that served this page.

const $ = (id) => document.getElementById(id);

/** Seconds before the earliest relevant expiry at which the SDK fires token-privilege-will-expire. */
const WILL_EXPIRE_LEAD_MS = 30_000;
/** Retries of a failed fetch: 1 s, 2 s, 4 s, … up to this. */
const MAX_BACKOFF_MS = 30_000;
/** A single request gives up after this long. */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_LOG = 200;
const MAX_UID = 4294967295;
/** Agora's channel name characters (and `*`, which the server takes for wildcard tokens). */
const CHANNEL_CHARS = /^[a-zA-Z0-9 !#$%&()+\-:;<=.>?@[\]^_{|}~,*]$/;

// ---- the API ------------------------------------------------------------------------------

function resolveApiBase() {
  const param = new URLSearchParams(location.search).get("api");
  const meta = document.querySelector('meta[name="agtoken-api"]')?.getAttribute("content")?.trim() ?? "";
  const raw = param?.trim() || meta || ".";
  const url = new URL(raw, location.href);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`the API address must be http(s), got ${raw}`);
  }
  url.search = "";
  url.hash = "";
  return url.href.replace(/\/+$/, "");
}

class ApiError extends Error {
  constructor(message, { status = 0, retry = false } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.retry = retry;
  }
}

/** Difference between the server's clock and ours, ms (0 when within the 1 s resolution). */
let clockSkewMs = 0;

function noteServerTime(serverSecs) {
  if (typeof serverSecs !== "number") return;
  const candidate = serverSecs * 1000 + 500 - Date.now();
  clockSkewMs = Math.abs(candidate) < 1500 ? 0 : candidate;
}

/** Now on the server's clock, ms. */
const now = () => Date.now() + clockSkewMs;

let API = "";

/** Calls the API. `credential` (an API key or a bearer token, token requests only) goes in
 *  `Authorization: Bearer …`; it is never logged, stored or put in an address. */
async function call(path, body, signal, credential = "") {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const signals = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  if (credential) headers.Authorization = `Bearer ${credential}`;
  let res;
  try {
    res = await fetch(API + path, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: signals,
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    const why = timeout.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : `network error (${e.message})`;
    throw new ApiError(`${path}: ${why}`, { retry: true });
  }
  const text = await res.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON: reported below
  }
  if (data && typeof data === "object") noteServerTime(data.server_time);
  if (!res.ok) {
    const message = data?.error?.message ?? data?.message ?? data?.error ?? (text.trim() || res.statusText);
    const retry = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new ApiError(`${path}: HTTP ${res.status}: ${message}`, { status: res.status, retry });
  }
  if (!data || typeof data !== "object") throw new ApiError(`${path}: the answer is not JSON`, { retry: true });
  return data;
}

// ---- formatting ---------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "2026-11-23 17:29:34 UTC" of Unix seconds. */
function utc(secs) {
  if (typeof secs !== "number") return "—";
  const d = new Date(secs * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())} UTC`;
}

/** Local clock time of ms, with milliseconds: the event log. */
function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function duration(secs) {
  secs = Math.max(0, Math.round(secs));
  if (secs < 120) return `${secs} s`;
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  if (h === 0) return `${m} min ${pad(s)} s`;
  return `${h} h ${pad(m)} min`;
}

/** "in 39 s" / "expired 3 s ago" for an instant in ms on the server's clock. */
function relative(ms) {
  const left = (ms - now()) / 1000;
  return left > 0 ? `in ${duration(left)}` : `expired ${duration(-left)} ago`;
}

function countdown(secs) {
  if (typeof secs !== "number") return el("span", { class: "muted", text: "as long as the token" });
  return el("span", { class: "countdown", "data-at": String(secs * 1000), text: relative(secs * 1000) });
}

function updateCountdowns() {
  for (const node of document.querySelectorAll(".countdown[data-at]")) {
    const at = Number(node.dataset.at);
    node.textContent = relative(at);
    node.classList.toggle("expired", at <= now());
    node.classList.toggle("soon", at > now() && at - now() <= WILL_EXPIRE_LEAD_MS);
  }
  $("will-expire").textContent = session.willAt && session.joined ? relative(session.willAt).replace(/^in /, "") : "—";
  $("did-expire").textContent = session.expiresAt && session.joined ? relative(session.expiresAt).replace(/^in /, "") : "—";
}

// ---- the event log and the status ------------------------------------------------------------

function log(message, kind = "info") {
  const list = $("log");
  const item = el("li", { class: `log-${kind}` }, el("time", { text: clock(Date.now()) }), " ", el("span", { text: message }));
  list.prepend(item);
  while (list.children.length > MAX_LOG) list.lastElementChild.remove();
}

function setStatus(state, text) {
  const node = $("status");
  node.dataset.state = state;
  node.textContent = text;
}

/** Scrolls the status (and the reason under it) into view: after Join, on a phone too. */
function revealStatus() {
  const reason = $("reason");
  (reason.hidden ? $("status") : reason).scrollIntoView({ block: "nearest" });
  $("status").scrollIntoView({ block: "nearest" });
}

function agoraReason(reason) {
  if (!reason) return "refused";
  const code = reason.agora_code ?? "?";
  const name = reason.agora_name ? ` ${reason.agora_name}` : "";
  return `Agora would answer ${code}${name}: ${reason.agora_meaning ?? "refused"}`;
}

function showReason(reason) {
  const node = $("reason");
  if (!reason) {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  node.hidden = false;
  node.replaceChildren(
    el("strong", { text: `${reason.agora_code ?? "?"} ${reason.agora_name ?? ""}`.trim() }),
    ` — ${reason.agora_meaning ?? ""}`,
    el("br"),
    el("span", { class: "muted", text: reason.message ?? "" }),
  );
}

// ---- decoding a token (the panel and the paste box) --------------------------------------------

const HIDDEN_FIELDS = new Set(["name", "type", "privileges"]);

function field(dl, label, ...value) {
  dl.append(el("div", {}, el("dt", { text: label }), el("dd", {}, ...value)));
}

/** Renders an inspect answer into `box`. */
function renderDecoded(box, d) {
  const dl = el("dl", { class: "kv" });
  field(dl, "Version", d.version);
  field(dl, "App id", el("code", { text: d.app_id }), d.app_known ? "" : el("span", { class: "muted", text: " (not configured on this server)" }));
  let sig;
  if (d.signature_valid === true) sig = el("span", { class: "ok", text: `valid (${d.certificate} certificate)` });
  else if (d.signature_valid === false) sig = el("span", { class: "bad", text: "INVALID: not signed by this app's certificate" });
  else sig = el("span", { class: "muted", text: d.signature_note ?? "not checked" });
  field(dl, "Signature", sig);
  field(dl, "Issued at", utc(d.issued_at));
  field(dl, "Expires at", utc(d.expires_at), " ", countdown(d.expires_at));
  if (d.version === "007") field(dl, "Lifetime", `${d.expire} s (salt ${d.salt})`);
  else field(dl, "Token ts", `${utc(d.ts)} (salt ${d.salt})`);
  box.replaceChildren(dl);

  const privileges = Array.isArray(d.privilege_expiries) ? d.privilege_expiries : [];
  const services = [];
  if (d.version === "007" && Array.isArray(d.services)) {
    for (const s of d.services) {
      const fields = Object.entries(s).filter(([k]) => !HIDDEN_FIELDS.has(k));
      services.push({ name: s.name ?? `type ${s.type}`, fields, privileges: privileges.filter((p) => p.service === s.name) });
    }
  } else if (d.version === "006") {
    const fields = [
      ["channel_name", d.channel_name ?? `unknown (CRC-32 ${d.crc_channel_name}; give the channel to check)`],
      ["uid", d.uid ?? `unknown (CRC-32 ${d.crc_uid}; give the uid to check)`],
    ];
    const byService = new Map();
    for (const p of privileges) {
      if (!byService.has(p.service)) byService.set(p.service, []);
      byService.get(p.service).push(p);
    }
    for (const [name, list] of byService) services.push({ name, fields: name === "rtc" ? fields : [], privileges: list });
  }
  const heading = el("h3", { text: `Services (${services.length})` });
  box.append(heading);
  for (const s of services) {
    const card = el("div", { class: "service" }, el("h4", { text: s.name.toUpperCase() }));
    if (s.fields.length) {
      const sdl = el("dl", { class: "kv" });
      for (const [k, v] of s.fields) {
        const value = typeof v === "object" ? JSON.stringify(v) : String(v);
        field(sdl, k, el("code", { "data-field": k, text: value === "" ? '""' : value }), value === "" && k === "uid" ? " (any uid)" : "");
      }
      card.append(sdl);
    }
    if (s.privileges.length) {
      const table = el(
        "table",
        { class: "privileges" },
        el("caption", { class: "sr-only", text: `${s.name} privileges` }),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Privilege" }), el("th", { scope: "col", text: "Expires at" }), el("th", { scope: "col", text: "Left" }))),
        el(
          "tbody",
          {},
          s.privileges.map((p) =>
            el(
              "tr",
              {},
              el("td", {}, el("code", { text: p.privilege ?? `#${p.id}` })),
              el("td", { text: p.expires_at ? utc(p.expires_at) : "with the token" }),
              el("td", {}, countdown(p.expires_at ?? d.expires_at)),
            ),
          ),
        ),
      );
      card.append(el("div", { class: "table-wrap" }, table));
    }
    box.append(card);
  }
}

// ---- the form ----------------------------------------------------------------------------------

let config = null;
let expireEdited = false;
let versionEdited = false;

function idKind() {
  return document.querySelector('input[name="idkind"]:checked')?.value ?? "uid";
}

// Field errors: the message right under the field, `aria-invalid="true"` on the field and the
// message first in its `aria-describedby`; cleared as soon as the value is fixed.

function setFieldError(id, message) {
  const input = $(id);
  const node = $(`${id}-error`);
  const errId = `${id}-error`;
  const described = (input.getAttribute("aria-describedby") ?? "").split(/\s+/).filter((x) => x && x !== errId);
  if (message) {
    node.textContent = message;
    node.hidden = false;
    input.setAttribute("aria-invalid", "true");
    described.unshift(errId);
  } else {
    node.textContent = "";
    node.hidden = true;
    input.removeAttribute("aria-invalid");
  }
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Each form field's check, in the page's order: the problem as a sentence, or null. */
const CHECKS = {
  "auth-token": () => {
    const text = $("auth-token").value.trim();
    // What a header can carry: a key or a JWT is printable ASCII without spaces.
    if (text && !/^[\x21-\x7e]+$/.test(text)) return "A key or token is printable ASCII without spaces.";
    return null;
  },
  channel: () => {
    const channel = $("channel").value;
    if (!channel) return "Give a channel name.";
    if (new TextEncoder().encode(channel).length >= 64) return "A channel name is shorter than 64 bytes.";
    const bad = [...channel].find((c) => !CHANNEL_CHARS.test(c));
    if (bad !== undefined) return `A channel name may not contain ${JSON.stringify(bad)}.`;
    return null;
  },
  uid: () => {
    if (idKind() !== "uid") return null;
    const text = $("uid").value.trim();
    if (!/^\d+$/.test(text) || Number(text) > MAX_UID) return `A uid is a whole number 0 to ${MAX_UID}, not "${text}".`;
    return null;
  },
  account: () => {
    if (idKind() !== "account") return null;
    return $("account").value ? null : "Give an account (1 to 255 bytes).";
  },
  expire: () => {
    const text = $("expire").value.trim();
    const max = config?.max_lifetime ?? 86400;
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) return `A lifetime is 1 to ${max} seconds, not "${text}".`;
    return null;
  },
};

class FormError extends Error {
  constructor(problems) {
    super(problems.map((p) => p.message).join(" "));
    this.name = "FormError";
    this.problems = problems;
  }
}

/** The join parameters, or a FormError after marking every invalid field. */
function readForm() {
  const problems = [];
  for (const [id, check] of Object.entries(CHECKS)) {
    const message = check();
    setFieldError(id, message);
    if (message) problems.push({ id, message });
  }
  if (problems.length) throw new FormError(problems);
  const kind = idKind();
  return {
    channel: $("channel").value,
    kind,
    uid: kind === "uid" ? Number($("uid").value.trim()) : undefined,
    account: kind === "account" ? $("account").value : undefined,
    role: $("role").value,
    expire: Number($("expire").value.trim()),
    version: $("version").value,
    credential: $("auth-token").value.trim(),
  };
}

/** Re-checks a field already marked invalid as it is edited: the error goes when it is fixed. */
function recheck(id) {
  if ($(id).getAttribute("aria-invalid") === "true") setFieldError(id, CHECKS[id]());
}

const who = (p) => (p.kind === "uid" ? `uid ${p.uid}` : `account "${p.account}"`);

/** Whether POST /fetch_rtc_token gives exactly what `p` asks for (it takes no lifetime or version). */
function compatFits(p) {
  return p.kind === "uid" && config !== null && p.version === config.token_version && p.expire === config.compat_lifetime;
}

function identity(p) {
  return p.kind === "uid" ? { uid: p.uid } : { account: p.account };
}

async function fetchToken(p, signal) {
  if (compatFits(p)) {
    const role = p.role === "publisher" ? 1 : 2;
    const r = await call("/fetch_rtc_token", { uid: p.uid, channelName: p.channel, role }, signal, p.credential);
    if (typeof r.token !== "string") throw new ApiError("/fetch_rtc_token: no token in the answer", { retry: true });
    return { token: r.token, source: "POST /fetch_rtc_token" };
  }
  const body = { service: "rtc", channel: p.channel, ...identity(p), role: p.role, expire: p.expire, version: p.version };
  const r = await call("/v1/tokens", body, signal, p.credential);
  return { token: r.token, source: "POST /v1/tokens" };
}

const inspect = (token, p, signal) => call("/v1/tokens/inspect", { token, channel: p.channel, ...identity(p) }, signal);
const verifyJoin = (token, p, signal) => call("/v1/tokens/verify", { token, action: "join", channel: p.channel, ...identity(p) }, signal);

// ---- the session: join, renew like the SDK, re-join on expiry ---------------------------------

const session = {
  ctl: null,
  params: null,
  token: null,
  joined: false,
  renewals: 0,
  willAt: null,
  expiresAt: null,
  willTimer: 0,
  didTimer: 0,
};

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Fetches and decodes a token; network and server failures are retried with backoff. */
async function obtain(p, why, signal) {
  let delay = 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      const got = await fetchToken(p, signal);
      const decoded = await inspect(got.token, p, signal);
      if (attempt > 1) log(`${why}: token fetched after ${attempt} attempts`, "ok");
      return { ...got, decoded };
    } catch (e) {
      if (signal.aborted) throw e;
      if (!(e instanceof ApiError) || !e.retry) throw e;
      log(`${why}: token fetch failed (${e.message}); retrying in ${delay / 1000} s (attempt ${attempt + 1})`, "warn");
      if (!session.joined) setStatus("retrying", `Token fetch failed: retrying in ${delay / 1000} s…`);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  }
}

/** The earliest expiry that matters for this session, Unix seconds: the join admission's
 *  (token and join privilege) and, for a publisher, the publishing privileges. */
function relevantExpiry(decoded, verdict, p) {
  let at = verdict.expires_at;
  if (p.role === "publisher") {
    for (const e of decoded.privilege_expiries ?? []) {
      if (e.service === "rtc" && typeof e.expires_at === "number" && /^publish_/.test(e.privilege ?? "")) at = Math.min(at, e.expires_at);
    }
  }
  return at;
}

function stopTimers() {
  clearTimeout(session.willTimer);
  clearTimeout(session.didTimer);
  session.willTimer = 0;
  session.didTimer = 0;
}

function endSession() {
  stopTimers();
  session.ctl?.abort(new DOMException("session ended", "AbortError"));
  session.ctl = null;
  session.joined = false;
  session.willAt = null;
  session.expiresAt = null;
  $("leave").disabled = true;
  updateCountdowns();
}

function showToken(got) {
  session.token = got.token;
  $("token").textContent = got.token;
  $("copy").disabled = false;
  $("source").textContent = got.source;
  renderDecoded($("token-decoded"), got.decoded);
}

function schedule(got, verdict, first) {
  stopTimers();
  const p = session.params;
  session.expiresAt = relevantExpiry(got.decoded, verdict, p) * 1000;
  const t = now();
  const due = session.expiresAt - WILL_EXPIRE_LEAD_MS;
  let willAt = due;
  if (!first) {
    // A token shorter than 30 s would otherwise be renewed in a tight loop: space renewals by
    // up to 5 s, always well before the expiry.
    willAt = Math.max(willAt, t + Math.min(5000, (session.expiresAt - t) / 2));
  }
  session.willAt = Math.max(willAt, t);
  session.willTimer = setTimeout(onWillExpire, session.willAt - t);
  session.didTimer = setTimeout(onDidExpire, Math.max(0, session.expiresAt - t));
  let when;
  if (willAt > due) when = `in ${duration((session.willAt - t) / 1000)} (less than 30 s left; renewals spaced)`;
  else if (due <= t) when = "at once (less than 30 s left)";
  else when = `at ${clock(session.willAt - clockSkewMs)}, 30 s before expiry`;
  log(`will-expire ${when}; expires at ${clock(session.expiresAt - clockSkewMs)}`);
  updateCountdowns();
}

async function join(p, { rejoin = false } = {}) {
  endSession();
  showReason(null);
  const ctl = new AbortController();
  session.ctl = ctl;
  session.params = p;
  if (!rejoin) {
    session.renewals = 0;
    $("renewals").textContent = "0";
  }
  $("leave").disabled = false;
  setStatus("joining", rejoin ? "Re-joining with a fresh token…" : `Joining “${p.channel}”…`);
  log(`${rejoin ? "re-join" : "join"}: channel "${p.channel}", ${who(p)}, ${p.role}, ${p.expire} s, ${p.version}`);
  try {
    const got = await obtain(p, rejoin ? "re-join" : "join", ctl.signal);
    log(`token from ${got.source}: ${got.decoded.version}, expires ${utc(got.decoded.expires_at)}`);
    const verdict = await verifyJoin(got.token, p, ctl.signal);
    showToken(got);
    if (!verdict.admitted) {
      setStatus("refused", `Refused: ${agoraReason(verdict.reason)}`);
      showReason(verdict.reason);
      log(`join refused: ${verdict.reason?.agora_code} ${verdict.reason?.agora_name}: ${verdict.reason?.message}`, "error");
      endSession();
      return;
    }
    session.joined = true;
    setStatus("joined", `Joined “${p.channel}” as ${who(p)} (${p.role}).`);
    log(`joined: admitted until ${utc(verdict.expires_at)}`, "ok");
    if (!rejoin) revealStatus();
    schedule(got, verdict, true);
  } catch (e) {
    if (ctl.signal.aborted) return;
    const refusal = authRefusal(e, p);
    setStatus("error", refusal ?? `Could not join: ${e.message}`);
    log(`join failed: ${e.message}`, "error");
    endSession();
    if (!rejoin) revealStatus();
  }
}

/** What the credential field is called for this server's `auth`. */
function credentialName() {
  return config?.auth === "jwt" ? "bearer token (JWT)" : "API key";
}

/** The same with its article: "an API key", "a bearer token (JWT)". */
const aCredential = () => (config?.auth === "jwt" ? "a " : "an ") + credentialName();

/** A 401 or 403 from a token route, said as what to do (and marked on the key field); else null. */
function authRefusal(e, p) {
  if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) return null;
  const name = credentialName();
  const detail = e.message;
  let text;
  if (e.status === 401) {
    $("auth-row").hidden = false;
    text = p.credential
      ? `The token server did not accept this ${name}: check it, or ask its operator for a valid one. (${detail})`
      : `This token server requires ${aCredential()} for tokens (HTTP 401): paste it into the “${$("auth-label").textContent}” field and join again.`;
    setFieldError("auth-token", p.credential ? `Not accepted (HTTP 401). Check the ${name}.` : `Required by this server: paste your ${name}.`);
  } else {
    text = p.credential
      ? `The token server refused this request for your ${name} (HTTP 403): its policy does not allow channel “${p.channel}”, ${who(p)}, ${p.role}, ${p.expire} s. Ask for ${aCredential()} whose rule allows it, or change the form. (${detail})`
      : `The token server refused this request (HTTP 403). (${detail})`;
  }
  return text;
}

async function onWillExpire() {
  const ctl = session.ctl;
  const p = session.params;
  if (!ctl || !session.joined) return;
  log("token-privilege-will-expire: fetching a new token", "warn");
  try {
    const got = await obtain(p, "renewal", ctl.signal);
    const verdict = await verifyJoin(got.token, p, ctl.signal);
    if (!verdict.admitted) {
      showReason(verdict.reason);
      log(`renewToken refused: ${verdict.reason?.agora_code} ${verdict.reason?.agora_name}: ${verdict.reason?.message}; the old token stays until it expires`, "error");
      return;
    }
    session.renewals += 1;
    $("renewals").textContent = String(session.renewals);
    showToken(got);
    showReason(null);
    log(`renewToken: renewal #${session.renewals} accepted, admitted until ${utc(verdict.expires_at)}`, "ok");
    schedule(got, verdict, false);
  } catch (e) {
    if (ctl.signal.aborted) return;
    log(`renewal failed: ${e.message}; the session ends when the token expires`, "error");
  }
}

function onDidExpire() {
  if (!session.joined) return;
  log("token-privilege-did-expire: the token expired before a renewal; re-joining with a fresh token", "error");
  setStatus("expired", "Token expired: re-joining…");
  join(session.params, { rejoin: true });
}

function leave() {
  const was = session.params;
  endSession();
  setStatus("left", "Left the channel.");
  if (was) log(`left channel "${was.channel}"`);
}

// ---- the paste box -------------------------------------------------------------------------------

function pasteParams({ needIdentity }) {
  const token = $("paste-token").value.trim();
  if (!token) throw new Error("paste a token first");
  if (!/^00[67]/.test(token)) throw new Error(`not an Agora token: it starts with "006" or "007", this one with ${JSON.stringify(token.slice(0, 3))}`);
  const channel = $("paste-channel").value.trim();
  const id = $("paste-uid").value.trim();
  const body = { token };
  if (channel) body.channel = channel;
  if (id) {
    if ($("paste-kind").value === "uid") {
      if (!/^\d+$/.test(id) || Number(id) > MAX_UID) throw new Error(`uid must be a whole number 0..${MAX_UID}, got "${id}"`);
      body.uid = Number(id);
    } else {
      body.account = id;
    }
  }
  if (needIdentity && (!channel || !id)) throw new Error("give the channel and the uid or account to verify a join");
  return body;
}

function pasteVerdict(kind, ...content) {
  const node = $("paste-verdict");
  node.hidden = false;
  node.className = `verdict ${kind}`;
  node.replaceChildren(...content);
}

async function pasteInspect() {
  let body;
  try {
    body = pasteParams({ needIdentity: false });
  } catch (e) {
    pasteVerdict("error", e.message);
    return;
  }
  try {
    const decoded = await call("/v1/tokens/inspect", body);
    renderDecoded($("paste-decoded"), decoded);
    $("paste-verdict").hidden = true;
  } catch (e) {
    $("paste-decoded").replaceChildren();
    pasteVerdict("error", `Cannot read this token: ${e.message}`);
  }
}

async function pasteVerify() {
  let body;
  try {
    body = pasteParams({ needIdentity: true });
  } catch (e) {
    pasteVerdict("error", e.message);
    return;
  }
  const ident = body.uid !== undefined ? `uid ${body.uid}` : `account "${body.account}"`;
  try {
    const [verdict, decoded] = await Promise.all([
      call("/v1/tokens/verify", { ...body, action: "join" }),
      call("/v1/tokens/inspect", body).catch(() => null),
    ]);
    if (decoded) renderDecoded($("paste-decoded"), decoded);
    if (verdict.admitted) {
      pasteVerdict("admitted", el("strong", { text: "Admitted. " }), `A join to “${body.channel}” as ${ident} would be accepted until ${utc(verdict.expires_at)} `, countdown(verdict.expires_at), ".");
    } else {
      const r = verdict.reason ?? {};
      pasteVerdict(
        "refused",
        el("strong", { text: `Refused: ${r.agora_code ?? "?"} ${r.agora_name ?? ""}`.trim() }),
        ` — ${r.agora_meaning ?? ""}`,
        el("br"),
        `Joining “${body.channel}” as ${ident}: ${r.message ?? ""}`,
      );
    }
  } catch (e) {
    pasteVerdict("error", `Cannot verify: ${e.message}`);
  }
}

function useCurrentToken() {
  if (!session.token || !session.params) {
    pasteVerdict("error", "No current token yet: join a channel first.");
    return;
  }
  const p = session.params;
  $("paste-token").value = session.token;
  $("paste-channel").value = p.channel;
  $("paste-kind").value = p.kind;
  $("paste-uid").value = p.kind === "uid" ? String(p.uid) : p.account;
}

// ---- copy ----------------------------------------------------------------------------------------

async function copyToken() {
  const state = $("copy-state");
  if (!session.token) return;
  try {
    await navigator.clipboard.writeText(session.token);
    state.textContent = "Copied.";
  } catch {
    // No clipboard API (an insecure origin) or no permission: select it for the user.
    const range = document.createRange();
    range.selectNodeContents($("token"));
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    state.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
  setTimeout(() => {
    state.textContent = "";
  }, 4000);
}

// ---- start-up ------------------------------------------------------------------------------------

function updateHints() {
  const hint = $("expire-hint");
  if (!config) {
    hint.textContent = "Tokens come from POST /v1/tokens.";
    return;
  }
  let demo = "";
  if (typeof config.demo_lifetime === "number") {
    const d = config.demo_lifetime;
    demo = `Demo mode: ${d} s, so that the renewal (30 s before expiry, as the SDK does) shows ${d > 30 ? `${d - 30} s` : "right"} after Join. `;
  }
  hint.textContent =
    demo +
    `Max ${config.max_lifetime} s. With a uid, ${config.token_version} and ${config.compat_lifetime} s (the lifetime this server's ` +
    "POST /fetch_rtc_token gives), the token comes from that route, as in Agora's docs' client; otherwise from POST /v1/tokens.";
  $("expire").max = String(config.max_lifetime);
}

async function loadConfig() {
  const pill = $("api-state");
  try {
    config = await call("/v1/config");
    $("demo-banner").hidden = !config.demo;
    pill.textContent = config.demo ? "demo mode" : "connected";
    pill.className = config.demo ? "pill warn" : "pill ok";
    // Demo mode: a short lifetime, so that the renewal loop shows within a minute of Join.
    // Otherwise the lifetime of POST /fetch_rtc_token, so that the docs' client request is used.
    if (!expireEdited) $("expire").value = String(config.demo_lifetime ?? config.compat_lifetime);
    if (!versionEdited) $("version").value = config.token_version;
    const auth = config.auth ?? "none";
    if (auth !== "none") {
      $("auth-label").textContent = auth === "jwt" ? "Bearer token (JWT)" : "API key";
      $("auth-row").hidden = false;
    }
    log(
      `server ${config.server_version ?? "?"}: app ${config.app_id}, ${config.token_version} by default` +
        (config.demo ? `, DEMO MODE (lifetime ${config.demo_lifetime} s to show renewals)` : "") +
        (auth !== "none" ? `, token requests need ${aCredential()} (auth = "${auth}")` : ""),
    );
  } catch (e) {
    config = null;
    pill.textContent = "unreachable";
    pill.className = "pill bad";
    const box = $("api-error");
    box.hidden = false;
    box.textContent = `The token server at ${API} does not answer (${e.message}). If it is on another origin, it must allow this page's origin (${location.origin}) in CORS_ALLOW_ORIGIN.`;
    log(`config: ${e.message}`, "error");
  }
  updateHints();
}

function syncIdentity() {
  const account = idKind() === "account";
  $("uid-row").hidden = account;
  $("account-row").hidden = !account;
}

function main() {
  try {
    API = resolveApiBase();
  } catch (e) {
    API = location.origin;
    log(e.message, "error");
  }
  $("api-base").textContent = API;
  const configReady = loadConfig();

  $("expire").addEventListener("input", () => {
    expireEdited = true;
  });
  $("version").addEventListener("change", () => {
    versionEdited = true;
  });
  for (const r of document.querySelectorAll('input[name="idkind"]')) {
    r.addEventListener("change", () => {
      syncIdentity();
      recheck("uid");
      recheck("account");
    });
  }
  syncIdentity();
  for (const id of Object.keys(CHECKS)) $(id).addEventListener("input", () => recheck(id));

  $("join-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await configReady;
    let p;
    try {
      p = readForm();
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      setStatus("invalid", `Check the form: ${e.message}`);
      // The first invalid field gets the focus, with its label and message in view.
      const first = $(e.problems[0].id);
      first.focus({ preventScroll: true });
      first.parentElement.scrollIntoView({ block: "nearest" });
      return;
    }
    join(p);
    revealStatus();
  });
  $("leave").addEventListener("click", leave);
  $("copy").addEventListener("click", copyToken);
  $("paste-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    pasteInspect();
  });
  $("paste-verify").addEventListener("click", pasteVerify);
  $("paste-current").addEventListener("click", useCurrentToken);

  setInterval(updateCountdowns, 1000);
}

main();

// End-to-end test of the web client in headless Debian Chromium, driven by playwright-core.
//
//   node tests/e2e/e2e.mjs URL [CORS_URL [BLOCKED_URL [AUTH_URL]]]
//
// URL: the page served by an agtoken server in demo mode with the default settings (the page
// fills in the demo lifetime /v1/config gives). CORS_URL: the page on one origin with ?api=
// another server that allows that origin (CORS_ALLOW_ORIGIN). BLOCKED_URL: the page with ?api= a
// server that does not. AUTH_URL: the page of a server whose app has auth = "api_key"; the key
// is in the environment variable AGTOKEN_E2E_API_KEY.
// Started by `cargo test` (crates/agtoken-server/tests/e2e.rs), which runs the servers.
// Exit 0 when every check passed; screenshots go to tests/e2e/artifacts/.

import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [url, corsUrl, blockedUrl, authUrl] = process.argv.slice(2);
const API_KEY = process.env.AGTOKEN_E2E_API_KEY ?? "";
if (!url || (authUrl && !API_KEY)) {
  console.error("usage: node e2e.mjs URL [CORS_URL [BLOCKED_URL [AUTH_URL]]] (AUTH_URL needs AGTOKEN_E2E_API_KEY)");
  process.exit(2);
}
const PHONE = { width: 390, height: 844 };
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });

const started = Date.now();
const step = (what) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${what}`);
function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

const CHANNEL = "e2e-room";
const UID = 4242;

/** Whether an element lies entirely within the viewport of its page. */
async function inViewport(locator, viewport) {
  const box = await locator.boundingBox();
  return box !== null && box.y >= 0 && box.y + box.height <= viewport.height && box.x >= 0 && box.x + box.width <= viewport.width;
}

/** Console errors and uncaught exceptions of a page. */
function watch(page, name) {
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${name}: console.error: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${name}: uncaught: ${e.message}`));
  return errors;
}

const userDataDir = mkdtempSync(join(tmpdir(), "agtoken-e2e-"));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    timeout: 20_000,
  });
  step(`chromium ${context.browser()?.version() ?? ""} started`);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(url).origin });

  // ---- 1. demo mode, nothing typed but channel and uid: the renewal shows within a minute -------
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = watch(page, "main");
  const response = await page.goto(url, { waitUntil: "load" });
  check(response?.ok(), `GET ${url}: ${response?.status()}`);
  const csp = response.headers()["content-security-policy"] ?? "";
  check(/default-src 'none'/.test(csp) && /connect-src 'self'$/.test(csp), `the page's CSP allows only self: ${csp}`);
  await page.locator("#demo-banner").waitFor({ state: "visible", timeout: 5000 });
  await page.locator("#api-state").filter({ hasText: "demo mode" }).waitFor({ timeout: 5000 });
  // The server runs with the defaults: /fetch_rtc_token gives 3600 s, and the page's lifetime
  // comes from /v1/config's demo_lifetime.
  const serverConfig = await (await fetch(new URL("/v1/config", url))).json();
  check(serverConfig.demo === true && serverConfig.auth === "none", `demo mode without auth: ${JSON.stringify(serverConfig)}`);
  check(serverConfig.compat_lifetime === 3600 && serverConfig.demo_lifetime < serverConfig.compat_lifetime, `a short demo lifetime: ${JSON.stringify(serverConfig)}`);
  check((await page.inputValue("#expire")) === String(serverConfig.demo_lifetime), `the page fills in the server's demo lifetime ${serverConfig.demo_lifetime}: ${await page.inputValue("#expire")}`);
  check(await page.locator("#auth-row").isHidden(), "no key field without auth");
  step(`page loaded, demo banner shown, lifetime ${serverConfig.demo_lifetime} s from /v1/config`);

  await page.fill("#channel", CHANNEL);
  await page.check("#idkind-uid");
  await page.fill("#uid", String(UID));
  await page.selectOption("#role", "publisher");
  const joinClicked = Date.now();
  await page.click("#join");
  const status = page.locator("[data-testid=status]");
  await page.waitForFunction(() => /\bjoined\b/i.test(document.querySelector("[data-testid=status]").textContent), null, { timeout: 10_000 });
  step(`status: ${await status.textContent()}`);
  check((await page.textContent("#source")) === "POST /v1/tokens", "a demo-lifetime token comes from /v1/tokens (/fetch_rtc_token gives 3600 s)");

  const first = (await page.textContent("[data-testid=token]")).trim();
  check(/^007/.test(first), `the token panel shows a 007 token: ${first.slice(0, 20)}…`);
  // The displayed token decodes to the chosen channel and uid: ask the server, and read the panel.
  const decoded = await (
    await fetch(new URL("/v1/tokens/inspect", url), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: first }),
    })
  ).json();
  const rtc = decoded.services?.find((s) => s.name === "rtc");
  check(rtc?.channel_name === CHANNEL && rtc?.uid === String(UID), `token decodes to ${CHANNEL}/${UID}: ${JSON.stringify(rtc)}`);
  check(decoded.expire === serverConfig.demo_lifetime, `lifetime ${serverConfig.demo_lifetime} s: ${decoded.expire}`);
  check((await page.textContent("#token-decoded [data-field=channel_name]")) === CHANNEL, "panel shows the channel");
  check((await page.textContent("#token-decoded [data-field=uid]")) === String(UID), "panel shows the uid");
  check((await page.locator("#token-decoded table.privileges tbody tr").count()) === 4, "panel lists the 4 publisher privileges");
  step("token decodes to the chosen channel and uid (inspect and panel)");

  // Copy button.
  await page.click("#copy");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === first, "the copy button puts the token on the clipboard");

  // ---- 1a. (while the first page waits for its renewal) a phone: field errors, the status ------
  {
    const p = await context.newPage();
    const errs = watch(p, "phone");
    await p.setViewportSize(PHONE);
    await p.goto(url, { waitUntil: "load" });
    await p.locator("#api-state").filter({ hasText: "demo mode" }).waitFor({ timeout: 5000 });
    await p.fill("#channel", "phone-room");
    await p.fill("#uid", "12x");
    // As a thumb does: scroll just far enough to see Join at the bottom of the screen, tap it.
    const tapJoin = async () => {
      await p.locator("#join").evaluate((b) => b.scrollIntoView({ block: "end" }));
      await p.click("#join");
    };
    await tapJoin();
    const uidError = p.locator("#uid-error");
    await uidError.waitFor({ state: "visible", timeout: 5000 });
    check((await p.getAttribute("#uid", "aria-invalid")) === "true", "a bad uid is marked aria-invalid");
    check(((await p.getAttribute("#uid", "aria-describedby")) ?? "").split(" ").includes("uid-error"), "the uid's aria-describedby names its error");
    check(/uid/i.test(await uidError.textContent()), `the error names the uid: ${await uidError.textContent()}`);
    const fieldBox = await p.locator("#uid").boundingBox();
    const errorBox = await uidError.boundingBox();
    const gap = errorBox.y - (fieldBox.y + fieldBox.height);
    check(gap >= 0 && gap < 12, `the error is right under the field (gap ${gap} px)`);
    check(await inViewport(uidError, PHONE) && (await inViewport(p.locator("label[for=uid]"), PHONE)), `the error and the field's label are on screen: ${JSON.stringify(errorBox)}`);
    check((await p.getAttribute("[data-testid=status]", "data-state")) === "invalid", "the status says the form is invalid");
    await p.screenshot({ path: join(artifacts, "phone-form-error.png") });
    await p.fill("#uid", String(UID + 1));
    check((await p.getAttribute("#uid", "aria-invalid")) === null && (await uidError.isHidden()), "fixing the uid clears its error");
    await tapJoin();
    await p.waitForFunction(() => /\bjoined\b/i.test(document.querySelector("[data-testid=status]").textContent), null, { timeout: 10_000 });
    const statusBox = await p.locator("[data-testid=status]").boundingBox();
    check(await inViewport(p.locator("[data-testid=status]"), PHONE), `after Join the status is on a 390×844 screen: ${JSON.stringify(statusBox)}`);
    await p.screenshot({ path: join(artifacts, "phone-joined.png") });
    check(errs.length === 0, `no console errors:\n${errs.join("\n")}`);
    step(`phone: uid error under the field (aria-invalid), cleared when fixed; after Join the status at y ${Math.round(statusBox.y)}–${Math.round(statusBox.y + statusBox.height)} of 844`);
    await p.close();
  }

  // The renewal, with nothing typed but the channel and the uid: within a minute of Join
  // (the SDK renews 30 s before expiry: 10 s in with the demo's 40 s).
  await page.waitForFunction(() => Number(document.querySelector("[data-testid=renewals]").textContent) >= 1, null, {
    timeout: Math.max(1000, 60_000 - (Date.now() - joinClicked)),
  });
  const renewedAfter = (Date.now() - joinClicked) / 1000;
  const second = (await page.textContent("[data-testid=token]")).trim();
  check(second !== first, "the renewal replaced the token");
  check(/\bjoined\b/i.test(await status.textContent()), "still joined after the renewal");
  const logText = await page.textContent("#log");
  check(/token-privilege-will-expire/.test(logText) && /renewal #1 accepted/.test(logText), "the log shows will-expire and the renewal");
  step(`renewal #1 after ${renewedAfter.toFixed(1)} s`);

  // The paste box: the current token admitted for its own channel and uid…
  await page.click("#paste-current");
  check((await page.inputValue("#paste-token")) === second, "paste box took the current token");
  const verdict = page.locator("[data-testid=paste-verdict]");
  await page.click("#paste-verify");
  await verdict.filter({ hasText: "Admitted" }).waitFor({ timeout: 5000 });
  // …and refused for another channel, with Agora's code 110 and the reason.
  await page.fill("#paste-channel", "another-room");
  await page.click("#paste-verify");
  await verdict.filter({ hasText: "110" }).waitFor({ timeout: 5000 });
  const verdictText = await verdict.textContent();
  check(/Refused/.test(verdictText) && /ERR_INVALID_TOKEN/.test(verdictText) && /another-room/.test(verdictText), `refusal reason: ${verdictText}`);
  step(`refused case: ${verdictText.replace(/\s+/g, " ").slice(0, 110)}…`);

  await page.screenshot({ path: join(artifacts, "client.png"), fullPage: true });
  // Phone-sized.
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `no horizontal scrolling on a 390 px wide screen (overflow ${overflow} px)`);
  await page.screenshot({ path: join(artifacts, "client-phone.png"), fullPage: true });
  step("screenshots: artifacts/client.png, artifacts/client-phone.png");
  check(errors.length === 0, `no console errors:\n${errors.join("\n")}`);

  // ---- 1b. failed fetches retry with backoff; did-expire re-joins with a fresh token -----------
  {
    const p = await context.newPage();
    const errs = watch(p, "retry");
    let pass = 1; // the join's token goes through, then the token server is "down"
    await p.route("**/v1/tokens", (route) =>
      pass-- > 0
        ? route.continue()
        : route.fulfill({
            status: 503,
            contentType: "application/json",
            body: '{"error":{"code":"unavailable","message":"e2e: token server down"}}',
          }),
    );
    await p.goto(url, { waitUntil: "load" });
    await p.fill("#channel", "retry-room");
    await p.check("#idkind-account");
    await p.fill("#account", "bob");
    await p.fill("#expire", "8");
    await p.click("#join");
    const joined = () => /\bjoined\b/i.test(document.querySelector("[data-testid=status]").textContent);
    await p.waitForFunction(joined, null, { timeout: 10_000 });
    const logHas = (re) => p.waitForFunction((src) => new RegExp(src).test(document.querySelector("#log").textContent), re.source, { timeout: 15_000 });
    await logHas(/renewal: token fetch failed .*503.*retrying in 1 s/);
    await logHas(/token-privilege-did-expire/);
    await p.locator("[data-testid=status][data-state=retrying]").waitFor({ timeout: 5000 });
    step("8 s token, token server down: renewal retried with backoff, did-expire, re-join retrying");
    await p.unroute("**/v1/tokens");
    await p.waitForFunction(joined, null, { timeout: 10_000 });
    check(/re-join: token fetched after \d+ attempts/.test(await p.textContent("#log")), "the log says the re-join fetch succeeded after retries");
    await p.screenshot({ path: join(artifacts, "retry.png"), fullPage: true });
    const unexpected = errs.filter((e) => !/status of 503/.test(e));
    check(unexpected.length === 0, `no console errors but the 503s:\n${unexpected.join("\n")}`);
    step("token server back: re-joined with a fresh token");
    await p.close();
  }

  // ---- 2. the page on one origin, the API on another (CORS) -------------------------------------
  if (corsUrl) {
    const apiOrigin = new URL(new URL(corsUrl).searchParams.get("api")).origin;
    check(apiOrigin !== new URL(corsUrl).origin, "the API is on another origin than the page");
    const p2 = await context.newPage();
    const errors2 = watch(p2, "cors");
    const apiCalls = [];
    p2.on("request", (r) => {
      if (new URL(r.url()).origin === apiOrigin) apiCalls.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    await p2.goto(corsUrl, { waitUntil: "load" });
    await p2.locator("#api-state").filter({ hasText: /demo mode|connected/ }).waitFor({ timeout: 5000 });
    await p2.fill("#channel", "cors-room");
    await p2.check("#idkind-account");
    await p2.fill("#account", "alice");
    await p2.fill("#expire", "600");
    await p2.click("#join");
    await p2.waitForFunction(() => /\bjoined\b/i.test(document.querySelector("[data-testid=status]").textContent), null, { timeout: 10_000 });
    check((await p2.textContent("#source")) === "POST /v1/tokens", "an account token comes from /v1/tokens");
    check((await p2.textContent("#token-decoded [data-field=uid]")) === "alice", "the panel shows the account");
    for (const want of ["GET /v1/config", "POST /v1/tokens", "POST /v1/tokens/inspect", "POST /v1/tokens/verify"]) {
      check(apiCalls.includes(want), `${want} went to the API origin ${apiOrigin}: ${apiCalls.join(", ")}`);
    }
    await p2.screenshot({ path: join(artifacts, "cors.png"), fullPage: true });
    check(errors2.length === 0, `no console errors:\n${errors2.join("\n")}`);
    step(`CORS: page on ${new URL(corsUrl).origin}, API on ${apiOrigin}: joined as account alice`);
    await p2.close();
  }

  // ---- 3. an API that does not allow the page's origin: the page says so -------------------------
  if (blockedUrl) {
    const p3 = await context.newPage();
    await p3.goto(blockedUrl, { waitUntil: "load" });
    await p3.locator("#api-error").filter({ hasText: "CORS_ALLOW_ORIGIN" }).waitFor({ timeout: 5000 });
    check((await p3.textContent("#api-state")) === "unreachable", "the API state says unreachable");
    step("an API without CORS for this origin: the page explains it (CORS_ALLOW_ORIGIN)");
    await p3.close();
  }
  // ---- 4. a server whose app requires an API key: the page asks for it -----------------------
  if (authUrl) {
    const p4 = await context.newPage();
    const errs = watch(p4, "auth");
    const sent = [];
    // allHeaders(): headers() leaves out security-related headers.
    p4.on("request", (r) => sent.push(r.allHeaders().then((h) => ({ path: new URL(r.url()).pathname, authorization: h.authorization ?? null }))));
    await p4.goto(authUrl, { waitUntil: "load" });
    await p4.locator("#api-state").filter({ hasText: "connected" }).waitFor({ timeout: 5000 });
    await p4.locator("#auth-row").waitFor({ state: "visible", timeout: 5000 });
    check((await p4.textContent("#auth-label")) === "API key", `the field is labelled API key: ${await p4.textContent("#auth-label")}`);
    await p4.fill("#channel", "auth-room");
    await p4.fill("#uid", String(UID));
    await p4.click("#join");
    await p4.locator("[data-testid=status][data-state=error]").waitFor({ timeout: 10_000 });
    const refused = await p4.textContent("[data-testid=status]");
    check(/requires an API key/.test(refused) && /401/.test(refused), `without a key: the 401 message says what to do: ${refused}`);
    check((await p4.getAttribute("#auth-token", "aria-invalid")) === "true" && (await p4.locator("#auth-token-error").isVisible()), "the key field is marked");
    await p4.screenshot({ path: join(artifacts, "auth-401.png") });
    step(`auth: without a key: ${refused.slice(0, 100)}…`);
    await p4.fill("#auth-token", API_KEY);
    check((await p4.getAttribute("#auth-token", "aria-invalid")) === null, "typing a key clears the mark");
    await p4.click("#join");
    await p4.waitForFunction(() => /\bjoined\b/i.test(document.querySelector("[data-testid=status]").textContent), null, { timeout: 10_000 });
    check((await p4.textContent("#source")) === "POST /fetch_rtc_token", "with the key, the docs' request (compat lifetime) gives the token");
    const requests = await Promise.all(sent);
    const tokenRequests = requests.filter((r) => r.path === "/fetch_rtc_token");
    check(tokenRequests.length === 2 && tokenRequests[0].authorization === null && tokenRequests[1].authorization === `Bearer ${API_KEY}`, `the key went as Authorization: Bearer on the token request: ${JSON.stringify(tokenRequests.map((r) => r.authorization !== null))}`);
    const leaked = requests.filter((r) => r.path !== "/fetch_rtc_token" && r.authorization !== null).map((r) => r.path);
    check(leaked.length === 0, `the key goes only with token requests, not to ${leaked.join(", ")}`);
    const kept = await p4.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
    check(kept.local === 0 && kept.session === 0 && kept.cookie === "", `the key is not stored: ${JSON.stringify(kept)}`);
    check(!p4.url().includes(API_KEY) && !(await p4.textContent("body")).includes(API_KEY), "the key is not in the address or on the page");
    await p4.screenshot({ path: join(artifacts, "auth-joined.png") });
    const unexpected = errs.filter((e) => !/status of 401/.test(e));
    check(unexpected.length === 0, `no console errors but the 401:\n${unexpected.join("\n")}`);
    step("auth: with the key, joined (Authorization: Bearer on /fetch_rtc_token only, nothing stored)");
    await p4.close();
  }
  await page.close();
} catch (e) {
  failed = true;
  console.error(`[e2e] FAILED: ${e.stack ?? e}`);
  try {
    const open = context?.pages() ?? [];
    if (open.length) await open[open.length - 1].screenshot({ path: join(artifacts, "failure.png"), fullPage: true });
  } catch {
    // best effort
  }
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
step(failed ? "FAILED" : "all checks passed");
process.exit(failed ? 1 : 0);

// End-to-end test of the web client in headless Debian Chromium, driven by playwright-core.
//
//   node tests/e2e/e2e.mjs URL [CORS_URL [BLOCKED_URL]]
//
// URL: the page served by an agtoken server in demo mode whose /fetch_rtc_token gives 40 s tokens
// (AGTOKEN_COMPAT_LIFETIME=40). CORS_URL: the page on one origin with ?api= another server that
// allows that origin (CORS_ALLOW_ORIGIN). BLOCKED_URL: the page with ?api= a server that does not.
// Started by `cargo test` (crates/agtoken-server/tests/e2e.rs), which runs the servers.
// Exit 0 when every check passed; screenshots go to tests/e2e/artifacts/.

import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [url, corsUrl, blockedUrl] = process.argv.slice(2);
if (!url) {
  console.error("usage: node e2e.mjs URL [CORS_URL [BLOCKED_URL]]");
  process.exit(2);
}
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

  // ---- 1. join with a 40 s lifetime, renewals, the token panel, a refused case ------------------
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = watch(page, "main");
  const response = await page.goto(url, { waitUntil: "load" });
  check(response?.ok(), `GET ${url}: ${response?.status()}`);
  const csp = response.headers()["content-security-policy"] ?? "";
  check(/default-src 'none'/.test(csp) && /connect-src 'self'$/.test(csp), `the page's CSP allows only self: ${csp}`);
  await page.locator("#demo-banner").waitFor({ state: "visible", timeout: 5000 });
  step("page loaded, demo banner shown");

  await page.fill("#channel", CHANNEL);
  await page.check("#idkind-uid");
  await page.fill("#uid", String(UID));
  await page.selectOption("#role", "publisher");
  await page.fill("#expire", "40");
  await page.selectOption("#version", "007");
  const joinClicked = Date.now();
  await page.click("#join");
  const status = page.locator("[data-testid=status]");
  await page.waitForFunction(() => /\bjoined\b/i.test(document.querySelector("[data-testid=status]").textContent), null, { timeout: 10_000 });
  step(`status: ${await status.textContent()}`);
  check((await page.textContent("#source")) === "POST /fetch_rtc_token", "a 40 s 007 uid token comes from /fetch_rtc_token (the docs' client request)");

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
  check(decoded.expire === 40, `lifetime 40 s: ${decoded.expire}`);
  check((await page.textContent("#token-decoded [data-field=channel_name]")) === CHANNEL, "panel shows the channel");
  check((await page.textContent("#token-decoded [data-field=uid]")) === String(UID), "panel shows the uid");
  check((await page.locator("#token-decoded table.privileges tbody tr").count()) === 4, "panel lists the 4 publisher privileges");
  step("token decodes to the chosen channel and uid (inspect and panel)");

  // Copy button.
  await page.click("#copy");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === first, "the copy button puts the token on the clipboard");

  // At least one renewal within 30 s of joining (with 40 s tokens the SDK renews 10 s in).
  await page.waitForFunction(() => Number(document.querySelector("[data-testid=renewals]").textContent) >= 1, null, {
    timeout: Math.max(1000, 30_000 - (Date.now() - joinClicked)),
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
  await page.setViewportSize({ width: 390, height: 844 });
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

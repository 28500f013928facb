// The dashboard in headless Chromium against a real `commander serve --demo` (in-memory store,
// the demo fleet seeded through the API): it renders the fleet, the region toggle changes what is shown, an API error is
// displayed, operator actions confirm first and show their results, and a poll leaves focus and
// layout alone. Saves a screenshot to target/dashboard.png (and to $DASHBOARD_SCREENSHOT if set).
//
// COMMANDER_BIN names the binary (default: target/debug/commander), CHROMIUM the browser
// (default: /usr/bin/chromium).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const binary = process.env.COMMANDER_BIN || resolve(root, "target/debug/commander");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";

let server;
let base;
let browser;
let page;
const problems = [];

/** Starts `commander serve` on a free loopback port and resolves with its address. */
function serve() {
  return new Promise((resolveStart, reject) => {
    // The demo fleet (functions/local/src/demo.rs: six replicas, their scaling decisions and an hour
    // of emergency spend), and no scheduled tick: the demo's optimisation is the one evaluation,
    // so the figures are known.
    const child = spawn(binary, ["serve", "--memory", "--demo", "--addr", "127.0.0.1:0", "--tick-seconds", "0"], {
      env: { ...process.env, RUST_LOG: "info", AWS_EC2_METADATA_DISABLED: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`commander serve did not start:\n${seen}`)), 30_000);
    const watch = (chunk) => {
      seen += chunk.toString();
      const found = seen.match(/serving on (http:\/\/[0-9.:]+)\//);
      if (found) {
        clearTimeout(timer);
        resolveStart({ child, url: found[1] });
      }
    };
    child.stdout.on("data", watch);
    child.stderr.on("data", watch);
    child.on("exit", (code) => reject(new Error(`commander serve exited (${code}):\n${seen}`)));
  });
}

async function call(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

before(async () => {
  const started = await serve();
  server = started.child;
  base = started.url;
  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    // This machine's network is closed: Chromium's own background connections would only fail.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  // A viewer in Berlin looking at regions in other zones; numbers formatted the US way.
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: "en-US", timezoneId: "Europe/Berlin" });
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  // The page must live within its own Content-Security-Policy (Chromium reports breaches here).
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await page.goto(`${base}/?interval=1`);
});

after(async () => {
  await browser?.close();
  server?.kill();
});

afterEach(() => {
  assert.deepEqual(problems, [], "no script error or policy breach on the page");
});

/** Retries `check` until it passes or `ms` run out: the page shows what its last poll read. */
async function eventually(check, ms = 4000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

const fleetRow = (type, region) => page.locator(`#fleet article[data-type="${type}"] tr[data-region="${region}"]`);

test("renders the fleet, spend, warming and recommendations from the API", async () => {
  const row = fleetRow("detection", "us-east-1");
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  // det-1..3 report in us-east-1 (current 3). The healthy ones average 58 %, inside the policy's
  // thresholds: the scaler holds four live replicas, one per region (us-east-1 at 2 of 3 healthy
  // keeps its share).
  assert.equal(cells[0], "3 / 1");
  assert.equal(cells[1], "2", "healthy");
  assert.equal(cells[2], "1", "unhealthy");
  // 30 of 40 on the healthy ones.
  assert.match(await row.locator(".meter").getAttribute("aria-label"), /^75% utilised; scale down below 30%, target 70%, scale up above 80%/);
  assert.equal(await row.locator(".meter .fill").evaluate((e) => e.style.width), "75%");
  const [fill, track] = await row.locator(".meter").evaluate((m) => [m.querySelector(".fill").getBoundingClientRect().width, m.getBoundingClientRect().width]);
  assert.ok(Math.abs(fill - 0.75 * track) < 1.5, `the bar is drawn three quarters full (${fill} of ${track})`);
  assert.equal((await fleetRow("diagnosis", "us-west-2").locator("td").first().textContent()).split(" / ")[0], "1");
  assert.match(await page.locator('#fleet article[data-type="detection"] .last-evaluation').textContent(),
    /^Last evaluated .* by operator: 4 live → 4 desired, weighed as low$/);
  assert.equal(await page.locator('#fleet article[data-type="detection"] .events').count(), 0, "held: no scaling event");
  // A type none of whose replicas report says so.
  assert.equal(await page.locator('#fleet article[data-type="communication"] p.no-replicas').textContent(), "No replicas reporting yet.");
  assert.equal(await page.locator('#fleet article[data-type="detection"] p.no-replicas').count(), 0);

  // The figures the API gives now (a scheduled sweep may land meanwhile: the page catches up).
  await eventually(async () => {
    const sweep = (await call("GET", "/cost/report?limit=1")).snapshots[0];
    const rate = Math.round(sweep.current_metrics.hourly_cost).toLocaleString("en-US");
    assert.ok(sweep.current_metrics.hourly_cost > 1000, "the seeded spend is past the emergency line");
    assert.equal(await page.locator('[data-figure="hourly-cost"] .value').textContent(), `$${rate}`);
    assert.match(await page.locator("#emergency").textContent(), new RegExp(`^EMERGENCY MODE: spend \\$${rate}/h`));
  });
  assert.equal(await page.locator('[data-figure="level"] .value').textContent(), "emergency");
  assert.ok(await page.locator("#emergency").isVisible());
  assert.match(await page.locator('#spend tr[data-model="anthropic.claude-opus-4-5"]').textContent(), /\$1,800/);
  assert.equal(await page.locator("#spend svg.chart rect.bar").count() >= 1, true);

  assert.equal(await page.locator("#warming tbody td[data-region]").count(), 20, "five functions in four regions");
  assert.equal(await page.locator('#warming tr[data-function="detection-agent"] td[data-region="us-east-1"]').textContent(), "never warmed");
  // Each region's own time of day: the viewer is in Berlin, the column says what time it is there.
  await eventually(async () => {
    const zones = await call("GET", "/warming/status");
    const singapore = zones.targets.find((t) => t.region === "ap-southeast-1");
    const there = new Intl.DateTimeFormat("en-US", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "Asia/Singapore" })
      .format(new Date(zones.timestamp));
    assert.match(await page.locator('#warming th[data-region="ap-southeast-1"]').textContent(),
      new RegExp(`^ap-southeast-1${there.slice(0, 2)}:\\d\\d there · ${singapore.in_window ? "warming hours" : "outside hours"}$`));
  });
  // The five functions' warming advice is one card listing them.
  const warming = page.locator('#recommendations .recs > li[data-kind="warming"]');
  assert.equal(await warming.count(), 1);
  assert.match(await warming.locator(".what").textContent(), /^keep warming each of these with pings rather than provisioned concurrency \(5\)$/);
  assert.equal(await warming.locator('li[data-target="detection-agent"]').count(), 1);
  assert.equal(await warming.locator("li[data-target]").count(), 5);
});

test("the region toggle changes what is shown", async () => {
  await page.locator('#region-filter button[data-region="eu-west-1"]').click();
  assert.equal(await page.locator('#region-filter button[data-region="eu-west-1"]').getAttribute("aria-pressed"), "true");
  assert.equal(await page.locator('#region-filter button[data-region="all"]').getAttribute("aria-pressed"), "false");
  assert.equal(await page.locator('#fleet tr[data-region="us-east-1"]').count(), 0);
  assert.equal(await fleetRow("detection", "eu-west-1").count(), 1);
  assert.match(await page.locator('#fleet article[data-type="detection"] .type-summary').textContent(), /^1 replicas in eu-west-1 \(1 healthy\)/);
  const warmed = await page.locator("#warming tbody td[data-region]").evaluateAll((cells) => cells.map((c) => c.dataset.region));
  assert.deepEqual(warmed, Array(5).fill("eu-west-1"));
  // Still filtered after the next polls.
  await page.waitForTimeout(1500);
  assert.equal(await page.locator('#fleet tr[data-region="us-east-1"]').count(), 0);

  await page.locator('#region-filter button[data-region="all"]').click();
  assert.equal(await fleetRow("detection", "us-east-1").count(), 1);
  assert.equal(await page.locator("#warming tbody td[data-region]").count(), 20);
});

test("an API error is displayed, the last answer kept as stale, and cleared once the API answers", async () => {
  const problem = {
    type: "about:blank", title: "Service Unavailable", status: 503,
    detail: "the state store is unavailable; retry", code: "store_unavailable",
  };
  // The store fails the status read only: the summary carries its problem beside the other parts.
  await page.route("**/summary", async (route) => {
    const summary = await (await route.fetch()).json();
    delete summary.parts.status;
    summary.problems.status = problem;
    await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(summary) });
  });
  const error = page.locator('#errors .error[data-read="status"]');
  await error.waitFor();
  assert.equal(await error.textContent(),
    "Could not read scaling status (scaling/status): 503 Service Unavailable: the state store is unavailable; retry");
  assert.match(await page.locator("#fleet .stale-note").textContent(), /the latest read failed/);
  assert.equal(await fleetRow("detection", "us-east-1").count(), 1, "the last good answer stays on screen");
  assert.match(await page.locator("#poll-status").textContent(), /1 of 7 reads failed/);

  await page.unroute("**/summary");
  await error.waitFor({ state: "detached" });
  assert.equal(await page.locator("#fleet .stale-note").count(), 0);
});

test("a poll keeps keyboard focus and layout where they were", async () => {
  const button = page.locator('#region-filter button[data-region="us-west-2"]');
  await button.focus();
  await page.keyboard.press("Enter");
  assert.equal(await button.getAttribute("aria-pressed"), "true");
  const box = await page.locator("#fleet").boundingBox();
  await page.waitForTimeout(2500);
  assert.equal(await page.evaluate(() => document.activeElement.dataset.region), "us-west-2");
  assert.deepEqual(await page.locator("#fleet").boundingBox(), box);
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Space");
  assert.equal(await page.locator('#region-filter button[data-region="us-east-1"]').getAttribute("aria-pressed"), "true");
  await page.locator('#region-filter button[data-region="all"]').click();
});

async function confirmDialog(choice) {
  const dialog = page.locator("dialog#confirm");
  await dialog.waitFor({ state: "visible" });
  await dialog.getByRole("button", { name: choice }).click();
}

const result = () => page.locator("#action-result");

test("operator actions ask first and show their results", async () => {
  await page.locator('#region-filter button[data-region="all"]').click();
  await page.locator("#scaling-type").selectOption("diagnosis");
  await page.locator('#scaling-form button[type="submit"]').click();
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Dry run"));
  assert.match(await result().textContent(), /^Dry run \(nothing changed\).*diagnosis: 2 → \d/);
  assert.equal(await page.locator("#scaling-apply").isDisabled(), false);

  await page.locator("#scaling-apply").click();
  await confirmDialog("Cancel");
  // The dialog's close event, and so the answer, arrives a task after the click.
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.includes("cancelled"));
  assert.match(await result().textContent(), /cancelled, nothing was changed/);
  await page.locator("#scaling-apply").click();
  await confirmDialog("Confirm");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Applied"));

  await page.locator("#region-select").selectOption("eu-west-1");
  await page.locator("#region-reason").fill("drill");
  await page.locator('#region-form button[type="submit"]').click();
  await confirmDialog("Confirm");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.includes("is marked unhealthy"));
  assert.match(await result().textContent(), /^eu-west-1 is marked unhealthy\. New split:.*detection/);
  await page.locator('#fleet article[data-type="detection"] tr[data-region="eu-west-1"] .badge.bad').waitFor();
  const regions = await call("GET", "/regions");
  assert.equal(regions.regions.find((r) => r.region === "eu-west-1").healthy, false);
  await page.waitForFunction(() => document.querySelector("#fleet .region-marks").textContent.includes("eu-west-1 unhealthy"));
  assert.match(await page.locator("#fleet .region-marks").textContent(), /eu-west-1 unhealthy · by an operator.*drill/);

  // Handing the region back to the scaler clears the operator's mark.
  await page.locator('#region-form input[value="clear"]').check();
  await page.locator('#region-form button[type="submit"]').click();
  await confirmDialog("Confirm");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.includes("mark is cleared"));
  assert.equal((await call("GET", "/regions")).regions.find((r) => r.region === "eu-west-1").source, null);
  await page.waitForFunction(() => !document.querySelector('#fleet article[data-type="detection"] tr[data-region="eu-west-1"] .badge.bad'));
  await page.locator('#region-form input[value="false"]').check();

  await page.locator('#sweep-form button[type="submit"]').click();
  await confirmDialog("Confirm");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Swept"));
  assert.match(await result().textContent(), /level emergency, EMERGENCY MODE/);

  await page.locator("#warm-function").selectOption("detection-agent");
  await page.locator('#warm-form button[type="submit"]').click();
  await confirmDialog("Confirm");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Nothing warmed"));
  assert.match(await result().textContent(), /no target is reachable/);
});

test("a what-if replay of yesterday's recorded morning shows both policies side by side", async () => {
  // `--demo` records detection's 08:00-10:00 of yesterday (UTC), as the scaler's tick would have.
  await page.locator("#replay-type").selectOption("detection");
  await page.locator("#replay-from").fill("9");
  await page.locator("#replay-hours").fill("1");
  await page.locator("#replay-changes").fill("{max_replicas: 2");
  await page.locator('#replay-form button[type="submit"]').click();
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.includes("not JSON"));

  // The type's policy in force with the change over it: a minimum above the new maximum is refused.
  await page.locator("#replay-changes").fill('{"max_replicas": 1}');
  await page.locator('#replay-form button[type="submit"]').click();
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.includes("min_replicas"));
  assert.match(await result().textContent(), /What-if replay failed/);

  await page.locator("#replay-changes").fill('{"min_replicas": 1, "max_replicas": 2}');
  await page.locator('#replay-form button[type="submit"]').click();
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Replay of detection"), null, { timeout: 20_000 });
  assert.match(await result().textContent(), /09:00 UTC for 1 h \(nothing changed\): \d+ incidents/);
  const cells = async (row) => page.locator(`#replay-result tr[data-row="${row}"] td`).allTextContents();
  const hours = (await cells("replica-hours")).map(Number);
  assert.equal(hours.length, 2);
  assert.ok(hours[1] < hours[0], `the cap of two saves replica-hours: ${hours}`);
  const waited = (await cells("waited past the maximum")).map((c) => parseFloat(c));
  assert.ok(waited[1] > waited[0], `and costs waits: ${waited}`);
  // Nothing changed: the policy in force is as it was.
  assert.equal((await call("GET", "/scaling/policies/detection")).max_replicas, 10);
});

test("the changes panel shows who changed what, paused types and an emergency override", async () => {
  // The operator actions above (region marks, sweeps, warming) are in the trail already.
  await page.waitForFunction(() => document.querySelector("#changes-body").textContent.includes("PUT /regions/{region}/health"));
  await call("PUT", "/scaling/policies/diagnosis/pause", { reason: "agent migration" });
  await call("PUT", "/cost/emergency", { emergency_mode: true, reason: "incident storm", minutes: 30 });
  await page.waitForFunction(() => document.querySelector("#changes-body").textContent.includes("agent migration"));
  const changes = await page.locator("#changes-body").textContent();
  assert.match(changes, /paused diagnosis by local/);
  assert.match(changes, /PUT \/cost\/emergency/);
  await page.waitForFunction(() => document.querySelector("#emergency").textContent.includes("FORCED ON by local"));
  await call("DELETE", "/cost/emergency");
  await call("DELETE", "/scaling/policies/diagnosis/pause");
  await page.waitForFunction(() => !document.querySelector("#changes-body").textContent.includes("paused diagnosis"));
});

test("a refused action shows the API's problem", async () => {
  await page.route("**/cost/optimize", (route) =>
    route.fulfill({ status: 409, contentType: "application/problem+json",
      body: JSON.stringify({ type: "about:blank", title: "Conflict", status: 409, detail: "another sweep is running", code: "conflict" }) }));
  await page.locator('#sweep-form button[type="submit"]').click();
  await confirmDialog("Confirm");
  await page.locator("#action-result.failed").waitFor();
  assert.equal(await result().textContent(), "Cost sweep failed: 409 Conflict: another sweep is running");
  await page.unroute("**/cost/optimize");
});

test("a poll is one request, and a hidden tab does not poll", async () => {
  const requests = [];
  const record = (request) => {
    const path = new URL(request.url()).pathname;
    if (!path.startsWith("/dashboard")) requests.push(path);
  };
  page.on("request", record);
  const setHidden = (hidden) => page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
  try {
    await page.waitForTimeout(3500);
    assert.ok(requests.length >= 2, `polled every second: ${requests}`);
    assert.deepEqual([...new Set(requests)], ["/summary"], "each poll reads the summary alone");

    await setHidden(true);
    await page.waitForTimeout(300); // a poll in flight lands
    requests.length = 0;
    await page.waitForTimeout(2500);
    assert.deepEqual(requests, [], "a hidden tab does not poll");

    await setHidden(false);
    await eventually(async () => assert.deepEqual(requests.slice(0, 1), ["/summary"]), 800);
  } finally {
    page.off("request", record);
    await page.evaluate(() => delete document.hidden);
  }
});

/** axe-core's serious and critical findings on `target`'s current state, one line each. */
async function accessibilityProblems(target) {
  const results = await target.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

test("axe-core finds no serious or critical accessibility problem, with or without the dialog open", async () => {
  // axe is injected as a script of its own, which the page's policy rightly refuses: this one
  // context lets it in; every other test runs under the policy.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 }, locale: "en-US" });
  const a11y = await context.newPage();
  try {
    await a11y.goto(`${base}/`);
    await a11y.locator('#fleet article[data-type="detection"]').waitFor();
    await a11y.locator("#warming table").waitFor();
    await a11y.addScriptTag({ path: axePath });
    assert.deepEqual(await accessibilityProblems(a11y), []);
    await a11y.locator('#sweep-form button[type="submit"]').click();
    await a11y.locator("dialog#confirm").waitFor({ state: "visible" });
    assert.deepEqual(await accessibilityProblems(a11y), []);
    await a11y.keyboard.press("Escape");
    await a11y.locator("dialog#confirm").waitFor({ state: "hidden" });
    assert.match(await a11y.locator("#action-result").textContent(), /cancelled, nothing was changed/, "Escape cancels");
  } finally {
    await context.close();
  }
});

test("a screenshot of the dashboard is saved", async () => {
  await call("PUT", "/regions/eu-west-1/health", { healthy: true });
  await page.locator("#region-filter button[data-region=all]").click();
  await page.waitForTimeout(1200);
  // Wide enough for the panels to sit side by side, as on an operator's monitor.
  await page.setViewportSize({ width: 1680, height: 1000 });
  await page.waitForTimeout(300);
  mkdirSync(resolve(root, "target"), { recursive: true });
  const shot = resolve(root, "target/dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.DASHBOARD_SCREENSHOT) copyFileSync(shot, resolve(root, process.env.DASHBOARD_SCREENSHOT));
  assert.ok(await page.locator("#fleet").isVisible());
});

// Drives the dashboard (/ui) in headless Chromium as a person would, against a host the
// Rust test started with hello, flows and catalog deployed. Prints one JSON line per check
// for the test to assert on; saves screenshots; runs axe-core on each view.
// Usage: PLAYWRIGHT_CORE=… AXE_CORE=… node dashboard-check.cjs URL CHROMIUM ADMIN_KEY TENANT_KEY SHOTS_DIR
"use strict";
const fs = require("fs");
const path = require("path");
const { launch } = require("./launch.cjs");
const axeSource = fs.readFileSync(path.join(process.env.AXE_CORE, "axe.min.js"), "utf8");
const [url, executablePath, adminKey, tenantKey, shots] = process.argv.slice(2);

const say = (line) => console.log(JSON.stringify(line));

// Start a workflow over the API (as a script or the CLI would); its execution id.
async function start(workflow, args) {
  const response = await fetch(`${url}/v1/workflows/${workflow}/executions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
    body: JSON.stringify(args),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`starting ${workflow}: ${JSON.stringify(body)}`);
  return body.id;
}

async function axe(page, view) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  say({ axe: view, violations: result });
}

const rowStatus = (page, id) => page.getAttribute(`tr[data-id="${id}"]`, "data-status");

(async () => {
  const browser = await launch(executablePath);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on("dialog", (dialog) => dialog.accept());

    // Keys are required: the page asks for one first.
    await page.goto(`${url}/`);
    await page.waitForSelector("#signin", { timeout: 15000 });
    say({ landed: new URL(page.url()).pathname, signin: true });
    await axe(page, "sign-in");
    await page.fill("#key", "tsdev_not_a_key");
    await page.click('#signin button[type="submit"]');
    await page.waitForSelector('#signin [role="alert"]', { timeout: 15000 });
    say({ refused: await page.textContent('#signin [role="alert"]') });
    await page.fill("#key", adminKey);
    await page.click('#signin button[type="submit"]');
    await page.waitForSelector("h2:text('Executions')", { timeout: 15000 });

    // The list follows an execution as it sleeps and completes, with no reload.
    const sleeper = await start("flows.greet-twice", { first: "Ada", second: "Bob", "sleep-ms": 2500 });
    await page.waitForSelector(`tr[data-id="${sleeper}"][data-status="sleeping"]`, { timeout: 15000 });
    say({ live: "sleeping", id: sleeper });
    await page.waitForSelector(`tr[data-id="${sleeper}"][data-status="completed"]`, { timeout: 20000 });
    say({ live: "completed", id: sleeper, status: await rowStatus(page, sleeper) });

    // One run with each kind of wait: a call retried until it answers, a sleep, a signal.
    // Its page is open from the start: the steps arrive as they are journaled.
    const order = await start("flows.checkout", {
      procedure: "items.restock", "args-json": JSON.stringify({ "until-ms": Date.now() + 1200 }),
      "sleep-ms": 1500,
    });
    const doomed = await start("flows.approval", { "timeout-ms": null });
    await page.goto(`${url}/ui#/executions/${order}`);
    await page.waitForSelector("tr[data-seq]", { timeout: 15000 });
    const firstSeen = await page.$$eval("tr[data-seq]", (rows) => rows.length);
    await page.waitForSelector("h2 .status.waiting", { timeout: 30000 });
    const steps = await page.$$eval("tr[data-seq]", (rows) => rows.map((r) => ({
      kind: r.dataset.kind, name: r.querySelector("td:nth-child(3)").textContent,
      attempts: Number(r.querySelector("td.attempts").textContent), took: r.children[4].textContent })));
    say({ timeline: "checkout", firstSeen, steps });
    await axe(page, "timeline");
    // Signal from the page: the waiting execution completes with the payload, live.
    await page.fill("#signal-name", "ship");
    await page.fill("#signal-payload", '{"by": "browser"}');
    await page.click('button:text("Send signal")');
    await page.waitForSelector("h2 .status.completed", { timeout: 20000 });
    say({ signalled: order, result: await page.textContent("#result"),
      kinds: await page.$$eval("tr[data-seq]", (rows) => rows.map((r) => r.dataset.kind)) });
    await page.screenshot({ path: path.join(shots, "timeline.png"), fullPage: true });

    await page.goto(`${url}/ui#/executions/${sleeper}`);
    await page.waitForSelector("tr[data-seq]", { timeout: 15000 });
    say({ timeline: "greet-twice", kinds: await page.$$eval("tr[data-seq]", (rows) => rows.map((r) => r.dataset.kind)) });

    // Cancel from the page.
    await page.goto(`${url}/ui#/executions/${doomed}`);
    await page.waitForSelector("h2 .status.waiting", { timeout: 15000 });
    await page.click('button:text("Cancel execution")');
    await page.waitForSelector("h2 .status.cancelled", { timeout: 15000 });
    say({ cancelled: doomed });
    await page.click("nav a[data-section=executions]");
    await page.waitForSelector(`tr[data-id="${doomed}"][data-status="cancelled"]`, { timeout: 15000 });
    await page.screenshot({ path: path.join(shots, "executions.png") });
    await axe(page, "executions");

    // Components, their versions; procedures; at a phone's width too.
    await page.goto(`${url}/ui#/components/flows`);
    await page.waitForSelector("tr[data-version]", { timeout: 15000 });
    say({ versions: await page.$$eval("tr[data-version]", (rows) => rows.length) });
    await axe(page, "component");
    await page.goto(`${url}/ui#/procedures`);
    await page.waitForSelector('tr[data-name="flows.approval"]', { timeout: 15000 });
    say({ procedures: await page.$$eval("tr[data-name]", (rows) => rows.map((r) => [r.dataset.name, r.children[1].textContent])),
      hello: await page.$eval('tr[data-name="greeter.hello"]', (r) => ({
        calls: Number(r.querySelector("td.calls").textContent), errors: Number(r.querySelector("td.errors").textContent),
        p50: r.children[6].textContent })) });
    await axe(page, "procedures");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${url}/ui#/executions`);
    await page.waitForSelector("tr[data-id]", { timeout: 15000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    say({ phone: true, overflow });
    await page.screenshot({ path: path.join(shots, "phone.png") });
    await axe(page, "phone");

    // Keyboard: Tab reaches the navigation, Enter follows a link.
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.goto(`${url}/ui#/executions`);
    await page.reload();
    await page.waitForSelector("tr[data-id]", { timeout: 15000 });
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement.textContent);
    await page.keyboard.press("Enter");
    await page.waitForSelector("h2:text('Components')", { timeout: 15000 });
    say({ keyboard: focused, hash: new URL(page.url()).hash });

    // Sign out; a tenant's key sees its tenant only.
    await page.click('button:text("Sign out")');
    await page.waitForSelector("#signin", { timeout: 15000 });
    await page.fill("#key", tenantKey);
    await page.click('#signin button[type="submit"]');
    await page.waitForSelector("h2:text('Components')", { timeout: 15000 });
    await page.click("nav a[data-section=executions]");
    await page.waitForSelector("h2:text('Executions')", { timeout: 15000 });
    await page.waitForSelector("#execution-rows p, #execution-rows table", { timeout: 15000 });
    say({ tenant: true, rows: await page.$$eval("tr[data-id]", (rows) => rows.map((r) => r.dataset.id)),
      said: await page.textContent("#execution-rows") });
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});

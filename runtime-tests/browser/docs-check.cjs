// Drives /docs in headless Chromium: prints the procedures the page lists, then calls
// greeter.hello through the page's try-it form and prints the result it shows.
// Usage: PLAYWRIGHT_CORE=/path/to/node_modules/playwright-core node docs-check.cjs URL CHROMIUM
"use strict";
const { launch } = require("./launch.cjs");
const [url, executablePath] = process.argv.slice(2);

(async () => {
  const browser = await launch(executablePath);
  try {
    const page = await browser.newPage();
    await page.goto(url + "/docs");
    await page.waitForSelector('details.procedure[data-name="greeter.hello"]', { timeout: 15000 });
    const names = await page.$$eval("details.procedure", (all) => all.map((d) => d.dataset.name));
    const routes = await page.$$eval("p.route", (all) => all.map((p) => [p.dataset.routeFor, p.querySelector("code").textContent]));
    const hello = 'details.procedure[data-name="greeter.hello"]';
    const summary = await page.textContent(`${hello} > summary`);
    const description = await page.$$eval(`${hello} p.description`, (all) => all.map((p) => p.textContent));
    const code = await page.$$eval(`${hello} p.description code`, (all) => all.map((c) => c.textContent));
    console.log(JSON.stringify({ names, routes: Object.fromEntries(routes), summary, description, code }));
    await page.click('details.procedure[data-name="greeter.hello"] > summary');
    await page.fill('textarea[data-procedure="greeter.hello"]', '{"name": "Browser"}');
    await page.click('button[data-call="greeter.hello"]');
    await page.waitForFunction(
      () => document.querySelector('pre[data-result-for="greeter.hello"]').textContent.length > 0,
      null, { timeout: 15000 });
    const shown = await page.textContent('pre[data-result-for="greeter.hello"]');
    console.log(JSON.stringify({ result: JSON.parse(shown) }));
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});

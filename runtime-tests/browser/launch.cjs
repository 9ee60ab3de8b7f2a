// Headless Chromium for the browser checks, with flags for a sandboxed machine that has no
// network beyond loopback. PLAYWRIGHT_CORE names the playwright-core package to use.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

exports.launch = (executablePath) =>
  chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });

// What the report pages' browser checks (report.mjs, fleet.mjs) share:
// assertions that fail with a message, a table's cells, and `offline`,
// which opens one page where nothing but the file itself may load and,
// after the caller's checks, asserts that nothing else was requested or
// loaded and that no page error, console error or dialog came up.
// Prints `ok: STEP` per passed step; the first failure prints `FAIL: …`
// and sets the exit status to 1.

import { launch } from '../support/chromium.mjs';

class Failure extends Error {}

export function check(condition, what) {
  if (!condition) throw new Failure(what);
}

export function includes(haystack, needle, where) {
  check(haystack.includes(needle), `${where} does not show ${JSON.stringify(needle)}:\n${haystack}`);
}

// The cells of each body row of table `id`, as text.
export async function rows(page, id) {
  return page.locator(`table#${id} tbody tr`).evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.cells, (td) => td.innerText.trim())));
}

// Opens `file` (a file:// URL) in a 1200×900 page, every request recorded
// and any but the file refused, then runs `inspect(page)`.
export async function offline(file, inspect) {
  const requested = [];
  const problems = [];
  let browser;
  try {
    browser = await launch({ width: 1200, height: 900 });
    const { context } = browser;
    await context.route('**/*', (route) => {
      const url = route.request().url();
      requested.push(url);
      if (url === file) route.continue(); else route.abort();
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.on('request', (r) => { if (!requested.includes(r.url())) requested.push(r.url()); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('dialog', (d) => { problems.push(`a dialog opened: ${d.message()}`); d.dismiss(); });

    await page.goto(file, { waitUntil: 'load' });
    await inspect(page);

    const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    check(resources.length === 0, `the page loaded resources: ${resources.join(', ')}`);
    const others = requested.filter((u) => u !== file);
    check(others.length === 0, `the page requested ${others.join(', ')}`);
    check(problems.length === 0, problems.join('\n'));
    console.log(`ok: no request but the file itself (${requested.length} recorded)`);
  } catch (e) {
    console.log(`FAIL: ${e instanceof Failure ? e.message : (e.stack ?? e)}`);
    process.exitCode = 1;
  } finally {
    await browser?.close();
  }
}

// Opens a `portreeve report --server URL` HTML file (the fleet's report) in
// Debian's Chromium through playwright-core and checks what a reader would
// see. Run by tests/report_fleet_browser.rs, which builds the report from a
// server it filled and says what to expect:
//
//   REPORT_FILE      the HTML file
//   REPORT_EXPECT    JSON: { hosts, charted (the hosts with findings),
//                    listeners: [[host, port, process, container?]…],
//                    findings: [[host, code, remediation?]…], hostile,
//                    policy }
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   PORTREEVE_PLAYWRIGHT  where playwright-core is installed
//   REPORT_SCREENSHOT     a PNG path: also save a screenshot of the top of
//                         the page there (docs/images/report-fleet.png)
//
// Every request the page makes is routed through here and recorded; any
// but the file itself is refused and fails the run. Prints `ok: STEP` per
// passed step; the first failed assertion prints `FAIL: …` and exits 1.

import { launch } from '../support/chromium.mjs';
import { pathToFileURL } from 'node:url';

const file = pathToFileURL(process.env.REPORT_FILE).href;
const expect = JSON.parse(process.env.REPORT_EXPECT);
const shot = process.env.REPORT_SCREENSHOT;

class Failure extends Error {}

function check(condition, what) {
  if (!condition) throw new Failure(what);
}

function includes(haystack, needle, where) {
  check(haystack.includes(needle), `${where} does not show ${JSON.stringify(needle)}:\n${haystack}`);
}

// The rows of table `id`, each as its cells' visible text.
async function rows(page, id) {
  return page.locator(`table#${id} tbody tr`).evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.cells, (td) => td.innerText.trim())));
}

// Whether some row holds every one of `cells` (each a cell's whole text or
// a part of it).
function hasRow(table, cells) {
  return table.some((row) => cells.every((c) => row.some((cell) => cell.includes(c))));
}

const requested = [];
const problems = [];
let browser;
try {
  browser = await launch({ width: 1200, height: 900 });
  const { context } = browser;
  // Every request: recorded; only the report itself may load.
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
  includes(await page.title(), 'portreeve fleet report', 'the title');
  console.log('ok: the fleet report opens');

  const hosts = await rows(page, 'hosts');
  for (const host of expect.hosts) check(hasRow(hosts, [host]), `host ${host} is not in the hosts table: ${JSON.stringify(hosts)}`);
  console.log('ok: the hosts table lists every host');

  const listeners = await rows(page, 'listeners');
  for (const row of expect.listeners) {
    check(hasRow(listeners, row), `no listener row ${JSON.stringify(row)} in ${JSON.stringify(listeners)}`);
  }
  check(await page.locator('script').count() === 0, 'the page has a script element');
  includes(await page.locator('#listeners').innerText(), expect.hostile, 'the inventory');
  console.log('ok: the inventory lists both hosts\' listeners, a hostile process name as text');

  const findings = await rows(page, 'findings');
  for (const row of expect.findings) {
    check(hasRow(findings, row), `no finding row ${JSON.stringify(row)} in ${JSON.stringify(findings)}`);
  }
  includes(await page.locator('#findings').innerText(), 'docs/findings.md#', 'the findings');
  console.log('ok: the findings of both hosts are listed with where their remediation is');

  for (const id of ['chart-host-findings', 'chart-findings-over-time', 'chart-lifecycle', 'chart-new-listeners']) {
    const chart = page.locator(`svg#${id}`);
    check(await chart.count() === 1, `no chart ${id}`);
    const box = await chart.boundingBox();
    check(box && box.width > 100 && box.height > 20, `chart ${id} is not drawn: ${JSON.stringify(box)}`);
    check(await chart.locator('rect').count() > 0, `chart ${id} draws nothing`);
  }
  const perHost = await page.locator('svg#chart-host-findings').textContent();
  for (const host of expect.charted) includes(perHost, host, 'the findings-per-host chart');
  console.log('ok: the charts are drawn');

  includes(await page.locator('#ledger-status').innerText(), 'Verified', 'the ledger status');
  includes(await page.locator('#policies').innerText(), expect.policy, 'the policies');
  console.log('ok: the policies and the verified server ledger are shown');

  const controls = await rows(page, 'controls');
  check(controls.length > 0, 'no control is listed');
  for (const row of controls) {
    for (const host of expect.hosts) check(row[4].includes(`${host}: `), `control ${row[0]} does not judge ${host}: ${JSON.stringify(row)}`);
  }
  console.log('ok: the framework\'s controls are judged for the fleet and each host');

  if (shot) await page.screenshot({ path: shot, fullPage: false });

  const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  check(resources.length === 0, `the page loaded resources: ${resources.join(', ')}`);
  const others = requested.filter((u) => u !== file);
  check(others.length === 0, `the page requested ${others.join(', ')}`);
  check(problems.length === 0, problems.join('\n'));
  console.log(`ok: no request but the file itself (${requested.length} recorded)`);
} catch (e) {
  if (e instanceof Failure) {
    console.log(`FAIL: ${e.message}`);
  } else {
    console.log(`FAIL: ${e.stack ?? e}`);
  }
  process.exitCode = 1;
} finally {
  await browser?.close();
}

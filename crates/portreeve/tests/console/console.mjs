// Drives the fleet console in Debian's Chromium through playwright-core,
// page by page, asserting on what an operator would see. Run by
// tests/console.rs, which starts the server, seeds it and says what to
// expect:
//
//   CONSOLE_URL      the server's base URL (http://127.0.0.1:PORT)
//   CONSOLE_TOKEN    a viewer token
//   CONSOLE_EXPECT   JSON: what the pages must show (see console.rs)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   PORTREEVE_PLAYWRIGHT  where playwright-core is installed
//   PORTREEVE_CONSOLE_SCREENSHOTS  a directory: also save a PNG per page
//
// Prints `ok: STEP` per passed step; the first failed assertion prints
// `FAIL: …` and exits 1.

import { launch } from '../support/chromium.mjs';
import { join } from 'node:path';


const base = process.env.CONSOLE_URL;
const secret = process.env.CONSOLE_TOKEN;
const expect = JSON.parse(process.env.CONSOLE_EXPECT);
const shots = process.env.PORTREEVE_CONSOLE_SCREENSHOTS;

class Failure extends Error {}

function check(condition, what) {
  if (!condition) throw new Failure(what);
}

/** The text of `selector`, after it appears. */
async function text(page, selector) {
  await page.waitForSelector(selector, { timeout: 10000 });
  return page.locator(selector).innerText();
}

function includes(haystack, needle, where) {
  check(haystack.includes(needle), `${where} does not show ${JSON.stringify(needle)}:\n${haystack}`);
}

async function screenshot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: false });
}

const problems = [];
let browser;
try {
  browser = await launch({ width: 1360, height: 860 });
  const { context } = browser;
  const page = context.pages()[0] ?? await context.newPage();
  // Script errors and refused loads (a Content-Security-Policy violation
  // is one) fail the run at its end.
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('dialog', (d) => { problems.push(`a dialog opened: ${d.message()}`); d.dismiss(); });

  // `/` leads to the console, served with its security headers.
  const first = await page.goto(`${base}/`);
  check(new URL(page.url()).pathname === '/console/', `/ went to ${page.url()}`);
  const headers = first.headers();
  includes(headers['content-security-policy'] ?? '', "script-src 'self'", 'the CSP header');
  check(headers['x-content-type-options'] === 'nosniff', 'no nosniff header');
  console.log('ok: / redirects to /console/ with its security headers');

  // A wrong token is refused on the sign-in page.
  await page.fill('#token', 'prt_0000');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.querySelector('.error')?.textContent.length > 0);
  includes(await text(page, '.error'), 'Not signed in', 'the sign-in page');
  await screenshot(page, 'signin');
  // The browser logs the refused request (401) as an error: expected here.
  problems.length = 0;
  console.log('ok: a wrong token is refused');

  // The fleet overview.
  await page.fill('#token', secret);
  await page.click('button[type=submit]');
  const hosts = await text(page, '#hosts');
  for (const name of expect.hosts) includes(hosts, name, 'the hosts table');
  includes(hosts, 'ledger inconsistent', 'the hosts table');
  const totals = await text(page, '#severity-totals');
  for (const count of expect.severity_totals) includes(totals, count, 'the severity totals');
  for (const port of expect.exposed_ports) includes(hosts, port, 'the exposed ports');
  check(!hosts.includes(expect.loopback_port), `a loopback listener is shown as exposed:\n${hosts}`);
  await screenshot(page, 'overview');
  console.log('ok: the overview lists the hosts, their exposure and findings by severity');

  // A host's page.
  await page.click(`#hosts a:text-is("${expect.host.name}")`);
  check(await text(page, '#host-name') === expect.host.name, 'the host page names another host');
  includes(await text(page, '#listeners'), expect.host.listener, 'the listeners');
  includes(await text(page, '#host-findings'), expect.host.finding_code, 'the host findings');
  includes(await text(page, '#drift'), expect.host.drift, 'the drift');
  includes(await text(page, '#checkpoints'), String(expect.host.checkpoint_index), 'the checkpoints');
  const content = await page.locator('#content').innerText();
  includes(content, expect.block_source, 'the host page');
  includes(await text(page, '#host-policy'), `${expect.host.policy} confirmed`, 'the host\u2019s fleet policy');
  await screenshot(page, 'host');
  console.log('ok: the host page shows listeners, findings, drift, blocks, policy and checkpoints');

  // Findings triage: filtered by severity, then by host too.
  await page.goto(`${base}/console/#/findings?severity=critical`);
  let rows = await text(page, '#findings');
  includes(rows, expect.critical_code, 'the critical findings');
  const severities = await page.$$eval('#findings tbody tr', (trs) => trs.map((tr) => tr.children[0].textContent));
  check(severities.length > 0 && severities.every((s) => s === 'critical'),
    `severity=critical lists ${severities.join(', ')}`);
  await page.goto(`${base}/console/#/findings`);
  await page.waitForSelector('#findings');
  await page.selectOption('#filter-host', { label: expect.host.name });
  await page.waitForFunction(([name, count]) => {
    const rows = [...document.querySelectorAll('#findings tbody tr')];
    return rows.length === count && rows.every((tr) => tr.children[1]?.textContent === name);
  }, [expect.host.name, expect.host.findings], { timeout: 10000 });
  await page.goto(`${base}/console/#/findings`);
  await page.waitForFunction((count) => document.querySelectorAll('#findings tbody tr').length === count,
    expect.findings_total, { timeout: 10000 });
  // Markup in a message is shown as text, never parsed.
  rows = await text(page, '#findings');
  includes(rows, expect.markup_message, 'the findings');
  check(await page.locator('#findings script, #findings img').count() === 0, 'markup from the API became elements');
  includes(await text(page, '#finding-counts'), expect.severity_totals[0], 'the findings counts');
  await screenshot(page, 'findings');
  console.log('ok: findings filter by severity and host, and markup stays text');

  // Grants and blocks.
  await page.goto(`${base}/console/#/access`);
  includes(await text(page, '#blocks'), expect.block_source, 'the blocks');
  includes(await text(page, '#grants'), expect.grant_source, 'the grants');
  await screenshot(page, 'access');
  console.log('ok: grants and blocks are listed');

  // The ledger: every shown entry's inclusion proof checked in the page.
  await page.goto(`${base}/console/#/ledger`);
  await page.waitForSelector('#ledger-entries .proof');
  await page.waitForFunction(() => [...document.querySelectorAll('#ledger-entries .proof')]
    .every((c) => !c.textContent.includes('checking')), null, { timeout: 15000 });
  const proofs = await page.locator('#ledger-entries .proof').allInnerTexts();
  check(proofs.length >= expect.ledger_entries_at_least,
    `${proofs.length} ledger entries shown, expected at least ${expect.ledger_entries_at_least}`);
  check(proofs.every((p) => p.includes('verified')), `not every proof verified: ${proofs.join(' | ')}`);
  includes(await text(page, '#host-ledgers'), 'inconsistent', 'the hosts\u2019 ledgers');
  await screenshot(page, 'ledger');
  console.log(`ok: ${proofs.length} ledger inclusion proofs verified in the browser`);

  // Policies: one approved and assigned, one awaiting approval.
  await page.goto(`${base}/console/#/policies`);
  const versions = await text(page, '#policy-versions');
  for (const words of ['web', 'db', 'alice', 'bob', 'approved', 'awaiting approval']) {
    includes(versions, words, 'the policy versions');
  }
  includes(await text(page, '#assignments'), 'web-1', 'the assignments');
  await screenshot(page, 'policies');
  console.log('ok: the policies page shows versions, approvals and assignments');

  // Signing out forgets the token.
  await page.click('.signout');
  await page.waitForSelector('#token');
  check(await page.evaluate(() => sessionStorage.length) === 0, 'the token outlived sign-out');
  console.log('ok: signing out forgets the token');

  check(problems.length === 0, `the browser reported:\n${problems.join('\n')}`);
  console.log('ok: no script error or refused load');
} catch (e) {
  console.log(`FAIL: ${e instanceof Failure ? e.message : e.stack}`);
  process.exitCode = 1;
} finally {
  await browser?.close();
}

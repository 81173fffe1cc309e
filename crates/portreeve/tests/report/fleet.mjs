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

import { check, includes, offline, rows } from './page_check.mjs';
import { pathToFileURL } from 'node:url';

const file = pathToFileURL(process.env.REPORT_FILE).href;
const expect = JSON.parse(process.env.REPORT_EXPECT);
const shot = process.env.REPORT_SCREENSHOT;

// Whether some row holds every one of `cells` (each a cell's whole text or
// a part of it).
function hasRow(table, cells) {
  return table.some((row) => cells.every((c) => row.some((cell) => cell.includes(c))));
}

await offline(file, async (page) => {
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
});

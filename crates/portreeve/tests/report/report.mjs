// Opens a `portreeve report` HTML file in Debian's Chromium through
// playwright-core and checks what a reader would see. Run by
// tests/report.rs, which builds the report and says what to expect:
//
//   REPORT_FILE      the HTML file
//   REPORT_EXPECT    JSON: { ports, findings, hostile, zone, grant, block,
//                    busy_port, controls } (see report.rs)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   PORTREEVE_PLAYWRIGHT  where playwright-core is installed
//   REPORT_SCREENSHOT     a PNG path: also save a screenshot of the top of
//                         the page there (docs/images/report.png is made so)
//
// Every request the page makes is routed through here and recorded; any
// but the file itself is refused and fails the run. Prints `ok: STEP` per
// passed step; the first failed assertion prints `FAIL: …` and exits 1.

import { check, includes, offline } from './page_check.mjs';
import { pathToFileURL } from 'node:url';

const file = pathToFileURL(process.env.REPORT_FILE).href;
const expect = JSON.parse(process.env.REPORT_EXPECT);
const shot = process.env.REPORT_SCREENSHOT;

await offline(file, async (page) => {
  includes(await page.title(), 'portreeve report', 'the title');
  console.log('ok: the report opens');

  const listeners = await page.locator('#listeners').innerText();
  for (const port of expect.ports) includes(listeners, port, 'the inventory');
  includes(listeners, expect.hostile, 'the inventory');
  check(await page.locator('script').count() === 0, 'the page has a script element');
  console.log('ok: the inventory lists the listeners, a hostile process name as text');

  const findings = await page.locator('#findings').innerText();
  for (const id of expect.findings) includes(findings, id, 'the findings');
  console.log('ok: the findings are listed with their remediation');

  for (const id of ['chart-severity', 'chart-over-time', 'chart-lifecycle', 'chart-connections']) {
    const chart = page.locator(`svg#${id}`);
    check(await chart.count() === 1, `no chart ${id}`);
    const box = await chart.boundingBox();
    check(box && box.width > 100 && box.height > 20, `chart ${id} is not drawn: ${JSON.stringify(box)}`);
    check(await chart.locator('rect, polyline').count() > 0, `chart ${id} draws nothing`);
  }
  includes(await page.locator('svg#chart-connections').textContent(), expect.busy_port, 'the connections chart');
  console.log('ok: the charts are drawn');

  includes(await page.locator('#exposure').innerText(), expect.zone, 'the exposure');
  includes(await page.locator('#grants').innerText(), expect.grant, 'the grants');
  includes(await page.locator('#blocks').innerText(), expect.block, 'the blocks');
  includes(await page.locator('#ledger-status').innerText(), 'Verified', 'the ledger status');
  console.log('ok: exposure, grants, blocks and the verified ledger are shown');

  const controls = await page.locator('#controls tbody tr').count();
  check(controls === expect.controls, `${controls} controls shown, expected ${expect.controls}`);
  console.log('ok: the framework\'s controls are listed');

  if (shot) await page.screenshot({ path: shot, fullPage: false });
});

// Debian's Chromium through playwright-core, as the browser tests
// (console/console.mjs, report/report.mjs) open it: headless, in a fresh
// profile, with every background service that would reach for the network
// turned off. playwright-core is required from PORTREEVE_PLAYWRIGHT, where
// scripts/test.sh installs it; CHROMIUM overrides /usr/bin/chromium.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(join(process.env.PORTREEVE_PLAYWRIGHT, 'node_modules', 'noop.js'));
const { chromium } = require('playwright-core');

// A browser context of `viewport` size in a new profile directory; `close`
// ends it and removes the profile.
export async function launch(viewport) {
  const profile = mkdtempSync(join(tmpdir(), 'portreeve-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      viewport,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

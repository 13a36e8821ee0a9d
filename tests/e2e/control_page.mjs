// Drives the web control page in headless Chromium the way a person at the room panel
// would: sign in (a wrong password first), start a recording, see its picture and sound,
// pause, resume, stop, find the recording in the list. Prints every step with its timing
// and exits 0 only when all of them passed.
//
//   node tests/e2e/control_page.mjs <url> <user> <password> <artifact-dir>
//
// playwright-core comes from target/test-servers (scripts/install-test-servers), Chromium
// from Debian (/usr/bin/chromium).

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, user, password, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error('usage: control_page.mjs <url> <user> <password> <artifact-dir>');
  process.exit(2);
}
const require = createRequire(new URL('../../target/test-servers/', import.meta.url));
const { chromium } = require('playwright-core');

const STEP_TIMEOUT = 20000;
const origin = new URL(url).origin;
const title = `Control page check ${new Date().toISOString().slice(11, 19)}`;
let failed = false;
const started = Date.now();

/** Runs one step, printing its outcome and duration; a failed step ends the run. */
async function step(name, action) {
  const t0 = performance.now();
  try {
    const detail = await action();
    const ms = (performance.now() - t0).toFixed(0).padStart(6);
    console.log(`ok   ${ms} ms  ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    const ms = (performance.now() - t0).toFixed(0).padStart(6);
    console.log(`FAIL ${ms} ms  ${name}: ${String(error && error.message).split('\n')[0]}`);
    failed = true;
    throw error;
  }
}

const problems = [];
let browser;
let page;
try {
  await step('launch Chromium', async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    // The 7-inch room panel.
    const context = await browser.newContext({ viewport: { width: 800, height: 480 }, hasTouch: true });
    page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of (401|404)/.test(message.text())) {
        problems.push(`console error: ${message.text()}`);
      }
    });
    // The page must work offline: nothing may be asked of another host.
    page.on('request', (request) => {
      const target = request.url();
      if (!target.startsWith('data:') && !target.startsWith('blob:') && new URL(target).origin !== origin) {
        problems.push(`request to another host: ${target}`);
      }
    });
    return browser.version();
  });

  await step('open the page', async () => {
    await page.goto(url, { waitUntil: 'load' });
    await page.locator('#login-form').waitFor({ state: 'visible' });
  });

  await step('a wrong password shows the API error', async () => {
    await page.fill('#login-user', user);
    await page.fill('#login-password', `${password}-wrong`);
    await page.click('#login-submit');
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    const text = await error.textContent();
    if (!/invalid user name or password/.test(text)) throw new Error(`message was ${JSON.stringify(text)}`);
    return text;
  });

  await step('sign in', async () => {
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await page.locator('#app-view').waitFor({ state: 'visible' });
    await page.locator('#state[data-state="idle"]').waitFor();
  });

  await step('pick the lecture template', async () => {
    await page.locator('#template option[value="lecture"]').waitFor({ state: 'attached' });
    await page.selectOption('#template', 'lecture');
    await page.fill('#title', title);
  });

  await step('start: state capturing', async () => {
    await page.locator('#start:enabled').click();
    await page.locator('#state[data-state="capturing"]').waitFor();
    const pause = await page.locator('#pause').isEnabled();
    const start = await page.locator('#start').isEnabled();
    if (!pause || start) throw new Error(`buttons: pause enabled ${pause}, start enabled ${start}`);
  });

  await step('preview picture loaded', async () => {
    await page.waitForFunction(() => {
      const img = document.getElementById('preview');
      return img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:');
    }, null, { timeout: STEP_TIMEOUT });
    return page.evaluate(() => {
      const img = document.getElementById('preview');
      return `${img.naturalWidth}×${img.naturalHeight}`;
    });
  });

  await step('recorded time ticks', async () => {
    const first = await page.textContent('#elapsed');
    await page.waitForFunction((before) => document.getElementById('elapsed').textContent !== before, first);
    return `${first} → ${await page.textContent('#elapsed')}`;
  });

  await step('audio meters show levels', async () => {
    await page.locator('#meters .meter').first().waitFor({ state: 'visible' });
    return page.evaluate(() => [...document.querySelectorAll('#meters .meter')].map((m) => m.title).join('; '));
  });

  await step('screenshot while recording', async () => {
    mkdirSync(artifacts, { recursive: true });
    // What the panel's screen shows, without scrolling.
    const file = join(artifacts, 'control-page-recording.png');
    await page.screenshot({ path: file });
    return file;
  });

  await step('pause: state paused', async () => {
    await page.locator('#pause:enabled').click();
    await page.locator('#state[data-state="paused"]').waitFor();
    if (!(await page.locator('#resume').isEnabled())) throw new Error('resume is not enabled');
  });

  await step('resume: state capturing', async () => {
    await page.locator('#resume:enabled').click();
    await page.locator('#state[data-state="capturing"]').waitFor();
  });

  await step('stop: the session ends', async () => {
    await page.locator('#stop:enabled').click();
    await page.waitForFunction(() => ['processing', 'idle'].includes(document.getElementById('state').dataset.state));
    return page.textContent('#state');
  });

  await step('the new recording is listed, complete', async () => {
    const item = page.locator('#packages li', { hasText: title });
    await item.first().waitFor({ timeout: 30000 });
    await item.locator('.badge[data-state="complete"]').first().waitFor({ timeout: 30000 });
    return (await item.first().innerText()).replace(/\s+/g, ' ');
  });

  await step('live updates', async () => page.textContent('#link'));

  await step('screenshot', async () => {
    mkdirSync(artifacts, { recursive: true });
    const file = join(artifacts, 'control-page.png');
    await page.screenshot({ path: file, fullPage: true });
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.screenshot({ path: join(artifacts, 'control-page-desktop.png'), fullPage: true });
    return file;
  });

  // The same page against a daemon without the event stream: it must poll instead.
  let polling;
  await step('without /events: signs in and polls', async () => {
    const context = await browser.newContext({ viewport: { width: 800, height: 480 }, hasTouch: true });
    polling = await context.newPage();
    polling.setDefaultTimeout(STEP_TIMEOUT);
    polling.on('pageerror', (error) => problems.push(`page error (polling): ${error.message}`));
    await polling.route('**/api/1/events', (route) =>
      route.fulfill({
        status: 404,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'Not Found', code: 'route.not_found', message: 'no route GET /api/1/events', status_code: 404, params: {} }),
      }),
    );
    await polling.goto(url);
    await polling.fill('#login-user', user);
    await polling.fill('#login-password', password);
    await polling.click('#login-submit');
    await polling.locator('#link[data-mode="polling"]').waitFor();
  });

  await step('without /events: start, picture, meters from the audio device', async () => {
    await polling.locator('#template option[value="lecture"]').waitFor({ state: 'attached' });
    await polling.selectOption('#template', 'lecture');
    await polling.selectOption('#duration', '30');
    await polling.fill('#title', `${title} (polling)`);
    await polling.locator('#start:enabled').click();
    await polling.locator('#state[data-state="capturing"]').waitFor();
    await polling.waitForFunction(() => document.getElementById('preview').naturalWidth > 0);
    await polling.locator('#meters .meter').first().waitFor({ state: 'visible' });
    const remaining = await polling.textContent('#remaining');
    if (!/^(29|30):\d\d$/.test(remaining)) throw new Error(`remaining shows ${remaining}`);
    return `remaining ${remaining}`;
  });

  await step('the live page sees that start through its event stream', async () => {
    // It reads the full status only every 10 s while the stream runs.
    await page.locator('#state[data-state="capturing"]').waitFor({ timeout: 3000 });
  });

  await step('without /events: stop', async () => {
    await polling.locator('#stop:enabled').click();
    await polling.waitForFunction(() => ['processing', 'idle'].includes(document.getElementById('state').dataset.state));
    await polling.locator('#packages li', { hasText: `${title} (polling)` }).first().waitFor({ timeout: 30000 });
  });

  await step('no page errors and no other hosts', async () => {
    if (problems.length) throw new Error(problems.join('; '));
  });
} catch {
  // The failing step has said why.
} finally {
  if (browser) await browser.close().catch(() => {});
}
console.log(`${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);

// The harness of the browser tests: a fresh data folder with the demo
// district, the real `chuangwen` binary serving it on a free loopback port,
// and Debian's chromium driven by playwright-core.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..');
const BIN = process.env.CHUANGWEN_BIN || path.join(ROOT, 'target', 'debug', 'chuangwen');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** The password every demo user gets. */
const DEMO_PASSWORD = 'Demo-Pass-2026';
/** Where screenshots go, one file per page and width. */
const SCREENSHOTS = path.join(__dirname, 'screenshots');

/** Runs the binary in `dir` and returns its standard output. */
function chuangwen(dir, args) {
  return execFileSync(BIN, args, { cwd: dir, env: cleanEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function cleanEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CHUANGWEN_')));
  return { ...env, CHUANGWEN_LOG: 'warn', ...extra };
}

/** Starts a server on the demo district; resolves to { url, stop, dir }. */
async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chuangwen-e2e-'));
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  chuangwen(dir, ['demo', '--password', DEMO_PASSWORD]);
  const child = spawn(BIN, ['serve'], { cwd: dir, env: cleanEnv({ CHUANGWEN_LISTEN: '127.0.0.1:0' }), stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${seen}`)), 20000);
    child.stderr.on('data', (chunk) => {
      seen += chunk.toString();
      const match = seen.match(/创文通 Chuangwen: (http:\/\/[0-9.:]+)\//);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${seen}`)));
  });
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { url, stop, dir };
}

/** Launches headless chromium as the machine's closed network needs it. */
function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

const WIDTHS = { phone: { width: 360, height: 780 }, desktop: { width: 1440, height: 900 } };

/** A screenshot of the page at its current width, named after what it shows. */
async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * A logged-in page for `username` at `width` (a key of WIDTHS), in a context
 * of its own (`options`: geolocation, permissions…). Uncaught script errors of
 * the page are collected in `page.scriptErrors`.
 */
async function loginAs(browser, server, username, width, options = {}) {
  const context = await browser.newContext({ viewport: WIDTHS[width], ...options });
  const page = await context.newPage();
  page.scriptErrors = [];
  page.on('pageerror', (error) => page.scriptErrors.push(error.message));
  await page.goto(`${server.url}/login`);
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${server.url}/`);
  return page;
}

/**
 * Clicks a submit button and waits for the page that answers: a new document
 * (the old one is marked, so a message left on it cannot be mistaken for the answer).
 */
async function submit(page, button) {
  await page.evaluate(() => { window.__answered = false; });
  await button.click();
  await page.waitForFunction(() => window.__answered === undefined && document.readyState === 'complete');
}

/**
 * Starts a server and a browser before a file's tests and stops both after;
 * `setup(ctx)` runs once they are up. The returned object holds `server` and `browser`.
 */
function useServerAndBrowser(test, setup) {
  const ctx = {};
  test.before(async () => {
    ctx.server = await startServer();
    ctx.browser = await launchBrowser();
    if (setup) await setup(ctx);
  });
  test.after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}

module.exports = {
  useServerAndBrowser, chuangwen, startServer, launchBrowser, screenshot, loginAs, submit, DEMO_PASSWORD, WIDTHS, SCREENSHOTS,
};

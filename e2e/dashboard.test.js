// The war room in a real browser: the office's dashboard with its tiles and
// charts, the rankings with the map of grids by rectification rate, the wall
// display at 1920×1080, a weekly report made, read and downloaded as PDF; a
// street's handler sees its own figures only.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { useServerAndBrowser, screenshot, loginAs, submit, DEMO_PASSWORD, SCREENSHOTS } = require('./harness');

const ctx = useServerAndBrowser(test);

test('the office dashboard shows every measure, its trend and its breakdowns', async () => {
  const page = await loginAs(ctx.browser, ctx.server, 'office01', 'desktop');
  await page.goto(`${ctx.server.url}/dashboard?preset=year`);
  assert.match(await page.textContent('h1'), /全区/);
  assert.equal(await page.locator('.tile').count(), 11, 'one tile per measure');
  const rate = await page.textContent('.tile[data-measure="rectification_rate"] .value');
  assert.match(rate, /^\d+\.\d%$/, `整改率 ${rate}`);
  const reported = Number(await page.textContent('.tile[data-measure="reported"] .value'));
  assert.ok(reported > 0, 'a year of demo cases');
  await page.waitForSelector('#trend-chart canvas');
  assert.ok(await page.locator('section.card table.dense tbody tr').count() > 10, 'breakdown rows');
  await page.waitForTimeout(1500); // the charts' opening animation
  await screenshot(page, 'dashboard-office-desktop');
  // The definition is one click away.
  await page.click('.tile[data-measure="rectification_rate"] .label a');
  assert.match(await page.textContent('#rectification_rate'), /已整改数 ÷ \(应整改数 − 挂账数\)/);
  assert.deepEqual(page.scriptErrors, []);
  await page.context().close();
});

test('rankings explain their score and colour the grids by rectification rate', async () => {
  const page = await loginAs(ctx.browser, ctx.server, 'leader01', 'desktop');
  await page.goto(`${ctx.server.url}/dashboard/rankings?preset=year`);
  assert.match(await page.textContent('.explain'), /综合得分 = \(整改率×40/);
  const first = await page.locator('table.dense tbody tr').first().locator('td').first().textContent();
  assert.equal(first.trim(), '1', 'the best street is first');
  await page.waitForSelector('#rate-map[data-ready="1"]', { timeout: 20000 });
  assert.equal(await page.getAttribute('#rate-map', 'data-grids-drawn'), '600');
  assert.equal(await page.locator('textarea[name=body]').count(), 0, 'a leader reads the weights, the office sets them');
  await screenshot(page, 'dashboard-rankings-desktop');
  assert.deepEqual(page.scriptErrors, []);
  await page.context().close();
});

test('the wall display fills 1920×1080 with charts', async () => {
  const context = await ctx.browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${ctx.server.url}/login`);
  await page.fill('#username', 'leader01');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${ctx.server.url}/`);
  await page.goto(`${ctx.server.url}/dashboard/screen?preset=year`);
  await page.waitForSelector('#trend-chart canvas');
  await page.waitForSelector('#campaign-chart canvas');
  assert.equal(await page.locator('.screen-tiles .tile').count(), 11);
  await page.waitForTimeout(1500); // the charts' opening animation
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  assert.ok(height <= 1080, `fits the wall: ${height}px`);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-screen-1920.png') });
  assert.deepEqual(errors, []);
  await context.close();
});

test('the office makes a weekly report, reads it and downloads its PDF', async () => {
  const page = await loginAs(ctx.browser, ctx.server, 'office01', 'desktop');
  await page.goto(`${ctx.server.url}/reports`);
  await submit(page, page.locator('form[action="/reports/weekly"] button'));
  assert.match(new URL(page.url()).pathname, /^\/reports\/\d+$/);
  assert.match(await page.textContent('article.report h1'), /创文工作周报/);
  assert.match(await page.textContent('article.report'), /一、总体情况/);
  const href = await page.getAttribute('a:text("PDF")', 'href');
  const pdf = await page.request.get(`${ctx.server.url}${href}`);
  assert.equal(pdf.status(), 200);
  assert.equal(pdf.headers()['content-type'], 'application/pdf');
  assert.equal((await pdf.body()).subarray(0, 4).toString(), '%PDF');
  await screenshot(page, 'report-weekly-desktop');
  await page.context().close();
});

test("a street's handler sees its own street's figures and no rankings", async () => {
  const page = await loginAs(ctx.browser, ctx.server, 'handler046', 'phone');
  await page.goto(`${ctx.server.url}/dashboard?preset=year`);
  assert.match(await page.textContent('h1'), /海河路街道/);
  assert.equal(await page.locator('table.dense').count(), 1, 'only its overdue list, no breakdowns of others');
  const response = await page.goto(`${ctx.server.url}/dashboard/rankings`);
  assert.equal(response.status(), 403);
  await page.goBack();
  await screenshot(page, 'dashboard-street-phone');
  await page.context().close();
});

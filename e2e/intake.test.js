// Bulk intake in a real browser: the office uploads a 12345 hotline export
// with a bad row, confirms the columns, reads the report, skips the bad row
// with one click, finds the new cases, and undoes the whole batch — at
// desktop width, with the mapping and report also shot on a phone.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { useServerAndBrowser, screenshot, loginAs, submit, SCREENSHOTS } = require('./harness');

const ctx = useServerAndBrowser(test);

/** A hotline export as the hotline writes it: its own headers, a title row, one bad row. */
function hotlineExport() {
  const file = path.join(SCREENSHOTS, '12345-export.csv');
  const lines = [
    '2026年11月 12345 热线工单明细,,,',
    '工单编号,问题分类,诉求内容,事发地址',
    'RX-0001,暴露垃圾,小区门口垃圾满溢无人清理,海河路 18 号',
    'RX-0002,不存在的分类,路灯不亮,海河路 20 号',
    'RX-0003,暴露垃圾,菜市场后门垃圾堆放,海河路 36 号',
  ];
  fs.writeFileSync(file, '\ufeff' + lines.join('\r\n') + '\r\n');
  return file;
}

/** Waits until the batch's job has finished and the page has reloaded with its report. */
async function waitForReport(page) {
  await page.waitForSelector('#summary', { timeout: 20000 });
  return (await page.textContent('#summary')).trim();
}

test('the office takes in a hotline export, skips its bad row and undoes the batch', async () => {
  const page = await loginAs(ctx.browser, ctx.server, 'office01', 'desktop');
  await page.click('nav >> text=批量导入');
  assert.equal(new URL(page.url()).pathname, '/intake');
  await page.selectOption('#source', 'hotline');
  await page.setInputFiles('#file', hotlineExport());
  await submit(page, page.locator('button[type=submit].primary'));

  // The mapping step: the title row is passed over, our fields found by their names.
  assert.match(page.url(), /\/intake\/batches\/\d+$/);
  assert.equal(await page.inputValue('#col_external_ref'), '工单编号');
  assert.equal(await page.inputValue('#col_category'), '问题分类');
  assert.equal(await page.inputValue('#col_description'), '诉求内容');
  assert.equal(await page.inputValue('#col_address'), '事发地址');
  assert.match(await page.textContent('#samples'), /小区门口垃圾满溢/);
  await screenshot(page, 'intake-mapping-desktop');
  await submit(page, page.locator('#start'));

  // All or nothing: the bad row is named, nothing filed.
  const refused = await waitForReport(page);
  assert.match(refused, /3 行中有 1 行有误，未写入任何数据/);
  const errors = await page.textContent('#errors');
  assert.match(errors, /4/);
  assert.match(errors, /未知的分类“不存在的分类”/);
  await screenshot(page, 'intake-refused-desktop');

  // One click files the other two.
  await submit(page, page.locator('#skip-bad-rows'));
  const done = await waitForReport(page);
  assert.match(done, /立案 2 件/);
  assert.match(done, /跳过错误行 1 行/);
  await screenshot(page, 'intake-done-desktop');
  const batchUrl = page.url();

  // The batch's cases are in the register, each saying where it came from.
  await submit(page, page.locator('a', { hasText: '查看本批次案卷' }));
  const list = await page.textContent('main');
  assert.match(list, /小区门口垃圾满溢无人清理/);
  assert.match(list, /菜市场后门垃圾堆放/);
  assert.doesNotMatch(list, /路灯不亮/);
  await page.goto(batchUrl);

  // Undo, after confirming.
  page.once('dialog', (dialog) => dialog.accept());
  await submit(page, page.locator('#undo'));
  assert.match(await page.textContent('main'), /已撤销/);
  await screenshot(page, 'intake-undone-desktop');
  await page.goto(`${ctx.server.url}/intake`);
  const batches = await page.textContent('#batches');
  assert.match(batches, /12345-export\.csv/);
  assert.match(batches, /已撤销/);
  assert.deepEqual(page.scriptErrors, []);
  await page.context().close();
});

test('the mapping step and the list read on a phone', async () => {
  const page = await loginAs(ctx.browser, ctx.server, 'office01', 'phone');
  await page.goto(`${ctx.server.url}/intake`);
  await page.selectOption('#source', 'third_party');
  await page.setInputFiles('#file', hotlineExport());
  await submit(page, page.locator('button[type=submit].primary'));
  assert.match(await page.textContent('h2'), /确认各字段对应的列/);
  await screenshot(page, 'intake-mapping-phone');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360 + 1, `the page fits the phone's width (${width}px); the sample table scrolls on its own`);
  await page.context().close();
});

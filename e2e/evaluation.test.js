// A round of simulated evaluation end to end in a real browser: the office
// plans it (a seeded draw of points by type, an evaluator assigned), the
// evaluator answers the checklist at the point on a phone with a photo, the
// failures become cases dispatched to the point's responsible unit, and the
// office reads the score with the lost points traced to that unit.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { useServerAndBrowser, screenshot, loginAs, submit, SCREENSHOTS } = require('./harness');

let photo;
const ctx = useServerAndBrowser(test, async ({ server, browser }) => {
  const page = await browser.newPage({ viewport: { width: 640, height: 480 } });
  await page.goto(`${server.url}/login`);
  photo = path.join(SCREENSHOTS, 'evaluation-photo.png');
  await page.screenshot({ path: photo });
  await page.close();
});

test('a round: planned, answered on a phone with a photo, cases dispatched, score computed', async () => {
  // The office plans the round.
  const office = await loginAs(ctx.browser, ctx.server, 'office01', 'desktop');
  await office.click('nav >> text=测评');
  assert.equal(new URL(office.url()).pathname, '/evaluation/rounds');
  await office.fill('#name', '第四季度模拟测评');
  await office.fill('#seed', '2026');
  await office.fill('#quota_main_road', '1');
  await office.locator('label.check', { hasText: 'evaluator01' }).locator('input').check();
  await screenshot(office, 'evaluation-plan-desktop');
  await submit(office, office.locator('#plan button[type=submit]'));
  assert.match(office.url(), /\/evaluation\/rounds\/\d+$/);
  const roundUrl = office.url();
  assert.match(await office.textContent('#progress'), /已测 0 \/ 1 个点位/);
  const row = await office.textContent('#points tbody tr');
  assert.match(row, /主次干道/);
  assert.match(row, /待测评/);
  const unit = (await office.textContent('#points tbody tr td:nth-child(3)')).trim();
  await office.waitForSelector('#round-map[data-ready="1"]');
  const mapped = async () => JSON.parse(await office.getAttribute('#round-map', 'data-points')).map((p) => p.state);
  assert.equal(await office.getAttribute('#round-map', 'data-drawn'), '1', 'the point is on the map');
  assert.deepEqual(await mapped(), ['pending']);
  await screenshot(office, 'evaluation-round-desktop');

  // The evaluator answers at the point, on a phone, standing there.
  const evaluator = await loginAs(ctx.browser, ctx.server, 'evaluator01', 'phone', {
    geolocation: { longitude: 117.2, latitude: 39.1, accuracy: 8 },
    permissions: ['geolocation'],
  });
  await evaluator.goto(roundUrl);
  await submit(evaluator, evaluator.locator('#points a', { hasText: '测评' }));
  assert.match(new URL(evaluator.url()).pathname, /\/points\/\d+$/);
  await evaluator.waitForFunction(() => document.getElementById('lon').value !== '');
  const items = evaluator.locator('fieldset.check-item');
  const count = await items.count();
  assert.ok(count >= 5, `the main road's checklist (${count} items)`);
  for (let i = 0; i < count; i++) {
    await items.nth(i).locator('input[value=pass]').check();
  }
  await items.nth(0).locator('input[value=fail]').check();
  await items.nth(0).locator('input[name^=count_]').fill('2');
  await items.nth(1).locator('input[value=serious]').check();
  await items.nth(1).locator('input[name^=note_]').fill('路边堆放装修垃圾');
  await items.nth(count - 1).locator('input[value=not_applicable]').check();

  // A failure without a photo is refused, the answers kept.
  await submit(evaluator, evaluator.locator('#checklist button[type=submit]'));
  assert.match(await evaluator.textContent('.field-error'), /请拍摄现场照片/);
  assert.equal(await items.nth(1).locator('input[value=serious]').isChecked(), true, 'the answers are kept');
  await evaluator.setInputFiles('#photos', photo);
  await screenshot(evaluator, 'evaluation-checklist-phone');
  await submit(evaluator, evaluator.locator('#checklist button[type=submit]'));
  assert.match(await evaluator.textContent('#message'), /2 个不合格项已生成问题案卷/);
  assert.match(await evaluator.textContent('#points tbody tr'), /有不合格/);
  await screenshot(evaluator, 'evaluation-answered-phone');
  assert.deepEqual(evaluator.scriptErrors, []);
  await evaluator.context().close();

  // The office: two cases dispatched to the point's unit, and the score.
  await office.goto(`${ctx.server.url}/cases?source=eval_round`);
  const raised = office.locator('table tbody tr', { hasText: '第四季度模拟测评' });
  assert.equal(await raised.count(), 2, 'one case per failed item');
  for (let i = 0; i < 2; i++) {
    const text = await raised.nth(i).textContent();
    assert.match(text, /待签收/, 'dispatched, waiting for the unit to sign for it');
    assert.match(text, new RegExp(unit), "to the point's responsible unit");
  }
  await office.goto(roundUrl);
  await office.waitForSelector('#round-map[data-ready="1"]');
  assert.deepEqual(await mapped(), ['failed'], 'now marked failed, in red');
  await submit(office, office.locator('#score-link'));
  // By hand: 02.01.01 keeps 2 of 4 (two places at 0.5 of weight 2), 02.01.02 loses all 3
  // (serious), four standards keep their 3 each, 05.02.01 is not applicable: 14 of 19 measured.
  assert.equal((await office.textContent('#total')).trim(), '14');
  const lostByUnit = await office.textContent('#lost-by-unit');
  assert.match(lostByUnit, new RegExp(unit), 'the lost points are the point unit\'s');
  assert.match(await office.textContent('#lost-by-standard'), /02\.01\.0[12]/, 'the standards that lost, first');
  assert.match(await office.textContent('#scores'), /实测/);
  assert.match(await office.textContent('#scores'), /未评/);
  await screenshot(office, 'evaluation-score-desktop');
  assert.deepEqual(office.scriptErrors, []);
  await office.context().close();
});

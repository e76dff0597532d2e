// The whole loop in a real browser, across four roles: a supervisor reports
// with a photo on a phone → the office accepts and dispatches → the unit
// handles with an after-photo → the inspector fails it once, then passes it.
// Each person's view is checked at each step; screenshots of every page go
// to e2e/screenshots/.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { useServerAndBrowser, screenshot, loginAs, submit, SCREENSHOTS } = require('./harness');

let photo;
const ctx = useServerAndBrowser(test, async ({ server, browser }) => {
  // A real image to upload: a screenshot of the login page (PNG).
  const page = await browser.newPage({ viewport: { width: 640, height: 480 } });
  await page.goto(`${server.url}/login`);
  photo = path.join(SCREENSHOTS, 'evidence-photo.png');
  await page.screenshot({ path: photo });
  await page.close();
});

/** A logged-in page for `username` at `width`, standing at the district's centre. */
function as(username, width) {
  return loginAs(ctx.browser, ctx.server, username, width, {
    geolocation: { longitude: 117.2, latitude: 39.1, accuracy: 10 },
    permissions: ['geolocation'],
  });
}

/** Takes a step from the case page and waits for the page that answers it. */
async function step(page, code, fill) {
  const form = page.locator(`form.step[data-step="${code}"]`);
  if (fill) await fill(form);
  await submit(page, form.locator('button[type=submit]'));
  await page.waitForSelector('.ok, .field-error');
}

async function stateOf(page) {
  return (await page.textContent('h1 .state')).trim();
}

async function steps(page) {
  return page.$$eval('form.step', (forms) => forms.map((f) => f.dataset.step));
}

test('a report goes round the loop across four roles', async () => {
  // The supervisor, on a phone.
  const supervisor = await as('supervisor001', 'phone');
  await supervisor.goto(`${ctx.server.url}/cases/new`);
  await supervisor.waitForFunction(() => document.getElementById('lon').value !== '');
  await screenshot(supervisor, 'report-form-phone');
  await supervisor.setInputFiles('#photo', photo);
  await supervisor.selectOption('#category', '06010');
  await supervisor.fill('#description', '海河路与梅江道交口东南角成堆垃圾');
  await supervisor.fill('#address', '海河路与梅江道交口');
  await Promise.all([supervisor.waitForURL(/\/cases\/\d+\?done=report/), supervisor.click('#report button[type=submit]')]);
  const caseUrl = supervisor.url().split('?')[0];
  assert.equal(await stateOf(supervisor), '待受理');
  assert.match(await supervisor.textContent('.ok'), /已上报/);
  assert.equal(await supervisor.locator('.photos img').count(), 1, 'the photo is on the case');
  assert.deepEqual(await steps(supervisor), [], 'a supervisor takes no step');
  await screenshot(supervisor, 'case-reported-phone');

  // The office accepts and dispatches, on a desktop.
  const office = await as('office01', 'desktop');
  await office.goto(caseUrl);
  assert.ok((await steps(office)).includes('accept'));
  await step(office, 'accept');
  assert.equal(await stateOf(office), '待派遣');
  assert.match(await office.textContent('form.step[data-step="dispatch"]'), /建议/);
  await screenshot(office, 'case-accepted-desktop');
  await step(office, 'dispatch', (form) => form.locator('select[name=unit_id]').selectOption({ label: '区城市管理委员会' }));
  assert.equal(await stateOf(office), '待签收');
  await screenshot(office, 'case-dispatched-desktop');

  // The unit: acknowledges, then handles; without a photo it is refused beside the form.
  const handler = await as('handler003', 'phone');
  await handler.goto(caseUrl);
  assert.deepEqual((await steps(handler)).sort(), ['acknowledge', 'request_return']);
  await step(handler, 'acknowledge');
  assert.equal(await stateOf(handler), '处置中');
  await step(handler, 'handle');
  assert.match(await handler.textContent('.field-error'), /整改后的照片/);
  await screenshot(handler, 'case-handle-refused-phone');
  await step(handler, 'handle', (form) => form.locator('input[name=photo]').setInputFiles(photo));
  assert.equal(await stateOf(handler), '待核查');
  assert.equal(await handler.locator('.photos img').count(), 2, 'before and after side by side');
  await screenshot(handler, 'case-handled-phone');

  // The inspector fails it once…
  const inspector = await as('inspector01', 'phone');
  await inspector.goto(caseUrl);
  assert.deepEqual((await steps(inspector)).sort(), ['verify_fail', 'verify_pass']);
  await step(inspector, 'verify_fail', (form) => form.locator('input[name=note]').fill('仍有垃圾残留'));
  assert.equal(await stateOf(inspector), '处置中');
  await screenshot(inspector, 'case-reworked-phone');

  // …the unit handles it again, and the inspector passes it.
  await handler.goto(caseUrl);
  await step(handler, 'handle', (form) => form.locator('input[name=photo]').setInputFiles(photo));
  await inspector.goto(caseUrl);
  await step(inspector, 'verify_pass');
  assert.equal(await stateOf(inspector), '已结案');

  // The supervisor sees it closed, with every step in the timeline.
  await supervisor.goto(caseUrl);
  assert.equal(await stateOf(supervisor), '已结案');
  const timeline = await supervisor.textContent('.timeline');
  for (const word of ['上报', '受理立案', '派遣', '签收', '处置完毕', '核查不通过', '核查通过']) {
    assert.ok(timeline.includes(word), `timeline lacks ${word}`);
  }
  await screenshot(supervisor, 'case-closed-phone');
  await office.goto(`${ctx.server.url}/cases?q=${encodeURIComponent('海河路与梅江道')}`);
  // The list shows its page at once and its total when the count comes back.
  await office.waitForFunction(() => /^共 \d+ 件$/.test(document.querySelector('#total').textContent.trim()));
  const listed = await office.locator('table.cases tbody tr').count();
  assert.ok(listed >= 1 && listed < 30, `${listed} cases listed`);
  assert.equal((await office.textContent('#total')).trim(), `共 ${listed} 件`);
  await screenshot(office, 'case-list-desktop');
  for (const page of [supervisor, office, handler, inspector]) await page.context().close();
});

test('a hostile or long description is shown escaped and intact; an empty one is refused beside its field', async () => {
  const page = await as('inspector02', 'desktop');
  await page.goto(`${ctx.server.url}/cases/new`);
  await page.waitForFunction(() => document.getElementById('lon').value !== '');
  await page.selectOption('#category', '07001');
  await page.fill('#address', '柳林路 12 号');
  await Promise.all([page.waitForLoadState('load'), page.click('#report button[type=submit]')]);
  await page.waitForSelector('.field-error');
  assert.match(await page.textContent('.field-error'), /请描述问题/);
  assert.equal(await page.inputValue('#category'), '07001', 'the rest of the form is kept');
  assert.equal(await page.inputValue('#address'), '柳林路 12 号');
  await screenshot(page, 'report-refused-desktop');

  const hostile = '<script>window.pwned = 1</script>小广告'.padEnd(5000, '贴');
  await page.fill('#description', hostile);
  await Promise.all([page.waitForURL(/\/cases\/\d+/), page.click('#report button[type=submit]')]);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script ran');
  assert.equal((await page.textContent('p.desc')).trim(), hostile, 'shown intact');
  await page.context().close();
});

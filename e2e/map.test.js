// Maps and batch dispatch in a real browser: the district map draws its grid
// cells, points and clustered cases; a supervisor without GPS picks the spot
// on the report form's map and finds the category by searching; the office
// dispatches the report from the batch page with the suggested unit; the
// case page shows the spot on its small map.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { useServerAndBrowser, screenshot, loginAs, submit } = require('./harness');

const ctx = useServerAndBrowser(test);

/** A logged-in page; no geolocation permission. */
function as(username, width) {
  return loginAs(ctx.browser, ctx.server, username, width);
}

/** The colour of the pixel at the centre of a map's canvas, as [r, g, b]. */
function centrePixel(page, selector) {
  return page.$eval(`${selector} canvas`, (canvas) => {
    const [x, y] = [Math.floor(canvas.width / 2), Math.floor(canvas.height / 2)];
    return Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
  });
}

test('the district map draws grids, points and clustered open cases', async () => {
  const page = await as('office01', 'desktop');
  await page.goto(`${ctx.server.url}/map`);
  await page.waitForSelector('#district-map[data-ready="1"]', { timeout: 20000 });
  const status = await page.textContent('#map-status');
  assert.match(status, /网格 600 个/, status);
  assert.match(status, /点位 1500 个/, status);
  const open = Number(status.match(/办理中的案卷 (\d+) 件/)[1]);
  assert.ok(open > 0, status);
  assert.ok(await page.locator('#district-map .marker-cluster').count() > 0, 'open cases gather in clusters');
  assert.ok(await page.locator('#district-map canvas').count() > 0, 'grid cells are drawn on a canvas');
  assert.equal(await page.locator('.leaflet-control-layers-overlays label').count(), 3, 'grids, points and cases can be toggled');
  assert.equal(await page.locator('.leaflet-tile').count(), 0, 'no tiles are fetched when none are configured');
  await screenshot(page, 'map-district-desktop');
  // A click on a cluster zooms in: the district is read down to single cases.
  const zoom = Number(await page.getAttribute('#district-map', 'data-zoom'));
  await page.locator('#district-map .marker-cluster').first().click();
  await page.waitForFunction((before) => Number(document.getElementById('district-map').dataset.zoom) > before, zoom);
  await screenshot(page, 'map-district-zoomed-desktop');
  assert.deepEqual(page.scriptErrors, []);
  await page.context().close();
});

test('a report placed on the map is dispatched from the batch page and shown on its small map', async () => {
  const supervisor = await as('supervisor001', 'phone');
  await supervisor.goto(`${ctx.server.url}/cases/new`);
  await supervisor.waitForFunction(() => /未能定位|无法获取定位/.test(document.getElementById('where').textContent));
  // A category with two filing conditions asks which (the limit depends on it).
  await supervisor.selectOption('#category', '01001');
  assert.equal(await supervisor.isVisible('#condition'), true);
  assert.deepEqual(await supervisor.$$eval('#condition option', (os) => os.map((o) => o.textContent)),
    ['井盖缺失（2 小时）', '破损、松动、不平（2 工作日）']);
  // The category by search: one match is chosen at once.
  await supervisor.fill('#category-search', '非法小广告');
  await supervisor.waitForFunction(() => document.getElementById('category').value !== '');
  const category = await supervisor.inputValue('#category');
  await supervisor.click('#pick-open');
  await supervisor.waitForSelector('#pick-map .leaflet-interactive, #pick-map canvas');
  await supervisor.waitForTimeout(300);
  await supervisor.locator('#pick-map').click(); // its centre, scrolled into view
  await supervisor.waitForFunction(() => document.getElementById('lon').value !== '');
  assert.equal(await supervisor.textContent('#where'), '已在地图上选点');
  assert.equal(await supervisor.inputValue('#crs'), 'wgs84');
  await screenshot(supervisor, 'report-map-pick-phone');
  await supervisor.fill('#description', '公交站牌背面贴满小广告');
  await Promise.all([supervisor.waitForURL(/\/cases\/\d+\?done=report/), supervisor.click('#report button[type=submit]')]);
  const caseUrl = supervisor.url().split('?')[0];
  const number = (await supervisor.textContent('h1')).match(/\d{4}-\d{6}/)[0];

  // The office accepts it, then dispatches it with others from the batch page.
  const office = await as('office01', 'desktop');
  await office.goto(caseUrl);
  await submit(office, office.locator('form.step[data-step="accept"] button'));
  await office.waitForSelector('.ok');
  await office.goto(`${ctx.server.url}/cases/dispatch`);
  const row = office.locator('table.batch tr', { hasText: number });
  assert.equal(await row.count(), 1, 'the accepted report waits on the batch page');
  assert.match(await row.textContent(), /建议：/, 'with the suggested unit');
  const suggested = await row.locator('select').inputValue();
  assert.notEqual(suggested, '');
  // Only this case goes in the batch.
  await office.uncheck('#check-all');
  await row.locator('input[name=case]').check();
  await screenshot(office, 'dispatch-batch-desktop');
  await Promise.all([office.waitForURL(/\/cases\/dispatch\?batch=/), office.click('#batch button[type=submit]')]);
  assert.match(await office.textContent('.ok'), /已派遣 1 件，整改单批次 \d{4}-第\d+批/);
  await office.goto(caseUrl);
  assert.equal((await office.textContent('h1 .state')).trim(), '待签收');
  await office.waitForSelector('#case-map[data-ready="1"]');
  // The small map is centred on the spot, drawn as a red dot.
  const [r, g, b] = await centrePixel(office, '#case-map');
  assert.ok(r > 150 && g < 90 && b < 90, `the spot is drawn at the centre: rgb(${r}, ${g}, ${b})`);
  await screenshot(office, 'case-with-map-desktop');
  assert.equal(category, '07001', 'the one category matching the search was chosen');
  assert.equal(await supervisor.isVisible('#condition'), false, 'one condition: nothing to ask');
  assert.deepEqual([...supervisor.scriptErrors, ...office.scriptErrors], []);
  await supervisor.context().close();
  await office.context().close();
});

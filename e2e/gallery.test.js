// Every page at phone and desktop widths, as an administrator and as a
// unit's handler, saved to e2e/screenshots/ — and none of them may fail.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { useServerAndBrowser, screenshot, loginAs, WIDTHS } = require('./harness');

const ctx = useServerAndBrowser(test);

const PAGES = {
  admin: ['/', '/cases', '/cases?overdue=1', '/cases?state=requests', '/cases/new', '/cases/dispatch', '/supervision', '/map',
    '/places', '/places?type=school', '/places/import', '/settings', '/admin/users', '/admin/users/new', '/admin/tokens',
    '/admin/audit', '/account/password', '/dashboard', '/dashboard/rankings', '/dashboard/measures', '/reports',
    '/admin/webhooks'],
  handler046: ['/', '/cases', '/cases/new', '/supervision', '/map', '/places', '/account/password', '/dashboard', '/reports'],
};

for (const [user, paths] of Object.entries(PAGES)) {
  for (const width of Object.keys(WIDTHS)) {
    test(`every page of ${user} renders at ${width} width`, async () => {
      const page = await loginAs(ctx.browser, ctx.server, user, width);
      // A case of this user's scope, and a point, for the object pages.
      await page.goto(`${ctx.server.url}/cases`);
      const caseLink = await page.getAttribute('table.cases a', 'href');
      await page.goto(`${ctx.server.url}/places`);
      const pointLink = await page.getAttribute('table.dense a', 'href');
      assert.match(caseLink ?? '', /^\/cases\/\d+$/, `${user} has a case to open`);
      assert.match(pointLink ?? '', /^\/places\/points\/\d+$/, `${user} has a point to open`);
      for (const path of [...paths, caseLink, pointLink]) {
        const response = await page.goto(`${ctx.server.url}${path}`);
        assert.equal(response.status(), 200, `${user} ${path}`);
        // Maps draw after their data arrives.
        for (const id of ['#district-map', '#case-map']) {
          if (await page.$(id)) await page.waitForSelector(`${id}[data-ready="1"]`, { timeout: 15000 });
        }
        const name = path.replace(/^\//, '').replace(/[/?=&]/g, '-') || 'home';
        await screenshot(page, `gallery-${user}-${name}-${width}`);
      }
      assert.deepEqual(page.scriptErrors, [], `${user}: no script error on any page`);
      await page.context().close();
    });
  }
}

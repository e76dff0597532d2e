// Login in a real browser: a wrong password, a good one, and the forced
// change of an initial password — at phone and desktop widths.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { useServerAndBrowser, chuangwen, screenshot, DEMO_PASSWORD, WIDTHS } = require('./harness');

const ctx = useServerAndBrowser(test);

for (const [width, viewport] of Object.entries(WIDTHS)) {
  test(`a wrong password is refused and the username is kept (${width})`, async () => {
    const page = await ctx.browser.newPage({ viewport });
    await page.goto(`${ctx.server.url}/`);
    assert.equal(new URL(page.url()).pathname, '/login', 'not logged in: the login page');
    await screenshot(page, `login-${width}`);
    await page.fill('#username', 'office01');
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.field-error');
    assert.match(await page.textContent('.field-error'), /用户名或密码错误/);
    assert.equal(await page.inputValue('#username'), 'office01');
    await screenshot(page, `login-wrong-password-${width}`);
    await page.close();
  });

  test(`the office logs in and sees its district (${width})`, async () => {
    const page = await ctx.browser.newPage({ viewport });
    await page.goto(`${ctx.server.url}/login`);
    await page.fill('#username', 'office01');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${ctx.server.url}/`);
    assert.match(await page.textContent('h1'), /海河示范区/);
    assert.match(await page.textContent('.tiles.inbox'), /待受理/, 'the office opens on its piles of work');
    assert.match(await page.textContent('main'), /单元网格/);
    await screenshot(page, `home-${width}`);
    await page.close();
  });
}

test('a new user must change the initial password before anything else', async () => {
  chuangwen(ctx.server.dir, ['user', 'add', '--username', 'newcomer', '--name', '新同事', '--unit', '120199001', '--role', 'handler',
    '--password', 'Initial-Pass-1']);
  const page = await ctx.browser.newPage({ viewport: WIDTHS.phone });
  await page.goto(`${ctx.server.url}/login`);
  await page.fill('#username', 'newcomer');
  await page.fill('#password', 'Initial-Pass-1');
  await page.click('button[type=submit]');
  await page.waitForURL(`${ctx.server.url}/account/password`);
  assert.match(await page.textContent('h1'), /请先修改初始密码/);
  await screenshot(page, 'forced-password-change-phone');

  // Elsewhere is closed until the password is changed.
  await page.goto(`${ctx.server.url}/places`);
  assert.equal(new URL(page.url()).pathname, '/account/password');

  // A weak password is refused beside its field; nothing else is lost.
  await page.fill('#current', 'Initial-Pass-1');
  await page.fill('#new', 'abcdefgh');
  await page.fill('#confirm', 'abcdefgh');
  await page.click('form[action="/account/password"] button[type=submit]');
  await page.waitForSelector('.field-error');
  assert.match(await page.textContent('.field-error'), /至少三类/);
  await screenshot(page, 'forced-password-change-weak-phone');

  await page.fill('#current', 'Initial-Pass-1');
  await page.fill('#new', 'Haihe-River-2026');
  await page.fill('#confirm', 'Haihe-River-2026');
  await page.click('form[action="/account/password"] button[type=submit]');
  await page.waitForSelector('.ok');
  assert.match(await page.textContent('.ok'), /密码已修改/);

  await page.goto(`${ctx.server.url}/places`);
  assert.equal(new URL(page.url()).pathname, '/places');
  assert.match(await page.textContent('h1'), /点位与网格/);
  await page.close();
});

// Sign-in at an OpenID provider in the browser: `kompass dev` configured
// with the test provider (`kompass-oidc-fake`, on loopback), as a
// deployment behind a provider runs. An operator invites a person by
// e-mail; the person signs in at the provider and lands on their home page;
// an identity nobody invited gets the page saying whom to ask; signing out
// ends the session at the provider too. axe-core on every page shown.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = process.env.KOMPASS_BIN || join(root, 'target/debug/kompass');
const fakeBin = process.env.KOMPASS_OIDC_FAKE_BIN || join(dirname(bin), 'kompass-oidc-fake');
const CLIENT = 'kompass-console';
const SECRET = 'console-secret';

let idp, dev, browser, issuer, consoleUrl, tenancyUrl, operatorToken;
let out = '';

function waitFor(getText, re, ms, what) {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`${what} did not print ${re} in ${ms} ms:\n${getText()}`)), ms);
    const check = () => {
      const m = getText().match(re);
      if (m) { clearTimeout(t); ok(m); } else setTimeout(check, 100);
    };
    check();
  });
}

async function axe(page, what) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const v = r.violations.map((x) => `${x.id}: ${x.help} (${x.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  assert.deepEqual(v, [], `axe violations on ${what}`);
}

async function nextUser(sub, email, name) {
  const r = await fetch(`${issuer}/test/next-user`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, email, email_verified: true, name }),
  });
  assert.equal(r.status, 204);
}

before(async () => {
  let idpOut = '';
  idp = spawn(fakeBin, [CLIENT, SECRET], { stdio: ['pipe', 'pipe', 'inherit'] });
  idp.stdout.on('data', (d) => { idpOut += d; });
  issuer = (await waitFor(() => idpOut, /issuer (http:\/\/[0-9.:]+)/, 10000, 'kompass-oidc-fake'))[1];

  const data = mkdtempSync(join(tmpdir(), 'kompass-dev-oidc-'));
  const env = { ...process.env, KOMPASS_LOG: 'warn', NO_COLOR: '1' };
  for (const k of ['CONSOLE', 'TENANCY', 'ASSESSMENT', 'PROJECTS', 'REPORTING']) env[`KOMPASS_${k}_PORT`] = '0';
  for (const k of ['KOMPASS_BIN', 'KOMPASS_SCREENSHOTS', 'KOMPASS_OIDC_FAKE_BIN']) delete env[k];
  Object.assign(env, {
    KOMPASS_OIDC_ISSUER: issuer,
    KOMPASS_OIDC_CLIENT_ID: CLIENT,
    KOMPASS_OIDC_CLIENT_SECRET: SECRET,
    // The services verify the provider's ID tokens.
    KOMPASS_JWKS_URL: `${issuer}/jwks`,
    KOMPASS_JWT_ISSUER: issuer,
    KOMPASS_JWT_AUDIENCE: CLIENT,
  });
  dev = spawn(bin, ['dev', '--data-dir', data], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  dev.stdout.on('data', (d) => { out += d; });
  dev.stderr.on('data', (d) => { out += d; });
  const dv = () => out;
  consoleUrl = (await waitFor(dv, /Console: (http:\/\/[0-9.:]+)/, 60000, 'kompass dev'))[1];
  await waitFor(dv, /development sign-in is off/, 5000, 'kompass dev');
  tenancyUrl = (await waitFor(dv, /tenancy\s+(http:\/\/[0-9.:]+)/, 10000, 'kompass dev'))[1];
  operatorToken = (await waitFor(dv, /operator \([^)]*\):\s*\n\s*(\S+)/, 10000, 'kompass dev'))[1];

  // The operator invites Anna by e-mail, as `kompass user invite` does.
  const invited = execFileSync(bin, ['user', 'invite', '--addr', tenancyUrl, '--token', operatorToken,
    '--email', 'anna.lind@example.se', '--name', 'Anna Lind'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME || '/root', KOMPASS_DATA_DIR: data },
  }).toString();
  assert.match(invited, /anna\.lind@example\.se/);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (dev) dev.kill('SIGINT');
  if (idp) idp.kill();
});

test('an invited person signs in at the provider, and signs out there too', async () => {
  const ctx = await browser.newContext({ locale: 'sv', extraHTTPHeaders: { 'accept-language': 'sv' } });
  const page = await ctx.newPage();
  await page.goto(consoleUrl + '/sign-in');
  // Only the provider: the development sign-in is refused with OIDC configured.
  assert.equal(await page.locator('form[action="/dev/sign-in"]').count(), 0);
  await axe(page, 'sign-in with OIDC');
  await nextUser('idp-anna', 'anna.lind@example.se', 'Anna L.');
  await page.click('a[href^="/auth/login"]');
  await page.waitForURL(consoleUrl + '/home');
  assert.match(await page.textContent('.account'), /Anna Lind/);
  await axe(page, 'home after OIDC sign-in');

  // Sign out: the session ends here and at the provider, then back home.
  await page.click('.account button[type=submit]');
  await page.waitForURL(consoleUrl + '/');
  const home = await page.goto(consoleUrl + '/home');
  assert.match(page.url(), /\/sign-in\?next=/, `signed out (${home.status()})`);
  await ctx.close();
});

for (const [lang, says] of [['sv', 'Inget Kompass-konto'], ['en', 'No Kompass account'], ['nb', 'Ingen Kompass-konto']]) {
  test(`an identity nobody invited is told whom to ask (${lang})`, async () => {
    const ctx = await browser.newContext({ locale: lang, extraHTTPHeaders: { 'accept-language': lang } });
    const page = await ctx.newPage();
    await nextUser(`idp-stranger-${lang}`, `stranger-${lang}@example.se`, 'Stranger');
    await page.goto(consoleUrl + '/sign-in');
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/auth/callback')),
      page.click('a[href^="/auth/login"]'),
    ]);
    assert.equal(resp.status(), 403);
    assert.ok((await page.textContent('h1')).trim().startsWith(says));
    assert.equal(await page.getAttribute('html', 'lang'), lang);
    assert.match(await page.textContent('main'), new RegExp(`stranger-${lang}@example\\.se`));
    await axe(page, `no account (${lang})`);
    await ctx.close();
  });
}

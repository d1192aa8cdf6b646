// Browser test of signing in to vigil: the sign-in page, the session cookie, what a tenant's
// viewer may see and do, CSRF protection of POSTs, and signing out.
//
//   cd tests/browser && npm ci && node --test login.test.mjs
//
// Environment:
//   VIGIL_BIN      server binary (default ../../build/vigil from this file)
//   CHROMIUM       browser binary (default /usr/bin/chromium; never downloaded)
//   DASH_WEB_ROOT  dashboard files the server serves (default ../../web from this file,
//                  via --web-root); "embedded" uses the copy built into the binary
//
// Builds a database in a fresh temporary directory with the CLI (two tenants, three test
// cameras, an admin and a viewer of tenant acme), starts `vigil serve --db FILE --listen
// 127.0.0.1:PORT` on a free port, drives headless Chromium through playwright-core, and
// stops the server with SIGTERM at the end, expecting exit status 0. The server's log is
// printed if anything failed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VIGIL_BIN, CHROMIUM, WEB_ARGS, startVigil, waitHealthy, stopVigil, launchChromium } from './lib.mjs';
import { setTimeout as sleep } from 'node:timers/promises';

const WAIT = 15000;               // bound for any single wait in the page
const CLI_WAIT = 30000;           // bound for one CLI command (a password is hashed with Argon2id)

const COOKIE = 'vigil_session';
const USERS = {
  admin: { password: 'admin-pass-1234', role: 'admin' },
  alice: { password: 'alice-pass-5678', role: 'viewer', tenant: 'acme' },
};
const CAMERAS = { 'acme-door': 'acme', 'acme-yard': 'acme', 'globex-gate': 'globex' };
const ACME = ['acme-door', 'acme-yard'];
const ALL = Object.keys(CAMERAS).sort();

let tmpDir = '';
let dbFile = '';
let server = null;                // startVigil(): { proc, exited, log, url }
let baseUrl = '';
let browser = null;
let context = null;               // alice's browser context
let page = null;
let failed = false;               // any hook or test failed: print the server log
const pageErrors = [];            // uncaught exceptions in any page
let sessionCookie = null;         // alice's cookie, to replay after sign-out

// Marks failures so that after() prints the server log.
function noting(fn) {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (e) {
      failed = true;
      throw e;
    }
  };
}
const check = (name, fn) => test(name, noting(fn));

// One CLI command on the test database; exits 0 or the test setup fails.
function cli(args, input) {
  try {
    return execFileSync(VIGIL_BIN, [...args, '--db', dbFile], {
      input: input ?? '',
      timeout: CLI_WAIT,
      stdio: ['pipe', 'pipe', 'pipe'],
    }).toString();
  } catch (e) {
    throw new Error(`vigil ${args.join(' ')} failed (status ${e.status}, signal ${e.signal}):\n`
      + `${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

async function newPage(ctx) {
  const pg = await ctx.newPage();
  pg.setDefaultTimeout(WAIT);
  pg.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  return pg;
}

// The page has settled on the sign-in page.
async function onLoginPage(pg) {
  await pg.waitForURL(`${baseUrl}/login.html`, { timeout: WAIT });
  await pg.waitForSelector('#login-form', { state: 'visible', timeout: WAIT });
}

// Fills in and submits the sign-in form.
async function signIn(pg, user, password) {
  await pg.fill('#login-user', user);
  await pg.fill('#login-password', password);
  await pg.click('#login-submit');
}

// Camera ids of the grid's tiles, once the grid holds at least `n` and has stayed the
// same for a moment (a tile that should not be there would have shown up by then).
async function tileIds(pg, n) {
  await pg.waitForFunction((k) => document.querySelectorAll('#grid .tile[data-camera]').length >= k,
    n, { timeout: WAIT });
  await sleep(500);
  return (await pg.$$eval('#grid .tile[data-camera]', (els) => els.map((e) => e.dataset.camera))).sort();
}

// fetch() from inside the page (the browser sends the cookie): { status, body }.
async function pageFetch(pg, url, init = {}) {
  return pg.evaluate(async ([u, i]) => {
    const r = await fetch(u, { cache: 'no-store', ...i });
    return { status: r.status, body: await r.text() };
  }, [url, init]);
}

before(noting(async () => {
  // The binary may be rebuilt under us: give it a moment to come back.
  for (let i = 0; i < 60 && !existsSync(VIGIL_BIN); i++) await sleep(1000);
  assert.ok(existsSync(VIGIL_BIN), `vigil binary not found at ${VIGIL_BIN} (set VIGIL_BIN)`);
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (set CHROMIUM)`);

  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-login-'));
  dbFile = path.join(tmpDir, 'vigil.db');
  cli(['tenant', 'add', 'id=acme', 'name=Acme']);
  cli(['tenant', 'add', 'id=globex', 'name=Globex']);
  for (const id of Object.keys(CAMERAS)) {
    cli(['camera', 'add', `id=${id}`, `name=${id}`, 'url=test://?width=320&height=240&fps=5']);
  }
  cli(['user', 'add', 'id=admin', 'name=Admin', 'role=admin', '--password-stdin'],
    `${USERS.admin.password}\n`);
  cli(['user', 'add', 'id=alice', 'name=Alice', 'role=viewer', 'tenant_id=acme', '--password-stdin'],
    `${USERS.alice.password}\n`);
  for (const [id, tenant] of Object.entries(CAMERAS)) cli(['tenant', 'grant', tenant, `camera=${id}`]);

  server = await startVigil(VIGIL_BIN, ['serve', '--db', dbFile, ...WEB_ARGS], { logChars: 40000 });
  baseUrl = server.url;
  await waitHealthy(server, 20000);

  browser = await launchChromium(CHROMIUM);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await newPage(context);
}));

after(async () => {
  try {
    if (browser) await browser.close().catch(() => {});
    if (server) await stopVigil(server);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (failed) {
      const log = server ? server.log() : '';
      process.stderr.write(`\n---- vigil server log (last ${log.length} chars) ----\n${log}`
        + '\n---- end of server log ----\n');
    }
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  }
});

check('opening / without a session lands on the sign-in page', async () => {
  await page.goto(`${baseUrl}/`, { waitUntil: 'load', timeout: WAIT });
  await onLoginPage(page);
  assert.ok(await page.isHidden('#login-msg'), 'no error message before trying');
  assert.equal(await page.locator('#grid .tile').count(), 0, 'no camera tiles');
});

check('a wrong password shows an error and stays on the sign-in page', async () => {
  await signIn(page, 'alice', 'not-alices-password');
  await page.waitForSelector('#login-msg', { state: 'visible', timeout: WAIT });
  assert.equal((await page.textContent('#login-msg')).trim(), 'Wrong user name or password.');
  await sleep(500);               // a redirect, if there were one, would have started
  assert.equal(page.url(), `${baseUrl}/login.html`);
  assert.ok(await page.isEnabled('#login-submit'), 'submit usable again');
  const cookies = await context.cookies(baseUrl);
  assert.equal(cookies.find((c) => c.name === COOKIE), undefined, 'no session cookie after a failure');
});

check('alice signs in and sees exactly the acme cameras, with pictures', async () => {
  await signIn(page, 'alice', USERS.alice.password);
  await page.waitForURL(`${baseUrl}/`, { timeout: WAIT });
  await page.waitForSelector('#who', { state: 'visible', timeout: WAIT });
  const who = await page.textContent('#who-name');
  assert.match(who, /\balice\b/, `#who-name: "${who}"`);
  assert.match(who, /\bviewer\b/, `#who-name: "${who}"`);
  assert.match(who, /\bacme\b/, `#who-name: "${who}"`);
  assert.ok(await page.isVisible('#sign-out'), 'sign-out button shown');

  assert.deepEqual(await tileIds(page, ACME.length), ACME, 'tiles');
  assert.equal(await page.locator('#grid .tile[data-camera="globex-gate"]').count(), 0, 'no globex tile');
  // The API agrees with the grid.
  const r = await pageFetch(page, '/api/v1/cameras', { headers: { Accept: 'application/json' } });
  assert.equal(r.status, 200, `GET /api/v1/cameras: ${r.body}`);
  assert.deepEqual(JSON.parse(r.body).cameras.map((c) => c.id).sort(), ACME, 'GET /api/v1/cameras');

  // A tile draws frames (same counter the dashboard test reads).
  await page.waitForFunction(() => [...document.querySelectorAll('#grid .tile')]
    .some((e) => Number(e.dataset.frames) >= 2), null, { timeout: WAIT });
});

check('the session cookie is HttpOnly and SameSite=Strict, out of reach of scripts', async () => {
  const cookies = await context.cookies(baseUrl);
  const c = cookies.find((k) => k.name === COOKIE);
  assert.ok(c, `a ${COOKIE} cookie: ${JSON.stringify(cookies.map((k) => k.name))}`);
  assert.equal(c.httpOnly, true, 'HttpOnly');
  assert.equal(c.sameSite, 'Strict', 'SameSite');
  assert.equal(c.path, '/', 'Path');
  assert.ok(c.value.length >= 32, `a long random token (${c.value.length} chars)`);
  sessionCookie = c;
  const docCookie = await page.evaluate(() => document.cookie);
  assert.ok(!docCookie.includes(COOKIE), `document.cookie: "${docCookie}"`);
  assert.ok(!docCookie.includes(c.value), 'token not readable by scripts');
});

check("alice cannot reach another tenant's camera nor the tenant list", async () => {
  const cam = await pageFetch(page, '/api/v1/cameras/globex-gate');
  assert.equal(cam.status, 404, `GET /api/v1/cameras/globex-gate: ${cam.body}`);
  const own = await pageFetch(page, '/api/v1/cameras/acme-door');
  assert.equal(own.status, 200, `GET /api/v1/cameras/acme-door: ${own.body}`);
  const tenants = await pageFetch(page, '/api/v1/tenants');
  assert.equal(tenants.status, 403, `GET /api/v1/tenants: ${tenants.body}`);
});

check('a POST without the CSRF token is refused and the session survives', async () => {
  const bare = await pageFetch(page, '/api/v1/logout', { method: 'POST' });
  assert.equal(bare.status, 403, `POST /api/v1/logout without X-CSRF-Token: ${bare.body}`);
  const wrong = await pageFetch(page, '/api/v1/logout',
    { method: 'POST', headers: { 'X-CSRF-Token': 'x'.repeat(43) } });
  assert.equal(wrong.status, 403, `POST /api/v1/logout with a wrong X-CSRF-Token: ${wrong.body}`);
  const s = await pageFetch(page, '/api/v1/session');
  assert.equal(s.status, 200, `GET /api/v1/session afterwards: ${s.body}`);
  assert.equal(JSON.parse(s.body).user, 'alice');
  // Still signed in on a reload too.
  await page.reload({ waitUntil: 'load', timeout: WAIT });
  await page.waitForSelector('#who', { state: 'visible', timeout: WAIT });
  assert.equal(page.url(), `${baseUrl}/`);
  assert.deepEqual(await tileIds(page, ACME.length), ACME, 'tiles after reload');
});

check('signing out returns to the sign-in page and ends the session', async () => {
  await page.click('#sign-out');
  await onLoginPage(page);
  // The server forgot the session: reloading / goes back to sign-in.
  await page.goto(`${baseUrl}/`, { waitUntil: 'load', timeout: WAIT });
  await onLoginPage(page);
  const s = await pageFetch(page, '/api/v1/session');
  assert.equal(s.status, 401, `GET /api/v1/session after sign-out: ${s.body}`);
  // Replaying the old cookie from outside the browser does not work either.
  assert.ok(sessionCookie, 'cookie captured earlier');
  const r = await fetch(`${baseUrl}/api/v1/session`, {
    headers: { Cookie: `${COOKIE}=${sessionCookie.value}` },
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(r.status, 401, `old cookie after sign-out: ${await r.text()}`);
});

check('the admin signs in and sees all three cameras', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const pg = await newPage(ctx);
    await pg.goto(`${baseUrl}/`, { waitUntil: 'load', timeout: WAIT });
    await onLoginPage(pg);
    await signIn(pg, 'admin', USERS.admin.password);
    await pg.waitForURL(`${baseUrl}/`, { timeout: WAIT });
    await pg.waitForSelector('#who', { state: 'visible', timeout: WAIT });
    const who = await pg.textContent('#who-name');
    assert.match(who, /\badmin\b/, `#who-name: "${who}"`);
    assert.deepEqual(await tileIds(pg, ALL.length), ALL, 'tiles');
    const t = await pageFetch(pg, '/api/v1/tenants');
    assert.equal(t.status, 200, `GET /api/v1/tenants as admin: ${t.body}`);
  } finally {
    await ctx.close().catch(() => {});
  }
});

check('no uncaught errors in the pages', async () => {
  assert.deepEqual(pageErrors, []);
});

// Browser test of the dashboard's PTZ controls (issue 17, web/ptz.js): an operator drags the
// joystick and the fake Bosch camera receives a move, then a stop when the mouse is released;
// the arrow keys steer too; a viewer sees no controls.
//
//   cd tests/browser && npm ci && node --test ptz.test.mjs
//
// Environment: VIGIL_BIN, CHROMIUM, DASH_WEB_ROOT as in lib.mjs; PYTHON (default
// /usr/bin/python3) runs tests/fakes/fake_bosch.py on a free loopback port.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { VIGIL_BIN, CHROMIUM, WEB_ARGS, startVigil, waitHealthy, stopVigil, launchChromium } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.PYTHON || '/usr/bin/python3';
const WAIT = 15000;
const USERS = {
  root: { password: 'root-pass-0000', role: 'admin' },     // a server needs one
  op: { password: 'op-pass-1234', role: 'operator' },
  vi: { password: 'vi-pass-5678', role: 'viewer' },
};
const MOVE = 'command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload=0x800006011085';
const STOP = `${MOVE}000000`;

let tmpDir = '';
let server = null;
let fake = null;             // { proc, url }
let browser = null;
let failed = false;

const check = (name, fn) => test(name, async (...a) => {
  try { return await fn(...a); } catch (e) { failed = true; throw e; }
});

function cli(args, input, env = {}) {
  return execFileSync(VIGIL_BIN, args, {
    input: input ?? '', timeout: 30000, stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  }).toString();
}

// The continuous moves and stops the fake camera accepted (the Digest challenges, and the
// position reads of the panel's status poll, left out).
async function cameraLog() {
  const r = await fetch(`${fake.url}/__fake/state`);
  const body = await r.json();
  return body.log.filter((e) => e.path === '/rcp.xml' && e.status === 200)
    .map((e) => e.query).filter((q) => q.startsWith(MOVE));
}

async function startFake() {
  const proc = spawn(PYTHON, [path.resolve(here, '../fakes/fake_bosch.py'), '--port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`fake_bosch did not start: ${out}`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.once('exit', () => reject(new Error(`fake_bosch exited: ${out}`)));
  });
  return { proc, url };
}

async function signedInPage(user) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`${server.url}/login.html`, { waitUntil: 'load' });
  await page.fill('#login-user', user);
  await page.fill('#login-password', USERS[user].password);
  await page.click('#login-submit');
  await page.waitForURL(`${server.url}/`);
  await page.goto(`${server.url}/#/camera/dome`);
  await page.waitForSelector('#single-view:not([hidden])');
  return page;
}

async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await pred();
    if (v) return v;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  assert.ok(existsSync(VIGIL_BIN), `vigil binary not found at ${VIGIL_BIN}`);
  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-ptz-'));
  const db = path.join(tmpDir, 'vigil.db');
  const key = path.join(tmpDir, 'mk');
  fake = await startFake();
  cli(['keygen', '-o', key]);
  const env = { VIGIL_DB: db, VIGIL_MASTER_KEY_FILE: key };
  cli(['tenant', 'add', 'id=acme'], '', env);
  cli(['camera', 'add', 'id=dome', 'url=test://?width=320&height=240&fps=5', 'ptz_driver=bosch',
    `ptz_address=${fake.url}`, 'username=service', '--password-stdin'], 'service', env);
  cli(['tenant', 'grant', 'acme', 'camera=dome'], '', env);
  for (const [id, u] of Object.entries(USERS)) {
    const tenant = u.role === 'admin' ? [] : ['tenant_id=acme'];
    cli(['user', 'add', `id=${id}`, `role=${u.role}`, ...tenant, '--password-stdin'],
      `${u.password}\n`, env);
  }
  server = await startVigil(VIGIL_BIN, ['serve', '--db', db, '--master-key-file', key, ...WEB_ARGS]);
  await waitHealthy(server, 20000);
  browser = await launchChromium(CHROMIUM);
});

after(async () => {
  try {
    if (browser) await browser.close().catch(() => {});
    if (server) await stopVigil(server);
  } finally {
    if (fake) fake.proc.kill('SIGTERM');
    if (failed && server) process.stderr.write(`\n---- vigil log ----\n${server.log()}\n`);
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  }
});

check('an operator drags the joystick: the camera gets a move, then a stop on release', async () => {
  const page = await signedInPage('op');
  await page.waitForSelector('#ptz-panel:not([hidden])');
  assert.equal(await page.getAttribute('#ptz-panel', 'data-camera'), 'dome');
  // The picture's socket must be open before a move can go over it.
  await page.waitForFunction(() => Number(document.querySelector('#single').dataset.frames) >= 1);
  const before = (await cameraLog()).length;
  await page.locator('#ptz-pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#ptz-pad').boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx - box.width * 0.4, cy, { steps: 4 });   // left, 80 % of full speed
  await sleep(1500);                 // held longer than the 1 s lease: refreshes keep it going
  const held = (await cameraLog()).slice(before);
  const said = await page.textContent('#ptz-msg');
  assert.ok(held.length >= 1, `a move reached the camera (the page says "${said}")`);
  assert.ok(held.every((q) => q !== STOP), `no stop while held: ${held}`);
  const pan = parseInt(held[held.length - 1].slice(MOVE.length, MOVE.length + 2), 16);
  assert.equal(pan & 0x80, 0, 'pan left (bit 7 clear)');
  assert.ok((pan & 0x0f) >= 10, `pan speed grows with the distance: step ${pan & 0x0f}`);
  // The lock holder shows once the lock's state reaches the page (a push after the move).
  await waitFor(async () => (await page.getAttribute('#ptz-holder', 'data-holder').catch(() => '')) === 'op',
    3000, 'the lock holder shown as op');
  await page.mouse.up();
  await waitFor(async () => (await cameraLog()).slice(before).includes(STOP), 3000, 'the stop');
  const log = (await cameraLog()).slice(before);
  assert.equal(log[log.length - 1], STOP, `the stop comes last: ${log}`);

  // Arrow keys steer too: right while held, a stop on release.
  const mark = (await cameraLog()).length;
  await page.keyboard.down('ArrowRight');
  await waitFor(async () => (await cameraLog()).slice(mark).some((q) => q.startsWith(MOVE)
    && (parseInt(q.slice(MOVE.length, MOVE.length + 2), 16) & 0x80)), 3000, 'a move right');
  await page.keyboard.up('ArrowRight');
  await waitFor(async () => (await cameraLog()).slice(mark).includes(STOP), 3000, 'the key stop');
  await page.context().close();
});

check('a viewer sees no PTZ controls', async () => {
  const page = await signedInPage('vi');
  await page.waitForFunction(() => Number(document.querySelector('#single').dataset.frames) >= 1);
  await sleep(500);
  assert.equal(await page.isVisible('#ptz-panel'), false, 'panel hidden');
  assert.equal(await page.isVisible('#ptz-pad'), false, 'no joystick');
  const before = (await cameraLog()).length;
  await page.keyboard.press('ArrowLeft');
  await sleep(500);
  assert.equal((await cameraLog()).length, before, 'keys steer nothing');
  await page.context().close();
});

// Browser test of the vigil dashboard against the real server.
//
//   cd tests/browser && npm ci && node --test
//
// Environment:
//   VIGIL_BIN        server binary (default ../../build/vigil from this file)
//   CHROMIUM         browser binary (default /usr/bin/chromium; never downloaded)
//   DASH_SCREENSHOTS directory to save dash-grid.png, dash-single.png and
//                    dash-states.png into
//   DASH_WEB_ROOT    dashboard files the server serves (default ../../web from
//                    this file, via --web-root, so the test sees the current
//                    sources); "embedded" uses the copy built into the binary
//
// Starts `vigil demo --listen 127.0.0.1:PORT` (four test cameras) on a free
// port, drives headless Chromium through playwright-core, and stops the
// server with SIGTERM at the end, expecting exit status 0. The stream-state
// test starts a second server with one working and one unreachable camera.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGIL_BIN = process.env.VIGIL_BIN || path.resolve(here, '../../build/vigil');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.DASH_SCREENSHOTS || '';
const WEB_ROOT = process.env.DASH_WEB_ROOT || path.resolve(here, '../../web');
const WEB_ARGS = WEB_ROOT === 'embedded' ? [] : ['--web-root', WEB_ROOT];
const N_CAMERAS = 4;
const WAIT = 15000;               // bound for any single wait in the page

let server = null;
let serverExit = null;            // Promise<{code, signal}>
let serverLog = '';
let baseUrl = '';
let browser = null;
let page = null;
const consoleErrors = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url, timeoutMs, proc = server, log = () => serverLog) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`vigil exited early (${proc.exitCode ?? proc.signalCode}):\n${log()}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms (${last}):\n${log()}`);
}

// SIGTERM, then expect exit status 0 within 5 s.
async function stopServer(proc, exited, log) {
  let result = null;
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    result = await Promise.race([exited, sleep(5000).then(() => null)]);
    if (!result) {
      proc.kill('SIGKILL');
      await Promise.race([exited, sleep(5000)]);
      assert.fail(`vigil did not exit within 5 s of SIGTERM (killed):\n${log()}`);
    }
  } else {
    result = await exited;
  }
  assert.deepEqual(result, { code: 0, signal: null },
    `vigil should exit 0 after SIGTERM, got ${JSON.stringify(result)}:\n${log()}`);
}

function watchConsole(pg, errors) {
  pg.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} @ ${JSON.stringify(m.location())}`);
  });
  pg.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  pg.on('requestfailed', (r) => {
    // Sockets torn down on purpose (view changes) are not failures of the page.
    if (r.resourceType() !== 'websocket') errors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`);
  });
}

// Small per-canvas pixel readback (downscaled) to compare pictures over time.
async function canvasPixels(selector) {
  return page.$$eval(selector, (canvases) => canvases.map((c) => {
    const s = document.createElement('canvas');
    s.width = 96;
    s.height = 54;
    const ctx = s.getContext('2d', { willReadFrequently: true });
    if (c.width && c.height) ctx.drawImage(c, 0, 0, s.width, s.height);
    return Array.from(ctx.getImageData(0, 0, s.width, s.height).data);
  }), { timeout: WAIT });
}

function differingPixels(a, b) {
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]) > 6) n++;
  }
  return n;
}

async function frameCounts(selector) {
  return page.$$eval(selector, (els) => els.map((e) => Number(e.dataset.frames || 0)));
}

before(async () => {
  assert.ok(existsSync(VIGIL_BIN), `vigil binary not found at ${VIGIL_BIN} (set VIGIL_BIN)`);
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  server = spawn(VIGIL_BIN, ['demo', '--listen', `127.0.0.1:${port}`, ...WEB_ARGS], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serverExit = new Promise((resolve) => {
    server.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const keep = (d) => { serverLog = (serverLog + d.toString()).slice(-20000); };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  await waitHealthy(`${baseUrl}/healthz`, 20000);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  watchConsole(page, consoleErrors);
  await page.goto(`${baseUrl}/`, { waitUntil: 'load', timeout: WAIT });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (!server) return;
  await stopServer(server, serverExit, () => serverLog);
});

test('grid shows four tiles', async () => {
  await page.waitForFunction((n) => document.querySelectorAll('#grid .tile[data-camera]').length === n,
    N_CAMERAS, { timeout: WAIT });
  const ids = await page.$$eval('#grid .tile', (els) => els.map((e) => e.dataset.camera));
  assert.equal(new Set(ids).size, N_CAMERAS, `distinct camera ids: ${ids}`);
  for (const id of ids) assert.ok(id, 'tile has data-camera');
});

test('every tile draws frames and its picture changes', async () => {
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll('#grid .tile')];
    return t.length > 0 && t.every((e) => Number(e.dataset.frames) >= 2);
  }, null, { timeout: WAIT });
  const f1 = await frameCounts('#grid .tile');
  const p1 = await canvasPixels('#grid .tile canvas');
  await sleep(1500);
  const f2 = await frameCounts('#grid .tile');
  const p2 = await canvasPixels('#grid .tile canvas');
  assert.equal(f2.length, N_CAMERAS);
  for (let i = 0; i < N_CAMERAS; i++) {
    assert.ok(f2[i] > f1[i], `tile ${i}: data-frames did not grow (${f1[i]} -> ${f2[i]})`);
    const d = differingPixels(p1[i], p2[i]);
    assert.ok(d > 0, `tile ${i}: canvas pixels unchanged after 1.5 s`);
  }
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dash-grid.png'), timeout: WAIT });
});

test('header shows a frame rate', async () => {
  await page.waitForFunction(() => Number(document.querySelector('#hdr-fps')?.dataset.fps) > 0,
    null, { timeout: WAIT });
  const text = await page.textContent('#hdr-fps');
  const m = /(\d+(?:\.\d+)?)\s*fps/.exec(text);
  assert.ok(m && Number(m[1]) > 0, `header frame rate: "${text}"`);
});

test('clicking a tile opens the single view with frames flowing', async () => {
  const id = await page.getAttribute('#grid .tile >> nth=0', 'data-camera');
  await page.click('#grid .tile >> nth=0');
  await page.waitForFunction((cam) => location.hash === `#/camera/${encodeURIComponent(cam)}`, id, { timeout: WAIT });
  await page.waitForSelector('#single-view', { state: 'visible', timeout: WAIT });
  assert.ok(await page.isHidden('#grid-view'), 'grid hidden in single view');
  assert.equal(await page.getAttribute('#single', 'data-camera'), id);
  await page.waitForFunction(() => Number(document.querySelector('#single').dataset.frames) >= 3,
    null, { timeout: WAIT });
  const f1 = Number(await page.getAttribute('#single', 'data-frames'));
  const p1 = await canvasPixels('#single canvas');
  await sleep(1500);
  const f2 = Number(await page.getAttribute('#single', 'data-frames'));
  const p2 = await canvasPixels('#single canvas');
  assert.ok(f2 > f1, `single view data-frames did not grow (${f1} -> ${f2})`);
  assert.ok(differingPixels(p1[0], p2[0]) > 0, 'single view picture unchanged after 1.5 s');

  // The tier selector lists the camera's tiers and defaults to the best one.
  const tiers = await page.$$eval('#tier-select option', (os) => os.map((o) => o.value));
  assert.ok(tiers.length >= 2, `tier options: ${tiers}`);
  const selected = await page.inputValue('#tier-select');
  assert.equal(selected, tiers.includes('native') ? 'native' : tiers[tiers.length - 1]);
  await page.waitForFunction(() => /\bfps\b/.test(document.querySelector('#single-stats').textContent)
    && !/^–/.test(document.querySelector('#single-stats').textContent), null, { timeout: WAIT });
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dash-single.png'), timeout: WAIT });

  // Switching tier in-band changes the picture size.
  const cam = await page.evaluate(async (cid) => {
    const r = await fetch(`api/v1/cameras/${encodeURIComponent(cid)}`);
    return r.json();
  }, id);
  const low = cam.tiers.find((t) => t.name === 'low');
  if (low && selected !== 'low') {
    await page.selectOption('#tier-select', 'low');
    await page.waitForFunction(([w, h]) => {
      const c = document.querySelector('#single canvas');
      return c.width === w && c.height === h;
    }, [low.width, low.height], { timeout: WAIT });
    const f3 = Number(await page.getAttribute('#single', 'data-frames'));
    await page.waitForFunction((n) => Number(document.querySelector('#single').dataset.frames) > n + 2,
      f3, { timeout: WAIT });
    assert.match(await page.textContent('#single-stats'), /tier low/);
  }
});

test('back returns to the grid and tiles resume', async () => {
  await page.click('#back');
  await page.waitForSelector('#grid-view', { state: 'visible', timeout: WAIT });
  assert.ok(await page.isHidden('#single-view'), 'single view hidden');
  assert.equal(await page.locator('#grid .tile').count(), N_CAMERAS);
  const f1 = await frameCounts('#grid .tile');
  await page.waitForFunction((before) => {
    const now = [...document.querySelectorAll('#grid .tile')].map((e) => Number(e.dataset.frames));
    return now.length === before.length && now.every((v, i) => v > before[i] + 1);
  }, f1, { timeout: WAIT });
});

test('page loaded with no console errors', async () => {
  // Give late errors (e.g. a failed fetch or socket) a moment to surface.
  await sleep(500);
  assert.deepEqual(consoleErrors, []);
});

test('tiles show stream states: a live camera and an unreachable one', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(VIGIL_BIN, ['serve', '--listen', `127.0.0.1:${port}`, ...WEB_ARGS,
    '--camera', 'ok=test://?width=640&height=360&fps=15',
    '--camera', 'down=rtsp://127.0.0.1:9/nothing'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => { proc.once('exit', (code, signal) => resolve({ code, signal })); });
  let log = '';
  const keep = (d) => { log = (log + d.toString()).slice(-20000); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const errors = [];
  let context = null;
  try {
    await waitHealthy(`${url}/healthz`, 20000, proc, () => log);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const pg = await context.newPage();
    pg.setDefaultTimeout(WAIT);
    watchConsole(pg, errors);
    await pg.goto(`${url}/`, { waitUntil: 'load', timeout: WAIT });

    const ok = '#grid .tile[data-camera="ok"]';
    const down = '#grid .tile[data-camera="down"]';
    await pg.waitForFunction((sel) => {
      const t = document.querySelector(sel);
      return t && t.dataset.state === 'live' && Number(t.dataset.frames) >= 3;
    }, ok, { timeout: WAIT });
    assert.match(await pg.textContent(`${ok} .state`), /^live$/i);

    // The broken camera cycles connecting/backoff; the badge names the reason.
    await pg.waitForFunction((sel) => {
      const t = document.querySelector(sel);
      return t && ['backoff', 'connecting', 'failed'].includes(t.dataset.state)
        && /unreachable/.test(t.dataset.reason || '')
        && /unreachable/i.test(t.querySelector('.state')?.textContent || '');
    }, down, { timeout: WAIT });
    assert.ok(await pg.isVisible(`${down} .state`), 'down tile: state badge visible');
    const badge = await pg.textContent(`${down} .state`);
    assert.match(badge, /^(reconnecting|failed): unreachable$/i, `down tile badge: "${badge}"`);
    assert.equal(await pg.getAttribute(ok, 'data-reason'), '');
    if (SHOTS) {
      await sleep(1200);          // let the header's once-a-second counts catch up
      await pg.screenshot({ path: path.join(SHOTS, 'dash-states.png'), timeout: WAIT });
    }

    // Single view of the broken camera: same state, plus attempts from the stream API.
    await pg.click(down);
    await pg.waitForSelector('#single-view', { state: 'visible', timeout: WAIT });
    await pg.waitForFunction(() => {
      const s = document.querySelector('#single');
      const text = document.querySelector('#single-stream')?.textContent || '';
      return s.dataset.camera === 'down' && s.dataset.reason === 'unreachable'
        && /attempts [1-9]\d*/.test(text);
    }, null, { timeout: WAIT });
    assert.match(await pg.textContent('#single-state'), /unreachable/i);
    await pg.click('#back');
    await pg.waitForSelector('#grid-view', { state: 'visible', timeout: WAIT });
    await sleep(500);
    assert.deepEqual(errors, []);
  } finally {
    if (context) await context.close().catch(() => {});
    await stopServer(proc, exited, () => log);
  }
});

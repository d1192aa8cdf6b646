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
// The server's side of things (which tier a viewer is on, whether auto, the
// render rate the page reported) is read from GET /api/v1/viewers, and the
// JSON control messages on the page's sockets are recorded (wsLog).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { VIGIL_BIN, CHROMIUM, SHOTS, WEB_ARGS, startVigil, waitHealthy, stopVigil, launchChromium } from './lib.mjs';
import { setTimeout as sleep } from 'node:timers/promises';

const N_CAMERAS = 4;
const WAIT = 15000;               // bound for any single wait in the page

let server = null;                // startVigil(): { proc, exited, log, url }
let baseUrl = '';
let browser = null;
let page = null;
const consoleErrors = [];
const wsLog = [];                 // { at, dir: 'in'|'out', camera, msg } JSON control messages
const wsUrls = [];                // { camera, url } of every socket the page opened

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

// JSON control messages on every WebSocket of the page, both ways.
function recordSockets(pg, log) {
  pg.on('websocket', (ws) => {
    const camera = decodeURIComponent(/\/cameras\/([^/]+)\/ws/.exec(ws.url())?.[1] || '');
    if (log === wsLog) wsUrls.push({ camera, url: new URL(ws.url()) });
    const keep = (dir) => ({ payload }) => {
      if (typeof payload !== 'string') return;
      try { log.push({ at: Date.now(), dir, camera, msg: JSON.parse(payload) }); } catch { /* not JSON */ }
    };
    ws.on('framereceived', keep('in'));
    ws.on('framesent', keep('out'));
  });
}

// Polls fn() (-> { ok, why }) until ok, at most timeoutMs; fails with the last why.
async function until(what, fn, timeoutMs = WAIT, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (r.ok) return r;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms: ${r.why}`);
    await sleep(everyMs);
  }
}

// The server's WebSocket viewers of one camera (GET /api/v1/viewers).
async function serverViewers(camera) {
  const r = await fetch(`${baseUrl}/api/v1/viewers`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200, 'GET /api/v1/viewers');
  const body = await r.json();
  assert.ok(Array.isArray(body.viewers), 'viewers array');
  return body.viewers.filter((v) => v.camera === camera && v.output === 'ws');
}

// The one server-side viewer of the single view's camera, or a reason why not.
async function singleViewer(camera) {
  const vs = await serverViewers(camera);
  if (vs.length !== 1) return { v: null, why: `${vs.length} ws viewers of ${camera}: ${JSON.stringify(vs)}` };
  return { v: vs[0], why: JSON.stringify(vs[0]) };
}

// The received-tier label of the single view.
async function tierNow() {
  return page.$eval('#tier-now', (e) => ({ text: e.textContent, tier: e.dataset.tier, auto: e.dataset.auto }));
}

// Overlay readings: data-stat -> { text, value (number, or null while unknown) }.
async function overlayStats() {
  return page.$$eval('#stats-overlay [data-stat]', (els) => Object.fromEntries(els.map((e) => [
    e.dataset.stat,
    { text: e.textContent, value: e.dataset.value === undefined ? null : e.dataset.value },
  ])));
}

async function frameCounts(selector) {
  return page.$$eval(selector, (els) => els.map((e) => Number(e.dataset.frames || 0)));
}

before(async () => {
  assert.ok(existsSync(VIGIL_BIN), `vigil binary not found at ${VIGIL_BIN} (set VIGIL_BIN)`);
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  server = await startVigil(VIGIL_BIN, ['demo', '--no-auth', ...WEB_ARGS]);
  baseUrl = server.url;
  await waitHealthy(server, 20000);

  browser = await launchChromium(CHROMIUM);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  watchConsole(page, consoleErrors);
  recordSockets(page, wsLog);
  await page.goto(`${baseUrl}/`, { waitUntil: 'load', timeout: WAIT });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (!server) return;
  await stopVigil(server);
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

let singleId = '';                // camera of the single view under test

test('clicking a tile opens the single view with frames flowing', async () => {
  const id = await page.getAttribute('#grid .tile >> nth=0', 'data-camera');
  singleId = id;
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

  // The tier selector offers "auto" first, then the camera's JPEG and H.264 tiers, then its
  // own H.264 ("source": Chromium decodes avc1 with WebCodecs), after its keyframes alone
  // ("source-keys") once the server has seen two, and starts on auto.
  const cam = (await (await fetch(`${baseUrl}/api/v1/cameras/${encodeURIComponent(id)}`)).json()).live;
  const options = await page.$$eval('#tier-select option', (os) => os.map((o) => o.value));
  const ladder = ['auto', ...cam.tiers.map((t) => t.name)];
  assert.deepEqual(options.slice(0, ladder.length), ladder, 'tier options');
  assert.ok(['["source"]', '["source-keys","source"]'].includes(JSON.stringify(options.slice(ladder.length))),
    `tier options end with source: ${options}`);
  assert.equal(await page.inputValue('#tier-select'), 'auto', 'auto selected by default');
  await page.waitForFunction(() => /\bfps\b/.test(document.querySelector('#single-stats').textContent)
    && !/^–/.test(document.querySelector('#single-stats').textContent), null, { timeout: WAIT });
});

test('single view is on auto and shows the tier the server sends', async () => {
  assert.ok(singleId, 'single view open');
  const names = (await (await fetch(`${baseUrl}/api/v1/cameras/${encodeURIComponent(singleId)}`)).json())
    .live.tiers.map((t) => t.name);
  // The server may move an auto viewer at any time: the page's label, read
  // before and after the server's view, must agree with it.
  const r = await until('received-tier label matches /api/v1/viewers', async () => {
    const before = await tierNow();
    const { v, why } = await singleViewer(singleId);
    const after = await tierNow();
    const ok = v !== null && v.auto === true && before.auto === 'true'
      && before.tier === v.tier && after.tier === v.tier && after.auto === 'true';
    return { ok, why: `page ${JSON.stringify(before)} / ${JSON.stringify(after)}, server ${why}`, label: after };
  });
  // An auto viewer that decodes H.264 sits on the camera's own video unless its link is thin.
  assert.ok([...names, 'source-keys', 'source'].includes(r.label.tier),
    `received tier "${r.label.tier}" is one of ${names},source-keys,source`);
  assert.equal(r.label.text, `auto · ${r.label.tier}`);
  assert.equal(await page.inputValue('#tier-select'), 'auto');
  // The socket asked for auto and the server confirmed it.
  const hello = wsLog.find((e) => e.dir === 'in' && e.camera === singleId && e.msg.type === 'hello'
    && e.msg.auto === true);
  assert.ok(hello, 'a hello with "auto": true on the single view socket');
  assert.ok(Array.isArray(hello.msg.tiers) && hello.msg.tiers.length >= 2, 'hello lists tiers');
});

test('statistics overlay shows live numbers from the server', async () => {
  assert.ok(await page.isVisible('#stats-overlay'), 'overlay shown by default');
  assert.equal(await page.getAttribute('#stats-toggle', 'aria-pressed'), 'true');
  // RTT needs the server's first ping (every 2 s); the rest arrive once a second.
  await page.waitForFunction(() => {
    const num = (k) => {
      const e = document.querySelector(`#stats-overlay [data-stat="${k}"]`);
      return e && e.dataset.value !== undefined && !/–/.test(e.textContent) ? Number(e.dataset.value) : NaN;
    };
    return num('fps') >= 10 && num('latency') >= 0 && num('rtt') >= 0 && num('frames') > 0
      && num('bitrate') > 0 && num('render-fps') > 0
      // Same machine, same clock: capture to display is positive and well under 5 s
      // (a few ms of slack for the page clock's coarse resolution).
      && num('display-latency') >= -5 && num('display-latency') < 5000;
  }, null, { timeout: WAIT });
  const s1 = await overlayStats();
  const u1 = Number(await page.getAttribute('#stats-overlay', 'data-updates'));
  for (const k of ['fps', 'latency', 'rtt', 'bitrate', 'drops', 'frames', 'render-fps', 'display-latency', 'decode']) {
    assert.ok(s1[k].value !== null && Number.isFinite(Number(s1[k].value)), `overlay ${k}: ${JSON.stringify(s1[k])}`);
    assert.doesNotMatch(s1[k].text, /–/, `overlay ${k} shows a reading`);
  }
  assert.match(s1.fps.text, /^\d+\.\d$/);
  assert.match(s1.latency.text, /^\d+(\.\d)? ms$/);
  assert.match(s1.rtt.text, /^\d+(\.\d)? ms$/);
  assert.match(s1.bitrate.text, /^\d+(\.\d+)? (kbit|Mbit)\/s$/);
  assert.match(s1.tier.text, /^auto · [\w-]+$/);
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dash-single.png'), timeout: WAIT });

  // Two readings over 2 s apart: the server's counters moved and the overlay followed.
  await sleep(2200);
  const s2 = await overlayStats();
  const u2 = Number(await page.getAttribute('#stats-overlay', 'data-updates'));
  assert.ok(u2 >= u1 + 1, `stats messages applied: ${u1} -> ${u2}`);
  assert.ok(Number(s2.frames.value) > Number(s1.frames.value),
    `frames sent did not grow: ${s1.frames.value} -> ${s2.frames.value}`);
  assert.ok(Number(s2.fps.value) >= 10, `fps later: ${s2.fps.value}`);
  // The numbers are the server's: the last stats message carries them.
  const last = wsLog.filter((e) => e.dir === 'in' && e.camera === singleId && e.msg.type === 'stats').at(-1);
  assert.ok(last, 'stats messages arrive on the single view socket');
  for (const k of ['fps', 'kbps', 'frames', 'drops', 'latency_ms', 'rtt_ms']) {
    assert.equal(typeof last.msg[k], 'number', `stats.${k}`);
  }
  assert.ok(wsLog.some((e) => e.dir === 'out' && e.camera === singleId && e.msg.type === 'stats'
    && e.msg.enable === true), 'page asked for stats');
});

test('single view reports its render rate to the server', async () => {
  const r = await until('client_fps in /api/v1/viewers', async () => {
    const { v, why } = await singleViewer(singleId);
    const ok = v !== null && typeof v.client_fps === 'number' && v.client_fps > 0
      && typeof v.client_decode_ms === 'number' && v.client_decode_ms >= 0;
    return { ok, why, v };
  });
  assert.ok(r.v.client_fps <= 1000, `client_fps ${r.v.client_fps}`);
  const reports = wsLog.filter((e) => e.dir === 'out' && e.camera === singleId && e.msg.type === 'report');
  assert.ok(reports.length >= 1, 'report messages sent');
  for (const e of reports) {
    assert.ok(typeof e.msg.fps === 'number' && e.msg.fps >= 0 && e.msg.fps <= 1000, `report ${JSON.stringify(e.msg)}`);
    if ('decode_ms' in e.msg) assert.ok(e.msg.decode_ms >= 0 && e.msg.decode_ms <= 60000, `report ${JSON.stringify(e.msg)}`);
  }
  // About once a second, not per frame.
  const span = (reports.at(-1).at - reports[0].at) / 1000;
  assert.ok(reports.length <= span + 3, `${reports.length} reports in ${span.toFixed(1)} s`);
  // No control message of the page was refused.
  const errs = wsLog.filter((e) => e.dir === 'in' && e.msg.type === 'error');
  assert.deepEqual(errs, [], 'server error messages');
});

test('picking a fixed tier subscribes to it in-band, and auto again', async () => {
  const cam = (await (await fetch(`${baseUrl}/api/v1/cameras/${encodeURIComponent(singleId)}`)).json()).live;
  const low = cam.tiers.find((t) => t.name === 'low') || cam.tiers[0];
  const sockets = wsLog.filter((e) => e.camera === singleId && e.msg.type === 'hello').length;
  await page.selectOption('#tier-select', low.name);
  await page.waitForFunction(([w, h]) => {
    const c = document.querySelector('#single canvas');
    return c.width === w && c.height === h;
  }, [low.width, low.height], { timeout: WAIT });
  const f3 = Number(await page.getAttribute('#single', 'data-frames'));
  await page.waitForFunction((n) => Number(document.querySelector('#single').dataset.frames) > n + 2,
    f3, { timeout: WAIT });
  assert.match(await page.textContent('#single-stats'), new RegExp(`tier ${low.name}\\b`));
  await page.waitForFunction((name) => {
    const e = document.querySelector('#tier-now');
    return e.dataset.tier === name && e.dataset.auto === 'false' && e.textContent === name;
  }, low.name, { timeout: WAIT });
  await until(`server has the viewer on ${low.name}, not auto`, async () => {
    const { v, why } = await singleViewer(singleId);
    return { ok: v !== null && v.tier === low.name && v.auto === false, why };
  });
  // Stays there: a fixed tier is not moved by the server.
  await sleep(2000);
  const { v } = await singleViewer(singleId);
  assert.equal(v?.tier, low.name, 'fixed tier held');
  assert.equal(v?.auto, false);
  assert.deepEqual(await tierNow(), { text: low.name, tier: low.name, auto: 'false' });

  await page.selectOption('#tier-select', 'auto');
  await until('server has the viewer on auto again', async () => {
    const { v: w, why } = await singleViewer(singleId);
    const label = await tierNow();
    return { ok: w !== null && w.auto === true && label.auto === 'true' && /^auto · [\w-]+$/.test(label.text),
      why: `${why} / page ${JSON.stringify(label)}` };
  });
  assert.equal(wsLog.filter((e) => e.camera === singleId && e.msg.type === 'hello').length, sockets,
    'tier changes reuse the socket');
});

test('statistics overlay toggles off and on (button and S key)', async () => {
  const statsSince = (t) => wsLog.filter((e) => e.dir === 'in' && e.camera === singleId
    && e.msg.type === 'stats' && e.at > t).length;
  await page.click('#stats-toggle');
  await page.waitForSelector('#stats-overlay', { state: 'hidden', timeout: WAIT });
  assert.equal(await page.getAttribute('#stats-toggle', 'aria-pressed'), 'false');
  assert.ok(wsLog.some((e) => e.dir === 'out' && e.camera === singleId && e.msg.type === 'stats'
    && e.msg.enable === false), 'page told the server to stop the stats');
  // One message may already be on its way; after that the server sends none.
  const quiet = Date.now() + 1200;
  await sleep(3200);
  assert.equal(statsSince(quiet), 0, 'stats messages while the overlay is hidden');
  assert.ok(await page.isHidden('#stats-overlay'), 'overlay stays hidden');

  // S shows it again (not while a form control has focus) and the numbers resume.
  await page.evaluate(() => document.activeElement?.blur());
  const t = Date.now();
  await page.keyboard.press('s');
  await page.waitForSelector('#stats-overlay', { state: 'visible', timeout: WAIT });
  assert.equal(await page.getAttribute('#stats-toggle', 'aria-pressed'), 'true');
  await until('stats resume', async () => ({ ok: statsSince(t) >= 1, why: 'no stats message yet' }));
  await page.waitForFunction(() => Number(document.querySelector('#stats-overlay [data-stat="fps"]')
    ?.dataset.value) > 0, null, { timeout: WAIT });
  await page.keyboard.press('s');
  await page.waitForSelector('#stats-overlay', { state: 'hidden', timeout: WAIT });
  await page.keyboard.press('s');
  await page.waitForSelector('#stats-overlay', { state: 'visible', timeout: WAIT });
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

// A tile that offers codecs (WebCodecs decodes them here) is an auto viewer, so that the
// server may give it the camera's own video; a JPEG-only tile stays on a fixed tier.
test('grid tiles report their render rate; fixed tiers unless they offer codecs', async () => {
  const ids = await page.$$eval('#grid .tile', (els) => els.map((e) => e.dataset.camera));
  const offers = (id) => !!wsUrls.filter((w) => w.camera === id).at(-1)?.url.searchParams.get('codecs');
  await until('every tile viewer has client_fps', async () => {
    const rows = await Promise.all(ids.map((id) => serverViewers(id)));
    const ok = rows.every((vs, i) => vs.length === 1 && vs[0].client_fps > 0 && vs[0].auto === offers(ids[i]));
    return { ok, why: JSON.stringify(rows.map((vs) => vs.map((v) => [v.camera, v.tier, v.auto, v.client_fps, offers(v.camera)]))) };
  });
});

test('page loaded with no console errors', async () => {
  // Give late errors (e.g. a failed fetch or socket) a moment to surface.
  await sleep(500);
  assert.deepEqual(consoleErrors, []);
});

test('tiles show stream states: a live camera and an unreachable one', async () => {
  const second = await startVigil(VIGIL_BIN, ['serve', '--no-auth', '--db', ':memory:', ...WEB_ARGS,
    '--camera', 'ok=test://?width=640&height=360&fps=15',
    '--camera', 'down=rtsp://127.0.0.1:9/nothing']);
  const { url } = second;
  const errors = [];
  let context = null;
  try {
    await waitHealthy(second, 20000);
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
    assert.match(badge, /^(connecting|backoff|failed): unreachable$/i, `down tile badge: "${badge}"`);
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
    await stopVigil(second);
  }
});

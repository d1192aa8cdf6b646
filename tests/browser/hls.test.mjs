// The dashboard plays a camera over LL-HLS with hls.js (?path=hls; web/hlsplayer.js,
// src/outputs/hls.c).
//
//   cd tests/browser && node --test hls.test.mjs
//
// Environment: VIGIL_BIN, CHROMIUM, DASH_WEB_ROOT as in dashboard.test.mjs; DASH_SCREENSHOTS
// saves hls-*.png there.
//
// The RTSP simulator (../integration/rtsp_sim.py, Debian's python3 and GStreamer) serves
// H.264 1280x720 at 30 fps with a keyframe a second; `vigil serve --no-auth --db :memory:`
// has it as its one camera. In Debian's Chromium:
//
// - /?path=hls: the tile's <video> plays (currentTime advances, videoWidth 1280), the tile
//   says data-path "hls" and its caption starts with "hls", hls.js loaded
//   /vendor/hls.light.min.js and made blocking playlist reloads (_HLS_msn= in the requests
//   the page sent), fetched parts, and the latency shown (capture-to-display, from the
//   playlist's PROGRAM-DATE-TIME) is under 2 s;
// - with the HLS routes answering 404 (Playwright's page.route), the tile goes back to the
//   WebSocket player, plays, and its caption says "HLS failed:" with hls.js's reason.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { VIGIL_BIN, CHROMIUM, SHOTS, WEB_ARGS, startVigil, waitHealthy, stopVigil, launchChromium } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WAIT = 20000;
const CAMERA = 'cam';
const MAX_LATENCY_MS = 2000;

let sim = null;
let server = null;
let browser = null;
const errors = [];

// rtsp_sim.py as a script: prints READY rtsp://127.0.0.1:PORT/cam when it serves.
async function startSim() {
  const proc = spawn('/usr/bin/python3', [path.resolve(here, '../integration/rtsp_sim.py'),
    '--port', '0', '--control-port', '0', '--codec', 'h264', '--width', '1280', '--height', '720',
    '--fps', '30', '--gop', '30'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rtsp_sim not ready in 15 s:\n${log}`)), 15000);
    const onData = (d) => {
      log += d.toString();
      const m = /^READY (\S+)/m.exec(log);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`rtsp_sim exited ${code}:\n${log}`)); });
  });
  return { proc, url };
}

before(async () => {
  sim = await startSim();
  server = await startVigil(VIGIL_BIN, ['serve', '--no-auth', '--db', ':memory:', ...WEB_ARGS,
    '--camera', `${CAMERA}=${sim.url}`]);
  await waitHealthy(server, 20000);
  browser = await launchChromium(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopVigil(server);
  if (sim) sim.proc.kill('SIGTERM');
});

async function newPage(search, route = null) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const pg = await context.newPage();
  pg.setDefaultTimeout(WAIT);
  pg.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  if (process.env.DEBUG) pg.on('console', (m) => console.log(`console.${m.type()}: ${m.text()}`));
  const requests = [];
  pg.on('request', (r) => requests.push(r.url()));
  pg.on('websocket', (ws) => requests.push(ws.url()));
  if (route) await pg.route(/\/cameras\/[^/]+\/hls\//, route);
  await pg.goto(`${server.url}/${search}`, { waitUntil: 'load' });
  return { pg, context, requests };
}

// The tile's video, data-* and caption, polled until ok(t) or WAIT.
async function waitTile(pg, what, ok) {
  const deadline = Date.now() + WAIT;
  let t = null;
  for (;;) {
    t = await pg.$eval(`.tile[data-camera="${CAMERA}"]`, (e) => {
      const v = e.querySelector('video');
      return {
        path: e.dataset.path ?? null,
        frames: Number(e.dataset.frames || 0),
        latency: e.dataset.latency === undefined ? null : Number(e.dataset.latency),
        hlsError: e.dataset.hlsError ?? null,
        caption: e.querySelector('.tile-stats').textContent,
        video: v ? { time: v.currentTime, width: v.videoWidth, height: v.videoHeight, paused: v.paused } : null,
      };
    }).catch((e) => ({ error: e.message }));
    if (!t.error && ok(t)) return t;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${WAIT} ms: ${JSON.stringify(t)}`);
    await sleep(250);
  }
}

test('?path=hls plays the camera through hls.js with blocking reloads, under 2 s behind', async () => {
  const { pg, context, requests } = await newPage('?path=hls');
  try {
    const first = await waitTile(pg, 'video playing 1280 wide',
      (t) => t.video && t.video.width === 1280 && t.video.time > 0 && t.frames > 0);
    assert.equal(first.video.height, 720);
    assert.equal(first.path, 'hls');
    // The playhead keeps moving: two readings a second and a half apart.
    await sleep(1500);
    const later = await waitTile(pg, 'video advancing', (t) => t.video && t.video.time > first.video.time + 1);
    // At least 10 fps presented while the playhead moved a second or more (headless Chromium on
    // a loaded 2-core machine presents fewer than the camera's 30).
    assert.ok(later.frames > first.frames + 10, `frames presented: ${first.frames} then ${later.frames}`);
    // The caption and the latency (data-latency: the last second's capture-to-display).
    const t = await waitTile(pg, `caption "hls · …" and a latency under ${MAX_LATENCY_MS} ms`,
      (x) => x.caption.startsWith('hls · ') && x.latency !== null && x.latency < MAX_LATENCY_MS);
    assert.match(t.caption, /^hls · \d+\.\d fps · \d+ ms$/);
    assert.ok(t.latency > 0, `latency ${t.latency} ms`);
    assert.equal(t.hlsError, null);

    assert.ok(requests.some((u) => u.endsWith('/vendor/hls.light.min.js')), 'hls.js loaded from vigil');
    const playlists = requests.filter((u) => /\/cameras\/cam\/hls\/index\.m3u8/.test(u));
    const blocking = playlists.filter((u) => /[?&]_HLS_msn=\d+/.test(u));
    assert.ok(blocking.length >= 3, `blocking reloads (_HLS_msn): ${blocking.length} of ${playlists.length} playlist requests`);
    assert.ok(requests.some((u) => /\/hls\/part\d+\.\d+\.m4s\?v=\d+/.test(u)), 'parts fetched');
    // The WebSocket player stays closed while HLS plays.
    assert.ok(!requests.some((u) => /\/api\/v1\/cameras\/[^/]+\/ws/.test(u)), 'no WebSocket viewer');
    if (SHOTS) await pg.screenshot({ path: path.join(SHOTS, 'hls-grid.png') });
    console.log(`hls: latency ${t.latency} ms, ${blocking.length}/${playlists.length} blocking playlist requests, caption "${t.caption}"`);
  } finally {
    await context.close();
  }
  assert.deepEqual(errors, []);
});

test('HLS refused: the tile plays over the WebSocket and says why', async () => {
  const { pg, context, requests } = await newPage('?path=hls',
    (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"not_found"}' }));
  try {
    const t = await waitTile(pg, 'fallen back and playing', (x) =>
      x.hlsError !== null && x.frames > 0 && (x.path === 'webcodecs' || x.path === 'jpeg') &&
      /HLS failed: /.test(x.caption));
    assert.match(t.hlsError, /manifestLoadError|HTTP 404/);
    assert.equal(t.video, null, 'the video element is gone');
    assert.ok(requests.some((u) => /\/api\/v1\/cameras\/cam\/ws/.test(u)), 'WebSocket viewer opened');
    if (SHOTS) await pg.screenshot({ path: path.join(SHOTS, 'hls-fallback.png') });
  } finally {
    await context.close();
  }
  assert.deepEqual(errors, []);
});

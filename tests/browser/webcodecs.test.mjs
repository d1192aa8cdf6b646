// The dashboard plays the camera's own H.264 with WebCodecs and falls back to JPEG (issue 14,
// item 3; docs/protocol.md, "The camera's own video").
//
//   cd tests/browser && node --test webcodecs.test.mjs
//
// Environment: VIGIL_BIN, CHROMIUM, DASH_WEB_ROOT as in dashboard.test.mjs; DASH_SCREENSHOTS
// saves webcodecs-*.png there.
//
// One `vigil serve --no-auth --db :memory:` with one test camera (test://, H.264 from
// libx264), Debian's Chromium (http://127.0.0.1 is a secure context: VideoDecoder exists and
// decodes avc1). Each tile says how it plays in data-path ("webcodecs"/"jpeg"), how many
// pictures that path decoded in data-decoded, and the capture-to-display latency of the last
// second in data-latency (ms).
//
// - the real server: the tile asks for tier=auto&codecs=avc1 and plays the camera's own
//   video through WebCodecs;
// - the real server's H.264 tier h264-thin10, picked in the single view's tier menu after the
//   JPEG tier micro10 (same rate, 256x144): same socket, a codec message, H.264 access units,
//   WebCodecs decoding 320x180 at about 10 fps, and the server has the viewer on that tier;
// - without VideoDecoder (deleted before the page loads), and with ?webcodecs=0, the tile
//   asks for no codecs and plays JPEG;
// - a scripted server (Playwright's routeWebSocket) speaking the documented protocol with an
//   H.264 Annex B stream made by ffmpeg: the page decodes it with a latency and the H.264
//   label; then, told `unsupported`, it reconnects without codecs (to the real server) and
//   plays JPEG; a codec the browser cannot decode (hvc1 here) makes it fall back too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VIGIL_BIN, CHROMIUM, SHOTS, WEB_ARGS, startVigil, waitHealthy, stopVigil, launchChromium } from './lib.mjs';

const WAIT = 15000;
const CAMERA = 'cam1';
const TEST_CAM = 'test://?width=640&height=360&fps=30';
const FPS = 30;

let server = null;
let browser = null;
let tmp = '';
const errors = [];

async function newPage({ search = '', init = null, route = null } = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const pg = await context.newPage();
  pg.setDefaultTimeout(WAIT);
  pg.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  if (process.env.DEBUG) pg.on('console', (m) => console.log(`console.${m.type()}: ${m.text()}`));
  const sockets = [];
  pg.on('websocket', (ws) => sockets.push(ws.url()));
  if (init) await pg.addInitScript(init);
  if (route) await pg.routeWebSocket(/\/api\/v1\/cameras\/[^/]+\/ws/, route);
  await pg.goto(`${server.url}/${search}`, { waitUntil: 'load' });
  return { pg, context, sockets };
}

// The tile's data-* and its caption, polled until ok(tile) or WAIT.
async function waitTile(pg, what, ok) {
  const deadline = Date.now() + WAIT;
  let t = null;
  for (;;) {
    t = await pg.$eval(`.tile[data-camera="${CAMERA}"]`, (e) => ({
      path: e.dataset.path ?? null,
      decoded: Number(e.dataset.decoded || 0),
      frames: Number(e.dataset.frames || 0),
      latency: e.dataset.latency === undefined ? null : Number(e.dataset.latency),
      caption: e.querySelector('.tile-stats').textContent,
    })).catch((e) => ({ error: e.message }));
    if (!t.error && ok(t)) return t;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${WAIT} ms: ${JSON.stringify(t)}`);
    await sleep(250);
  }
}

async function shot(pg, name) {
  if (SHOTS) await pg.screenshot({ path: path.join(SHOTS, `webcodecs-${name}.png`) });
}

// ---- a scripted `source` viewer: ffmpeg's H.264, cut into access units ----

// NAL units of an Annex B stream: [{ type, start (of its start code), end }].
function nalUnits(buf) {
  const out = [];
  let i = 0;
  let prev = null;
  while (i + 3 <= buf.length) {
    const sc3 = buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1;
    if (sc3) {
      const start = i > 0 && buf[i - 1] === 0 ? i - 1 : i;
      if (prev) prev.end = start;
      prev = { type: buf[i + 3] & 0x1f, start, body: i + 3, end: buf.length };
      out.push(prev);
      i += 3;
    } else {
      i++;
    }
  }
  return out;
}

// Access units, each starting at an access unit delimiter (x264 aud=1): [{ key, data, sps }].
function accessUnits(buf) {
  const aus = [];
  for (const n of nalUnits(buf)) {
    if (n.type === 9 || !aus.length) aus.push({ nals: [] });
    aus[aus.length - 1].nals.push(n);
  }
  return aus.map(({ nals }) => ({
    key: nals.some((n) => n.type === 5),
    data: buf.subarray(nals[0].start, nals[nals.length - 1].end),
    // The SPS after its NAL header byte: profile_idc, constraint flags, level_idc first.
    sps: nals.find((n) => n.type === 7) ? buf.subarray(nals.find((n) => n.type === 7).body + 1) : null,
  }));
}

// The 32-byte binary header of docs/protocol.md.
function header({ codec, key, seq, captureUs, width, height, tier }) {
  const h = Buffer.alloc(32);
  h.writeUInt8(1, 0);
  h.writeUInt8(32, 1);
  h.writeUInt8(codec, 2);
  h.writeUInt8(key ? 1 : 0, 3);
  h.writeUInt32LE(seq >>> 0, 4);
  h.writeBigUInt64LE(BigInt(captureUs), 8);
  h.writeBigUInt64LE(BigInt(captureUs + 2000), 16);
  h.writeUInt16LE(width, 24);
  h.writeUInt16LE(height, 26);
  h.writeUInt8(tier, 28);
  return h;
}

const hex2 = (b) => b.toString(16).padStart(2, '0');

// A route handler that plays `aus` (640x360, 30 fps) to viewers that offer codecs, the way
// the server is documented to, and hands the others to the real server. opts.codec
// overrides the codec string; opts.unsupportedAfter sends an `unsupported` error after that
// many access units. Records what it did in `log`.
function scriptedSource(aus, log, opts = {}) {
  const sps = aus[0].sps;
  const codec = opts.codec || `avc1.${hex2(sps[0])}${hex2(sps[1])}${hex2(sps[2])}`;
  const source = { name: 'source', size: 'source', codec, width: 640, height: 360, fps: FPS, kbps: 800 };
  return (ws) => {
    const url = new URL(ws.url());
    log.urls.push(url.search);
    if (!url.searchParams.get('codecs')) {
      ws.connectToServer();
      return;
    }
    let seq = 0;
    let timer = null;
    let closed = false;
    ws.onMessage((m) => { if (typeof m === 'string') log.in.push(JSON.parse(m)); });
    ws.onClose(() => { closed = true; clearInterval(timer); });
    ws.send(JSON.stringify({ type: 'hello', camera: CAMERA, tier: 'source', auto: true, state: 'live',
      tiers: [{ name: 'low', size: 'low', width: 640, height: 360, fps: FPS, quality: 60 }, source] }));
    ws.send(JSON.stringify({ type: 'codec', codec, format: 'annexb', width: 640, height: 360, description: '' }));
    timer = setInterval(() => {
      if (opts.unsupportedAfter !== undefined && seq === opts.unsupportedAfter) {
        ws.send(JSON.stringify({ type: 'error', code: 'unsupported', message: 'scripted' }));
        clearInterval(timer);
        return;
      }
      const au = aus[seq % aus.length];
      // Captured on the camera's schedule 30 ms before it is due out, then sent through a
      // jittery network: up to 20 ms late.
      const captureUs = Date.now() * 1000 - 30000;
      const msg = Buffer.concat([header({ codec: 2, key: au.key, seq, captureUs, width: 640, height: 360, tier: 255 }), au.data]);
      setTimeout(() => { if (!closed) ws.send(msg); }, Math.random() * 20);
      seq++;
      log.sent = seq;
    }, 1000 / FPS);
    // (a socket whose page went away may never say it closed: the feed must not keep the
    // test process alive after its tests, which hung CI's wait for this file once)
    timer.unref();
  };
}

// Three seconds of 640x360 H.264 from ffmpeg (x264, zerolatency, a keyframe a second, an
// access unit delimiter before each access unit), as access units; made once.
let clipAus = null;
function clip() {
  if (clipAus) return clipAus;
  const file = path.join(tmp, 'clip.h264');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi',
    '-i', `testsrc2=size=640x360:rate=${FPS}`, '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast',
    '-tune', 'zerolatency', '-g', String(FPS), '-x264-params', 'aud=1', '-pix_fmt', 'yuv420p',
    '-f', 'h264', file], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60000 });
  clipAus = accessUnits(readFileSync(file));
  assert.ok(clipAus.length >= 3 * FPS && clipAus[0].key && clipAus[0].sps,
    `${clipAus.length} access units, the first a keyframe with its SPS`);
  return clipAus;
}

before(async () => {
  assert.ok(existsSync(VIGIL_BIN), `vigil binary not found at ${VIGIL_BIN} (set VIGIL_BIN)`);
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-webcodecs-'));
  server = await startVigil(VIGIL_BIN, ['serve', '--no-auth', '--db', ':memory:', ...WEB_ARGS,
    '--camera', `${CAMERA}=${TEST_CAM}`]);
  await waitHealthy(server, 20000);
  browser = await launchChromium(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (server) await stopVigil(server);
  assert.deepEqual(errors, [], 'no uncaught page errors');
});

test('the camera\'s own H.264 plays through WebCodecs', async () => {
  const { pg, context, sockets } = await newPage();
  try {
    const t = await waitTile(pg, 'tile on WebCodecs with >30 pictures decoded and a latency',
      (x) => x.path === 'webcodecs' && x.decoded > 30 && x.latency !== null);
    assert.ok(t.latency >= 0 && t.latency < 2000, `latency ${t.latency} ms`);
    assert.match(t.caption, /^H\.264 · \d+\.\d fps · \d+ ms$/);
    assert.ok(sockets.some((u) => new URL(u).searchParams.get('codecs')?.split(',').includes('avc1')
      && new URL(u).searchParams.get('tier') === 'auto'), `sockets asked for avc1: ${sockets}`);
    await shot(pg, 'source');
  } finally {
    await context.close();
  }
});

// The single view's picture (#single: data-path, data-decoded, data-frames; the canvas's size)
// and its received-tier label (#tier-now), polled until ok(s) or WAIT.
async function waitSingle(pg, what, ok) {
  const deadline = Date.now() + WAIT;
  let s = null;
  for (;;) {
    s = await pg.evaluate(() => {
      const e = document.querySelector('#single');
      const c = document.querySelector('#single-canvas');
      const n = document.querySelector('#tier-now');
      return {
        path: e.dataset.path ?? null,
        decoded: Number(e.dataset.decoded || 0),
        frames: Number(e.dataset.frames || 0),
        width: c.width,
        height: c.height,
        tier: n.dataset.tier ?? null,
        auto: n.dataset.auto ?? null,
        stats: document.querySelector('#single-stats').textContent,
      };
    }).catch((e) => ({ error: e.message }));
    if (!s.error && ok(s)) return s;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${WAIT} ms: ${JSON.stringify(s)}`);
    await sleep(250);
  }
}

test('an H.264 tier made by vigil plays through WebCodecs', async () => {
  const H264 = 'h264-thin10';
  const JPEG = 'micro10';         // the same rate as JPEG, at 144 lines
  const tiers = (await (await fetch(`${server.url}/api/v1/cameras/${CAMERA}`)).json()).live.tiers;
  const h264 = tiers.find((t) => t.name === H264);
  assert.ok(h264 && h264.codec === 'h264', `${H264} is an H.264 tier of the ladder: ${JSON.stringify(h264)}`);
  const jpeg = tiers.find((t) => t.name === JPEG);
  assert.equal(jpeg?.codec, 'jpeg', `${JPEG} is a JPEG tier`);
  const { pg, context } = await newPage();
  // The single view's socket, from the outside: its URL and its messages in order
  // ('bin:CODEC' for a binary one, by the header's codec byte).
  const single = { urls: [], msgs: [] };
  pg.on('websocket', (ws) => {
    single.urls.push(ws.url());
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload === 'string') {
        try { single.msgs.push(JSON.parse(payload)); } catch { /* not JSON */ }
      } else {
        single.msgs.push(`bin:${payload[2]}`);
      }
    });
  });
  try {
    await waitTile(pg, 'tile playing', (x) => x.frames > 3);
    await pg.click(`.tile[data-camera="${CAMERA}"]`);
    await pg.waitForSelector('#single-view', { state: 'visible' });
    await waitSingle(pg, 'single view playing', (s) => s.frames > 3);
    const options = await pg.$$eval('#tier-select option', (os) => os.map((o) => o.value));
    assert.ok(options.includes(H264) && options.includes(JPEG), `tier menu offers ${H264} and ${JPEG}: ${options}`);

    // First the JPEG tier: the path says jpeg.
    await pg.selectOption('#tier-select', JPEG);
    await waitSingle(pg, `single view on ${JPEG} drawing JPEG`, (s) => s.tier === JPEG && s.auto === 'false'
      && s.path === 'jpeg' && s.width === jpeg.width && s.height === jpeg.height);

    // Then the H.264 tier: WebCodecs decodes it, 320x180, on the same socket.
    const socketsBefore = single.urls.length;
    const msgsBefore = single.msgs.length;
    await pg.selectOption('#tier-select', H264);
    const s1 = await waitSingle(pg, `single view on ${H264} through WebCodecs`, (s) => s.tier === H264
      && s.auto === 'false' && s.path === 'webcodecs' && s.decoded > 3
      && s.width === h264.width && s.height === h264.height);
    assert.equal(await pg.inputValue('#tier-select'), H264);
    assert.match(s1.stats, /^H\.264 · .* · tier h264-thin10 · 320×180 · /);
    await sleep(2000);
    const s2 = await waitSingle(pg, 'still there', () => true);
    assert.equal(s2.path, 'webcodecs', `still WebCodecs 2 s later: ${JSON.stringify(s2)}`);
    assert.equal(s2.tier, H264);
    assert.deepEqual([s2.width, s2.height], [h264.width, h264.height], 'picture size');
    // 10 fps for 2 s: about 20 more pictures (the camera's own video would give ~60).
    const grew = s2.decoded - s1.decoded;
    assert.ok(grew >= 8 && grew <= 40, `decoded ${s1.decoded} -> ${s2.decoded} in 2 s at ${h264.fps} fps`);
    assert.ok(s2.frames - s1.frames >= 8, `drawn ${s1.frames} -> ${s2.frames}`);

    // In band: no new socket; the server said subscribed, then the codec, then H.264 only.
    assert.equal(single.urls.length, socketsBefore, `no new socket: ${single.urls.slice(socketsBefore)}`);
    const since = single.msgs.slice(msgsBefore);
    const sub = since.findIndex((m) => m.type === 'subscribed' && m.tier === H264);
    const codec = since.findIndex((m) => m.type === 'codec' && m.tier === H264);
    assert.ok(sub >= 0 && codec >= 0, `subscribed and codec messages for ${H264}: ${JSON.stringify(since.filter((m) => typeof m === 'object' && m.type !== 'stats'))}`);
    assert.match(since[codec].codec, /^avc1\./);
    assert.equal(since[codec].format, 'annexb');
    assert.deepEqual([since[codec].width, since[codec].height], [h264.width, h264.height]);
    const bins = since.slice(codec).filter((m) => typeof m === 'string');
    assert.ok(bins.length >= 20 && bins.every((b) => b === 'bin:2'),
      `after the codec message only H.264 (codec 2) binary messages: ${[...new Set(bins)]} (${bins.length})`);

    // The server has this one viewer on the H.264 tier, fixed, and hears it draw.
    const deadline = Date.now() + WAIT;
    let vs = [];
    for (;;) {
      const body = await (await fetch(`${server.url}/api/v1/viewers`)).json();
      vs = body.viewers.filter((v) => v.camera === CAMERA && v.output === 'ws');
      if (vs.length === 1 && vs[0].tier === H264 && vs[0].auto === false && vs[0].client_fps > 0) break;
      if (Date.now() > deadline) assert.fail(`server viewer on ${H264} with a client_fps: ${JSON.stringify(vs)}`);
      await sleep(250);
    }
    await shot(pg, 'h264-tier');
  } finally {
    await context.close();
  }
});

for (const [name, opts] of [
  ['without VideoDecoder', { init: () => { delete window.VideoDecoder; } }],
  ['with ?webcodecs=0', { search: '?webcodecs=0' }],
]) {
  test(`${name} the tile plays JPEG`, async () => {
    const { pg, context, sockets } = await newPage(opts);
    try {
      const t = await waitTile(pg, 'tile on JPEG with pictures and a latency',
        (x) => x.path === 'jpeg' && x.decoded > 10 && x.frames > 10 && x.latency !== null);
      assert.match(t.caption, /^JPEG \w+ · \d+\.\d fps · \d+ ms$/);
      assert.ok(sockets.length > 0, 'a socket was opened');
      for (const u of sockets) assert.equal(new URL(u).searchParams.get('codecs'), null, `no codecs asked: ${u}`);
    } finally {
      await context.close();
    }
  });
}

test('a scripted source viewer: WebCodecs decodes ffmpeg\'s H.264, then falls back to JPEG when told unsupported', async () => {
  const aus = clip();
  const log = { urls: [], in: [], sent: 0 };
  const after = 6 * FPS;
  const { pg, context } = await newPage({ route: scriptedSource(aus, log, { unsupportedAfter: after }) });
  try {
    const t = await waitTile(pg, 'tile on WebCodecs with >30 pictures decoded and a latency',
      (x) => x.path === 'webcodecs' && x.decoded > 30 && x.latency !== null);
    assert.match(t.caption, /^H\.264 · \d+\.\d fps · \d+ ms$/);
    // Pictures captured 30..50 ms before they were sent: shown no sooner.
    assert.ok(t.latency >= 25 && t.latency < 1000, `latency ${t.latency} ms`);
    await shot(pg, 'scripted');
    // Reports (fps, decode_ms) go out for the WebCodecs path too, and the jitter buffer
    // passes the whole frame rate through 20 ms of arrival jitter: some second draws >= 25 fps.
    const deadline = Date.now() + WAIT;
    const reports = () => log.in.filter((m) => m.type === 'report');
    while (!reports().some((m) => m.fps >= 25) && Date.now() < deadline) await sleep(250);
    assert.ok(reports().some((m) => m.fps >= 25 && typeof m.decode_ms === 'number' && m.decode_ms >= 0),
      `a report of >= 25 fps with a decode_ms: ${JSON.stringify(reports())}`);
    // Told `unsupported`, the page reconnects without codecs and plays the real server's JPEG.
    const j = await waitTile(pg, 'tile back on JPEG after unsupported',
      (x) => x.path === 'jpeg' && x.decoded > 10);
    assert.match(j.caption, /^JPEG \w+ · /);
    assert.equal(log.sent, after, 'the page played the scripted video until told unsupported');
    assert.ok(log.urls.length >= 2 && !new URLSearchParams(log.urls.at(-1)).get('codecs'),
      `the last socket asks for no codecs: ${log.urls}`);
  } finally {
    await context.close();
  }
});

test('?jitter=MS holds the camera\'s own video that much longer', async () => {
  const log = { urls: [], in: [], sent: 0 };
  const { pg, context } = await newPage({ search: '?jitter=150', route: scriptedSource(clip(), log) });
  try {
    // Captured 30 ms before it is sent, held 150 ms past the quickest arrival.
    const t = await waitTile(pg, 'tile on WebCodecs with a latency',
      (x) => x.path === 'webcodecs' && x.decoded > 30 && x.latency !== null);
    // The upper bound only catches pictures held for good: a browser starved of CPU (the
    // integration tests run beside this file) shows a late second, as the test above allows.
    assert.ok(t.latency >= 175 && t.latency < 2000, `latency ${t.latency} ms with ?jitter=150`);
  } finally {
    await context.close();
  }
});

test('a codec the decoder refuses makes the tile fall back to JPEG', async () => {
  const aus = clip();
  const log = { urls: [], in: [], sent: 0 };
  // Chromium decodes no H.265 without hardware; should this one, the check below says so.
  const { pg, context } = await newPage({ route: scriptedSource(aus, log, { codec: 'hvc1.1.6.L93.B0' }) });
  try {
    const supported = await pg.evaluate(async () =>
      (await VideoDecoder.isConfigSupported({ codec: 'hvc1.1.6.L93.B0' })).supported);
    assert.equal(supported, false, 'this browser decodes hvc1: the test needs another refused codec');
    const j = await waitTile(pg, 'tile on JPEG after the decoder refused the codec',
      (x) => x.path === 'jpeg' && x.decoded > 10);
    assert.match(j.caption, /^JPEG \w+ · /);
    assert.ok(new URLSearchParams(log.urls[0]).get('codecs') === 'avc1', `first socket offered avc1: ${log.urls}`);
    assert.ok(!new URLSearchParams(log.urls.at(-1)).get('codecs'), `the last socket asks for no codecs: ${log.urls}`);
  } finally {
    await context.close();
  }
});

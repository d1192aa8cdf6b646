// Glass to glass over LL-HLS: hls.js in low-latency mode (the dashboard's player,
// web/hlsplayer.js, ?path=hls) in Debian's headless Chromium, playing one live simulator
// camera (H.264 1280x720 30 fps, a keyframe a second: 200 ms parts, 1 s segments) for
// DURATION; prints p50 and p95 (docs/benchmarks.md, issue 15's target: p50 <= 1.0 s).
//
//   node bench/hls_glass.mjs        (from the repository root; needs tests/browser's npm
//                                    packages and web/'s hls.js: npm ci in both)
//
// Environment: DURATION (30: seconds of samples), WARMUP (5: seconds of playing before
// sampling starts), HLSJS_CONFIG (JSON merged over web/hlsplayer.js's hls.js config, e.g.
// '{"liveSyncOnStallIncrease":0}'), VIGIL_BIN (default build/vigil), CHROMIUM
// (/usr/bin/chromium), SERVER_CPU (0) and CLIENT_CPU (1)
// for taskset: vigil on one core, the simulator and Chromium on the other; CHROMIUM_CPU
// (default CLIENT_CPU; '' for both cores) moves Chromium alone.
//
// Two figures per presented picture, both against this machine's wall clock:
// - glass: the time the picture was presented (requestVideoFrameCallback's
//   expectedDisplayTime, on the page's clock: performance.timeOrigin + it) minus the time
//   drawn in the picture's timestamp bar (tests/integration/stamp.py's layout, decoded here
//   from the video drawn into a canvas: the simulator's clock when it made the picture, before
//   its own x264 encode). That is camera → encoder → RTSP → vigil → LL-HLS → hls.js → MSE →
//   decoder → compositor: glass to glass but for the display's own scan-out.
// - page: what the tile shows (data-latency, once a second: now minus hls.js's playingDate,
//   from EXT-X-PROGRAM-DATE-TIME, i.e. the capture time vigil got from the camera's RTCP).
// Also: pictures presented, how many bars did not decode, the <video>'s waiting events, hls.js's
// errors since it started (BUFFER_STALLED_ERROR raises its target latency), its target latency
// and the buffer ahead of the playhead, once a second.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const lib = await import(path.join(root, 'tests/browser/lib.mjs'));

const VIGIL_BIN = process.env.VIGIL_BIN || path.join(root, 'build/vigil');
const SECONDS = Number(process.env.DURATION || 30);  // not $SECONDS: bash's own counter
const WARMUP = Number(process.env.WARMUP || 5);
const SERVER_CPU = process.env.SERVER_CPU || '0';
const CLIENT_CPU = process.env.CLIENT_CPU || '1';
// Chromium's core ('' leaves it to the scheduler, both cores).
const CHROMIUM_CPU = process.env.CHROMIUM_CPU ?? CLIENT_CPU;
const HLSJS_OVERRIDE = JSON.parse(process.env.HLSJS_CONFIG || '{}');
const CAMERA = 'cam';
const log = (m) => process.stderr.write(`${m}\n`);

function pct(sorted, q) {
  if (!sorted.length) return null;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function dist(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => (x == null ? null : Math.round(x));
  return { n: s.length, p50: r(pct(s, 0.5)), p95: r(pct(s, 0.95)), min: r(s[0]), max: r(s[s.length - 1]) };
}

async function startSim() {
  const proc = spawn('taskset', ['-c', CLIENT_CPU, '/usr/bin/python3', '-B',
    path.join(root, 'tests/integration/rtsp_sim.py'), '--port', '0', '--control-port', '0',
    '--codec', 'h264', '--width', '1280', '--height', '720', '--fps', '30', '--gop', '30'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rtsp_sim not ready in 30 s:\n${out}`)), 30000);
    const onData = (d) => {
      out += d.toString();
      const m = /^READY (\S+)/m.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`rtsp_sim exited ${code}:\n${out}`)); });
  });
  return { proc, url };
}

// Runs in the page: follows the tile's <video> with requestVideoFrameCallback, reads the bar
// of each presented picture and keeps { shownMs, stampMs } in window.__g2g.
function installReader(camera) {
  const BLOCKS = 68, DATA_BITS = 56, THRESHOLD = 127;
  const crc8 = (bytes) => {
    let crc = 0;
    for (const b of bytes) {
      crc ^= b;
      for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    return crc;
  };
  const middle = (lo, hi) => {
    const n = hi - lo;
    let trim = Math.floor((n + 3) / 4);
    if (n - 2 * trim < 1) trim = 0;
    return [lo + trim, hi - trim];
  };
  const g = { samples: [], bad: 0, frames: 0, waiting: 0, video: null };
  window.__g2g = g;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const decode = (video) => {
    const w = video.videoWidth, h = video.videoHeight;
    const rows = Math.max(0, Math.min(Math.max(Math.floor(h / 12), 8), h));
    if (w < BLOCKS || rows === 0) return null;
    canvas.width = w;
    canvas.height = rows;
    ctx.drawImage(video, 0, 0, w, rows, 0, 0, w, rows);
    const px = ctx.getImageData(0, 0, w, rows).data;
    const [r0, r1] = middle(0, rows);
    const bits = [];
    for (let i = 0; i < BLOCKS; i++) {
      const [c0, c1] = middle(Math.floor(i * w / BLOCKS), Math.floor((i + 1) * w / BLOCKS));
      let total = 0;
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          const o = (r * w + c) * 4;
          total += 0.299 * px[o] + 0.587 * px[o + 1] + 0.114 * px[o + 2];
        }
      }
      bits.push(total > THRESHOLD * (r1 - r0) * (c1 - c0) ? 1 : 0);
    }
    if (bits[0] !== 1 || bits[1] !== 0 || bits[66] !== 0 || bits[67] !== 1) return null;
    let value = 0n;
    for (const b of bits.slice(2, 2 + DATA_BITS)) value = (value << 1n) | BigInt(b);
    let crc = 0;
    for (const b of bits.slice(2 + DATA_BITS, 2 + DATA_BITS + 8)) crc = (crc << 1) | b;
    const bytes = [];
    for (let i = 6; i >= 0; i--) bytes.push(Number((value >> BigInt(8 * i)) & 0xffn));
    return crc === crc8(bytes) ? Number(value) / 1000 : null;
  };
  const follow = () => {
    const v = document.querySelector(`.tile[data-camera="${camera}"] video`);
    if (!v) { setTimeout(follow, 100); return; }
    g.video = true;
    v.addEventListener('waiting', () => { g.waiting++; });
    const onFrame = (now, meta) => {
      g.frames++;
      const stampMs = decode(v);
      if (stampMs == null) g.bad++;
      else g.samples.push({ shownMs: performance.timeOrigin + meta.expectedDisplayTime, stampMs });
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  };
  follow();
}

const sim = await startSim();
log(`camera: ${sim.url}`);
const server = await lib.startVigil('taskset', ['-c', SERVER_CPU, VIGIL_BIN, 'serve', '--no-auth',
  '--db', ':memory:', ...lib.WEB_ARGS, '--camera', `${CAMERA}=${sim.url}`]);
let browser = null;
let code = 1;
try {
  await lib.waitHealthy(server, 20000);
  browser = await lib.launchChromium(lib.CHROMIUM);
  // Chromium on the client core (its renderer and GPU processes are children of the browser
  // process, started with the page: pinned once it loaded), vigil alone on its own.
  const top = browser.process ? browser.process().pid : null;
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  // hls.js instances, to read its own view once a second (target latency, buffer ahead).
  // HLSJS_CONFIG (JSON) is merged over the dashboard's config: a knob for the measurement,
  // e.g. '{"liveSyncOnStallIncrease":0}'.
  await page.addInitScript((override) => {
    let wrapped;
    Object.defineProperty(window, 'Hls', {
      configurable: true,
      get: () => wrapped,
      set: (H) => {
        wrapped = class extends H {
          constructor(cfg) {
            super({ ...cfg, ...override });
            (window.__hlsInstances ||= []).push(this);
            const errs = (window.__hlsErrors ||= {});
            this.on(H.Events.ERROR, (ev, d) => { const k = `${d.details}${d.fatal ? ' (fatal)' : ''}`; errs[k] = (errs[k] || 0) + 1; });
          }
        };
      },
    });
  }, HLSJS_OVERRIDE);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}/?path=hls`, { waitUntil: 'load' });
  if (top && CHROMIUM_CPU) {
    const kids = spawn('sh', ['-c', `for p in ${top} $(pgrep -P ${top}); do taskset -a -p -c ${CHROMIUM_CPU} $p; done`], { stdio: 'ignore' });
    await new Promise((r) => kids.once('exit', r));
  }
  await page.evaluate(installReader, CAMERA);
  // Playing, then WARMUP s to settle at the live edge.
  const deadline = Date.now() + 30000;
  for (;;) {
    const g = await page.evaluate(() => ({ n: window.__g2g.samples.length, f: window.__g2g.frames }));
    if (g.n > 0) break;
    if (Date.now() > deadline) throw new Error(`no decodable picture within 30 s (frames ${g.f}); page errors: ${pageErrors.join('; ')}`);
    await sleep(250);
  }
  await sleep(WARMUP * 1000);
  await page.evaluate(() => { const g = window.__g2g; g.samples = []; g.bad = 0; g.frames = 0; g.waiting = 0; });
  const pageLat = [], ahead = [], targets = [], rates = [];
  let maxRanges = 0;
  const paths = new Set();
  const load0 = (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    const t = await page.$eval(`.tile[data-camera="${CAMERA}"]`, (e) => {
      const v = e.querySelector('video');
      const h = (window.__hlsInstances || []).at(-1);
      const b = v && v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : null;
      return { lat: e.dataset.latency, path: e.dataset.path, ahead: b, rate: v ? v.playbackRate : null,
        ranges: v ? v.buffered.length : 0,
        target: h ? h.targetLatency : null, hlsLatency: h ? h.latency : null };
    });
    paths.add(t.path);
    if (t.ahead != null) ahead.push(1000 * t.ahead);
    if (t.target != null) targets.push(1000 * t.target);
    if (t.rate != null) rates.push(t.rate);
    maxRanges = Math.max(maxRanges, t.ranges);
    if (t.lat !== undefined) pageLat.push(Number(t.lat));
  }
  const g = await page.evaluate(() => window.__g2g);
  const glass = g.samples.map((s) => s.shownMs - s.stampMs);
  const result = {
    bench: 'hls_glass', seconds: SECONDS, paths: [...paths],
    glass_ms: dist(glass), page_latency_ms: dist(pageLat),
    buffer_ahead_ms: dist(ahead), hlsjs_target_latency_ms: dist(targets),
    playback_rate_max: rates.length ? Math.max(...rates) : null,
    buffered_ranges_max: maxRanges, hlsjs_errors: await page.evaluate(() => window.__hlsErrors),
    frames_presented: g.frames, fps: Math.round(10 * g.frames / SECONDS) / 10,
    bars_unreadable: g.bad, waiting_events: g.waiting, page_errors: pageErrors,
    hlsjs_config_override: HLSJS_OVERRIDE, chromium_cpu: CHROMIUM_CPU || 'any', loadavg_before: load0,
    loadavg_after: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100),
  };
  console.log(JSON.stringify(result));
  log(`glass to glass (picture presented - time drawn in it): p50 ${result.glass_ms.p50} ms, p95 ${result.glass_ms.p95} ms ` +
      `(n ${result.glass_ms.n}, ${result.fps} fps presented, ${g.bad} bars unreadable, ${g.waiting} stalls); ` +
      `page (PROGRAM-DATE-TIME): p50 ${result.page_latency_ms.p50} ms, p95 ${result.page_latency_ms.p95} ms; ` +
      `load ${load0.join(' ')}`);
  code = paths.has('hls') && glass.length > 0 ? 0 : 1;
  await context.close();
} finally {
  if (browser) await browser.close();
  await lib.stopVigil(server).catch((e) => log(`vigil stop: ${e.message}`));
  sim.proc.kill('SIGTERM');
}
process.exit(code);

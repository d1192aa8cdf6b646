// Browser test of the dashboard basics an operator expects (issue 13, item 3): fullscreen of
// the single view, a statistics panel beside the picture, a header that fits 390 px, no
// sign-out under --no-auth, a correct "N cameras · M live", and failures with their reasons
// on tiles, the tile's badge agreeing with the single view's.
//
//   cd tests/browser && node --test basics.test.mjs
//
// Environment: VIGIL_BIN, CHROMIUM, DASH_WEB_ROOT as in dashboard.test.mjs; DASH_SCREENSHOTS
// saves basics-*.png there.
//
// One `vigil serve --no-auth` with four test cameras and two that cannot connect
// (rtsp://127.0.0.1:1/...): "down" is on screen and watched (backoff, "unreachable"),
// "yard-unplugged" is listed last and stays off screen at 390 px, so nobody watches it and it
// stays idle; its health (GET /api/v1/streams "health", filled in by the test until the
// server's check lands) says unreachable.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { VIGIL_BIN, CHROMIUM, SHOTS, WEB_ARGS, startVigil, waitHealthy, stopVigil, launchChromium } from './lib.mjs';
import { setTimeout as sleep } from 'node:timers/promises';

const WAIT = 15000;
const TEST_CAM = 'test://?width=320&height=180&fps=10';
const LONG = 'loading-dock-north-entrance';
const CAMERAS = ['down', 'front', 'gate', LONG, 'yard-unplugged'];
const IDLE_DOWN = 'yard-unplugged';
const HEALTH_REASON = 'connection refused';

let server = null;
let browser = null;
const errors = [];

async function shot(pg, name, opts = {}) {
  if (SHOTS) await pg.screenshot({ path: path.join(SHOTS, `basics-${name}.png`), timeout: WAIT, ...opts });
}

async function newPage(viewport, { session = null, health = false, noSockets = false } = {}) {
  const context = await browser.newContext({ viewport });
  const pg = await context.newPage();
  pg.setDefaultTimeout(WAIT);
  pg.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  if (session) {
    await pg.route('**/api/v1/session', (r) => r.fulfill({ json: session }));
  }
  if (health) {
    // The server's idle-camera check (item 1) fills "health"; until then the test does.
    await pg.route('**/api/v1/streams', async (r) => {
      const res = await r.fetch();
      const body = await res.json();
      for (const s of body.streams || []) {
        if (s.id === IDLE_DOWN) {
          s.health = { reachable: false, reason: HEALTH_REASON, checked_at: Date.now() / 1000 };
        } else if (!('health' in s)) {
          s.health = { reachable: null, reason: '', checked_at: null };
        }
      }
      await r.fulfill({ response: res, json: body });
    });
  }
  if (noSockets) {
    // A proxy that does not pass WebSockets: every viewer socket closes at once.
    await pg.routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close({ code: 1011, reason: 'no upgrade' }));
  }
  return pg;
}

async function apiLive() {
  const body = await (await fetch(`${server.url}/api/v1/streams`)).json();
  return body.streams.filter((s) => s.state === 'live').length;
}

function intersects(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

before(async () => {
  assert.ok(existsSync(VIGIL_BIN), `vigil binary not found at ${VIGIL_BIN} (set VIGIL_BIN)`);
  server = await startVigil(VIGIL_BIN, ['serve', '--no-auth', '--db', ':memory:', ...WEB_ARGS,
    '--camera', 'down=rtsp://127.0.0.1:1/none',
    '--camera', `front=${TEST_CAM}`, '--camera', `gate=${TEST_CAM}`, '--camera', `${LONG}=${TEST_CAM}`,
    '--camera', `${IDLE_DOWN}=rtsp://127.0.0.1:1/unplugged`]);
  await waitHealthy(server, 20000);
  browser = await launchChromium(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) await stopVigil(server);
});

// First, while nobody has watched it yet.
test('an idle camera that health says is unreachable shows it on its tile', async () => {
  const pg = await newPage({ width: 390, height: 844 }, { health: true });
  await pg.goto(`${server.url}/`);
  const tile = `#grid .tile[data-camera="${IDLE_DOWN}"]`;
  await pg.waitForSelector(tile, { state: 'attached' });
  await pg.waitForFunction((sel) => {
    const t = document.querySelector(sel);
    const b = t?.querySelector('.state');
    return t.dataset.state === 'idle' && b && /^unreachable: connection refused$/.test(b.textContent);
  }, tile).catch(async (e) => {
    const t = await pg.$eval(tile, (x) => ({ ...x.dataset, badge: x.querySelector('.state').textContent, top: x.getBoundingClientRect().top }));
    throw new Error(`${e.message}: tile ${JSON.stringify(t)}`);
  });
  assert.equal(await pg.getAttribute(tile, 'data-conn'), 'idle', 'nobody watches it (off screen)');
  await shot(pg, 'idle-unreachable', { fullPage: true });
  await pg.context().close();
});

let wide = null;                  // 1280×800 page on the grid, watching the on-screen cameras

test('failures and their reasons on tiles', async () => {
  wide = await newPage({ width: 1280, height: 800 }, { health: true });
  await wide.goto(`${server.url}/`);
  await wide.waitForFunction(() => document.querySelectorAll('#grid .tile').length === 5);
  // The camera that cannot connect: its state by name and its reason, in full, on the tile.
  const down = '#grid .tile[data-camera="down"]';
  await wide.waitForFunction((sel) => {
    const t = document.querySelector(sel);
    const b = t?.querySelector('.state');
    return b && ['backoff', 'failed'].includes(t.dataset.state) && t.dataset.reason === 'unreachable'
      && b.textContent === `${t.dataset.state}: unreachable`;
  }, down);
  const fit = await wide.$eval(`${down} .state`, (b) => ({ sw: b.scrollWidth, cw: b.clientWidth, vis: b.checkVisibility() }));
  assert.ok(fit.vis && fit.sw <= fit.cw, `badge shown whole: ${JSON.stringify(fit)}`);
  await wide.waitForFunction(() => document.querySelectorAll('#grid .tile[data-state="live"]').length === 3);
  await shot(wide, 'grid');
});

test('the single view\'s card shows the same state as the tile', async () => {
  await wide.click('#grid .tile[data-camera="down"]');
  await wide.waitForSelector('#single-view', { state: 'visible' });
  for (let i = 0; i < 8; i++) {
    const [card, tileBadge, stage] = await wide.evaluate(() => [
      document.querySelector('#single-state').textContent,
      document.querySelector('#grid .tile[data-camera="down"] .state').textContent,
      document.querySelector('#single').dataset.state,
    ]);
    assert.equal(tileBadge, card, `tile "${tileBadge}" vs card "${card}"`);
    assert.match(card, new RegExp(`^${stage}\\b`), `card "${card}" names the state ${stage}`);
    await sleep(300);
  }
  await wide.click('#back');
  await wide.waitForSelector('#grid-view', { state: 'visible' });
});

test('"N cameras · M live" counts the cameras whose state is live', async () => {
  await wide.waitForFunction(() => document.querySelectorAll('#grid .tile[data-state="live"]').length === 3);
  const live = await apiLive();
  assert.equal(live, 3, 'the server has three live cameras (the wide page watches them)');
  await wide.waitForFunction((t) => document.querySelector('#hdr-cams').textContent === t, `5 cameras · ${live} live`);
  // A page whose viewer sockets cannot open still counts what the server says is live.
  const pg = await newPage({ width: 1280, height: 800 }, { noSockets: true });
  await pg.goto(`${server.url}/`);
  await pg.waitForFunction(() => document.querySelectorAll('#grid .tile[data-conn="waiting"]').length >= 3);
  await pg.waitForFunction((t) => document.querySelector('#hdr-cams').textContent === t,
    `5 cameras · ${await apiLive()} live`).catch(async (e) => {
    throw new Error(`${e.message}: header "${await pg.textContent('#hdr-cams')}", API ${await apiLive()} live`);
  });
  await pg.context().close();
});

test('no Sign out under --no-auth, and no sign-in page either', async () => {
  const s = await (await fetch(`${server.url}/api/v1/session`)).json();
  assert.equal(s.via, 'open');
  assert.equal(await wide.locator('text=/sign out/i').filter({ visible: true }).count(), 0);
  assert.ok(await wide.isHidden('#who'));
  const pg = await newPage({ width: 1280, height: 800 });
  await pg.goto(`${server.url}/login.html`);
  await pg.waitForURL((u) => !u.pathname.endsWith('login.html'));
  await pg.waitForSelector('#grid .tile');
  assert.equal(await pg.locator('text=/sign (out|in)/i').filter({ visible: true }).count(), 0);
  await pg.context().close();
});

test('fullscreen: double-click and f; Esc leaves', async () => {
  await wide.click('#grid .tile[data-camera="front"]');
  await wide.waitForSelector('#single-view', { state: 'visible' });
  await wide.waitForFunction(() => Number(document.querySelector('#single').dataset.frames) > 2);
  const hash = await wide.evaluate(() => location.hash);
  await wide.dblclick('#single canvas');
  await wide.waitForFunction(() => document.fullscreenElement?.id === 'single');
  await shot(wide, 'fullscreen');
  await wide.keyboard.press('Escape');
  await wide.waitForFunction(() => document.fullscreenElement === null);
  assert.equal(await wide.evaluate(() => location.hash), hash, 'Esc leaving fullscreen stays in the single view');
  await wide.evaluate(() => document.activeElement?.blur());
  await wide.keyboard.press('f');
  await wide.waitForFunction(() => document.fullscreenElement?.id === 'single');
  await wide.keyboard.press('Escape');
  await wide.waitForFunction(() => document.fullscreenElement === null);
  assert.equal(await wide.evaluate(() => location.hash), hash);
});

async function panelClear(pg) {
  await pg.waitForSelector('#stats-overlay', { state: 'visible' });
  const p = await pg.locator('#stats-overlay').boundingBox();
  const c = await pg.locator('#single canvas').boundingBox();
  assert.ok(p && c && p.width > 0 && c.width > 0, `boxes ${JSON.stringify({ p, c })}`);
  assert.ok(!intersects(p, c), `stats panel ${JSON.stringify(p)} covers the picture ${JSON.stringify(c)}`);
}

test('the statistics panel does not cover the picture', async () => {
  await panelClear(wide);
  await wide.waitForFunction(() => Number(document.querySelector('#stats-overlay [data-stat="fps"]')?.dataset.value) > 0);
  await shot(wide, 'single');
});

test('the header works at 390 px (signed in, grid and single view)', async () => {
  const pg = await newPage({ width: 390, height: 844 }, {
    session: { user: 'operator-on-duty', role: 'admin', via: 'session', tenant: 'acme', csrf_token: 'x' },
  });
  await pg.goto(`${server.url}/`);
  await pg.waitForSelector('#sign-out', { state: 'visible' });
  await pg.waitForFunction(() => / live$/.test(document.querySelector('#hdr-cams').textContent));
  for (const view of ['grid', 'single']) {
    if (view === 'single') {
      await pg.goto(`${server.url}/#/camera/${LONG}`);
      await pg.waitForSelector('#single-view', { state: 'visible' });
      await pg.waitForFunction(() => Number(document.querySelector('#single').dataset.frames) > 2);
      await sleep(1100);      // a header tick
    }
    const r = await pg.evaluate(() => {
      const box = (e) => { const b = e.getBoundingClientRect(); return { x: b.x, y: b.y, r: b.right, b: b.bottom, w: b.width }; };
      const vis = (e) => e.checkVisibility() && e.getBoundingClientRect().width > 0;
      const header = document.querySelector('header');
      // A leaf's text: one line, inside the leaf's box (a clipped crumb ends in an ellipsis).
      const text = (e) => {
        const rg = document.createRange();
        rg.selectNodeContents(e);
        const lines = new Set([...rg.getClientRects()].map((r) => Math.round(r.top)));
        return { lines: lines.size, tw: rg.getBoundingClientRect().width };
      };
      const items = [...header.querySelectorAll('*')].filter(vis)
        .map((e) => ({ id: e.id || e.className, parent: e.parentElement === header ? 'top' : e.parentElement.id || e.parentElement.className, ...box(e), sw: e.scrollWidth, cw: e.clientWidth, ov: getComputedStyle(e).overflowX, leaf: e.children.length === 0, ...text(e), hx: header.getBoundingClientRect().right }));
      return { items, docW: document.documentElement.scrollWidth, hb: box(header) };
    });
    const W = 390;
    assert.ok(r.docW <= W, `${view}: page ${r.docW} px wide`);
    for (const it of r.items) {
      assert.ok(it.x >= -0.5 && it.r <= W + 0.5, `${view}: ${it.id} outside the viewport: ${JSON.stringify(it)}`);
      assert.ok(it.y >= r.hb.y - 0.5 && it.b <= r.hb.b + 0.5, `${view}: ${it.id} sticks out of the header: ${JSON.stringify(it)}`);
      if (it.leaf) {
        assert.equal(it.lines, 1, `${view}: ${it.id} wraps: ${JSON.stringify(it)}`);
        if (it.ov !== 'hidden') assert.ok(it.tw <= it.w + 1, `${view}: ${it.id} text overflows ${JSON.stringify(it)}`);
      }
    }
    // Siblings never overlap.
    for (let i = 0; i < r.items.length; i++) {
      for (let j = i + 1; j < r.items.length; j++) {
        const a = r.items[i];
        const b = r.items[j];
        if (a.parent !== b.parent) continue;
        const ov = a.x < b.r - 0.5 && b.x < a.r - 0.5 && a.y < b.b - 0.5 && b.y < a.b - 0.5;
        assert.ok(!ov, `${view}: ${a.id} and ${b.id} overlap: ${JSON.stringify([a, b])}`);
      }
    }
    await shot(pg, `header-390-${view}`);
  }
  // The stats panel keeps clear of the picture at this width too.
  await panelClear(pg);
  await shot(pg, 'single-390', { fullPage: true });
  await pg.context().close();
});

test('no page errors', () => {
  assert.deepEqual(errors, []);
});

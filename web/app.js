// vigil dashboard: camera grid and single-camera view over the WebSocket
// viewer protocol (docs/protocol.md). Plain ES module, no dependencies, no
// inline script (CSP script-src 'self').

import { $ } from './util.js';
import { signIn } from './api.js';
import { Tile, TILE_MIN_W, GRID_GAP, TILE_CAPTION_H } from './grid.js';
import { SingleView } from './single.js';
import { decodableCodecs } from './webcodecs.js';
import { delayFromQuery } from './jitter.js';
import { wantsHls } from './hlsplayer.js';

const TICK_MS = 1000;             // stats refresh period
const LIST_REFRESH_MS = 15000;    // re-read the camera list (names, states, new cameras)
const STATES_REFRESH_MS = 5000;   // re-read /api/v1/streams (states, reasons, health)


class App {
  constructor() {
    this.cameras = [];
    this.byId = new Map();
    this.tiles = new Map();
    this.route = { view: 'grid' };
    this.loaded = false;
    this.codecs = [];                  // what players offer the server (decodableCodecs)
    this.jitterMs = delayFromQuery(location.search);
    this.useHls = wantsHls(location.search);   // grid tiles play LL-HLS (?path=hls)
    this.grid = $('#grid');
    this.gridView = $('#grid-view');
    this.gridMsg = $('#grid-msg');
    this.singleSection = $('#single-view');
    this.crumb = $('#crumb');
    this.hdrCams = $('#hdr-cams');
    this.hdrFps = $('#hdr-fps');
    this.hdrClock = $('#hdr-clock');
    this.single = new SingleView(this);

    this.io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const tile = this.tiles.get(e.target.dataset.camera);
        if (!tile) continue;
        tile.visible = e.isIntersecting;
        tile.update();
      }
    }, { rootMargin: '64px' });

    let resizeTimer = null;
    this.ro = new ResizeObserver(() => {
      this.layout();
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { for (const t of this.tiles.values()) t.retier(); }, 400);
    });
    this.ro.observe(this.gridView);
    window.addEventListener('resize', () => this.layout());

    window.addEventListener('hashchange', () => this.applyRoute());
    document.addEventListener('visibilitychange', () => this.updateAll());
    document.addEventListener('keydown', (ev) => {
      if (this.route.view !== 'camera') return;
      const typing = ev.target.closest?.('input, select, textarea, [contenteditable]');
      if (ev.key === 'Escape') {
        // Esc leaves fullscreen first (when the browser did not take it), the view next.
        if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
        else location.hash = '#/';
        return;
      }
      if ((ev.key === 'f' || ev.key === 'F') && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !typing) {
        ev.preventDefault();
        this.single.toggleFullscreen();
        return;
      }
      // 's' toggles the statistics overlay, unless typing into a control.
      if ((ev.key === 's' || ev.key === 'S') && !ev.ctrlKey && !ev.metaKey && !ev.altKey
          && !ev.target.closest?.('input, select, textarea, [contenteditable]')) {
        ev.preventDefault();
        this.single.toggleStats();
      }
    });
    setInterval(() => this.tick(), TICK_MS);
    setInterval(() => this.loadCameras(), LIST_REFRESH_MS);
    setInterval(() => { if (this.loaded) this.refreshStates(); }, STATES_REFRESH_MS);
  }

  async start() {
    if (!(await this.loadSession())) return;
    this.codecs = await decodableCodecs(location.search);
    this.applyRoute();
    await this.loadCameras();
    this.tick();
  }

  // Who is signed in. Without a session the sign-in page takes over; with --no-auth the
  // server answers as "open" and there is nobody to sign out.
  async loadSession() {
    let r;
    try {
      r = await fetch(new URL('api/v1/session', location.href), { cache: 'no-store' });
    } catch (e) {
      console.warn('vigil: session', e);
      return true; // the camera list will say the server is unreachable
    }
    if (r.status === 401) {
      signIn();
      return false;
    }
    if (!r.ok) return true;
    this.session = await r.json();
    if (this.session.via === 'session') {
      document.getElementById('who-name').textContent =
        `${this.session.user} · ${this.session.role}${this.session.tenant ? ' · ' + this.session.tenant : ''}`;
      document.getElementById('who').hidden = false;
      const out = document.getElementById('sign-out');
      out.title = `Sign out ${this.session.user}`;
      out.addEventListener('click', () => this.signOut());
    }
    return true;
  }

  async signOut() {
    try {
      await fetch(new URL('api/v1/logout', location.href), {
        method: 'POST',
        headers: { 'X-CSRF-Token': this.session?.csrf_token || '' },
        cache: 'no-store',
      });
    } finally {
      signIn();
    }
  }

  async loadCameras() {
    let list;
    try {
      const r = await fetch(new URL('api/v1/cameras', location.href), {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
      });
      if (r.status === 401) { signIn(); return; }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = await r.json();
      // A camera record carries what the server runs for it in "live" (null: disabled).
      list = (Array.isArray(body.cameras) ? body.cameras : [])
        .filter((c) => c && c.live && typeof c.id === 'string')
        .map((c) => ({ ...c.live, id: c.id, name: c.name || c.id, ptz_driver: c.ptz_driver || null }));
    } catch (e) {
      console.warn('vigil: camera list', e);
      if (!this.loaded) this.showGridMsg(`cannot load cameras (${e.message}); retrying…`);
      if (!this.loaded) setTimeout(() => this.loadCameras(), 3000);
      return;
    }
    // Reasons and fresher states for sockets not open (best effort).
    await this.readStates(list);
    this.loaded = true;
    this.setCameras(list);
  }

  // State, reason and health of each camera in `list` from GET /api/v1/streams (best
  // effort; a server without the health check has no "health").
  async readStates(list) {
    try {
      const r = await fetch(new URL('api/v1/streams', location.href), {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
      });
      if (r.status === 401) { signIn(); return false; }
      if (!r.ok) return false;
      const body = await r.json();
      const byId = new Map((Array.isArray(body.streams) ? body.streams : [])
        .filter((s) => s && typeof s.id === 'string').map((s) => [s.id, s]));
      for (const c of list) {
        const s = c && byId.get(c.id);
        if (s && typeof s.state === 'string') {
          c.state = s.state;
          c.reason = typeof s.reason === 'string' ? s.reason : '';
          c.health = s.health && typeof s.health === 'object' ? s.health : null;
        }
      }
      return true;
    } catch (e) {
      console.warn('vigil: stream list', e);
      return false;
    }
  }

  // Between camera list reads: fresher states for the tiles and the count.
  async refreshStates() {
    const list = this.cameras;
    if (!(await this.readStates(list)) || list !== this.cameras) return;
    for (const c of list) {
      const tile = this.tiles.get(c.id);
      if (!tile) continue;
      tile.viewer.setKnownState(c.state, c.reason, c.health);
      tile.render();
    }
  }

  // The freshest state known for a camera: an open socket's (single view, then tile),
  // else the last listing's or stream poll's.
  knownState(id) {
    const c = this.byId.get(id);
    const out = { state: c?.state || null, reason: c?.reason || '', health: c?.health ?? null };
    for (const v of [this.single.viewer, this.tiles.get(id)?.viewer]) {
      if (v && v.cameraId === id && v.conn === 'open' && v.state) {
        out.state = v.state;
        out.reason = v.reason;
        break;
      }
    }
    return out;
  }

  // The single view learned a state: the camera's record and its tile take it too.
  noteState(id, state, reason, health) {
    const c = this.byId.get(id);
    if (!c || !state) return;
    c.state = state;
    c.reason = reason || '';
    if (health !== undefined) c.health = health;
    const tile = this.tiles.get(id);
    if (tile && tile.viewer.conn !== 'open') {
      tile.viewer.setKnownState(state, reason, health);
      const b = tile.viewer.status().badge;
      if (tile.badge.textContent !== b.text) tile.render();
    }
  }

  showGridMsg(text) {
    this.gridMsg.textContent = text;
    this.gridMsg.hidden = !text;
  }

  setCameras(list) {
    this.cameras = list.filter((c) => c && typeof c.id === 'string');
    this.byId = new Map(this.cameras.map((c) => [c.id, c]));
    for (const [id, tile] of this.tiles) {
      if (!this.byId.has(id)) {
        this.io.unobserve(tile.root);
        tile.destroy();
        this.tiles.delete(id);
      }
    }
    for (const cam of this.cameras) {
      let tile = this.tiles.get(cam.id);
      if (tile) {
        tile.setCam(cam);
      } else {
        tile = new Tile(this, cam);
        this.tiles.set(cam.id, tile);
        this.io.observe(tile.root);
      }
      this.grid.append(tile.root);      // keeps listing order
    }
    this.showGridMsg(this.cameras.length ? '' : 'no cameras configured');
    this.layout();
    if (this.route.view === 'camera' && !this.single.viewer) this.applyRoute();
  }

  // Pick a column count so that all tiles fit on screen when they can.
  layout() {
    const n = this.tiles.size;
    if (!n || this.gridView.hidden) return;
    const W = this.gridView.clientWidth;
    const top = this.grid.getBoundingClientRect().top + window.scrollY;
    const H = window.innerHeight - top - GRID_GAP;
    let best = 0;
    let bestCols = 1;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const wByW = (W - (cols - 1) * GRID_GAP) / cols;
      const wByH = ((H - (rows - 1) * GRID_GAP) / rows - TILE_CAPTION_H) * 16 / 9;
      const w = Math.min(wByW, wByH);
      if (w > best) { best = w; bestCols = cols; }
    }
    if (best < Math.min(TILE_MIN_W, W)) {
      bestCols = Math.max(1, Math.floor((W + GRID_GAP) / (TILE_MIN_W + GRID_GAP)));
      this.grid.style.removeProperty('max-width');
    } else {
      this.grid.style.setProperty('max-width', `${Math.floor(best * bestCols + (bestCols - 1) * GRID_GAP)}px`);
    }
    this.grid.style.setProperty('--cols', String(bestCols));
  }

  openCamera(id) {
    location.hash = `#/camera/${encodeURIComponent(id)}`;
  }

  parseRoute() {
    const m = /^#\/camera\/(.+)$/.exec(location.hash);
    if (m) {
      try { return { view: 'camera', id: decodeURIComponent(m[1]) }; } catch { /* fall through */ }
    }
    return { view: 'grid' };
  }

  applyRoute() {
    const r = this.parseRoute();
    const prev = this.route;
    this.route = r;
    if (r.view === 'camera') {
      this.gridView.hidden = true;
      this.singleSection.hidden = false;
      const cam = this.byId.get(r.id);
      this.crumb.textContent = `/ ${cam ? cam.name || cam.id : r.id}`;
      if (cam) {
        if (prev.view !== 'camera' || prev.id !== r.id || !this.single.viewer) this.single.open(cam);
      } else if (this.loaded) {
        this.single.showMissing(r.id);
      }
    } else {
      this.single.close();
      this.singleSection.hidden = true;
      this.gridView.hidden = false;
      this.crumb.textContent = '';
      this.layout();
    }
    this.updateAll();
  }

  updateAll() {
    for (const t of this.tiles.values()) t.update();
    if (this.single.viewer) {
      if (document.hidden) this.single.viewer.stop();
      else if (!this.single.viewer.wanted) this.single.viewer.start();
    }
  }

  tick() {
    const now = performance.now();
    let fps = 0;
    let live = 0;
    for (const t of this.tiles.values()) {
      fps += t.tick(now);
      t.render();
    }
    const sv = this.single.viewer;
    if (sv) {
      sv.tick(now);
      fps += sv.fps;
      this.single.render();
    }
    // M counts the cameras whose server state is live, from the freshest source (an open
    // socket's, else the last listing or poll); this page's own sockets opening, retrying
    // or failing say nothing about the camera.
    for (const c of this.cameras) {
      if (this.knownState(c.id).state === 'live') live++;
    }
    const n = this.cameras.length;
    this.hdrCams.textContent = this.loaded ? `${n} camera${n === 1 ? '' : 's'} · ${live} live` : '– cameras';
    this.hdrFps.textContent = `${fps.toFixed(1)} fps`;
    this.hdrFps.dataset.fps = fps.toFixed(1);
    this.hdrClock.textContent = new Date().toLocaleTimeString([], { hour12: false });
  }
}

const app = new App();
app.start();

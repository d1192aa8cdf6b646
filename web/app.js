// vigil dashboard: camera grid and single-camera view over the WebSocket
// viewer protocol (docs/protocol.md). Plain ES module, no dependencies, no
// inline script (CSP script-src 'self').

const TICK_MS = 1000;             // stats refresh period
const RECONNECT_MIN_MS = 500;     // first reconnect delay; doubles per failure
const RECONNECT_MAX_MS = 10000;
const PAUSE_DELAY_MS = 1500;      // a tile off screen this long closes its socket
const STALE_MS = 3000;            // no frame this long on an open socket: say so
const LIST_REFRESH_MS = 15000;    // re-read the camera list (names, states, new cameras)
const STREAM_POLL_MS = 2000;      // single view: re-read /api/v1/streams/{id}
const STATS_STALE_MS = 3500;      // server statistics older than this are not shown
const MOVE_SHOW_MS = 6000;        // how long a server tier move stays named in the overlay
const AUTO = 'auto';              // tier name asking the server to choose (docs/protocol.md)
const HEADER_LEN = 32;
const CODEC_JPEG = 1;
const TILE_MIN_W = 320;           // below this the grid scrolls instead of shrinking
const GRID_GAP = 8;
const TILE_CAPTION_H = 30;

const $ = (sel, root = document) => root.querySelector(sel);

// Off to the sign-in page (the session ended, or there was none).
function signIn() {
  location.replace(new URL('login.html', location.href));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtFps(v) { return v == null ? '–' : v.toFixed(1); }
function fmtMs(v) { return v == null ? '–' : String(Math.round(v)); }
// Short latencies keep a decimal (a LAN RTT is well under a millisecond).
function fmtLatency(ms) { return ms < 10 ? ms.toFixed(1) : String(Math.round(ms)); }

function fmtDur(s) {
  if (!(s >= 0)) return '–';
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// kbit/s (the server's kbps, 1000 bit) as 850 kbit/s, 5.72 Mbit/s, 12.1 Mbit/s.
function fmtKbps(v) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return '–';
  if (v < 1000) return `${Math.round(v)} kbit/s`;
  const m = v / 1000;
  return `${m < 10 ? m.toFixed(2) : m < 100 ? m.toFixed(1) : Math.round(m)} Mbit/s`;
}

// A server statistic that may be -1 or absent for "not known yet".
function known(v) { return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null; }

// How a server stream state (docs/protocol.md) is shown: badge label, colour
// class, detail after the label, and whether the picture counts as current.
// A "connecting" that carries a reason is a retry after a failure, shown as
// reconnecting so the badge does not flicker blue on every attempt.
function describeState(state, reason) {
  const r = reason || '';
  switch (state) {
    case 'live': return { label: 'live', cls: 'st-live', detail: '', current: true };
    case 'connecting':
      return r ? { label: 'reconnecting', cls: 'st-reconnecting', detail: r, current: false }
        : { label: 'connecting', cls: 'st-connecting', detail: '', current: false };
    case 'stalled':
    case 'backoff': return { label: 'reconnecting', cls: 'st-reconnecting', detail: r, current: false };
    case 'fallback': return { label: 'fallback', cls: 'st-fallback', detail: 'snapshots', current: true };
    case 'failed': return { label: 'failed', cls: 'st-failed', detail: r, current: false };
    case 'idle': return { label: 'idle', cls: 'st-idle', detail: '', current: false };
    default: return { label: state || 'unknown', cls: 'st-idle', detail: r, current: false };
  }
}

// Long, human text for a state (overlay when there is no picture, tooltips).
function stateSentence(state, reason) {
  const r = reason ? ` (${reason})` : '';
  switch (state) {
    case 'live': return 'live';
    case 'connecting': return reason ? `reconnecting…${r}` : 'connecting…';
    case 'stalled': return `stream stalled, reconnecting…${r}`;
    case 'backoff': return `camera down, retrying…${r}`;
    case 'fallback': return `video down, showing snapshots${r}`;
    case 'failed': return `camera failed${r}`;
    case 'idle': return 'idle';
    default: return `${state || 'unknown'}${r}`;
  }
}

// Tier for a grid tile: "low", or "medium" when the tile is clearly wider
// (in device pixels) than the low tier.
function tileTier(tiers, pxWidth) {
  if (!tiers || !tiers.length) return 'low';
  const byName = new Map(tiers.map((t) => [t.name, t]));
  const low = byName.get('low');
  const med = byName.get('medium');
  if (low) {
    if (med && pxWidth > low.width * 1.3) return 'medium';
    return 'low';
  }
  return tiers.reduce((a, b) => ((b.height || 1e9) < (a.height || 1e9) ? b : a)).name;
}

function wsUrl(cameraId, tier) {
  const u = new URL(`api/v1/cameras/${encodeURIComponent(cameraId)}/ws`, location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  u.search = '';
  u.searchParams.set('tier', tier);
  return u;
}

// One WebSocket viewer drawing into one canvas. Owns reconnection, decoding
// (at most one decode in flight, newest pending frame wins) and statistics.
class Viewer {
  constructor({ root, canvas, cameraId, tier, on = {} }) {
    this.root = root;               // element carrying data-frames
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.cameraId = cameraId;
    this.wantTier = tier;           // requested tier or AUTO (used on reconnect)
    this.tier = null;               // tier the server says we get
    this.auto = false;              // whether the server chooses that tier for us
    this.move = null;               // last server-made tier move: { tier, reason, at }
    this.tiers = [];
    this.state = null;              // server stream state
    this.reason = '';               // server's reason for that state ('' if none)
    this.conn = 'idle';             // idle|connecting|open|waiting|paused
    this.on = on;
    this.wanted = false;
    this.ws = null;
    this.gen = 0;
    this.retries = 0;
    this.retryTimer = null;
    this.retryAt = 0;
    this.decoding = false;
    this.pending = null;
    this.frames = 0;
    this.dropped = 0;               // seq gaps: frames the server skipped for us
    this.skipped = 0;               // frames replaced here while decoding
    this.decodeErrors = 0;
    this.lastSeq = null;
    this.lastTierIdx = -1;
    this.width = 0;
    this.height = 0;
    this.lastFrameAt = 0;
    this.lastError = '';
    this.unsupported = false;
    this.fps = 0;
    this.kBps = 0;
    this.latency = null;            // capture-to-display, ms (this page's clock vs the camera's)
    this.decodeMs = null;           // average decode time of the last window with decodes
    this.drawnAt = 0;               // first picture drawn on this connection (0: none yet)
    this.wantStats = false;         // ask the server for once-a-second statistics
    this.serverStats = null;        // last 'stats' message
    this.serverStatsAt = 0;
    this.statsCount = 0;            // 'stats' messages received (tests see it move)
    this.resetWindow(performance.now());
    this.root.dataset.frames = '0';
  }

  resetWindow(now) {
    this.winStart = now;
    this.winFrames = 0;
    this.winBytes = 0;
    this.winLatSum = 0;
    this.winLatN = 0;
    this.winDecodeSum = 0;
    this.winDecodeN = 0;
    this.winTierChange = false;
  }

  start() {
    this.wanted = true;
    if (!this.ws && !this.retryTimer) this.connect();
  }

  stop() {
    this.wanted = false;
    this.gen++;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.pending = null;
    this.lastSeq = null;
    this.closeSocket();
    this.serverStats = null;
    this.fps = 0;
    this.kBps = 0;
    this.setConn('paused');
  }

  closeSocket() {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    if (ws.readyState === WebSocket.CONNECTING) {
      // Closing a connecting socket makes Chromium log an error; wait for open.
      ws.onopen = () => ws.close(1000);
    } else {
      ws.onopen = null;
      ws.close(1000);
    }
  }

  connect() {
    const gen = ++this.gen;
    this.retryTimer = null;
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.cameraId, this.wantTier));
    } catch (e) {
      console.warn('vigil: websocket', e);
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.lastSeq = null;
    this.drawnAt = 0;
    this.setConn('connecting');
    ws.onopen = () => {
      if (gen !== this.gen) return;
      this.lastFrameAt = performance.now();
      this.setConn('open');
    };
    ws.onmessage = (ev) => {
      if (gen !== this.gen) return;
      if (typeof ev.data === 'string') this.onText(ev.data);
      else this.onBinary(ev.data);
    };
    ws.onerror = () => {};   // onclose follows and handles it
    ws.onclose = (ev) => {
      if (gen !== this.gen) return;
      this.ws = null;
      this.pending = null;
      this.lastSeq = null;
      this.serverStats = null;
      if (ev.code === 4401) { signIn(); return; } // signed out elsewhere
      if (ev.code !== 1000 && ev.code !== 1005 && ev.code !== 1006) {
        this.lastError = `closed ${ev.code}${ev.reason ? ' ' + ev.reason : ''}`;
      }
      if (this.wanted) this.scheduleReconnect();
      else this.setConn('paused');
    };
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.retries);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.retries = Math.min(this.retries + 1, 16);
    this.retryAt = performance.now() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.wanted) this.connect();
    }, delay);
    this.setConn('waiting');
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  subscribe(tier) {
    this.wantTier = tier;
    this.send({ type: 'subscribe', tier });
  }

  // The server forgets this with the socket, so hello asks again.
  setStats(on) {
    this.wantStats = on;
    if (!on) this.serverStats = null;
    this.send({ type: 'stats', enable: on });
  }

  // Label of what we receive: "auto · medium" or "low".
  tierLabel() {
    if (this.auto) return `${AUTO} · ${this.tier || '…'}`;
    return this.tier || this.wantTier || '–';
  }

  // Server statistics if fresh and from this socket, else null.
  stats() {
    if (!this.serverStats || this.conn !== 'open') return null;
    return performance.now() - this.serverStatsAt < STATS_STALE_MS ? this.serverStats : null;
  }

  setConn(c) {
    if (this.conn === c) return;
    this.conn = c;
    this.on.status?.(this);
  }

  onText(s) {
    let m;
    try { m = JSON.parse(s); } catch { return; }
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'hello':
        this.tiers = Array.isArray(m.tiers) ? m.tiers : [];
        this.tier = m.tier || null;
        this.auto = m.auto === true;
        this.move = null;
        if (m.state) {
          this.state = m.state;
          this.reason = typeof m.reason === 'string' ? m.reason : '';
        }
        if (this.tier && this.wantTier !== AUTO && !this.tiers.some((t) => t.name === this.wantTier)) {
          this.wantTier = this.tier;
        }
        if (this.wantStats) this.send({ type: 'stats', enable: true });
        this.on.hello?.(this, m);
        this.on.status?.(this);
        break;
      case 'tiers':                   // the camera's new source came with another ladder
        this.tiers = Array.isArray(m.tiers) ? m.tiers : [];
        this.tier = m.tier || null;
        this.lastSeq = null;
        this.winTierChange = true;
        if (this.tier && this.wantTier !== AUTO && !this.tiers.some((t) => t.name === this.wantTier)) {
          this.wantTier = this.tier;
        }
        this.on.hello?.(this, m);
        this.on.status?.(this);
        break;
      case 'subscribed':
        this.tier = m.tier;
        this.auto = m.auto === true;
        this.move = null;
        this.lastSeq = null;
        this.winTierChange = true;
        this.on.subscribed?.(this, m);
        break;
      case 'tier':                    // the server moved this auto viewer
        if (typeof m.tier !== 'string') break;
        this.tier = m.tier;
        this.auto = m.auto !== false;
        this.move = { tier: m.tier, reason: typeof m.reason === 'string' ? m.reason : '', at: performance.now() };
        this.lastSeq = null;
        this.winTierChange = true;
        this.on.tier?.(this, m);
        break;
      case 'stats':
        this.serverStats = m;
        this.serverStatsAt = performance.now();
        this.statsCount++;
        this.on.stats?.(this, m);
        break;
      case 'state':
        if (typeof m.state !== 'string') break;
        this.state = m.state;
        this.reason = typeof m.reason === 'string' ? m.reason : '';
        this.on.status?.(this);
        break;
      case 'error':
        this.lastError = `${m.code || 'error'}: ${m.message || ''}`;
        console.warn(`vigil: camera ${this.cameraId}: ${this.lastError}`);
        this.on.error?.(this, m);
        break;
      default:
        break;
    }
  }

  onBinary(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER_LEN) return;
    const dv = new DataView(buf);
    const version = dv.getUint8(0);
    const hlen = dv.getUint8(1);
    if (version !== 1 || hlen < HEADER_LEN || hlen > buf.byteLength) return;
    const codec = dv.getUint8(2);
    const seq = dv.getUint32(4, true);
    const captureUs = dv.getBigUint64(8, true);
    const tierIdx = dv.getUint8(28);
    this.winBytes += buf.byteLength;
    if (this.lastSeq !== null && tierIdx === this.lastTierIdx) {
      const gap = (seq - this.lastSeq - 1) >>> 0;
      if (gap > 0 && gap < 1e6) this.dropped += gap;
    }
    this.lastSeq = seq;
    this.lastTierIdx = tierIdx;
    if (codec !== CODEC_JPEG) {
      this.unsupported = true;
      return;
    }
    const frame = { data: new Uint8Array(buf, hlen), captureUs, tierIdx };
    if (this.decoding) {
      if (this.pending) this.skipped++;
      this.pending = frame;          // latest wins, never queue
      return;
    }
    this.decodeLoop(frame);
  }

  async decodeLoop(frame) {
    this.decoding = true;
    const gen = this.gen;
    try {
      while (frame && gen === this.gen) {
        let bmp = null;
        const t0 = performance.now();
        try {
          bmp = await createImageBitmap(new Blob([frame.data], { type: 'image/jpeg' }));
          this.winDecodeSum += performance.now() - t0;
          this.winDecodeN++;
        } catch {
          this.decodeErrors++;
        }
        if (bmp) {
          try {
            if (gen === this.gen) this.draw(bmp, frame);
          } finally {
            bmp.close();
          }
        }
        frame = this.pending;
        this.pending = null;
      }
    } finally {
      this.decoding = false;
    }
  }

  draw(bmp, frame) {
    const c = this.canvas;
    if (c.width !== bmp.width || c.height !== bmp.height) {
      c.width = bmp.width;
      c.height = bmp.height;
    }
    this.ctx.drawImage(bmp, 0, 0);
    this.width = bmp.width;
    this.height = bmp.height;
    this.frames++;
    this.root.dataset.frames = String(this.frames);
    const lat = (Date.now() * 1000 - Number(frame.captureUs)) / 1000;
    this.winFrames++;
    this.winLatSum += lat;
    this.winLatN++;
    const wasStale = this.isStale();
    this.lastFrameAt = performance.now();
    if (!this.drawnAt) this.drawnAt = this.lastFrameAt;
    if (this.retries) this.retries = 0;
    if (wasStale || this.frames === 1) this.on.status?.(this);
  }

  isStale() {
    return this.conn === 'open' && performance.now() - this.lastFrameAt > STALE_MS;
  }

  tick(now) {
    const dt = (now - this.winStart) / 1000;
    if (dt <= 0) return;
    if (this.conn === 'open') {
      this.fps = this.winFrames / dt;
      this.kBps = this.winBytes / 1024 / dt;
      if (this.winLatN) this.latency = this.winLatSum / this.winLatN;
      if (this.winDecodeN) this.decodeMs = this.winDecodeSum / this.winDecodeN;
      this.report();
    } else {
      this.fps = 0;
      this.kBps = 0;
    }
    this.resetWindow(now);
  }

  // Tell the server how fast this page really draws: a render rate well
  // below the send rate makes it move an auto viewer down ("client"). Only
  // whole windows after the first picture count, and none with a tier
  // change in it, so that connecting or switching does not look like a
  // client falling behind.
  report() {
    if (!this.drawnAt || this.winStart < this.drawnAt || this.winTierChange) return;
    const msg = { type: 'report', fps: Math.min(1000, Math.round(this.fps * 10) / 10) };
    if (this.decodeMs != null) msg.decode_ms = Math.min(60000, Math.round(this.decodeMs * 100) / 100);
    this.send(msg);
  }

  // Known server state: from this socket when open, else whatever the owner
  // last learned (listing, stream poll).
  setKnownState(state, reason) {
    if (!state || (this.ws && this.conn === 'open')) return;
    this.state = state;
    this.reason = reason || '';
  }

  // What to show: the server state (data-state/data-reason, badge), an
  // overlay text (viewer connection problems, or no picture yet), and
  // whether to dim the picture (not current).
  status() {
    const state = this.state || 'idle';
    const reason = this.reason || '';
    const d = describeState(state, reason);
    const badge = {
      text: d.detail ? `${d.label}: ${d.detail}` : d.label,
      cls: d.cls,
      title: stateSentence(state, reason),
    };
    const out = { state, reason, badge, overlay: '', dim: !d.current };
    switch (this.conn) {
      case 'connecting':
        out.overlay = this.frames ? '' : 'opening viewer…';
        return out;
      case 'waiting': {
        const s = Math.max(0, Math.ceil((this.retryAt - performance.now()) / 1000));
        out.badge = { text: 'no connection', cls: 'st-offline', title: 'no connection to vigil' };
        out.overlay = `no connection to vigil · retry in ${s} s`;
        out.dim = true;
        return out;
      }
      case 'paused':
        out.overlay = 'paused';
        return out;
      case 'idle':
        return out;
      default: break;
    }
    if (this.unsupported && !this.frames) {
      out.overlay = 'unsupported codec';
    } else if (state === 'live' || state === 'fallback') {
      if (this.isStale()) {
        out.overlay = 'no picture';
        out.dim = true;
      } else if (!this.frames) {
        out.overlay = state === 'fallback' ? 'waiting for snapshot…' : 'waiting for picture…';
      }
    } else if (!this.frames) {
      out.overlay = stateSentence(state, reason);
    }
    return out;
  }
}

function setStateBadge(badge, b) {
  if (badge.textContent !== b.text) badge.textContent = b.text;
  const cls = `state ${b.cls}`;
  if (badge.className !== cls) badge.className = cls;
  badge.title = b.title || b.text;
}

// data-state/data-reason (server view) and data-conn (viewer socket) for
// styling and tests.
function setStateData(node, s, conn) {
  if (node.dataset.state !== s.state) node.dataset.state = s.state;
  if (node.dataset.reason !== s.reason) node.dataset.reason = s.reason;
  if (conn !== undefined && node.dataset.conn !== conn) node.dataset.conn = conn;
  node.classList.toggle('dim', !!s.dim);
}

function setOverlay(ov, text) {
  if (ov.textContent !== text) ov.textContent = text;
  ov.hidden = !text;
}

// One grid tile.
class Tile {
  constructor(app, cam) {
    this.app = app;
    this.cam = cam;
    this.visible = false;
    this.pauseTimer = null;

    const root = el('article', 'tile');
    root.dataset.camera = cam.id;
    root.dataset.frames = '0';
    root.tabIndex = 0;
    root.setAttribute('role', 'link');
    const media = el('div', 'tile-media');
    const canvas = el('canvas');
    const overlay = el('div', 'overlay');
    overlay.hidden = true;
    media.append(canvas, overlay);
    const info = el('div', 'tile-info');
    this.nameEl = el('span', 'name');
    this.badge = el('span', 'state');
    this.statsEl = el('span', 'tile-stats mono');
    info.append(this.nameEl, this.badge, this.statsEl);
    root.append(media, info);
    this.root = root;
    this.media = media;
    this.overlay = overlay;

    root.addEventListener('click', () => app.openCamera(cam.id));
    root.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        app.openCamera(cam.id);
      }
    });

    this.viewer = new Viewer({
      root,
      canvas,
      cameraId: cam.id,
      tier: 'low',
      on: { status: () => this.render(), hello: () => this.render() },
    });
    this.setCam(cam);
  }

  setCam(cam) {
    this.cam = cam;
    this.nameEl.textContent = cam.name || cam.id;
    this.nameEl.title = `${cam.name || cam.id} (${cam.id})`;
    this.root.setAttribute('aria-label', `Open camera ${cam.name || cam.id}`);
    this.viewer.setKnownState(cam.state, cam.reason);
    this.render();
  }

  chooseTier() {
    const px = (this.media.clientWidth || 0) * (window.devicePixelRatio || 1);
    return tileTier(this.viewer.tiers.length ? this.viewer.tiers : this.cam.tiers, px);
  }

  // Run the viewer iff the grid is shown, the tile is on screen and the page visible.
  update() {
    const want = this.app.route.view === 'grid' && this.visible && !document.hidden;
    if (want) {
      clearTimeout(this.pauseTimer);
      this.pauseTimer = null;
      if (!this.viewer.wanted) {
        this.viewer.wantTier = this.chooseTier();
        this.viewer.start();
      }
    } else if (this.viewer.wanted) {
      // Leaving the grid stops at once; scrolling away waits a little.
      if (this.app.route.view !== 'grid' || document.hidden) {
        clearTimeout(this.pauseTimer);
        this.pauseTimer = null;
        this.viewer.stop();
      } else if (!this.pauseTimer) {
        this.pauseTimer = setTimeout(() => {
          this.pauseTimer = null;
          this.viewer.stop();
        }, PAUSE_DELAY_MS);
      }
    }
  }

  retier() {
    if (!this.viewer.wanted) return;
    const t = this.chooseTier();
    if (t !== this.viewer.wantTier) this.viewer.subscribe(t);
  }

  render() {
    const v = this.viewer;
    const s = v.status();
    setStateBadge(this.badge, s.badge);
    setStateData(this.root, s, v.conn);
    setOverlay(this.overlay, s.overlay);
    const showStats = v.conn === 'open' && (s.state === 'live' || s.state === 'fallback');
    const stats = showStats ? `${fmtFps(v.fps)} fps · ${fmtMs(v.latency)} ms` : '';
    if (this.statsEl.textContent !== stats) this.statsEl.textContent = stats;
  }

  destroy() {
    clearTimeout(this.pauseTimer);
    this.viewer.stop();
    this.root.remove();
  }
}

// The single-camera view (one at a time).
class SingleView {
  constructor(app) {
    this.app = app;
    this.section = $('#single-view');
    this.stage = $('#single');
    this.canvas = $('#single-canvas');
    this.overlay = $('.overlay', this.stage);
    this.nameEl = $('#single-name');
    this.badge = $('#single-state');
    this.select = $('#tier-select');
    this.statsEl = $('#single-stats');
    this.streamEl = $('#single-stream');
    this.tierNow = $('#tier-now');
    this.panel = $('#stats-overlay');
    this.statsBtn = $('#stats-toggle');
    this.stat = Object.fromEntries([...this.panel.querySelectorAll('[data-stat]')]
      .map((e) => [e.dataset.stat, e]));
    this.statsOn = true;             // overlay shown (this session, all cameras)
    this.viewer = null;
    this.stream = null;              // last /api/v1/streams/{id} answer
    this.pollTimer = null;
    this.pollGen = 0;
    this.tierChoice = new Map();     // camera id -> tier (or AUTO) picked this session
    this.select.addEventListener('change', () => {
      if (!this.viewer) return;
      const t = this.select.value;
      this.tierChoice.set(this.viewer.cameraId, t);
      this.viewer.subscribe(t);
      this.render();
    });
    this.statsBtn.addEventListener('click', () => this.toggleStats());
    this.showStats(this.statsOn);
  }

  toggleStats() { this.showStats(!this.statsOn); }

  // The overlay and the server's statistics go together: hidden, the
  // server stops sending them.
  showStats(on) {
    this.statsOn = on;
    this.panel.hidden = !on;
    this.statsBtn.setAttribute('aria-pressed', String(on));
    if (this.viewer && this.viewer.wantStats !== on) this.viewer.setStats(on);
    this.renderOverlay();
  }

  open(cam) {
    this.close();
    this.stage.dataset.camera = cam.id;
    this.stage.dataset.frames = '0';
    this.nameEl.textContent = cam.name || cam.id;
    this.nameEl.title = cam.id;
    const ctx = this.canvas.getContext('2d', { alpha: false });
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const tier = this.tierChoice.get(cam.id) || AUTO;
    this.fillTiers(cam.tiers || [], tier);
    this.viewer = new Viewer({
      root: this.stage,
      canvas: this.canvas,
      cameraId: cam.id,
      tier,
      on: {
        status: () => this.render(),
        hello: (v) => {
          let want = this.tierChoice.get(cam.id) || AUTO;
          if (want !== AUTO && !v.tiers.some((t) => t.name === want)) want = AUTO;
          this.fillTiers(v.tiers, want);
          const there = want === AUTO ? v.auto : !v.auto && v.tier === want;
          if (!there) v.subscribe(want);
          this.render();
        },
        subscribed: (v) => {
          this.select.value = v.auto ? AUTO : v.tier;
          this.render();
        },
        tier: () => this.render(),
        stats: () => this.renderOverlay(),
        error: () => this.render(),
      },
    });
    this.viewer.setStats(this.statsOn);
    this.viewer.setKnownState(cam.state, cam.reason);
    this.viewer.start();
    this.startPoll(cam.id);
    this.render();
  }

  // Stream details (attempts, input rate) every STREAM_POLL_MS while open.
  // A request in flight is left to finish (aborting it would show as a
  // failed request); its answer is dropped if the view moved on.
  startPoll(id) {
    this.stopPoll();
    const gen = ++this.pollGen;
    const url = new URL(`api/v1/streams/${encodeURIComponent(id)}`, location.href);
    const poll = async () => {
      let body = null;
      try {
        const r = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
        if (r.ok) body = await r.json();
        else if (r.status === 404 && gen === this.pollGen) this.stopPoll();
      } catch (e) {
        if (gen === this.pollGen) console.warn('vigil: stream details', e);
      }
      if (gen !== this.pollGen) return;
      if (body && typeof body === 'object') {
        this.stream = body;
        this.viewer?.setKnownState(body.state, body.reason);
        this.render();
      }
    };
    poll();
    this.pollTimer = setInterval(poll, STREAM_POLL_MS);
  }

  stopPoll() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.pollGen++;
  }

  fillTiers(tiers, selected) {
    const sel = this.select;
    sel.replaceChildren();
    if (tiers.length) {
      const o = el('option', '', AUTO);
      o.value = AUTO;
      sel.append(o);
    }
    for (const t of tiers) {
      const o = el('option', '', `${t.name} · ${t.width}×${t.height} @ ${t.fps}`);
      o.value = t.name;
      sel.append(o);
    }
    if (tiers.length && (selected === AUTO || tiers.some((t) => t.name === selected))) sel.value = selected;
    sel.disabled = tiers.length === 0;
  }

  close() {
    this.stopPoll();
    this.stream = null;
    if (this.viewer) this.viewer.stop();
    this.viewer = null;
  }

  showMissing(id) {
    this.close();
    this.stage.dataset.camera = id;
    this.stage.dataset.frames = '0';
    this.nameEl.textContent = id;
    setStateBadge(this.badge, { text: 'not found', cls: 'st-failed' });
    for (const n of [this.stage, this.section]) {
      delete n.dataset.state;
      delete n.dataset.reason;
      delete n.dataset.conn;
      n.classList.remove('dim');
    }
    setOverlay(this.overlay, `no camera “${id}”`);
    this.statsEl.textContent = '';
    this.streamEl.textContent = '';
    this.select.replaceChildren();
    this.select.disabled = true;
    this.renderTier();
    this.renderOverlay();
  }

  render() {
    const v = this.viewer;
    if (!v) return;
    const s = v.status();
    setStateBadge(this.badge, s.badge);
    setStateData(this.stage, s, v.conn);
    setStateData(this.section, s, v.conn);
    setOverlay(this.overlay, s.overlay);
    this.renderStream(s);
    this.renderTier();
    this.renderOverlay();
    const parts = [
      `${fmtFps(v.fps)} fps`,
      `${fmtMs(v.latency)} ms`,
      `tier ${v.tierLabel()}`,
      v.width ? `${v.width}×${v.height}` : '–×–',
      `${v.kBps.toFixed(0)} kB/s`,
      `dropped ${v.dropped}`,
    ];
    if (v.skipped) parts.push(`skipped ${v.skipped}`);
    if (v.decodeErrors) parts.push(`decode errors ${v.decodeErrors}`);
    if (v.lastError) parts.push(v.lastError);
    this.statsEl.textContent = parts.join(' · ');
  }

  // The tier actually received, as the server last said (hello, subscribed,
  // tier); data-tier/data-auto for tests.
  renderTier() {
    const v = this.viewer;
    const n = this.tierNow;
    const tier = v?.tier || '';
    const auto = v ? String(v.auto) : '';
    const text = v && v.tier ? v.tierLabel() : '';
    if (n.textContent !== text) n.textContent = text;
    if (n.dataset.tier !== tier) n.dataset.tier = tier;
    if (n.dataset.auto !== auto) n.dataset.auto = auto;
    n.title = v?.move ? `tier vigil is sending; it last moved to ${v.move.tier} (${v.move.reason})`
      : 'tier vigil is sending';
  }

  // The statistics overlay: the server's once-a-second numbers for this
  // viewer (fps sent, capture-to-send latency, bitrate, drops, RTT) beside
  // this page's own (fps drawn, capture-to-display latency, decode time).
  // Each value is a [data-stat] element; data-value holds the number and is
  // absent while unknown, so "–" is never mistaken for a reading.
  renderOverlay() {
    if (!this.statsOn) return;
    const v = this.viewer;
    const m = v?.stats() || null;
    const open = v?.conn === 'open';
    // A reading: fmt(value) shown, or '–' and no data-value while unknown.
    const set = (key, value, fmt) => {
      const e = this.stat[key];
      const t = value == null ? '–' : fmt(value);
      if (e.textContent !== t) e.textContent = t;
      if (value == null) e.removeAttribute('data-value');
      else if (e.dataset.value !== String(value)) e.dataset.value = String(value);
    };
    // A remark beside a reading, empty when there is nothing to say.
    const note = (key, text) => {
      if (this.stat[key].textContent !== text) this.stat[key].textContent = text;
    };
    const num = (key) => (m ? known(m[key]) : null);
    const fixed1 = (x) => x.toFixed(1);
    const ms = (x) => `${fmtLatency(x)} ms`;
    set('fps', num('fps'), fixed1);
    set('render-fps', open && v.drawnAt ? v.fps : null, fixed1);
    set('latency', num('latency_ms'), ms);
    set('display-latency', open && v.drawnAt ? v.latency : null, (x) => `${Math.round(x)} ms`);
    set('tier', v?.tier || null, () => v.tierLabel());
    const moved = v?.move && performance.now() - v.move.at < MOVE_SHOW_MS;
    note('tier-move', moved ? `(${v.move.reason})` : '');
    set('bitrate', num('kbps'), fmtKbps);
    set('drops', num('drops'), String);
    note('skipped', v?.skipped ? `· ${v.skipped} skipped here` : '');
    set('rtt', num('rtt_ms'), ms);
    set('decode', open ? v.decodeMs : null, (x) => `${x.toFixed(1)} ms`);
    set('frames', num('frames'), String);
    this.panel.dataset.updates = String(v?.statsCount || 0);
    this.panel.classList.toggle('stale', !m);
  }

  // Server side of the stream: state, reason, how long, attempts, input.
  renderStream(s) {
    const st = this.stream;
    const parts = [`state ${s.state}`];
    if (s.reason) parts.push(`reason ${s.reason}`);
    if (st) {
      if (typeof st.since_us === 'number' && st.state === s.state) {
        parts.push(`for ${fmtDur(Date.now() / 1000 - st.since_us / 1e6)}`);
      }
      parts.push(`attempts ${Number.isFinite(st.attempts) ? st.attempts : '–'}`);
      parts.push(`input ${typeof st.input_fps === 'number' ? st.input_fps.toFixed(1) : '–'} fps`);
      parts.push(`${fmtKbps(st.input_kbps)}`);
      if (st.codec) parts.push(String(st.codec));
      if (st.width && st.height) parts.push(`${st.width}×${st.height}`);
      if (Number.isFinite(st.viewers)) parts.push(`${st.viewers} viewer${st.viewers === 1 ? '' : 's'}`);
    } else {
      parts.push('attempts –', 'input – fps');
    }
    const text = parts.join(' · ');
    if (this.streamEl.textContent !== text) this.streamEl.textContent = text;
  }
}

class App {
  constructor() {
    this.cameras = [];
    this.byId = new Map();
    this.tiles = new Map();
    this.route = { view: 'grid' };
    this.loaded = false;
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
      if (ev.key === 'Escape') location.hash = '#/';
      // 's' toggles the statistics overlay, unless typing into a control.
      if ((ev.key === 's' || ev.key === 'S') && !ev.ctrlKey && !ev.metaKey && !ev.altKey
          && !ev.target.closest?.('input, select, textarea, [contenteditable]')) {
        ev.preventDefault();
        this.single.toggleStats();
      }
    });
    setInterval(() => this.tick(), TICK_MS);
    setInterval(() => this.loadCameras(), LIST_REFRESH_MS);
  }

  async start() {
    if (!(await this.loadSession())) return;
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
      document.getElementById('sign-out').addEventListener('click', () => this.signOut());
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
        .map((c) => ({ ...c.live, id: c.id, name: c.name || c.id }));
    } catch (e) {
      console.warn('vigil: camera list', e);
      if (!this.loaded) this.showGridMsg(`cannot load cameras (${e.message}); retrying…`);
      if (!this.loaded) setTimeout(() => this.loadCameras(), 3000);
      return;
    }
    // Reasons and fresher states for sockets not open (best effort).
    try {
      const r = await fetch(new URL('api/v1/streams', location.href), {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
      });
      if (r.ok) {
        const body = await r.json();
        const byId = new Map((Array.isArray(body.streams) ? body.streams : [])
          .filter((s) => s && typeof s.id === 'string').map((s) => [s.id, s]));
        for (const c of list) {
          const s = c && byId.get(c.id);
          if (s && typeof s.state === 'string') {
            c.state = s.state;
            c.reason = typeof s.reason === 'string' ? s.reason : '';
          }
        }
      }
    } catch (e) {
      console.warn('vigil: stream list', e);
    }
    this.loaded = true;
    this.setCameras(list);
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
      t.viewer.tick(now);
      fps += t.viewer.fps;
      t.render();
    }
    const sv = this.single.viewer;
    if (sv) {
      sv.tick(now);
      fps += sv.fps;
      this.single.render();
    }
    // Freshest known state per camera: an open socket's, else the listing's.
    for (const c of this.cameras) {
      const tv = this.tiles.get(c.id)?.viewer;
      let st = c.state;
      if (sv && sv.cameraId === c.id && sv.conn === 'open') st = sv.state;
      else if (tv && tv.conn === 'open') st = tv.state;
      else if (tv && (tv.conn === 'connecting' || tv.conn === 'waiting')) st = null;
      if (st === 'live') live++;
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

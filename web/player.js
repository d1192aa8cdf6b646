// The player: one WebSocket viewer (docs/protocol.md) drawing into one canvas, either the
// camera's own video through WebCodecs (webcodecs.js) or the server's JPEG tiers.

import { signIn } from './api.js';
import { describeState, stateSentence } from './state.js';
import { VideoPipe, CODEC_H264, CODEC_H265, codecName, wallMs } from './webcodecs.js';

const RECONNECT_MIN_MS = 500;     // first reconnect delay; doubles per failure
const RECONNECT_MAX_MS = 10000;
const STALE_MS = 3000;            // no frame this long on an open socket: say so
const STATS_STALE_MS = 3500;      // server statistics older than this are not shown
export const AUTO = 'auto';              // tier name asking the server to choose (docs/protocol.md)
const HEADER_LEN = 32;
const CODEC_JPEG = 1;
const FLAG_KEY = 1;
const SOURCE = 'source';                  // the camera's own video (docs/protocol.md)
const SOURCE_TIER_INDEX = 255;

// codecs: the codec families this page decodes (?codecs=), [] for JPEG only.
function wsUrl(cameraId, tier, codecs) {
  const u = new URL(`api/v1/cameras/${encodeURIComponent(cameraId)}/ws`, location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  u.search = '';
  u.searchParams.set('tier', tier);
  if (codecs.length) u.searchParams.set('codecs', codecs.join(','));
  return u;
}


// One WebSocket viewer drawing into one canvas. Owns reconnection, decoding
// (JPEG: at most one decode in flight, newest pending frame wins; the camera's own
// video: every access unit, through a VideoPipe), the fall back from the one to the
// other, and statistics.
export class Viewer {
  // codecs: codec families to ask the server for (decodableCodecs()), [] for JPEG only;
  // jpegTier(): the tier to ask for once fallen back to JPEG; jitterMs: the jitter
  // buffer's delay for the camera's own video.
  constructor({ root, canvas, cameraId, tier, codecs = [], jpegTier = null, jitterMs, on = {} }) {
    this.root = root;               // element carrying data-frames, data-path, data-decoded, data-latency
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.cameraId = cameraId;
    this.codecs = codecs.slice();   // emptied for good when WebCodecs fails here
    this.jpegTier = jpegTier;
    this.jitterMs = jitterMs;
    this.pipe = null;               // VideoPipe while on the camera's own video
    this.codec = null;              // last codec message
    this.fallback = '';             // why this viewer plays JPEG although it could decode video
    this.path = null;               // what was drawn last: 'webcodecs' | 'jpeg' | null
    this.decoded = { webcodecs: 0, jpeg: 0 };
    this.wantTier = tier;           // requested tier or AUTO (used on reconnect)
    this.tier = null;               // tier the server says we get
    this.auto = false;              // whether the server chooses that tier for us
    this.move = null;               // last server-made tier move: { tier, reason, at }
    this.tiers = [];
    this.state = null;              // server stream state
    this.reason = '';               // server's reason for that state ('' if none)
    this.health = null;             // the server's health check of an idle camera, if any
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
    this.closePipe();
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
      ws = new WebSocket(wsUrl(this.cameraId, this.wantTier, this.codecs));
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
      this.closePipe();
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

  // How the picture comes: "H.264" (the camera's own video, WebCodecs) or "JPEG medium";
  // '' before the first picture.
  pathLabel() {
    if (this.path === 'webcodecs') return codecName(this.codec?.codec || this.tiers.find((t) => t.name === SOURCE)?.codec);
    if (this.path === 'jpeg') return `JPEG ${this.tier || ''}`.trim();
    return '';
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
      case 'tiers': {                 // another ladder, or the same one with measured costs
        const tiers = Array.isArray(m.tiers) ? m.tiers : [];
        const sameLadder = tiers.length === this.tiers.length &&
          tiers.every((t, i) => t.name === this.tiers[i].name) && (m.tier || null) === this.tier;
        this.tiers = tiers;
        if (sameLadder) {
          this.on.status?.(this);
          break;
        }
        this.tier = m.tier || null;
        this.lastSeq = null;
        this.winTierChange = true;
        if (this.tier && this.wantTier !== AUTO && !this.tiers.some((t) => t.name === this.wantTier)) {
          this.wantTier = this.tier;
        }
        this.on.hello?.(this, m);
        this.on.status?.(this);
        break;
      }
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
      case 'codec':                   // the camera's own video: what its access units are
        if (!this.codecs.length) break;
        this.codec = m;
        this.openPipe()?.configure(m);
        this.on.status?.(this);
        break;
      case 'ptz':                     // a steering command's answer (docs/ptz.md)
        this.on.ptz?.(this, m);
        break;
      case 'error':
        this.lastError = `${m.code || 'error'}: ${m.message || ''}`;
        console.warn(`vigil: camera ${this.cameraId}: ${this.lastError}`);
        this.on.error?.(this, m);
        if (m.code === 'unsupported' && this.codecs.length) this.fallBack(`camera codec unsupported`);
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
    const flags = dv.getUint8(3);
    const seq = dv.getUint32(4, true);
    const captureUs = dv.getBigUint64(8, true);
    const tierIdx = dv.getUint8(28);
    this.winBytes += buf.byteLength;
    let contiguous = this.lastSeq !== null && tierIdx === this.lastTierIdx;
    if (contiguous) {
      const gap = (seq - this.lastSeq - 1) >>> 0;
      if (gap > 0 && gap < 1e6) this.dropped += gap;
      contiguous = gap === 0;
    }
    this.lastSeq = seq;
    this.lastTierIdx = tierIdx;
    if (codec === CODEC_H264 || codec === CODEC_H265) {
      this.onAccessUnit(dv, buf, hlen, (flags & FLAG_KEY) !== 0, contiguous);
      return;
    }
    if (codec !== CODEC_JPEG) {
      this.unsupported = true;
      return;
    }
    if (this.pipe) this.pipe.dropHeld();   // moved to a JPEG tier: no older video over it
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

  // One access unit of the camera's own video (codec 2/3). contiguous: it follows the
  // previous binary message without a gap in seq.
  onAccessUnit(dv, buf, hlen, key, contiguous) {
    if (!this.codecs.length) {       // asked for no video: this page cannot show it
      this.unsupported = true;
      return;
    }
    const pipe = this.openPipe();
    if (!pipe) return;
    // Without a codec message on this socket yet, the source tier's codec string stands in
    // (the parameter sets are in band).
    if (!pipe.configured) pipe.configure(this.codec || this.tiers.find((t) => t.name === SOURCE));
    if (!contiguous) pipe.resync();
    pipe.decode({
      key,
      captureUs: Number(dv.getBigUint64(8, true)),
      data: new Uint8Array(buf, hlen),
      arrivalMs: wallMs(),
    });
  }

  openPipe() {
    if (this.pipe) return this.pipe;
    if (!this.codecs.length) return null;
    const gen = this.gen;
    try {
      this.pipe = new VideoPipe({
        canvas: this.canvas,
        ctx: this.ctx,
        delayMs: this.jitterMs,
        onDecoded: (ms) => {
          this.decoded.webcodecs++;
          if (this.path === 'webcodecs') this.root.dataset.decoded = String(this.decoded.webcodecs);
          this.winDecodeSum += ms;
          this.winDecodeN++;
        },
        onDrawn: (f) => { if (gen === this.gen) this.drawn('webcodecs', f.captureUs, f.width, f.height); },
        onError: (e) => { if (gen === this.gen) this.fallBack(`video decoder: ${e?.message || e}`); },
      });
    } catch (e) {
      this.fallBack(`video decoder: ${e?.message || e}`);
      return null;
    }
    return this.pipe;
  }

  closePipe() {
    if (!this.pipe) return;
    this.pipe.close();
    this.pipe = null;
    this.codec = null;
  }

  // WebCodecs cannot play this camera here: play JPEG from now on, on a new socket that
  // does not offer codecs (the server would place an auto viewer on source again).
  fallBack(why) {
    if (!this.codecs.length) return;
    console.warn(`vigil: camera ${this.cameraId}: ${why}; playing JPEG`);
    this.codecs = [];
    this.fallback = why;
    this.closePipe();
    if (this.wantTier === AUTO || this.wantTier === SOURCE) this.wantTier = this.jpegTier?.() || AUTO;
    if (!this.wanted) return;
    this.closeSocket();
    this.connect();
  }

  draw(bmp, frame) {
    const c = this.canvas;
    if (c.width !== bmp.width || c.height !== bmp.height) {
      c.width = bmp.width;
      c.height = bmp.height;
    }
    this.ctx.drawImage(bmp, 0, 0);
    this.decoded.jpeg++;
    this.drawn('jpeg', frame.captureUs, bmp.width, bmp.height);
  }

  // A picture is on the canvas: by which path, when it was captured (µs, Number or BigInt).
  drawn(path, captureUs, width, height) {
    this.width = width;
    this.height = height;
    this.frames++;
    if (this.path !== path) {
      this.path = path;
      this.root.dataset.path = path;
      this.on.status?.(this);
    }
    this.root.dataset.frames = String(this.frames);
    this.root.dataset.decoded = String(this.decoded[path]);
    const lat = wallMs() - Number(captureUs) / 1000;
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
      if (this.winLatN) {
        this.latency = this.winLatSum / this.winLatN;
        this.root.dataset.latency = String(Math.round(this.latency));
      }
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
  setKnownState(state, reason, health) {
    if (health !== undefined) this.health = health && typeof health === 'object' ? health : null;
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
    const health = state === 'idle' ? this.health : null;
    const d = describeState(state, reason, health);
    const badge = {
      text: d.detail ? `${d.label}: ${d.detail}` : d.label,
      cls: d.cls,
      title: stateSentence(state, reason, health),
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
      out.overlay = stateSentence(state, reason, health);
    }
    return out;
  }
}

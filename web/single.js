// The single-camera view: the picture, the tier menu, the stream's details and the
// statistics overlay.

import { $, el, fmtFps, fmtMs, fmtLatency, fmtDur, fmtKbps, known } from './util.js';
import { Viewer, AUTO } from './player.js';
import { codecName } from './webcodecs.js';
import { renderState, setStateBadge, setOverlay } from './state.js';
import { PtzControls } from './ptz.js';

const STREAM_POLL_MS = 2000;      // single view: re-read /api/v1/streams/{id}
const MOVE_SHOW_MS = 6000;        // how long a server tier move stays named in the overlay


// The single-camera view (one at a time).
export class SingleView {
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
    // Double-click on the picture (or f) puts it fullscreen; Esc or another double-click leaves.
    $('#fullscreen').addEventListener('click', () => this.toggleFullscreen());
    this.stage.addEventListener('dblclick', (ev) => {
      ev.preventDefault();
      this.toggleFullscreen();
    });
    this.showStats(this.statsOn);
    this.ptz = new PtzControls(app);
  }

  toggleStats() { this.showStats(!this.statsOn); }

  toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    } else if (this.stage.requestFullscreen) {
      this.stage.requestFullscreen({ navigationUI: 'hide' }).catch((e) => console.warn('vigil: fullscreen', e));
    }
  }

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
      codecs: this.app.codecs || [],
      jpegTier: () => this.tierChoice.get(cam.id) || AUTO,
      jitterMs: this.app.jitterMs,
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
        ptz: (v, m) => this.ptz.onReply(m),
      },
    });
    this.viewer.setStats(this.statsOn);
    const known = this.app.knownState(cam.id);
    this.viewer.setKnownState(known.state, known.reason, known.health);
    this.viewer.start();
    this.ptz.open(cam, this.viewer);
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
        this.viewer?.setKnownState(body.state, body.reason, body.health);
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

  // The tier menu; `source` (the camera's own video), `source-keys` (its keyframes alone) and
  // the H.264 tiers only where this viewer decodes video.
  fillTiers(tiers, selected) {
    const video = this.viewer ? this.viewer.codecs.length > 0 : (this.app.codecs || []).length > 0;
    tiers = tiers.filter((t) => (t.size !== 'source' && t.codec !== 'h264') || video);
    const sel = this.select;
    sel.replaceChildren();
    if (tiers.length) {
      const o = el('option', '', AUTO);
      o.value = AUTO;
      sel.append(o);
    }
    for (const t of tiers) {
      const what = t.size === 'source' ? `${t.name} · ${codecName(t.codec)}`
        : t.codec === 'h264' ? `${t.name} · H.264` : t.name;
      const o = el('option', '', `${what} · ${t.width}×${t.height} @ ${t.fps}`);
      o.value = t.name;
      sel.append(o);
    }
    if (tiers.length && (selected === AUTO || tiers.some((t) => t.name === selected))) sel.value = selected;
    sel.disabled = tiers.length === 0;
  }

  close() {
    if (document.fullscreenElement === this.stage) document.exitFullscreen().catch(() => {});
    this.stopPoll();
    this.ptz?.close();
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
    renderState(this.badge, [this.stage, this.section], s, v.conn);
    // The camera's tile (hidden behind this view) follows, so both always say the same.
    this.app.noteState(v.cameraId, v.state, v.reason, v.health);
    setOverlay(this.overlay, s.overlay);
    this.renderStream(s);
    this.renderTier();
    this.renderOverlay();
    const parts = [
      v.pathLabel() || '–',
      `${fmtFps(v.fps)} fps`,
      `${fmtMs(v.latency)} ms`,
      `tier ${v.tierLabel()}`,
      v.width ? `${v.width}×${v.height}` : '–×–',
      `${v.kBps.toFixed(0)} kB/s`,
      `dropped ${v.dropped}`,
    ];
    if (v.skipped) parts.push(`skipped ${v.skipped}`);
    if (v.decodeErrors) parts.push(`decode errors ${v.decodeErrors}`);
    if (v.fallback) parts.push(`JPEG: ${v.fallback}`);
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
    // The link as the server's adaptation estimates it (adaptive viewers only).
    set('link', num('link_kbps'), fmtKbps);
    set('queue', num('queue_ms'), ms);
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

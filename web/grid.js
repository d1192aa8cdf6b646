// The camera grid: one tile per camera, each with its own player: LL-HLS when the page asks
// for it (?path=hls, hlsplayer.js), else the camera's own video where this page decodes it
// (an auto viewer offering its codecs), else a low JPEG tier; a tile whose HLS fails plays
// the WebSocket way and says why.

import { el, fmtFps, fmtMs } from './util.js';
import { Viewer, AUTO } from './player.js';
import { HlsPlayer } from './hlsplayer.js';
import { renderState, setOverlay } from './state.js';

const PAUSE_DELAY_MS = 1500;      // a tile off screen this long closes its socket
export const TILE_MIN_W = 320;           // below this the grid scrolls instead of shrinking
export const GRID_GAP = 8;
export const TILE_CAPTION_H = 30;

// Tier for a grid tile: "low", or "medium" when the tile is clearly wider
// (in device pixels) than the low tier.
function tileTier(tiers, pxWidth) {
  tiers = (tiers || []).filter((t) => t.name !== 'source' && t.name !== 'source-keys');
  if (!tiers.length) return 'low';
  const byName = new Map(tiers.map((t) => [t.name, t]));
  const low = byName.get('low');
  const med = byName.get('medium');
  if (low) {
    if (med && pxWidth > low.width * 1.3) return 'medium';
    return 'low';
  }
  return tiers.reduce((a, b) => ((b.height || 1e9) < (a.height || 1e9) ? b : a)).name;
}


// One grid tile.
export class Tile {
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
      codecs: app.codecs || [],
      jpegTier: () => this.jpegTier(),
      jitterMs: app.jitterMs,
      on: { status: () => this.render(), hello: () => this.render() },
    });
    // The HLS player while it plays; the viewer above takes over if it fails.
    this.hls = app.useHls ? new HlsPlayer({
      root,
      media,
      cameraId: cam.id,
      on: {
        status: () => this.render(),
        failed: () => { this.update(); this.render(); },
      },
    }) : null;
    this.setCam(cam);
  }

  setCam(cam) {
    this.cam = cam;
    this.nameEl.textContent = cam.name || cam.id;
    this.nameEl.title = `${cam.name || cam.id} (${cam.id})`;
    this.root.setAttribute('aria-label', `Open camera ${cam.name || cam.id}`);
    this.viewer.setKnownState(cam.state, cam.reason, cam.health);
    this.render();
  }

  // The camera's own video (auto, offering codecs: the server places it on source when
  // the link carries it), else the JPEG tier that fits the tile.
  chooseTier() {
    return this.viewer.codecs.length ? AUTO : this.jpegTier();
  }

  jpegTier() {
    const px = (this.media.clientWidth || 0) * (window.devicePixelRatio || 1);
    return tileTier(this.viewer.tiers.length ? this.viewer.tiers : this.cam.tiers, px);
  }

  // The player in charge: HLS unless it was not asked for or failed, else the viewer.
  player() {
    return this.hls && !this.hls.failed ? this.hls : this.viewer;
  }

  // Run the player iff the grid is shown, the tile is on screen and the page visible.
  update() {
    const want = this.app.route.view === 'grid' && this.visible && !document.hidden;
    const player = this.player();
    if (want) {
      clearTimeout(this.pauseTimer);
      this.pauseTimer = null;
      if (player === this.hls) {
        this.hls.start();
      } else if (!this.viewer.wanted) {
        this.viewer.wantTier = this.chooseTier();
        this.viewer.start();
      }
    } else if (player.wanted) {
      // Leaving the grid stops at once; scrolling away waits a little.
      if (this.app.route.view !== 'grid' || document.hidden) {
        clearTimeout(this.pauseTimer);
        this.pauseTimer = null;
        player.stop();
      } else if (!this.pauseTimer) {
        this.pauseTimer = setTimeout(() => {
          this.pauseTimer = null;
          this.player().stop();
        }, PAUSE_DELAY_MS);
      }
    }
  }

  retier() {
    if (!this.viewer.wanted || this.player() !== this.viewer) return;
    const t = this.chooseTier();
    if (t !== this.viewer.wantTier) this.viewer.subscribe(t);
  }

  render() {
    const v = this.viewer;
    const s = v.status();
    const hls = this.player() === this.hls ? this.hls : null;
    let stats = '';
    if (hls) {
      // No socket: the state is the camera list's, the picture is the video's.
      renderState(this.badge, [this.root], s, hls.playing ? 'open' : v.conn);
      setOverlay(this.overlay, hls.wanted && !hls.playing ? 'opening HLS…' : s.overlay);
      if (hls.playing) stats = `hls · ${fmtFps(hls.fps)} fps · ${fmtMs(hls.latency)} ms`;
    } else {
      renderState(this.badge, [this.root], s, v.conn);
      setOverlay(this.overlay, s.overlay);
      const showStats = v.conn === 'open' && (s.state === 'live' || s.state === 'fallback');
      const path = v.pathLabel();
      if (showStats) stats = `${path ? path + ' · ' : ''}${fmtFps(v.fps)} fps · ${fmtMs(v.latency)} ms`;
      if (this.hls?.failed) stats = `${stats ? stats + ' · ' : ''}HLS failed: ${this.hls.failed}`;
    }
    if (this.statsEl.textContent !== stats) this.statsEl.textContent = stats;
    if (this.statsEl.title !== stats) this.statsEl.title = stats;
  }

  // Statistics of the last second, whichever player runs.
  tick(now) {
    const p = this.player();
    p.tick(now);
    return p.fps;
  }

  destroy() {
    clearTimeout(this.pauseTimer);
    this.hls?.stop();
    this.viewer.stop();
    this.root.remove();
  }
}

// The camera grid: one tile per camera, each with its own player: the camera's own video
// where this page decodes it (an auto viewer offering its codecs), else a low JPEG tier.

import { el, fmtFps, fmtMs } from './util.js';
import { Viewer, AUTO } from './player.js';
import { renderState, setOverlay } from './state.js';

const PAUSE_DELAY_MS = 1500;      // a tile off screen this long closes its socket
export const TILE_MIN_W = 320;           // below this the grid scrolls instead of shrinking
export const GRID_GAP = 8;
export const TILE_CAPTION_H = 30;

// Tier for a grid tile: "low", or "medium" when the tile is clearly wider
// (in device pixels) than the low tier.
function tileTier(tiers, pxWidth) {
  tiers = (tiers || []).filter((t) => t.name !== 'source');
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
    renderState(this.badge, [this.root], s, v.conn);
    setOverlay(this.overlay, s.overlay);
    const showStats = v.conn === 'open' && (s.state === 'live' || s.state === 'fallback');
    const path = v.pathLabel();
    const stats = showStats ? `${path ? path + ' · ' : ''}${fmtFps(v.fps)} fps · ${fmtMs(v.latency)} ms` : '';
    if (this.statsEl.textContent !== stats) this.statsEl.textContent = stats;
  }

  destroy() {
    clearTimeout(this.pauseTimer);
    this.viewer.stop();
    this.root.remove();
  }
}

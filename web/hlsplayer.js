// The LL-HLS player: the camera's own video from GET /cameras/{id}/hls/index.m3u8
// (src/outputs/hls.c) in a <video>, through hls.js (Media Source Extensions) or, where
// hls.js cannot run (Safari on iOS), the browser's own HLS. Chosen with ?path=hls; a tile
// whose HLS fails goes back to the WebSocket player (player.js) and says why.

import { wallMs } from './webcodecs.js';

// hls.js's light build (no subtitles, alternate audio or DRM, which vigil never serves),
// from npm (web/package.json), served by vigil as this one file (src/net/static.c).
const HLS_JS_URL = 'vendor/hls.light.min.js';
const MIME_HLS = 'application/vnd.apple.mpegurl';
const FIRST_PICTURE_MS = 15000;   // no picture this long after start: give up on HLS
const STALL_MS = 6000;            // the picture stood still this long while playing: give up

// hls.js tuned for vigil's 200 ms parts: play three parts behind the live edge (the
// playlist's PART-HOLD-BACK), catch up by playing faster when further, jump to the edge
// beyond 2 s, and keep little behind the playhead (a grid holds many of these).
const HLS_CONFIG = {
  lowLatencyMode: true,
  liveSyncDuration: 0.6,
  liveMaxLatencyDuration: 2.0,
  maxLiveSyncPlaybackRate: 1.5,
  // hls.js adds this much to its target latency at every stall and never takes it back: 5-6
  // stalls on a busy machine took the target from 0.6 to 2.6 s (bench/hls_glass.sh: p50
  // 1.7-2.7 s as it was, 0.72-0.82 s with 0).
  liveSyncOnStallIncrease: 0,
  backBufferLength: 4,
  // The page's CSP (script-src 'self', from libwebsockets) refuses the blob: worker hls.js
  // would start; transmuxing fMP4 is nothing, so the main thread does without one.
  enableWorker: false,
};

let hlsJsLoading = null;   // one <script> for the whole page, however many tiles ask

// hls.js (window.Hls once its script ran), or null when it did not load.
function loadHlsJs() {
  if (!hlsJsLoading) {
    hlsJsLoading = new Promise((resolve) => {
      if (window.Hls) { resolve(window.Hls); return; }
      const s = document.createElement('script');
      s.src = new URL(HLS_JS_URL, location.href).href;
      s.async = true;
      s.onload = () => resolve(window.Hls || null);
      s.onerror = () => resolve(null);
      document.head.append(s);
    });
  }
  return hlsJsLoading;
}

// The playlist URL of a camera, carrying the page's ?token= when it has one (hls.c puts it
// on every URI of the playlist).
export function hlsUrl(cameraId) {
  const u = new URL(`cameras/${encodeURIComponent(cameraId)}/hls/index.m3u8`, location.href);
  u.search = '';
  u.hash = '';
  const token = new URLSearchParams(location.search).get('token');
  if (token) u.searchParams.set('token', token);
  return u.href;
}

// Whether the page asks for HLS (?path=hls).
export function wantsHls(search) {
  return new URLSearchParams(search).get('path') === 'hls';
}

// One camera's HLS playback into a <video> added to `media` (over its canvas). Sets
// root.dataset.path = 'hls', data-frames (pictures presented) and data-latency (ms,
// capture-to-display from the playlist's PROGRAM-DATE-TIME, which hls.c takes from the
// camera's capture clock, as the WebSocket player measures it). on.status() after any
// change worth redrawing; on.failed(why) once, when HLS cannot play here.
export class HlsPlayer {
  constructor({ root, media, cameraId, on = {} }) {
    this.root = root;
    this.media = media;
    this.cameraId = cameraId;
    this.on = on;
    this.video = null;
    this.hls = null;
    this.engine = '';            // 'hls.js' | 'native'
    this.wanted = false;
    this.failed = '';
    this.gen = 0;
    this.frames = 0;
    this.fps = 0;
    this.latency = null;
    this.winStart = performance.now();
    this.winFrames = 0;
    this.lastTime = -1;
    this.lastAdvanceAt = 0;
    this.watchdog = null;
  }

  get playing() { return this.frames > 0; }

  async start() {
    if (this.wanted || this.failed) return;
    this.wanted = true;
    const gen = ++this.gen;
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.className = 'hls-video';
    this.video = video;
    this.media.prepend(video);
    this.media.classList.add('on-video');
    this.root.dataset.path = 'hls';
    this.startedAt = performance.now();
    this.lastAdvanceAt = this.startedAt;
    this.watchdog = setInterval(() => this.check(), 1000);
    this.countFrames(video, gen);

    const Hls = await loadHlsJs();
    if (gen !== this.gen) return;
    const url = hlsUrl(this.cameraId);
    if (Hls && Hls.isSupported()) {
      this.engine = 'hls.js';
      const hls = new Hls(HLS_CONFIG);
      this.hls = hls;
      hls.on(Hls.Events.ERROR, (_ev, d) => {
        if (gen !== this.gen) return;
        if (!d.fatal) return;   // hls.js retries those itself
        const code = d.response?.code ? ` (HTTP ${d.response.code})` : '';
        this.fail(`${d.details || d.type}${code}`);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType(MIME_HLS)) {
      this.engine = 'native';
      video.addEventListener('error', () => {
        if (gen === this.gen) this.fail(`video error ${video.error?.code ?? ''} ${video.error?.message || ''}`.trim());
      });
      video.src = url;
    } else {
      this.fail(Hls ? 'this browser has neither Media Source Extensions nor HLS' : 'hls.js did not load');
      return;
    }
    video.play().catch(() => {});   // autoplay of a muted video; a refusal shows as no picture
    this.on.status?.(this);
  }

  stop() {
    this.wanted = false;
    this.gen++;
    clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.video) {
      this.video.removeAttribute('src');
      this.video.load();   // releases the decoder and the media source
      this.video.remove();
      this.video = null;
    }
    this.media.classList.remove('on-video');
    this.fps = 0;
  }

  // HLS cannot play this camera here: stop for good and let the owner play it otherwise.
  fail(why) {
    if (this.failed) return;
    this.failed = why;
    console.warn(`vigil: camera ${this.cameraId}: HLS: ${why}`);
    this.stop();
    if (this.root.dataset.path === 'hls') delete this.root.dataset.path;
    this.root.dataset.hlsError = why;
    this.on.failed?.(why);
  }

  // Pictures presented, counted per frame where the browser says so (requestVideoFrameCallback).
  countFrames(video, gen) {
    if (!video.requestVideoFrameCallback) return;
    const onFrame = () => {
      if (gen !== this.gen) return;
      this.presented();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  presented() {
    this.frames++;
    this.winFrames++;
    this.root.dataset.frames = String(this.frames);
    if (this.frames === 1) this.on.status?.(this);
  }

  // Once a second: the picture must move, or HLS is given up (with the reason).
  check() {
    const v = this.video;
    if (!v) return;
    const now = performance.now();
    if (!v.requestVideoFrameCallback) {
      const q = v.getVideoPlaybackQuality?.();
      const n = q ? q.totalVideoFrames - q.droppedVideoFrames : 0;
      while (this.frames < n) this.presented();
    }
    if (v.currentTime !== this.lastTime) {
      this.lastTime = v.currentTime;
      this.lastAdvanceAt = now;
    }
    if (!this.frames && now - this.startedAt > FIRST_PICTURE_MS) {
      this.fail(`no picture within ${FIRST_PICTURE_MS / 1000} s`);
    } else if (this.frames && !v.paused && now - this.lastAdvanceAt > STALL_MS) {
      this.fail(`stalled for ${STALL_MS / 1000} s`);
    }
  }

  // The camera's capture time of the picture shown, ms since the epoch, or null.
  playingDateMs() {
    if (this.hls) return this.hls.playingDate ? this.hls.playingDate.getTime() : null;
    const start = this.video?.getStartDate?.();
    const t = start ? start.getTime() : NaN;
    return Number.isFinite(t) ? t + this.video.currentTime * 1000 : null;
  }

  tick(now) {
    const dt = (now - this.winStart) / 1000;
    if (dt <= 0) return;
    this.fps = this.wanted ? this.winFrames / dt : 0;
    this.winStart = now;
    this.winFrames = 0;
    const at = this.wanted && this.frames ? this.playingDateMs() : null;
    if (at != null) {
      this.latency = wallMs() - at;
    } else if (this.hls && Number.isFinite(this.hls.latency) && this.hls.latency > 0) {
      this.latency = this.hls.latency * 1000;   // behind the live edge: a lower bound
    } else {
      return;
    }
    this.root.dataset.latency = String(Math.round(this.latency));
  }

  // "hls · H.264" for the caption; the engine in the title.
  pathLabel() {
    return 'hls';
  }
}

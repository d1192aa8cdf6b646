// A small jitter buffer for decoded pictures: each is held until its capture time plus a
// learned clock offset plus a fixed delay, so that pictures that arrive unevenly are shown
// evenly. No DOM here (tests/browser/jitter.test.mjs runs it under node).
//
// The offset is the smallest (arrival - capture) seen over the last windowMs: the quickest
// a picture has come through lately, which also absorbs any skew between the camera's clock
// and this page's. A picture's due time is capture + offset + delay. Since the offset is
// never larger than this picture's own (arrival - capture), no picture is held more than
// `delay` after it arrived, whatever the clocks say. A picture due while a later one is
// also due is dropped unshown: only the newest due picture is drawn (a cached GOP burst
// decodes all and shows the last).

export const DEFAULT_DELAY_MS = 16;     // at most one frame interval at 60 fps
export const DEFAULT_WINDOW_MS = 5000;  // how long a quick arrival keeps the offset low
export const DEFAULT_MAX_HELD = 8;      // decoders have few output buffers: never hoard them

export class JitterBuffer {
  // delayMs: added hold; windowMs: offset-learning window; maxHeld: pictures held at most
  // (the oldest is dropped beyond it); release(item): called once for every item the buffer
  // drops or clears (e.g. VideoFrame.close); items handed out by take() are the caller's.
  constructor({ delayMs = DEFAULT_DELAY_MS, windowMs = DEFAULT_WINDOW_MS,
    maxHeld = DEFAULT_MAX_HELD, release = () => {} } = {}) {
    this.delayMs = Math.max(0, Number(delayMs) || 0);
    this.windowMs = windowMs;
    this.maxHeld = Math.max(1, maxHeld);
    this.release = release;
    this.samples = [];             // { atMs, offsetMs }, offsetMs increasing: a sliding minimum
    this.held = [];                // { item, captureUs }, captureUs increasing
    this.lastShownUs = -Infinity;  // capture time of the last picture handed out
    this.dropped = 0;              // pictures dropped unshown (late, superseded, overflow)
  }

  // The learned offset in ms (arrival minus capture), or null before the first arrival.
  get offsetMs() { return this.samples.length ? this.samples[0].offsetMs : null; }

  // An access unit captured at captureUs (camera clock, µs) arrived at arrivalMs (this
  // page's wall clock, ms).
  learn(captureUs, arrivalMs) {
    const offsetMs = arrivalMs - captureUs / 1000;
    const s = this.samples;
    while (s.length && s[s.length - 1].offsetMs >= offsetMs) s.pop();
    s.push({ atMs: arrivalMs, offsetMs });
    while (s.length > 1 && s[0].atMs < arrivalMs - this.windowMs) s.shift();
  }

  // When the picture captured at captureUs is due, in this page's wall clock (ms).
  dueMs(captureUs) {
    const off = this.offsetMs;
    return captureUs / 1000 + (off === null ? 0 : off) + this.delayMs;
  }

  // Hold a decoded picture. One not newer than the last shown is dropped at once.
  push(item, captureUs) {
    if (captureUs <= this.lastShownUs) {
      this.drop(item);
      return;
    }
    const h = this.held;
    let i = h.length;
    while (i > 0 && h[i - 1].captureUs > captureUs) i--;
    h.splice(i, 0, { item, captureUs });
    while (h.length > this.maxHeld) this.drop(h.shift().item);
  }

  // The picture to show at nowMs: the newest due one (earlier due ones are dropped), or
  // null when none is due yet.
  take(nowMs) {
    const h = this.held;
    let n = 0;
    while (n < h.length && this.dueMs(h[n].captureUs) <= nowMs) n++;
    if (!n) return null;
    for (let i = 0; i < n - 1; i++) this.drop(h[i].item);
    const { item, captureUs } = h[n - 1];
    h.splice(0, n);
    this.lastShownUs = captureUs;
    return item;
  }

  // Due time of the next held picture (ms), or null when none is held.
  nextDueMs() { return this.held.length ? this.dueMs(this.held[0].captureUs) : null; }

  get size() { return this.held.length; }

  // Drops every held picture and forgets what was shown (a new decoder, another path).
  // The learned offset is kept unless resetOffset: the network did not change.
  clear({ resetOffset = false } = {}) {
    for (const { item } of this.held.splice(0)) this.drop(item);
    this.lastShownUs = -Infinity;
    if (resetOffset) this.samples = [];
  }

  drop(item) {
    this.dropped++;
    try { this.release(item); } catch { /* already released */ }
  }
}

// The delay asked for with ?jitter=MS in the page's query (0..1000), else the default.
export function delayFromQuery(search) {
  const v = new URLSearchParams(search || '').get('jitter');
  if (v === null || v.trim() === '') return DEFAULT_DELAY_MS;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.min(1000, n) : DEFAULT_DELAY_MS;
}

// The camera's own video in one canvas: a WebCodecs VideoDecoder fed the access units of a
// `source` viewer (docs/protocol.md, "The camera's own video"), its pictures held by a
// jitter buffer (jitter.js) and drawn when due.

import { JitterBuffer } from './jitter.js';

export const CODEC_H264 = 2;          // binary header codec byte
export const CODEC_H265 = 3;
const PROBE = [                       // codec family (?codecs=) -> a string to ask the browser about
  ['avc1', 'avc1.42e01e'],            // H.264 constrained baseline 3.0: any H.264 decoder has it
  ['hvc1', 'hvc1.1.6.L93.B0'],        // H.265 main 3.1
];
const MAX_DECODE_QUEUE = 60;          // access units waiting in the decoder: about 2 s at 30 fps
const MAX_TIMED = 256;                // decode start times kept for decode_ms

// This page's wall clock in ms, finer than Date.now() (capture_us is wall-clock too).
export function wallMs() { return performance.timeOrigin + performance.now(); }

// The codec families (?codecs= values) this browser decodes with WebCodecs: [] without
// VideoDecoder, when none is supported, or with ?webcodecs=0 in the page's query.
export async function decodableCodecs(search) {
  if (new URLSearchParams(search || '').get('webcodecs') === '0') return [];
  if (typeof VideoDecoder !== 'function' || typeof VideoDecoder.isConfigSupported !== 'function') return [];
  const out = [];
  for (const [family, codec] of PROBE) {
    try {
      const r = await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true });
      if (r && r.supported) out.push(family);
    } catch { /* this browser cannot even say: no */ }
  }
  return out;
}

// Codec family shown to people: "H.264", "H.265".
export function codecName(codec) {
  if (typeof codec !== 'string') return 'video';
  if (codec.startsWith('avc1') || codec.startsWith('avc3')) return 'H.264';
  if (codec.startsWith('hvc1') || codec.startsWith('hev1')) return 'H.265';
  return codec;
}

// One VideoDecoder drawing into one canvas. The owner feeds it codec messages (configure)
// and access units (decode); it calls
//   onDecoded(ms)                          per picture out of the decoder (decode time)
//   onDrawn({ captureUs, width, height })  per picture drawn
//   onError(error)                         once, when the decoder failed (it is closed then)
// close() releases the decoder and every picture it holds.
export class VideoPipe {
  constructor({ canvas, ctx, delayMs, onDecoded = () => {}, onDrawn = () => {}, onError = () => {} }) {
    this.canvas = canvas;
    this.ctx = ctx;
    this.onDecoded = onDecoded;
    this.onDrawn = onDrawn;
    this.onError = onError;
    this.jitter = new JitterBuffer({ delayMs, release: (f) => f.close() });
    this.config = null;             // the codec message configured, or null
    this.needKey = true;            // a decoder takes a keyframe first after configure or a gap
    this.waitedForKey = 0;          // access units skipped while waiting for a keyframe
    this.decoded = 0;
    this.backlogs = 0;              // times the decoder fell so far behind it was reset
    this.failed = false;
    this.started = new Map();       // timestamp -> performance.now() at decode()
    this.timer = null;
    this.timerDue = Infinity;
    this.decoder = new VideoDecoder({
      output: (frame) => this.output(frame),
      error: (e) => this.fail(e),
    });
  }

  get configured() { return this.config !== null && !this.failed; }

  // A codec message (or the `source` entry of a tier list, as a stand-in). Annex B: no
  // description, so the decoder takes the in-band parameter sets. A message equal to the one
  // in force changes nothing; another one reconfigures, and decoding resumes at a keyframe.
  configure(msg) {
    if (this.failed || !msg || typeof msg.codec !== 'string') return;
    const c = this.config;
    if (c && c.codec === msg.codec && c.width === msg.width && c.height === msg.height
        && c.description === msg.description) return;
    const cfg = { codec: msg.codec, optimizeForLatency: true };
    try {
      this.decoder.configure(cfg);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.config = { codec: msg.codec, width: msg.width, height: msg.height, description: msg.description };
    this.needKey = true;
  }

  // Access units a decoder cannot follow from the last one (a seq gap, another tier in
  // between): skip to the next keyframe.
  resync() {
    this.needKey = true;
  }

  // One access unit: { key, captureUs (Number), data (Uint8Array, Annex B), arrivalMs }.
  decode({ key, captureUs, data, arrivalMs }) {
    if (!this.configured) return;
    this.jitter.learn(captureUs, arrivalMs);
    if (this.needKey && !key) {
      this.waitedForKey++;
      return;
    }
    if (this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      // This page cannot decode as fast as the camera sends: start again at a keyframe
      // rather than show ever older pictures.
      this.backlogs++;
      const cfg = this.config;
      this.config = null;
      try { this.decoder.reset(); } catch (e) { this.fail(e); return; }
      this.started.clear();
      this.configure(cfg);
      if (!key) { this.waitedForKey++; return; }
    }
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp: captureUs, data }));
    } catch (e) {
      this.fail(e);
      return;
    }
    this.needKey = false;
    if (this.started.size >= MAX_TIMED) this.started.delete(this.started.keys().next().value);
    this.started.set(captureUs, performance.now());
  }

  output(frame) {
    if (this.failed) { frame.close(); return; }
    this.decoded++;
    const t0 = this.started.get(frame.timestamp);
    if (t0 !== undefined) {
      this.started.delete(frame.timestamp);
      this.onDecoded(performance.now() - t0);
    }
    this.jitter.push(frame, frame.timestamp);
    this.schedule();
  }

  // A timer for the next held picture's due time.
  schedule() {
    const due = this.jitter.nextDueMs();
    if (due === null || this.failed) return;
    if (this.timer !== null && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => this.pump(), Math.max(0, due - wallMs()));
  }

  pump() {
    this.timer = null;
    this.timerDue = Infinity;
    const frame = this.jitter.take(wallMs());
    if (frame) {
      try {
        this.draw(frame);
      } finally {
        frame.close();
      }
    }
    this.schedule();
  }

  draw(frame) {
    const w = frame.displayWidth;
    const h = frame.displayHeight;
    const c = this.canvas;
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    this.ctx.drawImage(frame, 0, 0, w, h);
    this.onDrawn({ captureUs: frame.timestamp, width: w, height: h });
  }

  // Pictures held but not drawn are dropped (the viewer moved to a JPEG tier).
  dropHeld() {
    this.jitter.clear();
  }

  fail(e) {
    if (this.failed) return;
    this.failed = true;
    this.stopTimer();
    this.jitter.clear();
    try { if (this.decoder.state !== 'closed') this.decoder.close(); } catch { /* closed */ }
    this.onError(e);
  }

  stopTimer() {
    clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = Infinity;
  }

  close() {
    this.failed = true;               // no callbacks after this
    this.stopTimer();
    this.jitter.clear();
    this.started.clear();
    try { if (this.decoder.state !== 'closed') this.decoder.close(); } catch { /* closed */ }
  }
}

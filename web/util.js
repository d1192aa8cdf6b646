// Small helpers shared by the dashboard's modules: DOM lookups and number formats.

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function fmtFps(v) { return v == null ? '–' : v.toFixed(1); }
export function fmtMs(v) { return v == null ? '–' : String(Math.round(v)); }
// Short latencies keep a decimal (a LAN RTT is well under a millisecond).
export function fmtLatency(ms) { return ms < 10 ? ms.toFixed(1) : String(Math.round(ms)); }

export function fmtDur(s) {
  if (!(s >= 0)) return '–';
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// kbit/s (the server's kbps, 1000 bit) as 850 kbit/s, 5.72 Mbit/s, 12.1 Mbit/s.
export function fmtKbps(v) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return '–';
  if (v < 1000) return `${Math.round(v)} kbit/s`;
  const m = v / 1000;
  return `${m < 10 ? m.toFixed(2) : m < 100 ? m.toFixed(1) : Math.round(m)} Mbit/s`;
}

// A server statistic that may be -1 or absent for "not known yet".
export function known(v) { return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null; }

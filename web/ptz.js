// PTZ controls of the single view (docs/ptz.md): a joystick (drag: the speed grows with the
// distance from the centre; release: stop), zoom buttons, arrow keys and +/-, preset buttons
// (recall; store with a confirmation), the alarm toggle, and who holds the control lock.
// Shown to operators and admins on cameras with a PTZ driver; viewers see none of it.
//
// Moves go over the camera's viewing WebSocket (ptz.move, refreshed every REFRESH_MS while
// held: vigil stops the camera a second after the last one), so a closed tab stops it too.

import { $, el } from './util.js';

const REFRESH_MS = 300;     // lease refresh while a move is held (the lease is 1 s)
const SEND_MIN_MS = 80;     // at most this often on a drag that changes speeds
const DEAD_ZONE = 0.08;     // of the pad's radius: no move
const STATUS_POLL_MS = 2000;
const KEY_SPEED = 0.5;
const ZOOM_SPEED = 0.5;

const api = (path) => new URL(`api/v1/${path}`, location.href);

export class PtzControls {
  constructor(app) {
    this.app = app;
    this.panel = $('#ptz-panel');
    this.pad = $('#ptz-pad');
    this.knob = $('#ptz-knob');
    this.holderEl = $('#ptz-holder');
    this.msgEl = $('#ptz-msg');
    this.presetsEl = $('#ptz-presets');
    this.storeInput = $('#ptz-store-n');
    this.alarmBtn = $('#ptz-alarm');
    this.cam = null;
    this.viewer = null;
    this.speed = { pan: 0, tilt: 0, zoom: 0 };
    this.moving = false;
    this.lastSend = 0;
    this.refreshTimer = null;
    this.pollTimer = null;
    this.alarmOn = false;
    this.keys = new Set();
    this.bindPad();
    for (const b of this.panel.querySelectorAll('[data-zoom]')) {
      const z = Number(b.dataset.zoom) * ZOOM_SPEED;
      b.addEventListener('pointerdown', (ev) => { ev.preventDefault(); this.hold({ pan: 0, tilt: 0, zoom: z }); });
      for (const e of ['pointerup', 'pointerleave', 'pointercancel']) b.addEventListener(e, () => this.release());
    }
    $('#ptz-stop').addEventListener('click', () => this.release(true));
    $('#ptz-store').addEventListener('click', () => this.store());
    this.alarmBtn.addEventListener('click', () => this.toggleAlarm());
    document.addEventListener('keydown', (ev) => this.onKey(ev, true));
    document.addEventListener('keyup', (ev) => this.onKey(ev, false));
    window.addEventListener('blur', () => this.release());
  }

  // Operators and admins (an open server makes everyone an admin).
  maySteer() {
    const role = this.app.session?.role;
    return role === 'operator' || role === 'admin' || this.app.session?.via === 'open';
  }

  open(cam, viewer) {
    this.close();
    this.cam = cam;
    this.viewer = viewer;
    const on = !!cam.ptz_driver && this.maySteer();
    this.panel.hidden = !on;
    this.panel.dataset.camera = on ? cam.id : '';
    if (!on) return;
    this.setMsg('');
    this.alarmOn = false;
    this.renderAlarm();
    this.loadPresets();
    this.pollStatus();
    this.pollTimer = setInterval(() => this.pollStatus(), STATUS_POLL_MS);
  }

  close() {
    this.release();
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.cam = null;
    this.viewer = null;
    this.panel.hidden = true;
  }

  // A ptz reply on the WebSocket (docs/protocol.md).
  onReply(m) {
    if (!m.ok) this.setMsg(`${m.op}: ${m.message || m.code}`, true);
    else if (m.op === 'goto') this.setMsg(`preset ${m.preset} recalled`);
    if (m.holder) this.renderHolder(m.holder);
  }

  setMsg(text, isError = false) {
    this.msgEl.textContent = text;
    this.msgEl.classList.toggle('err', isError);
  }

  send(msg) {
    if (!this.viewer || this.viewer.conn !== 'open') {
      this.setMsg('not connected', true);
      return false;
    }
    this.viewer.send(msg);
    return true;
  }

  // Starts or changes a held move; the refresh timer keeps its lease.
  hold(speed, force = false) {
    if (!this.cam) return;
    const same = speed.pan === this.speed.pan && speed.tilt === this.speed.tilt
      && speed.zoom === this.speed.zoom;
    this.speed = speed;
    const zero = !speed.pan && !speed.tilt && !speed.zoom;
    if (zero) { this.release(); return; }
    const now = performance.now();
    if (!force && same && this.moving) return;
    if (!force && this.moving && now - this.lastSend < SEND_MIN_MS) return; // next refresh sends it
    this.sendMove();
    if (!this.refreshTimer) this.refreshTimer = setInterval(() => this.sendMove(), REFRESH_MS);
  }

  sendMove() {
    const { pan, tilt, zoom } = this.speed;
    if (this.send({ type: 'ptz.move', pan, tilt, zoom })) {
      this.moving = true;
      this.lastSend = performance.now();
      this.panel.dataset.moving = 'true';
    }
  }

  // Stops a held move (always sends the stop when asked explicitly).
  release(always = false) {
    clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    const was = this.moving;
    this.moving = false;
    this.speed = { pan: 0, tilt: 0, zoom: 0 };
    this.panel.dataset.moving = 'false';
    this.knob.style.transform = '';
    if ((was || always) && this.cam) this.send({ type: 'ptz.stop' });
  }

  bindPad() {
    const pad = this.pad;
    let active = null;
    const at = (ev) => {
      const r = pad.getBoundingClientRect();
      const radius = r.width / 2;
      let dx = (ev.clientX - (r.left + radius)) / radius;
      let dy = (ev.clientY - (r.top + r.height / 2)) / radius;
      const d = Math.hypot(dx, dy);
      if (d > 1) { dx /= d; dy /= d; }
      this.knob.style.transform = `translate(${dx * radius * 0.75}px, ${dy * radius * 0.75}px)`;
      const q = (v) => (Math.abs(v) < DEAD_ZONE ? 0 : Math.round(v * 100) / 100);
      return { pan: q(dx), tilt: q(-dy), zoom: 0 };   // screen y grows downward; +tilt is up
    };
    pad.addEventListener('pointerdown', (ev) => {
      ev.preventDefault();
      active = ev.pointerId;
      pad.setPointerCapture(ev.pointerId);
      this.hold(at(ev));
    });
    pad.addEventListener('pointermove', (ev) => {
      if (ev.pointerId !== active) return;
      const s = at(ev);
      if (!s.pan && !s.tilt) this.speed = s;   // inside the dead zone: wait, do not stop
      else this.hold(s);
    });
    const end = (ev) => {
      if (ev.pointerId !== active) return;
      active = null;
      this.release();
    };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
  }

  onKey(ev, down) {
    if (!this.cam || this.panel.hidden) return;
    if (ev.target.closest?.('input, select, textarea, [contenteditable]')) return;
    const dirs = { ArrowLeft: 1, ArrowRight: 1, ArrowUp: 1, ArrowDown: 1, '+': 1, '=': 1, '-': 1 };
    if (!dirs[ev.key] || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.preventDefault();
    if (down) this.keys.add(ev.key); else this.keys.delete(ev.key);
    if (down && ev.repeat) return;
    const k = this.keys;
    const speed = {
      pan: (k.has('ArrowRight') ? KEY_SPEED : 0) - (k.has('ArrowLeft') ? KEY_SPEED : 0),
      tilt: (k.has('ArrowUp') ? KEY_SPEED : 0) - (k.has('ArrowDown') ? KEY_SPEED : 0),
      zoom: (k.has('+') || k.has('=') ? ZOOM_SPEED : 0) - (k.has('-') ? ZOOM_SPEED : 0),
    };
    this.hold(speed, true);
  }

  async call(method, path, body) {
    const init = { method, cache: 'no-store', headers: { Accept: 'application/json' } };
    if (method !== 'GET') init.headers['X-CSRF-Token'] = this.app.session?.csrf_token || '';
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(api(path), init);
    let j = null;
    try { j = await r.json(); } catch { /* empty */ }
    return { status: r.status, body: j };
  }

  async loadPresets() {
    const cam = this.cam;
    if (!cam) return;
    const r = await this.call('GET', `cameras/${encodeURIComponent(cam.id)}/ptz/presets`).catch(() => null);
    if (cam !== this.cam || !r) return;
    const list = r.status === 200 && Array.isArray(r.body?.presets) ? r.body.presets : [];
    this.presetsEl.replaceChildren(...list.map((p) => {
      const b = el('button', 'btn', p.name ? `${p.number} · ${p.name}` : String(p.number));
      b.type = 'button';
      b.dataset.preset = String(p.number);
      b.title = `Recall preset ${p.number}`;
      b.addEventListener('click', () => {
        this.release();
        this.send({ type: 'ptz.goto', preset: p.number });
      });
      return b;
    }));
    if (r.status !== 200) this.setMsg(`presets: ${r.body?.error?.message || r.status}`, true);
  }

  async store() {
    const cam = this.cam;
    const n = Number(this.storeInput.value);
    if (!cam || !Number.isInteger(n) || n < 1 || n > 256) {
      this.setMsg('a preset is a number from 1 to 256', true);
      return;
    }
    if (!window.confirm(`Store the current position as preset ${n} of ${cam.name || cam.id}?`)) return;
    const r = await this.call('PUT', `cameras/${encodeURIComponent(cam.id)}/ptz/presets/${n}`, {});
    if (r.status === 200) {
      this.setMsg(`preset ${r.body.preset} stored`);
      this.loadPresets();
    } else {
      this.setMsg(`store: ${r.body?.error?.message || r.status}`, true);
    }
  }

  async toggleAlarm() {
    const cam = this.cam;
    if (!cam) return;
    const on = !this.alarmOn;
    const r = await this.call('POST', `cameras/${encodeURIComponent(cam.id)}/alarms/1`, { on });
    if (cam !== this.cam) return;
    if (r.status === 200) {
      this.alarmOn = on;
      this.setMsg(`alarm 1 ${on ? 'on' : 'off'}`);
    } else {
      this.setMsg(`alarm: ${r.body?.error?.message || r.status}`, true);
    }
    this.renderAlarm();
  }

  renderAlarm() {
    this.alarmBtn.setAttribute('aria-pressed', String(this.alarmOn));
    this.alarmBtn.textContent = `Alarm ${this.alarmOn ? 'on' : 'off'}`;
  }

  async pollStatus() {
    const cam = this.cam;
    if (!cam) return;
    const r = await this.call('GET', `cameras/${encodeURIComponent(cam.id)}/ptz/status`).catch(() => null);
    if (cam !== this.cam || !r || r.status !== 200) return;
    this.renderHolder(r.body.holder);
    const h = r.body.health;
    this.panel.dataset.reachable = h ? String(h.reachable) : '';
  }

  renderHolder(holder) {
    const me = this.app.session?.user;
    const text = !holder ? 'control: free' : holder === me ? 'control: you' : `control: ${holder}`;
    if (this.holderEl.textContent !== text) this.holderEl.textContent = text;
    this.holderEl.dataset.holder = holder || '';
  }
}

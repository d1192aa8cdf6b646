// Unit tests of the dashboard's jitter buffer (web/jitter.js): due times, drops and the
// learned offset. Pure logic, run under node (no browser, no server):
//
//   cd tests/browser && node --test jitter.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// web/ has no package.json saying "module", so node would read jitter.js as CommonJS: load
// its text as an ES module instead (it imports nothing).
const here = path.dirname(fileURLToPath(import.meta.url));
const src = readFileSync(path.resolve(here, '../../web/jitter.js'), 'utf8');
const { JitterBuffer, delayFromQuery, DEFAULT_DELAY_MS } =
  await import(`data:text/javascript;base64,${Buffer.from(src).toString('base64')}`);

const T0_US = 1_764_860_000_000_000;          // a capture time in 2025, µs
const ms = (x) => T0_US / 1000 + x;           // page wall clock, ms, relative to T0

// A buffer that records what it released.
function buffer(opts = {}) {
  const released = [];
  const jb = new JitterBuffer({ release: (x) => released.push(x), ...opts });
  return { jb, released };
}

test('default delay is at most one frame interval at 60 fps', () => {
  assert.ok(DEFAULT_DELAY_MS > 0 && DEFAULT_DELAY_MS <= 1000 / 60 + 1e-9, String(DEFAULT_DELAY_MS));
  assert.equal(new JitterBuffer().delayMs, DEFAULT_DELAY_MS);
});

test('offset is the minimum of arrival minus capture over the window', () => {
  const { jb } = buffer({ windowMs: 1000 });
  assert.equal(jb.offsetMs, null);
  jb.learn(T0_US, ms(50));                    // 50 ms
  assert.equal(jb.offsetMs, 50);
  jb.learn(T0_US + 33_000, ms(33 + 20));      // 20 ms: new minimum
  assert.equal(jb.offsetMs, 20);
  jb.learn(T0_US + 66_000, ms(66 + 90));      // 90 ms: slower, minimum stays
  assert.equal(jb.offsetMs, 20);
  // 1.2 s later the quick sample (at 53 ms) has left the 1 s window: the slower path counts.
  jb.learn(T0_US + 1_200_000, ms(1200 + 70));
  assert.equal(jb.offsetMs, 70);
  jb.learn(T0_US + 1_233_000, ms(1233 + 75));
  assert.equal(jb.offsetMs, 70);
});

test('a picture is due at capture + offset + delay', () => {
  const { jb } = buffer({ delayMs: 16 });
  jb.learn(T0_US, ms(40));
  assert.equal(jb.dueMs(T0_US), ms(56));
  assert.equal(jb.dueMs(T0_US + 100_000), ms(156));
  jb.push('a', T0_US);
  assert.equal(jb.nextDueMs(), ms(56));
  assert.equal(jb.take(ms(55.9)), null, 'held until due');
  assert.equal(jb.size, 1);
  assert.equal(jb.take(ms(56)), 'a');
  assert.equal(jb.size, 0);
  assert.equal(jb.nextDueMs(), null);
});

test('no picture is held longer than the delay after it arrived', () => {
  const { jb } = buffer({ delayMs: 16 });
  // Arrivals with jitter of up to 30 ms over a 10 ms base delay.
  const jitter = [0, 30, 5, 22, 1, 17, 29, 3, 11, 0, 26, 8];
  for (let i = 0; i < jitter.length; i++) {
    const cap = T0_US + i * 33_333;
    const arr = cap / 1000 + 10 + jitter[i];
    jb.learn(cap, arr);
    assert.ok(jb.dueMs(cap) <= arr + 16 + 1e-6, `frame ${i}: due ${jb.dueMs(cap) - arr} ms after arrival`);
  }
});

test('only the newest due picture is shown; earlier due ones are dropped', () => {
  const { jb, released } = buffer({ delayMs: 0, maxHeld: 100 });
  // A cached GOP burst: 30 access units captured over one second, all arriving now.
  const now = ms(1000 + 5);
  for (let i = 0; i < 30; i++) jb.learn(T0_US + i * 33_333, now);
  for (let i = 0; i < 30; i++) jb.push(`f${i}`, T0_US + i * 33_333);
  assert.equal(jb.take(now), 'f29', 'the last one is shown');
  assert.deepEqual(released, Array.from({ length: 29 }, (_, i) => `f${i}`), 'the others released in order');
  assert.equal(jb.dropped, 29);
  assert.equal(jb.size, 0);
});

test('a picture not newer than the last shown is dropped at once', () => {
  const { jb, released } = buffer({ delayMs: 0 });
  jb.learn(T0_US, ms(0));
  jb.push('b', T0_US + 33_000);
  assert.equal(jb.take(ms(33)), 'b');
  jb.push('a', T0_US);                        // late, out of order
  jb.push('b-again', T0_US + 33_000);         // same capture time
  assert.deepEqual(released, ['a', 'b-again']);
  assert.equal(jb.size, 0);
});

test('pictures are kept in capture order whatever order they come in', () => {
  const { jb } = buffer({ delayMs: 0 });
  jb.learn(T0_US, ms(0));
  jb.push('c', T0_US + 66_000);
  jb.push('a', T0_US);
  jb.push('b', T0_US + 33_000);
  assert.equal(jb.take(ms(0)), 'a');
  assert.equal(jb.take(ms(33)), 'b');
  assert.equal(jb.take(ms(40)), null);
  assert.equal(jb.take(ms(66)), 'c');
});

test('beyond maxHeld the oldest held picture is dropped', () => {
  const { jb, released } = buffer({ delayMs: 500, maxHeld: 3 });
  jb.learn(T0_US, ms(0));
  for (let i = 0; i < 5; i++) jb.push(i, T0_US + i * 10_000);
  assert.equal(jb.size, 3);
  assert.deepEqual(released, [0, 1]);
  assert.equal(jb.nextDueMs(), ms(20 + 500));
});

test('clear releases everything held and keeps the offset unless asked', () => {
  const { jb, released } = buffer({ delayMs: 100 });
  jb.learn(T0_US, ms(7));
  jb.push('x', T0_US);
  jb.push('y', T0_US + 1000);
  jb.clear();
  assert.deepEqual(released, ['x', 'y']);
  assert.equal(jb.offsetMs, 7);
  jb.push('z', T0_US);                        // after clear an older picture is accepted again
  assert.equal(jb.size, 1);
  jb.clear({ resetOffset: true });
  assert.equal(jb.offsetMs, null);
});

test('?jitter=MS sets the delay, within 0..1000', () => {
  assert.equal(delayFromQuery(''), DEFAULT_DELAY_MS);
  assert.equal(delayFromQuery('?jitter=40'), 40);
  assert.equal(delayFromQuery('?webcodecs=1&jitter=0'), 0);
  assert.equal(delayFromQuery('?jitter=2.5'), 2.5);
  assert.equal(delayFromQuery('?jitter=99999'), 1000);
  assert.equal(delayFromQuery('?jitter=-3'), DEFAULT_DELAY_MS);
  assert.equal(delayFromQuery('?jitter=abc'), DEFAULT_DELAY_MS);
  assert.equal(delayFromQuery('?jitter='), DEFAULT_DELAY_MS);
});

// Helpers the browser-side tests share: a free port, a vigil server on it (started, waited
// for, stopped with a check of its exit status) and a headless Chromium.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// What every browser test reads of its environment (see README): the server binary, the
// browser (never downloaded), where to save screenshots ('' for none), and the flags that
// make the server serve the dashboard from DASH_WEB_ROOT (default ../../web; 'embedded' for
// the files built into the binary).
const here = path.dirname(fileURLToPath(import.meta.url));
export const VIGIL_BIN = process.env.VIGIL_BIN || path.resolve(here, '../../build/vigil');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.DASH_SCREENSHOTS || '';
const WEB_ROOT = process.env.DASH_WEB_ROOT || path.resolve(here, '../../web');
export const WEB_ARGS = WEB_ROOT === 'embedded' ? [] : ['--web-root', WEB_ROOT];

// A port free on 127.0.0.1 right now (the server is started on it next).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts `bin ...args --listen 127.0.0.1:PORT` on a free port, keeping the last `logChars`
// characters of its stdout and stderr. Returns
//   { proc, exited, log, url }
// proc: the ChildProcess; exited: Promise<{ code, signal }> of its exit; log(): the kept
// tail of its output; url: its base URL, http://127.0.0.1:PORT (no trailing slash).
export async function startVigil(bin, args, { logChars = 20000 } = {}) {
  const port = await freePort();
  const proc = spawn(bin, [...args, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let log = '';
  const keep = (d) => { log = (log + d.toString()).slice(-logChars); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  return { proc, exited, log: () => log, url: `http://127.0.0.1:${port}` };
}

// Polls GET {vigil.url}/healthz until it answers 200, at most timeoutMs. Throws, with the
// server's log, as soon as the process has exited, or with the last failure at the deadline.
export async function waitHealthy(vigil, timeoutMs) {
  const { proc } = vigil;
  const url = `${vigil.url}/healthz`;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`vigil exited early (${proc.exitCode ?? proc.signalCode}):\n${vigil.log()}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms (${last}):\n${vigil.log()}`);
}

// SIGTERM, then expect exit status 0 within 5 s; a server still running then is killed
// and the check fails. A server that had already exited must have exited 0 too.
export async function stopVigil(vigil) {
  const { proc, exited, log } = vigil;
  let result = null;
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    result = await Promise.race([exited, sleep(5000).then(() => null)]);
    if (!result) {
      proc.kill('SIGKILL');
      await Promise.race([exited, sleep(5000)]);
      assert.fail(`vigil did not exit within 5 s of SIGTERM (killed):\n${log()}`);
    }
  } else {
    result = await exited;
  }
  assert.deepEqual(result, { code: 0, signal: null },
    `vigil should exit 0 after SIGTERM, got ${JSON.stringify(result)}:\n${log()}`);
}

// Headless Chromium from executablePath (never a downloaded browser), without the
// sandbox, GPU, QUIC and Chromium's own background traffic.
export function launchChromium(executablePath) {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

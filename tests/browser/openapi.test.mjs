// The OpenAPI document the server serves at /api/v1/openapi.json: it validates as OpenAPI
// 3.0 (@apidevtools/swagger-parser, which checks the document against the specification's
// schema and resolves every $ref), and it describes exactly the routes the server registers
// (`vigil serve --list-routes`): none missing, none invented.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVigil, waitHealthy, stopVigil } from './lib.mjs';
import SwaggerParser from '@apidevtools/swagger-parser';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGIL_BIN = process.env.VIGIL_BIN || path.resolve(here, '../../build/vigil');

let server = null;                // startVigil(): { proc, exited, log, url }
let baseUrl;

before(async () => {
  server = await startVigil(VIGIL_BIN, ['serve', '--no-auth', '--db', ':memory:',
    '--camera', 'c1=test://?width=320&height=240&fps=10']);
  baseUrl = server.url;
  await waitHealthy(server, 20000);
});

after(async () => {
  if (server) await stopVigil(server);
});

async function fetchDoc() {
  const r = await fetch(`${baseUrl}/api/v1/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  return r.json();
}

test('the document validates as OpenAPI 3.0', async () => {
  const doc = await fetchDoc();
  assert.equal(doc.openapi, '3.0.3');
  await SwaggerParser.validate(structuredClone(doc)); // throws with the first error
  // The validator must be able to fail: a broken copy is refused.
  const broken = structuredClone(doc);
  broken.paths['/healthz'].get.responses = 'none';
  await assert.rejects(SwaggerParser.validate(broken));
});

test('every route the server registers is in the document, and nothing else', async () => {
  const doc = await fetchDoc();
  const routes = execFileSync(VIGIL_BIN, ['serve', '--list-routes'], { encoding: 'utf8' })
    .trim().split('\n').map((l) => l.trim()).filter(Boolean);
  assert.ok(routes.length >= 25, `too few routes listed: ${routes.length}`);
  const fromServer = new Set();
  let n = 0;
  for (const line of routes) {
    const [method, pattern] = line.split(' ');
    // {} in the server's patterns is a path parameter; the document names the first {id}
    // and a second one {name} (an HLS file) or {n} (a preset or alarm number).
    const names = /\/(ptz\/presets|alarms)\//.test(pattern) ? ['{id}', '{n}'] : ['{id}', '{name}'];
    let k = 0;
    fromServer.add(`${method.toLowerCase()} ${pattern.replace(/\{\}/g, () => names[k++] || '{x}')}`);
    n++;
  }
  assert.equal(fromServer.size, n, 'duplicate routes');
  const documented = new Set();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of ['get', 'post', 'put', 'patch', 'delete']) {
      if (item[m]) documented.add(`${m} ${p}`);
    }
  }
  const missing = [...fromServer].filter((r) => !documented.has(r));
  const invented = [...documented].filter((r) => !fromServer.has(r));
  assert.deepEqual(missing, [], 'routes the document lacks');
  assert.deepEqual(invented, [], 'documented routes the server lacks');
});

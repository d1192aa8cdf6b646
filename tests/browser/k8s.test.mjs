// deploy/k8s against the Kubernetes OpenAPI schemas (issue 18): every object of every manifest
// the kustomization lists is validated by kubernetes-models, whose validators are generated
// from the Kubernetes API's OpenAPI document. A broken copy must be refused, so that the check
// is known to bite. Needs no cluster and no browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
const K8S = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/k8s');

// apiVersion/kind -> the model's module
const MODELS = {
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'v1/Service': 'kubernetes-models/v1/Service',
  'v1/PersistentVolumeClaim': 'kubernetes-models/v1/PersistentVolumeClaim',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'autoscaling/v2/HorizontalPodAutoscaler': 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
};

function validate(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const mod = MODELS[key];
  assert.ok(mod, `no schema known here for ${key}: add it to MODELS`);
  const Model = Object.values(require(mod)).find((v) => typeof v === 'function');
  new Model(obj).validate(); // throws with the path of what is wrong
}

// deploy/k8s (one instance on SQLite) and deploy/k8s/cluster (instances sharing PostgreSQL)
const DIRS = [K8S, path.join(K8S, 'cluster')];

function objects() {
  const out = [];
  for (const dir of DIRS) {
    const kustomization = YAML.parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
    for (const file of kustomization.resources) {
      const where = path.relative(K8S, path.join(dir, file));
      for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
        const obj = doc.toJSON();
        if (obj) out.push({ file: where, obj });
      }
    }
  }
  return out;
}

test('every manifest validates against the Kubernetes schemas', () => {
  const all = objects();
  assert.ok(all.some(({ obj }) => obj.kind === 'Deployment'), 'no Deployment found');
  assert.ok(all.some(({ obj }) => obj.kind === 'HorizontalPodAutoscaler'), 'no autoscaler found');
  for (const { file, obj } of all) {
    assert.doesNotThrow(() => validate(obj), `${file}: ${obj.kind} ${obj.metadata?.name}`);
  }
});

test('the cluster instances share PostgreSQL and name themselves', () => {
  const d = objects().find(({ file, obj }) => file.startsWith('cluster') && obj.kind === 'Deployment').obj;
  const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e) => [e.name, e]));
  assert.equal(env.VIGIL_DB.valueFrom.secretKeyRef.name, 'vigil-postgres');
  assert.equal(env.VIGIL_INSTANCE_ID.valueFrom.fieldRef.fieldPath, 'metadata.name');
  assert.match(env.VIGIL_ADVERTISE_URL.value, /\$\(POD_IP\)/);
  assert.ok(d.spec.replicas >= 2);
  assert.ok(!d.spec.template.spec.volumes.some((v) => v.persistentVolumeClaim), 'no shared volume');
});

test('a broken manifest is refused', () => {
  const { obj } = objects().find(({ obj }) => obj.kind === 'Deployment');
  const broken = structuredClone(obj);
  broken.spec.replicas = 'two';
  assert.throws(() => validate(broken));
  const noImage = structuredClone(obj);
  delete noImage.spec.template.spec.containers[0].name;
  assert.throws(() => validate(noImage));
});

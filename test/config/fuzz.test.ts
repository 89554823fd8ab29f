// Property tests: whatever text arrives, the loader answers with diagnostics instead of throwing, and
// the store never lets it replace configuration that is in force.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { defaultInstallResult, defaultMeshConfig } from '../../src/config/default-install.js';
import { loadConfigText, type LoadedPatch } from '../../src/config/load.js';
import { buildSnapshot } from '../../src/config/snapshot.js';
import { ConfigStore } from '../../src/config/store.js';
import type { JsonPatchOp } from '../../src/config/types.js';

const mesh = defaultMeshConfig();
const GOOD = `apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: mysql-external
spec:
  hosts: [mysql.fqdn.example]
  location: MESH_EXTERNAL
  ports:
  - {number: 3306, name: tcp, protocol: TCP}
  resolution: DNS
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: good}
`;

/** Text shaped like config: valid documents with a character changed, lines dropped or swapped. */
const mutatedConfig = fc
  .tuple(fc.nat(GOOD.length - 1), fc.string({ maxLength: 3 }), fc.nat(20), fc.boolean())
  .map(([at, ins, line, drop]) => {
    const s = GOOD.slice(0, at) + ins + GOOD.slice(at + 1);
    if (!drop) return s;
    const lines = s.split('\n');
    lines.splice(line % lines.length, 1);
    return lines.join('\n');
  });

const randomText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3 }).map((v) => {
    try {
      return (stringify(v) as string | undefined) ?? '';
    } catch {
      // yaml cannot stringify some values (symbols, functions); fall back to their string form.
      return String(v);
    }
  }),
  fc
    .record({
      apiVersion: fc.constantFrom('v1', 'networking.istio.io/v1', 'security.istio.io/v1', 'x'),
      kind: fc.constantFrom('Service', 'Gateway', 'VirtualService', 'DestinationRule', 'Secret', 'List', 'Sidecar'),
      metadata: fc.anything({ maxDepth: 2 }),
      spec: fc.anything({ maxDepth: 3 }),
    })
    .map((o) => stringify(o)),
  mutatedConfig,
);

const runs = { numRuns: 1000, seed: 20241126 };

test('the loader never throws on random YAML or JSON, and every diagnostic has a position', () => {
  fc.assert(
    fc.property(randomText, fc.constantFrom('f.yaml', 'f.json'), (text, file) => {
      const r = loadConfigText(text, file);
      for (const d of r.diagnostics) {
        assert.equal(d.file, file);
        assert.ok(typeof d.line === 'number' && d.line >= 1, `diagnostic without a line: ${JSON.stringify(d)}`);
        assert.ok(typeof d.column === 'number' && d.column >= 1);
        assert.ok(d.message.length > 0);
      }
    }),
    runs,
  );
});

test('random input never replaces good config in the store', () => {
  fc.assert(
    fc.property(randomText, (text) => {
      const store = new ConfigStore(mesh);
      store.setSource('good', loadConfigText(GOOD, 'good.yaml'));
      const before = JSON.stringify([store.snapshot().serviceEntries, store.snapshot().serviceAccounts]);
      const r = loadConfigText(text, 'fuzz.yaml');
      store.setSource('fuzz', r);
      const se = store.snapshot().serviceEntries.find((s) => s.metadata.name === 'mysql-external');
      assert.deepEqual(se?.spec.hosts, ['mysql.fqdn.example'], 'another source cannot replace an object in force');
      if (r.diagnostics.some((d) => d.level === 'Error')) {
        // The same file turning bad: what it held stays unless the new text validly redefines it.
        store.removeSource('fuzz');
        store.setSource('good', r);
        const names = store.snapshot().serviceAccounts.map((s) => s.metadata.name);
        const redefined = r.objects.some((o) => o.object.kind === 'ServiceAccount' && o.object.metadata.name === 'good');
        if (r.diagnostics.some((d) => d.level === 'Error' && d.object === undefined) || redefined)
          assert.ok(names.includes('good'), 'last good object retained');
      } else {
        assert.equal(
          JSON.stringify([
            store.snapshot().serviceEntries.filter((s) => s.metadata.name === 'mysql-external'),
            store.snapshot().serviceAccounts.filter((s) => s.metadata.name === 'good'),
          ]),
          before,
        );
      }
    }),
    runs,
  );
});

const pointer = fc.oneof(
  fc.constantFrom(
    '',
    '/',
    '/spec',
    '/spec/ports',
    '/spec/ports/0',
    '/spec/ports/-',
    '/spec/ports/9',
    '/metadata/name',
    '/spec/selector/istio',
    '/kind',
    '/spec/ports/0/port',
  ),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }).map((a) => `/${a.join('/')}`),
);
const op: fc.Arbitrary<JsonPatchOp> = fc.record({
  op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test'),
  path: pointer,
  value: fc.anything({ maxDepth: 2 }),
  from: pointer,
}) as fc.Arbitrary<JsonPatchOp>;

test('random JSON patches never throw and never leave an invalid object in the snapshot', () => {
  const install = defaultInstallResult(mesh).objects;
  fc.assert(
    fc.property(fc.array(op, { maxLength: 5 }), (ops) => {
      const patch: LoadedPatch = {
        ops,
        target: { kind: 'Service', namespace: 'istio-system', name: 'istio-egressgateway' },
        source: { file: 'p.json', line: 1, column: 1 },
      };
      const built = buildSnapshot(install, [patch], mesh, 1);
      const svc = built.snapshot.services.find((s) => s.metadata.name === 'istio-egressgateway');
      assert.ok(svc, 'the target stays (a patch may not rename or delete it)');
      for (const p of svc.spec.ports ?? []) assert.ok(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535);
      if (built.diagnostics.some((d) => d.level === 'Error'))
        assert.deepEqual(
          svc.spec.ports?.map((p) => p.port),
          [80, 443],
        );
    }),
    runs,
  );
});

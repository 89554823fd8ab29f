import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { protoIncludeDirs } from '../../src/xds/protos.js';

test("Envoy's proto folders are found through files @grpc/grpc-js-xds publishes, inside its own root", () => {
  const root = path.dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json'));
  const dirs = protoIncludeDirs();
  assert.deepEqual(
    dirs.slice(1),
    ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(root, 'deps', d)),
  );
  for (const d of dirs) assert.ok(existsSync(d), d);
});

test('a @grpc/grpc-js-xds without deps/, or none at all, is a clear error naming what is missing', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-protos-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const from = pathToFileURL(path.join(dir, 'x.js')).href;
  const pbjs = path.join(dir, 'node_modules', 'protobufjs');
  await mkdir(pbjs, { recursive: true });
  await writeFile(path.join(pbjs, 'package.json'), '{"name":"protobufjs","version":"7.0.0"}');
  assert.throws(() => protoIncludeDirs(from), { code: 'E_XDS_PROTO_LOAD', message: /@grpc\/grpc-js-xds is not installed; run npm ci/ });
  const xds = path.join(dir, 'node_modules', '@grpc', 'grpc-js-xds');
  await mkdir(xds, { recursive: true });
  await writeFile(path.join(xds, 'package.json'), '{"name":"@grpc/grpc-js-xds","version":"9.9.9"}');
  assert.throws(() => protoIncludeDirs(from), {
    code: 'E_XDS_PROTO_LOAD',
    message: `Envoy's .proto files come from @grpc/grpc-js-xds's deps/ folder, but @grpc/grpc-js-xds 9.9.9 at ${xds} does not ship deps/envoy-api/envoy/service/discovery/v3/ads.proto; run npm ci (a version that moved the folder needs src/xds/protos.ts updated)`,
  });
});

// In a network namespace of its own (as a lab pod): the proxy's admin is not reachable on the pod IP,
// only on the pod's loopback; the Prometheus and readiness ports are, as Istio's 15090 and 15021.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonChild, createNetns, linkNamespaces, netnsSkipReason, runInAsync } from '../capture/netns-harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
const fixture = (name: string, args: string[]): string[] => [
  process.execPath,
  ...(compiled ? [] : ['--import', 'tsx']),
  path.join(here, 'fixtures', `${name}.${compiled ? 'js' : 'ts'}`),
  ...args,
];

/**
 * From inside `netns`: the HTTP status of GET url, or the connection error's code. node:http rather than
 * fetch: its error codes (ECONNREFUSED) are the same under Node and Bun, whose fetch reports its own.
 */
async function probe(netns: string, url: string): Promise<string> {
  const script = `const q = require('node:http').get(${JSON.stringify(url)}, (r) => { console.log(r.statusCode); r.resume(); });
q.on('error', (e) => console.log(e.code ?? e.name));
q.setTimeout(3000, () => q.destroy(new Error('timeout')));`;
  const r = await runInAsync(netns, [process.execPath, '-e', script]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test(
  'netns: admin answers only on the pod loopback; 15021 and 15090 answer on the pod IP',
  { skip: netnsSkipReason(), timeout: 60_000 },
  async (t) => {
    const pod = createNetns(t, 'adm');
    const other = createNetns(t, 'oth');
    linkNamespaces(pod, '198.18.0.1/24', other, '198.18.0.2/24');
    const proxy = new JsonChild(t, pod, fixture('admin-in-pod', ['198.18.0.1']));
    await proxy.waitFor((l) => l.event === 'ready');

    assert.equal(await probe(other, 'http://198.18.0.1:15000/config_dump'), 'ECONNREFUSED', 'another pod cannot reach admin');
    assert.equal(await probe(other, 'http://198.18.0.1:15021/healthz/ready'), '200', 'readiness is reachable on the pod IP');
    assert.equal(await probe(other, 'http://198.18.0.1:15090/stats/prometheus'), '200', 'Prometheus is reachable on the pod IP');
    assert.equal(await probe(other, 'http://198.18.0.1:15090/config_dump'), '404', 'the Prometheus port serves nothing else');
    assert.equal(await probe(pod, 'http://198.18.0.1:15000/ready'), 'ECONNREFUSED', 'not even from inside the pod by its IP');
    assert.equal(await probe(pod, 'http://127.0.0.1:15000/ready'), '200', "admin answers on the pod's loopback");
  },
);

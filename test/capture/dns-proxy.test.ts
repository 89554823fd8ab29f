// The DNS proxy on loopback, between a real client socket and a real upstream resolver of the test's
// own (127.0.0.x): mesh names from the name table, everything else forwarded, over UDP and TCP.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { DnsProxy, type DnsProxyOptions } from '../../src/capture/dns-proxy.js';
import { DnsRcode, DnsType, decodeMessage, encodeQuery } from '../../src/capture/dns-wire.js';
import type { NameTable } from '../../src/envoy/name-table.js';
import { queryTcp, queryUdp, startTestDnsServer, type TestDnsServer } from './dns-test-server.js';

const TABLE: NameTable = {
  table: {
    'mysql.fqdn.example': { ips: ['240.240.0.1'], registry: 'External' },
    'dual.example': { ips: ['240.240.0.2', 'fd00::2'], registry: 'External' },
    '*.wild.example': { ips: ['240.240.0.3'], registry: 'External' },
    'mysql.db.svc.cluster.local': { ips: ['10.96.0.5'], registry: 'Kubernetes', shortname: 'mysql', namespace: 'db' },
    'noaddr.example': { ips: [], registry: 'External' },
  },
};

async function setup(
  t: TestContext,
  opts: Partial<DnsProxyOptions> = {},
  upstreams = 1,
): Promise<{ proxy: DnsProxy; addr: { address: string; port: number }; upstream: TestDnsServer }> {
  const servers: TestDnsServer[] = [];
  for (let i = 0; i < upstreams; i++) {
    const s = await startTestDnsServer(`127.0.0.${53 + i}`);
    t.after(() => s.close());
    servers.push(s);
  }
  const proxy = new DnsProxy({
    listen: { address: '127.0.0.1', port: 0 },
    upstream: servers.map((s) => ({ address: s.address, port: s.port })),
    table: () => TABLE,
    namespace: 'db',
    upstreamTimeoutMs: 1000,
    ...opts,
  });
  const addr = await proxy.start();
  t.after(() => proxy.close());
  return { proxy, addr, upstream: servers.at(-1)! };
}

let nextId = 1;
async function ask(addr: { address: string; port: number }, name: string, type: number = DnsType.A, udpSize?: number) {
  const id = nextId++;
  const msg = decodeMessage(await queryUdp(addr, encodeQuery(id, name, type, { udpSize })));
  assert.equal(msg.header.id, id, 'the response must carry the query id');
  return msg;
}

test('answers mesh names from the name table, authoritatively, without asking upstream', async (t) => {
  const { proxy, addr, upstream } = await setup(t);
  const msg = await ask(addr, 'mysql.fqdn.example');
  assert.equal(msg.header.rcode, DnsRcode.NOERROR);
  assert.equal(msg.header.aa, true);
  assert.deepEqual(
    msg.answers.map((a) => [a.name, a.type, a.data, a.ttl]),
    [['mysql.fqdn.example', DnsType.A, '240.240.0.1', 30]],
  );
  assert.deepEqual(upstream.seen, []);
  assert.equal(proxy.stats.answered, 1);
  // Case is preserved in the question and the name still matches.
  const mixed = await ask(addr, 'MySQL.FQDN.Example');
  assert.equal(mixed.questions[0]!.name, 'MySQL.FQDN.Example');
  assert.equal(mixed.answers[0]!.data, '240.240.0.1');
});

test('AAAA for an IPv4-only mesh name is an empty NOERROR, ANY gets both families, other types go upstream', async (t) => {
  const { addr, upstream } = await setup(t);
  const aaaa = await ask(addr, 'mysql.fqdn.example', DnsType.AAAA);
  assert.equal(aaaa.header.rcode, DnsRcode.NOERROR);
  assert.equal(aaaa.answers.length, 0);
  const any = await ask(addr, 'dual.example', DnsType.ANY);
  assert.deepEqual(
    any.answers.map((a) => a.data),
    ['240.240.0.2', 'fd00::2'],
  );
  const dual6 = await ask(addr, 'dual.example', DnsType.AAAA);
  assert.deepEqual(
    dual6.answers.map((a) => a.data),
    ['fd00::2'],
  );
  const mx = await ask(addr, 'mysql.fqdn.example', DnsType.MX);
  assert.equal(mx.header.rcode, DnsRcode.NXDOMAIN, "MX for a mesh name is the upstream resolver's business");
  assert.deepEqual(upstream.seen, ['udp mysql.fqdn.example. 15']);
});

test('Kubernetes services resolve by short forms from their namespace; wildcards cover subdomains; entries without addresses are not answered', async (t) => {
  const { addr } = await setup(t);
  for (const name of ['mysql.db.svc.cluster.local', 'mysql.db', 'mysql.db.svc', 'mysql']) {
    const msg = await ask(addr, name);
    assert.deepEqual(
      msg.answers.map((a) => a.data),
      ['10.96.0.5'],
      name,
    );
  }
  const wild = await ask(addr, 'a.b.wild.example');
  assert.deepEqual(
    wild.answers.map((a) => [a.name, a.data]),
    [['a.b.wild.example', '240.240.0.3']],
  );
  const noaddr = await ask(addr, 'noaddr.example');
  assert.equal(noaddr.header.rcode, DnsRcode.NXDOMAIN, 'forwarded, and upstream does not know it');
});

test('a short name is not answered from another namespace (it is forwarded)', async (t) => {
  const { addr, upstream } = await setup(t, { namespace: 'other' });
  const msg = await ask(addr, 'mysql');
  assert.equal(msg.header.rcode, DnsRcode.NXDOMAIN);
  assert.deepEqual(upstream.seen, ['udp mysql. 1']);
  assert.deepEqual(
    (await ask(addr, 'mysql.db')).answers.map((a) => a.data),
    ['10.96.0.5'],
  );
});

test('a name with the first search domain appended gets a CNAME to the mesh host', async (t) => {
  const { addr, upstream } = await setup(t, { searchDomains: ['db.svc.cluster.local', 'svc.cluster.local'] });
  const msg = await ask(addr, 'mysql.fqdn.example.db.svc.cluster.local');
  assert.deepEqual(
    msg.answers.map((a) => [a.name, a.type, a.data]),
    [
      ['mysql.fqdn.example.db.svc.cluster.local', DnsType.CNAME, 'mysql.fqdn.example'],
      ['mysql.fqdn.example', DnsType.A, '240.240.0.1'],
    ],
  );
  assert.deepEqual(upstream.seen, []);
});

test('forwards other names to the upstream resolver and relays its answer, NXDOMAIN included', async (t) => {
  const { proxy, addr, upstream } = await setup(t);
  const ok = await ask(addr, 'example.org');
  assert.deepEqual(
    ok.answers.map((a) => a.data),
    ['192.0.2.10'],
  );
  assert.equal(ok.header.aa, true, 'the upstream flags are relayed');
  const v6 = await ask(addr, 'v6.example.org', DnsType.AAAA);
  assert.deepEqual(
    v6.answers.map((a) => a.data),
    ['2001:db8::10'],
  );
  const nx = await ask(addr, 'nope.example.org');
  assert.equal(nx.header.rcode, DnsRcode.NXDOMAIN);
  assert.deepEqual(upstream.seen, ['udp example.org. 1', 'udp v6.example.org. 28', 'udp nope.example.org. 1']);
  assert.equal(proxy.stats.forwarded, 3);
});

test('a large upstream answer comes back truncated over UDP, and whole over TCP', async (t) => {
  const { addr, upstream } = await setup(t);
  const udp = await ask(addr, 'big.example.org');
  assert.equal(udp.header.tc, true, 'the upstream said TC; the proxy relays it');
  const [tcpRaw] = await queryTcp(addr, [encodeQuery(4242, 'big.example.org', DnsType.A)]);
  const tcp = decodeMessage(tcpRaw!);
  assert.equal(tcp.header.id, 4242);
  assert.equal(tcp.header.tc, false);
  assert.equal(tcp.answers.length, 60);
  assert.deepEqual(upstream.seen, ['udp big.example.org. 1', 'tcp big.example.org. 1'], 'TCP queries are forwarded over TCP');
  // With EDNS the client can take it over UDP.
  const edns = await ask(addr, 'big.example.org', DnsType.A, 1232);
  assert.equal(edns.header.tc, false);
  assert.equal(edns.answers.length, 60);
});

test('an upstream answer larger than the client can take over UDP is cut by the proxy with TC', async (t) => {
  const { proxy, addr } = await setup(t);
  const msg = await ask(addr, 'oversize.example.org');
  assert.equal(msg.header.tc, true);
  assert.equal(msg.answers.length, 0);
  assert.equal(msg.questions[0]!.name, 'oversize.example.org');
  assert.equal(proxy.stats.truncated, 1);
});

test('mesh answers over TCP, pipelined on one connection', async (t) => {
  const { addr } = await setup(t);
  const raws = await queryTcp(addr, [encodeQuery(11, 'mysql.fqdn.example', DnsType.A), encodeQuery(12, 'example.org', DnsType.A)]);
  const byId = new Map(raws.map((r) => [decodeMessage(r).header.id, decodeMessage(r)]));
  assert.deepEqual(
    byId.get(11)?.answers.map((a) => a.data),
    ['240.240.0.1'],
  );
  assert.deepEqual(
    byId.get(12)?.answers.map((a) => a.data),
    ['192.0.2.10'],
  );
});

test('an upstream that does not answer is skipped for the next; when none answers the client gets SERVFAIL in bounded time', async (t) => {
  const { proxy, addr, upstream } = await setup(t, { upstreamTimeoutMs: 300 }, 2);
  // The first upstream (127.0.0.53) is up but silent for this name; so is the second: SERVFAIL.
  const msg = await ask(addr, 'silent.example.org');
  assert.equal(msg.header.rcode, DnsRcode.SERVFAIL);
  assert.equal(proxy.stats.upstreamFailures, 1);
  assert.deepEqual(upstream.seen, ['udp silent.example.org. 1'], 'the second upstream was tried after the first timed out');
});

test('a dead first upstream falls through to the next one', async (t) => {
  const dead = await startTestDnsServer('127.0.0.60');
  const deadAddr = { address: dead.address, port: dead.port };
  await dead.close(); // nothing listens there now
  const live = await startTestDnsServer('127.0.0.61');
  t.after(() => live.close());
  const proxy = new DnsProxy({
    listen: { address: '127.0.0.1', port: 0 },
    upstream: [deadAddr, { address: live.address, port: live.port }],
    table: () => undefined,
    upstreamTimeoutMs: 300,
  });
  const addr = await proxy.start();
  t.after(() => proxy.close());
  const msg = await ask(addr, 'example.org');
  assert.deepEqual(
    msg.answers.map((a) => a.data),
    ['192.0.2.10'],
  );
  const [tcp] = await queryTcp(addr, [encodeQuery(5, 'example.org', DnsType.A)]);
  assert.deepEqual(
    decodeMessage(tcp!).answers.map((a) => a.data),
    ['192.0.2.10'],
  );
});

test('before the first name table push every query is forwarded; a new table applies at once', async (t) => {
  let current: NameTable | undefined;
  const { addr } = await setup(t, { table: () => current });
  assert.equal((await ask(addr, 'mysql.fqdn.example')).header.rcode, DnsRcode.NXDOMAIN);
  current = TABLE;
  assert.deepEqual(
    (await ask(addr, 'mysql.fqdn.example')).answers.map((a) => a.data),
    ['240.240.0.1'],
  );
  current = { table: { 'mysql.fqdn.example': { ips: ['240.240.0.9'], registry: 'External' } } };
  assert.deepEqual(
    (await ask(addr, 'mysql.fqdn.example')).answers.map((a) => a.data),
    ['240.240.0.9'],
  );
});

test('malformed queries get FORMERR; responses sent to the proxy are ignored', async (t) => {
  const { proxy, addr } = await setup(t);
  const bad = Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  const msg = decodeMessage(await queryUdp(addr, bad));
  assert.equal(msg.header.id, 9);
  assert.equal(msg.header.rcode, DnsRcode.FORMERR);
  assert.equal(proxy.stats.malformed, 1);
  const response = encodeQuery(10, 'x.example', DnsType.A);
  response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
  await assert.rejects(queryUdp(addr, response, 300), /no UDP answer/);
});

test('refuses a listen address that is not an IP, and a port in use', async (t) => {
  assert.throws(() => new DnsProxy({ listen: { address: 'localhost', port: 0 }, upstream: [], table: () => undefined }), {
    code: 'E_DNS_LISTEN',
  });
  const { addr } = await setup(t);
  const second = new DnsProxy({ listen: addr, upstream: [], table: () => undefined });
  await assert.rejects(second.start(), { code: 'E_DNS_LISTEN', message: /127\.0\.0\.1/ });
});

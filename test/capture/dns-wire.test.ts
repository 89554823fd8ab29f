// The DNS codec: round trips, compression, EDNS, truncation, and refusal of malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DnsType,
  decodeMessage,
  decodeQuery,
  encodeBareResponse,
  encodeMessage,
  encodeQuery,
  ipv6ToBytes,
  readName,
  type DnsHeader,
} from '../../src/capture/dns-wire.js';

const RESPONSE: DnsHeader = { id: 0x1234, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, ad: false, cd: false, rcode: 0 };

test('a query round-trips, with and without EDNS', () => {
  const plain = decodeQuery(encodeQuery(7, 'mysql.fqdn.example', DnsType.A));
  assert.equal(plain.header.id, 7);
  assert.equal(plain.header.rd, true);
  assert.deepEqual(plain.question, { name: 'mysql.fqdn.example', type: DnsType.A, class: 1 });
  assert.equal(plain.hasOpt, false);
  assert.equal(plain.udpSize, 512);
  const edns = decodeQuery(encodeQuery(8, 'mysql.fqdn.example.', DnsType.AAAA, { udpSize: 1232 }));
  assert.equal(edns.hasOpt, true);
  assert.equal(edns.udpSize, 1232);
});

test('answers are compressed: repeated owner names become pointers to the question', () => {
  const q = { name: 'svc.example', type: DnsType.A, class: 1 };
  const answers = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => ({ name: 'svc.example.', type: DnsType.A, ttl: 30, data: ip }));
  const buf = encodeMessage(RESPONSE, [q], answers);
  // header 12 + question (13 name + 4) + 3 × (2 pointer + 10 fixed + 4 address)
  assert.equal(buf.length, 12 + 17 + 3 * 16);
  const msg = decodeMessage(buf);
  assert.deepEqual(
    msg.answers.map((a) => [a.name, a.data, a.ttl]),
    [
      ['svc.example', '10.0.0.1', 30],
      ['svc.example', '10.0.0.2', 30],
      ['svc.example', '10.0.0.3', 30],
    ],
  );
});

test('CNAME and AAAA records encode and decode', () => {
  const q = { name: 'a.ns.svc.cluster.local', type: DnsType.AAAA, class: 1 };
  const buf = encodeMessage(
    RESPONSE,
    [q],
    [
      { name: 'a.ns.svc.cluster.local.', type: DnsType.CNAME, ttl: 30, data: 'a.example.' },
      { name: 'a.example.', type: DnsType.AAAA, ttl: 30, data: 'fd00::1' },
      { name: 'a.example.', type: DnsType.AAAA, ttl: 30, data: '::ffff:10.1.2.3' },
    ],
  );
  const msg = decodeMessage(buf);
  assert.equal(msg.answers[0]!.data, 'a.example');
  assert.equal(msg.answers[1]!.data, 'fd00::1');
  assert.equal(msg.answers[2]!.data, '::ffff:a01:203');
});

test('a response that does not fit is truncated whole records at a time and sets TC', () => {
  const q = { name: 'big.example', type: DnsType.A, class: 1 };
  const answers = Array.from({ length: 60 }, (_, i) => ({ name: 'big.example.', type: DnsType.A, ttl: 30, data: `10.0.0.${i}` }));
  const buf = encodeMessage(RESPONSE, [q], answers, { maxSize: 512 });
  assert.ok(buf.length <= 512, `${buf.length} bytes`);
  const msg = decodeMessage(buf);
  assert.equal(msg.header.tc, true);
  assert.equal(msg.answers.length, Math.floor((512 - 12 - 17) / 16));
  const whole = decodeMessage(encodeMessage(RESPONSE, [q], answers, { maxSize: 65535 }));
  assert.equal(whole.header.tc, false);
  assert.equal(whole.answers.length, 60);
});

test('a bare response keeps id and question and carries the rcode', () => {
  const query = decodeQuery(encodeQuery(99, 'x.example', DnsType.MX));
  const msg = decodeMessage(encodeBareResponse(query, 2));
  assert.equal(msg.header.id, 99);
  assert.equal(msg.header.qr, true);
  assert.equal(msg.header.rcode, 2);
  assert.deepEqual(msg.questions, [{ name: 'x.example', type: DnsType.MX, class: 1 }]);
});

test('malformed messages are refused with E_DNS_CODEC', () => {
  assert.throws(() => decodeMessage(Buffer.alloc(5)), { code: 'E_DNS_CODEC', message: /header/ });
  // A compression pointer that points at itself.
  const loop = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(() => decodeMessage(loop), { code: 'E_DNS_CODEC', message: /compression/ });
  // A question count with no question.
  assert.throws(() => decodeMessage(Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])), { code: 'E_DNS_CODEC' });
  // A label longer than the message.
  assert.throws(() => readName(Buffer.from([5, 97, 98]), 0), { code: 'E_DNS_CODEC' });
  assert.throws(() => encodeQuery(1, `${'a'.repeat(64)}.example`, DnsType.A), { code: 'E_DNS_CODEC', message: /1-63/ });
});

test('property: names and addresses survive encode → decode', () => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const name = fc.array(label, { minLength: 1, maxLength: 5 }).map((ls) => ls.join('.'));
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
  fc.assert(
    fc.property(name, fc.array(v4, { maxLength: 5 }), fc.array(v6, { maxLength: 5 }), fc.nat(0xffff), (n, a4, a6, id) => {
      const answers = [
        ...a4.map((data) => ({ name: n, type: DnsType.A, ttl: 30, data })),
        ...a6.map((data) => ({ name: n, type: DnsType.AAAA, ttl: 30, data })),
      ];
      const msg = decodeMessage(encodeMessage({ ...RESPONSE, id }, [{ name: n, type: DnsType.ANY, class: 1 }], answers));
      assert.equal(msg.header.id, id);
      assert.equal(msg.questions[0]!.name, n);
      assert.equal(msg.answers.length, a4.length + a6.length);
      assert.deepEqual(
        msg.answers.slice(0, a4.length).map((r) => r.data),
        a4,
      );
      for (let i = 0; i < a6.length; i++) assert.deepEqual(ipv6ToBytes(msg.answers[a4.length + i]!.data!), ipv6ToBytes(a6[i]!));
    }),
    { numRuns: 200 },
  );
});

test('a label with a dot inside is refused, never read as two labels of a mesh name', () => {
  // One label "mysql.fqdn", then "example": on the wire this is not mysql.fqdn.example.
  const name = Buffer.concat([Buffer.from([10]), Buffer.from('mysql.fqdn'), Buffer.from([7]), Buffer.from('example'), Buffer.from([0])]);
  const query = Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
  assert.throws(() => decodeQuery(query), { code: 'E_DNS_CODEC', message: /label contains "\."/ });
});

test('a question of a type and class the codec has no name for is echoed unchanged', () => {
  for (const [type, cls] of [
    [65, 1],
    [64, 3],
    [4660, 254],
  ] as const) {
    const question = { name: 'svc.example', type, class: cls };
    const header: DnsHeader = { ...RESPONSE, qr: false, aa: false, ra: false };
    const msg = decodeMessage(encodeBareResponse({ header, question }, 2));
    assert.deepEqual(msg.questions, [question]);
  }
});

test('names longer than 255 octets are refused on encode', () => {
  const long = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.');
  assert.throws(() => encodeQuery(1, long, DnsType.A), { code: 'E_DNS_CODEC', message: /longer than 255 octets/ });
});

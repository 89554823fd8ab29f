// The generated rule set, line by line. Expected lines are what istio-iptables produces for the same
// settings (REDIRECT mode), so a pod captured by meshgate has the ruleset an Istio user knows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCaptureRules, chainsByTable, resolveCaptureConfig, restoreLines } from '../../src/capture/iptables-rules.js';
import { canonicalRuleset, parseIptablesSave } from '../../src/capture/iptables-save.js';

const NAT_HEAD = ['* nat', '-N ISTIO_INBOUND', '-N ISTIO_REDIRECT', '-N ISTIO_IN_REDIRECT', '-N ISTIO_OUTPUT'];
const REDIRECT_CHAINS = [
  '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
  '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
  '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
];
const OWNER_1337 = [
  '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT',
  '-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN',
  '-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN',
  '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT',
  '-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN',
  '-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN',
];

test('no inbound ports and no outbound ranges: only the proxy/loopback exclusions (Istio "empty")', () => {
  const lines = restoreLines(buildCaptureRules({ inboundPorts: [], includeOutboundIpRanges: [] }).v4);
  assert.deepEqual(lines, [
    ...NAT_HEAD,
    ...REDIRECT_CHAINS,
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    ...OWNER_1337,
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    'COMMIT',
  ]);
});

test('meshgate defaults capture all inbound except the proxy admin ports and all outbound', () => {
  const lines = restoreLines(buildCaptureRules().v4);
  assert.deepEqual(lines, [
    ...NAT_HEAD,
    ...REDIRECT_CHAINS,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 15000 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    ...OWNER_1337,
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    '-A ISTIO_OUTPUT -j ISTIO_REDIRECT',
    'COMMIT',
  ]);
});

test('listed inbound ports are redirected one by one, in order (Istio "inbound-ports-include")', () => {
  const lines = restoreLines(buildCaptureRules({ inboundPorts: [32000, 31000], includeOutboundIpRanges: [] }).v4);
  assert.deepEqual(lines.slice(8, 11), [
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 32000 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_INBOUND -p tcp --dport 31000 -j ISTIO_IN_REDIRECT',
  ]);
});

test('excluded inbound ports return before the catch-all redirect', () => {
  const lines = restoreLines(buildCaptureRules({ excludeInboundPorts: [22, 15090] }).v4);
  const inbound = lines.filter((l) => l.startsWith('-A ISTIO_INBOUND'));
  assert.deepEqual(inbound, [
    '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15000 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 22 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
  ]);
});

test('excluded outbound ports return for TCP and UDP before the loopback rules; included CIDRs and ports redirect after exclusions', () => {
  const lines = restoreLines(
    buildCaptureRules({
      inboundPorts: [],
      excludeOutboundPorts: [3306],
      includeOutboundPorts: [32000],
      includeOutboundIpRanges: ['9.9.0.0/16', 'fd00::/8'],
      excludeOutboundIpRanges: ['1.1.0.0/16'],
    }).v4,
  );
  const out = lines.filter((l) => l.startsWith('-A ISTIO_OUTPUT'));
  assert.deepEqual(out.slice(0, 3), [
    '-A ISTIO_OUTPUT -p tcp --dport 3306 -j RETURN',
    '-A ISTIO_OUTPUT -p udp --dport 3306 -j RETURN',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
  ]);
  assert.deepEqual(out.slice(-4), [
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    '-A ISTIO_OUTPUT -d 1.1.0.0/16 -j RETURN',
    '-A ISTIO_OUTPUT -p tcp --dport 32000 -j ISTIO_REDIRECT',
    '-A ISTIO_OUTPUT -d 9.9.0.0/16 -j ISTIO_REDIRECT',
  ]);
  assert.ok(!lines.some((l) => l.includes('fd00::/8')), 'an IPv6 range must not reach the IPv4 rule set');
});

test('DNS capture for the resolv.conf servers: nat redirects to 15053 and raw conntrack zones (Istio "dns-uid-gid")', () => {
  const rs = buildCaptureRules({
    inboundPorts: [],
    includeOutboundIpRanges: [],
    dns: true,
    dnsServers: ['127.0.0.53'],
    proxyUid: ['3', '4'],
    proxyGid: ['1', '2'],
  });
  assert.deepEqual(restoreLines(rs.v4), [
    '* nat',
    '-N ISTIO_INBOUND',
    '-N ISTIO_REDIRECT',
    '-N ISTIO_IN_REDIRECT',
    '-N ISTIO_OUTPUT',
    '-N ISTIO_OUTPUT_DNS',
    ...REDIRECT_CHAINS,
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp -m multiport ! --dports 53,15008 -m owner --uid-owner 3 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --uid-owner 3 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --uid-owner 3 -j RETURN',
    '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp -m multiport ! --dports 53,15008 -m owner --uid-owner 4 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --uid-owner 4 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --uid-owner 4 -j RETURN',
    '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --gid-owner 1 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --gid-owner 1 -j RETURN',
    '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 2 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --gid-owner 2 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --gid-owner 2 -j RETURN',
    '-A ISTIO_OUTPUT -j ISTIO_OUTPUT_DNS',
    '-A ISTIO_OUTPUT_DNS -p tcp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-ports 15053',
    '-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-port 15053',
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    'COMMIT',
    '* raw',
    '-N ISTIO_OUTPUT_DNS',
    '-N ISTIO_INBOUND',
    '-A OUTPUT -j ISTIO_OUTPUT_DNS',
    '-A ISTIO_OUTPUT_DNS -p udp --dport 53 -m owner --uid-owner 3 -j CT --zone 1',
    '-A ISTIO_OUTPUT_DNS -p udp --sport 15053 -m owner --uid-owner 3 -j CT --zone 2',
    '-A ISTIO_OUTPUT_DNS -p udp --dport 53 -m owner --uid-owner 4 -j CT --zone 1',
    '-A ISTIO_OUTPUT_DNS -p udp --sport 15053 -m owner --uid-owner 4 -j CT --zone 2',
    '-A ISTIO_OUTPUT_DNS -p udp --dport 53 -m owner --gid-owner 1 -j CT --zone 1',
    '-A ISTIO_OUTPUT_DNS -p udp --sport 15053 -m owner --gid-owner 1 -j CT --zone 2',
    '-A ISTIO_OUTPUT_DNS -p udp --dport 53 -m owner --gid-owner 2 -j CT --zone 1',
    '-A ISTIO_OUTPUT_DNS -p udp --sport 15053 -m owner --gid-owner 2 -j CT --zone 2',
    '-A PREROUTING -j ISTIO_INBOUND',
    '-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d 127.0.0.53/32 -j CT --zone 2',
    '-A ISTIO_INBOUND -p udp --sport 53 -s 127.0.0.53/32 -j CT --zone 1',
    'COMMIT',
  ]);
  assert.deepEqual(rs.v6, [], 'no ip6tables rules unless ipv6 is set');
});

test('DNS capture without servers captures port 53 to any resolver (CNI mode)', () => {
  const lines = restoreLines(buildCaptureRules({ dns: true }).v4);
  assert.ok(lines.includes('-A ISTIO_OUTPUT_DNS -p tcp --dport 53 -j REDIRECT --to-ports 15053'));
  assert.ok(lines.includes('-A ISTIO_OUTPUT_DNS -p udp --dport 53 -j REDIRECT --to-port 15053'));
  assert.ok(lines.includes('-A ISTIO_OUTPUT_DNS -p udp --dport 53 -j CT --zone 2'));
  assert.ok(lines.includes('-A ISTIO_INBOUND -p udp --sport 53 -j CT --zone 1'));
  // The proxy's own upstream queries must return before the DNS jump, or they would loop back to it.
  const ownerReturn = lines.indexOf('-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN');
  const dnsJump = lines.indexOf('-A ISTIO_OUTPUT -j ISTIO_OUTPUT_DNS');
  assert.ok(ownerReturn >= 0 && dnsJump > ownerReturn, 'owner RETURN must precede the DNS jump');
});

test('a loopback range in the include list keeps app-to-self loopback traffic captured (Istio "loopback-outbound-iprange")', () => {
  const lines = restoreLines(buildCaptureRules({ inboundPorts: [], includeOutboundIpRanges: ['127.1.2.3/32'], proxyGid: [] }).v4);
  assert.ok(!lines.some((l) => l.includes('! --uid-owner')), 'no "-o lo ! owner RETURN" rule');
  assert.equal(lines.at(-2), '-A ISTIO_OUTPUT -d 127.1.2.3/32 -j ISTIO_REDIRECT');
});

test('IPv6 rule set uses ::1 and ::6 and only IPv6 ranges', () => {
  const rs = buildCaptureRules({ ipv6: true, inboundPorts: [], includeOutboundIpRanges: ['10.0.0.0/8', 'fd00::/8'] });
  const v6 = restoreLines(rs.v6);
  assert.ok(v6.includes('-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN'));
  assert.ok(v6.includes('-A ISTIO_OUTPUT -d ::1/128 -j RETURN'));
  assert.ok(v6.includes('-A ISTIO_OUTPUT -d fd00::/8 -j ISTIO_REDIRECT'));
  assert.ok(!v6.some((l) => l.includes('10.0.0.0/8')));
});

test('invalid settings are refused with E_CAPTURE_CONFIG naming the field', () => {
  assert.throws(() => resolveCaptureConfig({ outboundPort: 70000 }), { code: 'E_CAPTURE_CONFIG', message: /outboundPort/ });
  assert.throws(() => resolveCaptureConfig({ excludeOutboundIpRanges: ['10.0.0.0/33'] }), {
    code: 'E_CAPTURE_CONFIG',
    message: /10\.0\.0\.0\/33/,
  });
  assert.throws(() => resolveCaptureConfig({ excludeOutboundIpRanges: ['*'] }), { code: 'E_CAPTURE_CONFIG' });
  assert.throws(() => resolveCaptureConfig({ proxyUid: ['istio-proxy'] }), { code: 'E_CAPTURE_CONFIG', message: /istio-proxy/ });
  assert.throws(() => resolveCaptureConfig({ dnsServers: ['resolver.local'] }), { code: 'E_CAPTURE_CONFIG' });
});

test('cleanup knows every chain the rules use, per table', () => {
  const chains = chainsByTable(buildCaptureRules({ dns: true }).v4);
  assert.deepEqual(chains.get('nat'), ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT', 'ISTIO_OUTPUT_DNS']);
  assert.deepEqual(chains.get('raw'), ['ISTIO_OUTPUT_DNS', 'ISTIO_INBOUND']);
});

test('iptables-save comparison ignores comments, counters and (optionally) empty tables', () => {
  const a =
    '# Generated by iptables-save v1.8.9 on x\n*nat\n:PREROUTING ACCEPT [3:180]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -j RETURN\nCOMMIT\n# Completed\n';
  const b =
    '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [9:9]\n-A OUTPUT -p tcp -j RETURN\nCOMMIT\n';
  assert.notEqual(canonicalRuleset(a), canonicalRuleset(b));
  assert.equal(canonicalRuleset(a, { ignoreEmptyTables: true }), canonicalRuleset(b, { ignoreEmptyTables: true }));
  assert.equal(parseIptablesSave(b).get('nat')?.rules.length, 1);
});

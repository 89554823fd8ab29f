import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostMatches, hostSubsetOf, resolveShortHost, splitNamespacedHost } from '../../src/config/hosts.js';
import { protocolFromPortName } from '../../src/config/protocol.js';

test('resolveShortHost completes short names with the namespace and suffix, as Istio', () => {
  assert.equal(resolveShortHost('reviews', 'shop', 'cluster.local'), 'reviews.shop.svc.cluster.local');
  assert.equal(resolveShortHost('mysql.fqdn.example', 'shop', 'cluster.local'), 'mysql.fqdn.example');
  assert.equal(resolveShortHost('*', 'shop', 'cluster.local'), '*');
  assert.equal(resolveShortHost('10.0.0.1', 'shop', 'cluster.local'), '10.0.0.1');
  assert.equal(resolveShortHost('r', 'ns', 'corp.internal'), 'r.ns.svc.corp.internal');
});

test('hostMatches follows Istio wildcard semantics', () => {
  assert.ok(hostMatches('*.example.com', 'a.example.com'));
  assert.ok(hostMatches('*.example.com', 'a.b.example.com'));
  assert.ok(hostMatches('a.example.com', '*.example.com'));
  assert.ok(hostMatches('*', 'anything.at.all'));
  assert.ok(hostMatches('*.com', '*.example.com'));
  assert.ok(hostMatches('MySQL.fqdn.example', 'mysql.fqdn.example'));
  assert.ok(!hostMatches('*.example.com', 'example.com'));
  assert.ok(!hostMatches('a.example.com', 'b.example.com'));
  assert.ok(!hostMatches('*.example.org', '*.example.com'));
});

test('hostSubsetOf and namespaced gateway hosts', () => {
  assert.ok(hostSubsetOf('a.example.com', '*.example.com'));
  assert.ok(!hostSubsetOf('*.example.com', 'a.example.com'));
  assert.deepEqual(splitNamespacedHost('./mysql.fqdn.example', 'istio-system'), { namespace: 'istio-system', host: 'mysql.fqdn.example' });
  assert.deepEqual(splitNamespacedHost('mysql.fqdn.example', 'x'), { namespace: '*', host: 'mysql.fqdn.example' });
});

test('port protocols follow the name prefix, appProtocol first', () => {
  assert.equal(protocolFromPortName('tcp-mysql'), 'TCP');
  assert.equal(protocolFromPortName('tls-mysql'), 'TLS');
  assert.equal(protocolFromPortName('mysql'), 'MYSQL');
  assert.equal(protocolFromPortName('http2'), 'HTTP2');
  assert.equal(protocolFromPortName('grpc-web-x'), 'GRPC-WEB');
  assert.equal(protocolFromPortName('status-port'), undefined);
  assert.equal(protocolFromPortName('web', 'https'), 'HTTPS');
  assert.equal(protocolFromPortName('tcp', undefined, 'UDP'), 'UDP');
});

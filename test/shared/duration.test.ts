import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration as parseCaFlag } from '../../src/cli/ca.js';
import { parseDuration as parseConfigDuration } from '../../src/config/duration.js';
import { toProtoDuration } from '../../src/model/duration.js';
import { durationMs } from '../../src/proxy/duration.js';
import { formatProto3Duration, parseDurationMs, parseDurationNs } from '../../src/shared/duration.js';
import { decodeMessage, encodeMessage } from '../../src/xds/codec.js';

test('one grammar per kind of text: proto3 for xDS, Istio YAML, command-line flags', () => {
  assert.equal(parseDurationNs('1.5s', 'proto3'), 1_500_000_000n);
  assert.equal(parseDurationNs('-2.000000001s', 'proto3'), -2_000_000_001n);
  assert.equal(parseDurationMs('1h30m', 'istio'), 5_400_000);
  assert.equal(parseDurationMs('1.5s', 'istio'), 1500);
  assert.equal(parseDurationMs('.5ms', 'istio'), 0.5);
  assert.equal(parseDurationMs('0', 'istio'), 0);
  assert.equal(parseDurationNs('30d', 'flag'), 30n * 86_400n * 1_000_000_000n);
  assert.equal(parseDurationNs('3600', 'flag'), 3_600_000_000_000n);
  assert.equal(parseDurationNs(' 1h30m ', 'flag'), 5_400_000_000_000n);
  for (const bad of ['1m', '1.1234567890s', '1s2s', '10', '', '315576000001s'])
    assert.throws(() => parseDurationNs(bad, 'proto3'), { code: 'E_DURATION' }, bad);
  assert.throws(() => parseDurationNs('315576000001s', 'proto3'), { reason: 'range' });
  for (const bad of ['', '10', 's', '.s', '-1s', '10 s', '1d', 'abc'])
    assert.throws(() => parseDurationNs(bad, 'istio'), { code: 'E_DURATION' }, bad);
  assert.throws(() => parseDurationNs('-1s', 'istio'), {
    reason: 'negative',
    message: 'invalid duration "-1s": a duration must not be negative',
  });
  for (const bad of ['', 'x', '1y', '-1h']) assert.throws(() => parseDurationNs(bad, 'flag'), { code: 'E_DURATION' }, bad);
});

test('proto3 formatting keeps 0, 3, 6 or 9 fractional digits and the sign', () => {
  assert.equal(formatProto3Duration(10_000_000_000n), '10s');
  assert.equal(formatProto3Duration(500_000_000n), '0.500s');
  assert.equal(formatProto3Duration(1_000_500_000n), '1.000500s');
  assert.equal(formatProto3Duration(-1_000_000_001n), '-1.000000001s');
});

test('every layer reads durations through the shared parser, each with its own error', () => {
  assert.equal(parseConfigDuration('1m30s'), 90_000);
  assert.throws(() => parseConfigDuration('1d'), { code: 'E_CONFIG_DURATION' });
  assert.equal(toProtoDuration('1h30m'), '5400s');
  assert.equal(toProtoDuration('1ns'), '0.000000001s');
  assert.equal(durationMs('0.250s', 'l', 'f'), 250);
  assert.throws(() => durationMs('1m', 'listener "l"', 'idleTimeout'), {
    code: 'E_CONFIG_REJECTED',
    message: /listener "l": idleTimeout: "1m" is not a duration/,
  });
  assert.throws(() => durationMs('-1s', 'listener "l"', 'idleTimeout'), { message: /"-1s" is negative/ });
  assert.equal(parseCaFlag('87600h'), 315_360_000);
  assert.equal(parseCaFlag('1h30m'), 5400);
  assert.equal(parseCaFlag('30d'), 2_592_000);
  assert.throws(() => parseCaFlag('0s'), { code: 'E_USAGE', message: 'duration "0s" must be positive' });
  const bytes = encodeMessage('google.protobuf.Duration', '-1.000500s');
  assert.equal(decodeMessage('google.protobuf.Duration', bytes) as unknown, '-1.000500s');
  assert.throws(() => encodeMessage('google.protobuf.Duration', '1m'), { message: /expected a duration like "1.5s", got/ });
  assert.throws(() => encodeMessage('google.protobuf.Duration', '315576000001s'), { message: /out of range/ });
  assert.throws(() => parseCaFlag('soon'), { code: 'E_USAGE', message: '"soon" is not a duration (e.g. 87600h, 30d, 90m, 3600s)' });
});

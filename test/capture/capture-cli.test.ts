// `meshgate capture` as a user runs it: flags → rules, --dry-run output, errors, and (as root, in a
// namespace this test creates) apply then --cleanup through the command itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerCaptureCommand } from '../../src/cli/capture.js';
import { detectIptables, iptablesSave } from '../../src/capture/iptables.js';
import { canonicalRuleset } from '../../src/capture/iptables-save.js';
import { findExecutable } from '../../src/capture/command.js';
import { createNetns, netnsSkipReason } from './netns-harness.js';

async function capture(args: string[], resolvConf?: string): Promise<string> {
  let out = '';
  const program = new Command('meshgate').exitOverride();
  registerCaptureCommand(program, { out: (s) => (out += s), resolvConf });
  await program.parseAsync(['node', 'meshgate', 'capture', ...args]);
  return out;
}

test('--dry-run prints the iptables-restore input for the flags given', async () => {
  const out = await capture([
    '--dry-run',
    '--exclude-outbound-ports',
    '3306,22',
    '--inbound-ports',
    '8080',
    '--include-outbound-ip-ranges',
    '10.0.0.0/8',
  ]);
  const lines = out.trim().split('\n');
  assert.equal(lines[0], '# iptables-restore --noflush input (IPv4)');
  assert.ok(lines.includes('-A ISTIO_OUTPUT -p tcp --dport 3306 -j RETURN'));
  assert.ok(lines.includes('-A ISTIO_OUTPUT -p udp --dport 22 -j RETURN'));
  assert.ok(lines.includes('-A ISTIO_INBOUND -p tcp --dport 8080 -j ISTIO_IN_REDIRECT'));
  assert.ok(lines.includes('-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT'));
  assert.ok(!lines.includes('-A ISTIO_OUTPUT -j ISTIO_REDIRECT'), 'only the included range is captured');
  assert.equal(lines.at(-1), 'COMMIT');
});

test('--dns captures the resolvers named in resolv.conf; --capture-all-dns any resolver; -o json is machine-readable', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mg-capture-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const resolv = path.join(dir, 'resolv.conf');
  writeFileSync(resolv, '# pod resolver\nsearch ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a\n');
  const fromFile = await capture(['--dry-run', '--dns'], resolv);
  assert.ok(fromFile.includes('-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d 10.96.0.10/32 -j REDIRECT --to-port 15053'));
  const all = JSON.parse(await capture(['--dry-run', '--dns', '--capture-all-dns', '-o', 'json'], resolv)) as {
    iptables: string[];
    config: { dnsServers: string[] };
  };
  assert.deepEqual(all.config.dnsServers, []);
  assert.ok(all.iptables.includes('-A ISTIO_OUTPUT_DNS -p udp --dport 53 -j REDIRECT --to-port 15053'));
  const ipv6 = await capture(['--dry-run', '--dns', '--ipv6'], resolv);
  assert.ok(ipv6.includes('# ip6tables-restore --noflush input (IPv6)'));
  assert.ok(ipv6.includes('-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d fd00::a/128 -j REDIRECT --to-port 15053'));
});

test('bad flags fail with E_CAPTURE_CONFIG naming the flag', async () => {
  await assert.rejects(capture(['--dry-run', '--exclude-outbound-ports', '3306,http']), {
    code: 'E_CAPTURE_CONFIG',
    message: /--exclude-outbound-ports: "http"/,
  });
  await assert.rejects(capture(['--dry-run', '--outbound-port', '0']), { code: 'E_CAPTURE_CONFIG', message: /--outbound-port/ });
  await assert.rejects(capture(['--dry-run', '--iptables-backend', 'ebtables']), {
    code: 'E_CAPTURE_CONFIG',
    message: /auto, nft or legacy/,
  });
  await assert.rejects(capture(['--dry-run', '--include-outbound-ip-ranges', '10.0.0.0/40']), { code: 'E_CAPTURE_CONFIG' });
});

test('capture then capture --cleanup in a pod namespace leaves iptables-save as it was', { skip: netnsSkipReason() }, async (t) => {
  const ns = createNetns(t, 'cli');
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mg-capture-state-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const tools = await detectIptables(4, { netns: ns });
  const before = await iptablesSave(tools, { netns: ns });
  const applied = await capture(['--netns', ns, '--state-dir', stateDir, '--dns', '--capture-all-dns', '--exclude-outbound-ports', '5432']);
  t.after(async () => {
    // Safety net when an assertion below fails; removes nothing once cleaned up.
    await capture(['--netns', ns, '--state-dir', stateDir, '--cleanup']).catch(() => undefined);
  });
  assert.match(
    applied,
    /^capture: \d+ rules applied with iptables v[\d.]+ \((nf_tables|legacy)\) \(outbound → 15001, inbound → 15006, DNS → 15053\)/,
  );
  assert.match(await iptablesSave(tools, { netns: ns }), /--dport 5432 -j RETURN/);
  await assert.rejects(capture(['--netns', ns, '--state-dir', stateDir]), { code: 'E_IPTABLES_STATE' });
  const cleaned = await capture(['--netns', ns, '--state-dir', stateDir, '--cleanup']);
  assert.match(cleaned, /removed \(from the recorded rule set\)/);
  assert.match(cleaned, /-t nat -D OUTPUT -j ISTIO_OUTPUT/);
  const after = await iptablesSave(tools, { netns: ns });
  const exact = tools.backend === 'nft' && findExecutable('nft') !== undefined;
  assert.equal(canonicalRuleset(after, { ignoreEmptyTables: !exact }), canonicalRuleset(before, { ignoreEmptyTables: !exact }));
  assert.equal(await capture(['--netns', ns, '--state-dir', stateDir, '--cleanup']), 'capture: nothing to remove\n');
});

// The issue-14 families' own checkers can fail: a key in a dump is found whether it is PEM, base64
// (`inlineBytes`) or a key the soak knows; a family whose control fails counts nothing as handled (a
// refusal that the legitimate case shares proves nothing); an attack that succeeds is counted as not handled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '../../src/pki/keys.js';
import { SoakReport } from '../../soak/results.js';
import { runFamily } from '../../soak/hostile/family.js';
import { keyIn } from '../../soak/hostile/xds-trust.js';

test('keyIn finds a private key in a dump as PEM, as base64 inlineBytes, or by its body; a redacted dump has none', async () => {
  const { privateKeyPem } = await generateKeyPair('ec-p256');
  const secret = (privateKey: unknown): string =>
    JSON.stringify({ sds: [{ name: 'kubernetes://x', tlsCertificate: { certificateChain: { inlineBytes: 'AAAA' }, privateKey } }] });
  assert.equal(keyIn(secret({ inlineString: privateKeyPem }), []), 'a PEM private key');
  assert.equal(keyIn(secret({ inlineBytes: Buffer.from(privateKeyPem).toString('base64') }), []), 'a base64 private key');
  const body = privateKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  assert.equal(keyIn(secret({ inlineString: body }), [body.slice(0, 40)]), 'a known private key');
  assert.equal(keyIn(secret({ inlineString: '[redacted]' }), [body.slice(0, 40)]), undefined);
});

test('a family whose control fails counts nothing as handled; an attack that got through is not handled', async () => {
  const lines: string[] = [];
  const r = new SoakReport(true, (l) => lines.push(l));
  await runFamily(r, (l) => lines.push(l), 'f: control fails', {
    control: { what: 'the legitimate case', run: async () => ({ ok: false, why: 'refused as well' }) },
    variants: [{ what: 'attack', run: async () => ({ ok: true }) }],
    rounds: 3,
  });
  await runFamily(r, (l) => lines.push(l), 'f: one hole', {
    control: { what: 'the legitimate case', run: async () => ({ ok: true }) },
    variants: [
      { what: 'refused', run: async () => ({ ok: true }) },
      { what: 'got through', run: async () => ({ ok: false, why: 'issued' }) },
      { what: 'threw', run: () => Promise.reject(Object.assign(new Error('boom'), { code: 'E_X' })) },
    ],
  });
  assert.deepEqual(r.badInputs, [
    { family: 'f: control fails', tried: 3, handled: 0 },
    { family: 'f: one hole', tried: 3, handled: 1 },
  ]);
  assert.equal(r.passed(), false);
  assert.ok(lines.some((l) => l.includes('control "the legitimate case" failed, so the refusals prove nothing: refused as well')));
  assert.ok(lines.some((l) => l.includes('got through: issued') && l.includes('threw: threw [E_X] boom')));
});

// meshgate's check (MG0103): a DestinationRule's TLS origination must be what the Gateway serving that
// port expects. ISTIO_MUTUAL presents a mesh-CA workload certificate and expects one back; MUTUAL and
// SIMPLE use credentialName certificates. Origination ISTIO_MUTUAL toward a port a Gateway serves in
// MUTUAL (or the reverse) fails the handshake; so does plaintext toward a TLS-terminating port.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ClientTLSSettings, ConfigSnapshot, DestinationRule, Gateway, ServerTLSMode, TrafficPolicy } from '../config/types.js';
import { MG, findService, labelsMatch, report, type AnalyzeOptions } from './context.js';

export const name = 'destinationrule.TlsModeMismatchAnalyzer';
export const description = "a DestinationRule's TLS origination is what the serving Gateway accepts (MG0103)";

function mismatch(client: ClientTLSSettings['mode'], server: ServerTLSMode | undefined): string | undefined {
  const s = server ?? 'SIMPLE';
  if (s === 'PASSTHROUGH' || s === 'AUTO_PASSTHROUGH') return undefined;
  if (client === 'ISTIO_MUTUAL' && (s === 'MUTUAL' || s === 'SIMPLE' || s === 'OPTIONAL_MUTUAL'))
    return `originates ISTIO_MUTUAL (mesh CA certificates) but the server expects ${s} with credentialName certificates`;
  if ((client === 'MUTUAL' || client === 'SIMPLE') && s === 'ISTIO_MUTUAL')
    return `originates ${client} (credentialName certificates) but the server expects ISTIO_MUTUAL (a mesh CA client certificate)`;
  if (client === 'SIMPLE' && s === 'MUTUAL') return 'originates SIMPLE (no client certificate) but the server requires one (MUTUAL)';
  if (client === 'DISABLE') return `sends plaintext but the server terminates TLS (${s})`;
  return undefined;
}

interface Origination {
  tls: ClientTLSSettings;
  port?: number;
  field: string;
}

function originations(tp: TrafficPolicy | undefined, base: string): Origination[] {
  const out: Origination[] = [];
  if (tp?.tls?.mode) out.push({ tls: tp.tls, field: `${base}.tls.mode` });
  (tp?.portLevelSettings ?? []).forEach((p, i) => {
    if (p.tls?.mode) out.push({ tls: p.tls, port: p.port?.number, field: `${base}.portLevelSettings[${i}].tls.mode` });
  });
  return out;
}

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const dr of snap.destinationRules) {
    const svc = findService(snap, dr.spec.host);
    if (!svc?.spec.selector || Object.keys(svc.spec.selector).length === 0) continue;
    const gateways = snap.gateways.filter(
      (g) => g.spec.selector && Object.keys(g.spec.selector).length > 0 && labelsMatch(g.spec.selector, svc.spec.selector),
    );
    if (gateways.length === 0) continue;
    const all = [
      ...originations(dr.spec.trafficPolicy, 'spec.trafficPolicy'),
      ...(dr.spec.subsets ?? []).flatMap((s, i) => originations(s.trafficPolicy, `spec.subsets[${i}].trafficPolicy`)),
    ];
    for (const o of all) {
      const servicePorts = o.port !== undefined ? [o.port] : (svc.spec.ports ?? []).map((p) => p.port);
      for (const sp of servicePorts) {
        const target = (svc.spec.ports ?? []).find((p) => p.port === sp)?.targetPort;
        const listen = new Set([sp, ...(typeof target === 'number' ? [target] : [])]);
        check(snap, dr, gateways, o, sp, listen, out);
      }
    }
  }
  return out;
}

function check(
  snap: ConfigSnapshot,
  dr: DestinationRule,
  gateways: Gateway[],
  o: Origination,
  port: number,
  listen: Set<number>,
  out: Diagnostic[],
): void {
  for (const gw of gateways) {
    for (const s of gw.spec.servers) {
      if (!listen.has(s.port.number) || !s.tls) continue;
      const why = mismatch(o.tls.mode, s.tls.mode);
      if (why) {
        out.push(
          report(
            snap,
            dr,
            'Error',
            MG.TlsModeMismatch,
            `traffic to ${dr.spec.host}:${port} ${why}: Gateway ${gw.metadata.namespace}/${gw.metadata.name} serves port ${s.port.number} with tls mode ${s.tls.mode ?? 'SIMPLE'}; the TLS handshake will fail`,
            o.field,
          ),
        );
      }
    }
  }
}

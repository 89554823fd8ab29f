// Istio's service.PortNameAnalyzer (IST0118 PortNameIsNotUnderNamingConvention): a Service port whose
// protocol Istio cannot tell — no `appProtocol`, a name without a known prefix (`tcp-`, `tls-`, ...),
// not UDP and not a well-known TCP port (25, 53, 3306, 27017) — gets protocol sniffing. Istio's own
// Services (label `istio` or `release: istio`) are skipped, as Istio skips them.
import type { Diagnostic } from '../config/diagnostics.js';
import { protocolFromPortName } from '../config/protocol.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, report, type AnalyzeOptions } from './context.js';

export const name = 'service.PortNameAnalyzer';
export const description = 'Service port names tell Istio their protocol (IST0118)';

const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const svc of snap.services) {
    const labels = svc.metadata.labels ?? {};
    if ('istio' in labels || labels.release === 'istio') continue;
    // ExternalName Services have their own message in Istio (IST0156), not reported here.
    if (svc.spec.type === 'ExternalName') continue;
    (svc.spec.ports ?? []).forEach((p, i) => {
      const proto = protocolFromPortName(p.name, p.appProtocol, p.protocol);
      if (proto !== undefined || WELL_KNOWN_TCP_PORTS.has(p.port)) return;
      out.push(
        report(
          snap,
          svc,
          'Info',
          'IST0118',
          IST.portNameIsNotUnderNamingConvention(p.name ?? '', p.port, String(p.targetPort ?? p.port)),
          `spec.ports[${i}]`,
        ),
      );
    });
  }
  return out;
}

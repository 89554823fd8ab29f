// Istio's semantic validation (pkg/config/validation), one file per kind: the rules that span fields
// and that a schema cannot say. Errors are IST0106, warnings IST0133, as `istioctl analyze` reports them.
import { checkDestinationRule } from './destination-rule.js';
import { checkGateway } from './gateway.js';
import { checker, isDns1123Label, type Report } from './report.js';
import { checkAuthorizationPolicy, checkPeerAuthentication } from './security.js';
import { checkServiceEntry } from './service-entry.js';
import { checkVirtualService } from './virtual-service.js';

export type { Report, Seg } from './report.js';
export { isIpAddress } from './report.js';

export function checkSemantics(o: Record<string, unknown>, report: Report): void {
  const c = checker(report);
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const name = (o.metadata as { name: string }).name;
  switch (o.kind) {
    case 'ServiceEntry':
      return checkServiceEntry(c, spec);
    case 'VirtualService':
      return checkVirtualService(c, spec);
    case 'DestinationRule':
      return checkDestinationRule(c, spec);
    case 'Gateway':
      return checkGateway(c, name, spec);
    case 'PeerAuthentication':
      return checkPeerAuthentication(c, spec);
    case 'AuthorizationPolicy':
      return checkAuthorizationPolicy(c, spec);
    case 'Service':
      return checkService(c.error, spec);
    case 'Secret':
      return checkSecret(c.error, o);
    default:
      return undefined;
  }
}

/** Kubernetes' own Service rules: every port named when there are several, names unique labels. */
function checkService(error: (path: readonly (string | number)[], message: string) => void, spec: Record<string, unknown>): void {
  const ports = (spec.ports ?? []) as { name?: string }[];
  const names = new Map<string, number>();
  ports.forEach((p, i) => {
    if (ports.length > 1 && !p.name) error(['spec', 'ports', i, 'name'], 'a Service with more than one port must name every port');
    if (!p.name) return;
    if (!isDns1123Label(p.name)) error(['spec', 'ports', i, 'name'], `invalid port name "${p.name}": expected a lower-case RFC 1123 label`);
    else if (names.has(p.name))
      error(['spec', 'ports', i, 'name'], `port name "${p.name}" is already used by spec.ports[${names.get(p.name)}]`);
    else names.set(p.name, i);
  });
}

function checkSecret(error: (path: readonly (string | number)[], message: string) => void, o: Record<string, unknown>): void {
  for (const [k, v] of Object.entries((o.data ?? {}) as Record<string, string>)) {
    const clean = v.replace(/[\r\n]/g, '');
    if (clean.length % 4 !== 0) error(['data', k], `expected base64 data (length a multiple of 4), found ${clean.length} characters`);
  }
}

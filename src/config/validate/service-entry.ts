// Istio's ValidateServiceEntry (pkg/config/validation): hosts, addresses, ports, and what each
// resolution allows of endpoints. Messages are Istio's.
import { parseProtocol } from '../protocol.js';
import { fqdnProblem, ipSubnetProblem, isDns1123Label, isIpAddress, type Checker, type Seg } from './report.js';

interface Port {
  number: number;
  name?: string;
  protocol?: string;
}
interface Endpoint {
  address?: string;
  network?: string;
  ports?: Record<string, number>;
}

const isHttp = (p: string | undefined): boolean => p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB' || p === 'HTTP_PROXY';
const isTls = (p: string | undefined): boolean => p === 'HTTPS' || p === 'TLS';

export function checkServiceEntry(c: Checker, spec: Record<string, unknown>): void {
  const hosts = (spec.hosts ?? []) as string[];
  const addresses = (spec.addresses ?? []) as string[];
  const ports = (spec.ports ?? []) as Port[];
  const endpoints = spec.endpoints as Endpoint[] | undefined;
  // An unset resolution is NONE, the enum's zero value.
  const resolution = (spec.resolution as string | undefined) ?? 'NONE';

  if (spec.workloadSelector && Object.keys((spec.workloadSelector as { labels?: object }).labels ?? {}).length === 0)
    c.warn(
      ['spec', 'workloadSelector'],
      'service entry: workload selector specified without labels, will be applied to all services in namespace',
    );
  if (spec.workloadSelector && endpoints !== undefined && endpoints.length > 0)
    c.error(['spec', 'workloadSelector'], 'only one of WorkloadSelector or Endpoints is allowed in Service Entry');
  hosts.forEach((h, i) => {
    if (h === '*') c.error(['spec', 'hosts', i], `invalid host ${h}`);
  });

  let cidr = false;
  addresses.forEach((a, i) => {
    cidr ||= a.includes('/');
    const problem = ipSubnetProblem(a);
    if (problem) c.error(['spec', 'addresses', i], problem);
  });
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC')
    c.error(['spec', 'addresses'], 'CIDR addresses are allowed only for NONE/STATIC resolution types');

  const names = new Set<string>();
  const byName = new Map<string, number>();
  const byNumber = new Map<number, number>();
  ports.forEach((p, i) => {
    const name = p.name ?? '';
    if (byName.has(name))
      c.error(
        ['spec', 'ports', i, 'name'],
        `service entry port name ${JSON.stringify(name)} already defined (spec.ports[${byName.get(name)}])`,
      );
    else byName.set(name, i);
    names.add(name);
    if (byNumber.has(p.number))
      c.error(['spec', 'ports', i, 'number'], `service entry port ${p.number} already defined (spec.ports[${byNumber.get(p.number)}])`);
    else byNumber.set(p.number, i);
    if (!isDns1123Label(name)) c.error(['spec', 'ports', i, 'name'], `invalid port name: ${name}`);
  });

  switch (resolution) {
    case 'NONE':
      // With NONE the proxy forwards to the address the application dialled: endpoints are never used.
      if (endpoints !== undefined && endpoints.length > 0)
        c.error(['spec', 'endpoints'], 'no endpoints should be provided for resolution type none');
      if (spec.workloadSelector) c.warn(['spec', 'workloadSelector'], 'workloadSelector should not be set when resolution mode is NONE');
      break;
    case 'STATIC':
      (endpoints ?? []).forEach((ep, i) => checkStaticEndpoint(c, ep, names, ['spec', 'endpoints', i]));
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN': {
      if (!endpoints || endpoints.length === 0) {
        // Without endpoints the hosts themselves are resolved; a wildcard cannot be looked up.
        for (let i = 0; i < hosts.length; i++) {
          const problem = fqdnProblem(hosts[i] as string);
          if (problem) {
            c.error(
              ['spec', 'hosts', i],
              `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode ${resolution}, ${problem}`,
            );
            break;
          }
        }
      }
      if (resolution === 'DNS_ROUND_ROBIN' && (endpoints?.length ?? 0) > 1)
        c.error(['spec', 'endpoints'], `there must only be 0 or 1 endpoint for resolution mode ${resolution}`);
      (endpoints ?? []).forEach((ep, i) => {
        const a = ep.address ?? '';
        if (!isIpAddress(a) && fqdnProblem(a))
          c.error(['spec', 'endpoints', i, 'address'], `endpoint address ${JSON.stringify(a)} is not a valid FQDN or an IP address`);
        checkEndpointPorts(c, ep, names, ['spec', 'endpoints', i]);
      });
      if (
        addresses.length > 0 &&
        hosts.length > 1 &&
        ports.some((p) => !isHttp(parseProtocol(p.protocol ?? '')) && !isTls(parseProtocol(p.protocol ?? '')))
      )
        c.warn(['spec', 'hosts'], 'service entry can not have more than one host specified simultaneously with address and tcp port');
      break;
    }
    case 'DYNAMIC_DNS':
      hosts.forEach((h, i) => {
        if (!h.startsWith('*')) c.error(['spec', 'hosts', i], `host must be wildcarded for resolution mode ${resolution}`);
      });
      if (addresses.length > 0) c.error(['spec', 'addresses'], `addresses cannot be set for resolution type ${resolution}`);
      if (endpoints?.length) c.error(['spec', 'endpoints'], `endpoints cannot be set for resolution type ${resolution}`);
      break;
    default:
      break;
  }

  // Plain TCP carries no name to tell several hosts apart: only NONE (which ignores hosts) allows it.
  if (resolution !== 'NONE' && hosts.length > 1) {
    const i = ports.findIndex((p) => !isHttp(parseProtocol(p.protocol ?? '')) && !isTls(parseProtocol(p.protocol ?? '')));
    if (i >= 0) c.error(['spec', 'ports', i, 'protocol'], 'multiple hosts provided with non-HTTP, non-TLS ports');
  }
}

function checkStaticEndpoint(c: Checker, ep: Endpoint, servicePorts: Set<string>, at: Seg[]): void {
  const a = ep.address ?? '';
  if (a === '') {
    if (!ep.network) c.error([...at, 'address'], 'address is required');
    else c.warn([...at, 'address'], `address is unset with network ${JSON.stringify(ep.network)}`);
  } else if (a.startsWith('unix://')) {
    if (ep.ports && Object.keys(ep.ports).length > 0) c.error([...at, 'ports'], `unix endpoint ${a} must not include ports`);
    if (servicePorts.size !== 1) c.error([...at, 'address'], 'exactly 1 service port required for unix endpoints');
  } else if (!isIpAddress(a)) c.error([...at, 'address'], `endpoint address ${JSON.stringify(a)} is not a valid IP address`);
  checkEndpointPorts(c, ep, servicePorts, at);
}

function checkEndpointPorts(c: Checker, ep: Endpoint, servicePorts: Set<string>, at: Seg[]): void {
  for (const [name, port] of Object.entries(ep.ports ?? {})) {
    // Istio's message names the port number; the name is what the user has to fix, so it is added.
    if (!servicePorts.has(name))
      c.error(
        [...at, 'ports', name],
        `endpoint port ${port} is not defined by the service entry: no port is named ${JSON.stringify(name)} (ports: ${[...servicePorts].join(', ') || 'none'})`,
        true,
      );
    if (!isDns1123Label(name)) c.error([...at, 'ports', name], `invalid port name: ${name}`, true);
  }
}

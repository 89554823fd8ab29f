// The DNS proxy's view of the control plane's name table (NDS), with the same answers Istio's agent
// gives: every host the mesh knows by its full name; Kubernetes services also by `name.namespace`,
// `name.namespace.svc` and, from their own namespace, `name`; wildcard hosts for their subdomains; and
// names that the client's first search domain was appended to answered with a CNAME to the real host.
import net from 'node:net';
import type { NameTable } from '../envoy/name-table.js';
import { DnsType, type DnsAnswer } from './dns-wire.js';

/** Istio's agent answers with this TTL (seconds). */
export const MESH_DNS_TTL = 30;

export interface LookupContext {
  /** The proxy's namespace: short names of services in it resolve. */
  namespace?: string;
  /** The cluster DNS domain (`cluster.local`); Kubernetes hosts under `svc.<domain>` get short forms. */
  domainSuffix?: string;
  /** resolv.conf search domains; the first one is handled as Istio does. */
  searchDomains?: string[];
}

export interface LookupResult {
  /** Answers to send (may be empty: the name exists without records of that type). */
  answers: DnsAnswer[];
}

/** Lower-case, fully qualified (trailing dot) form used as the table key. */
export function fqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

export class DnsLookupTable {
  private readonly hosts = new Set<string>();
  private readonly name4 = new Map<string, string[]>();
  private readonly name6 = new Map<string, string[]>();
  private readonly cname = new Map<string, string>();

  constructor(nt: NameTable, ctx: LookupContext = {}) {
    const proxyDomain = `svc.${ctx.domainSuffix ?? 'cluster.local'}`;
    const search = ctx.searchDomains?.[0];
    for (const [hostname, info] of Object.entries(nt.table ?? {})) {
      const ips = info.ips ?? [];
      const v4 = ips.filter((ip) => net.isIPv4(ip));
      const v6 = ips.filter((ip) => net.isIPv6(ip));
      if (v4.length === 0 && v6.length === 0) continue;
      const alt =
        info.registry === 'Kubernetes' ? kubernetesAltHosts(hostname, info, ctx.namespace, proxyDomain) : new Set([fqdn(hostname)]);
      for (const h of alt) {
        this.hosts.add(h);
        if (v4.length > 0) this.name4.set(h, v4);
        if (v6.length > 0) this.name6.set(h, v6);
        // `curl mysql` from a pod with `search ns1.svc.cluster.local` first asks for
        // `mysql.ns1.svc.cluster.local.`; for hosts that are not already under that domain, answer it
        // with a CNAME to the host so the client does not wait on upstream NXDOMAINs.
        if (search !== undefined) {
          const s = fqdn(search);
          if (!h.endsWith(`.${s}`) && h !== s) {
            const expanded = `${h}${s}`;
            if (!alt.has(expanded)) {
              this.cname.set(expanded, h);
              this.hosts.add(expanded);
            }
          }
        }
      }
    }
  }

  /** The number of names answered (including short forms and search expansions). */
  get size(): number {
    return this.hosts.size;
  }

  /**
   * Answers for a question, or undefined when the name is not the mesh's (forward it upstream).
   * Like Istio, only A and AAAA are answered; other types for mesh names go upstream too. ANY is
   * answered with the A and AAAA records.
   */
  lookup(questionName: string, qtype: number): LookupResult | undefined {
    let host = fqdn(questionName);
    if (!this.hosts.has(host)) {
      const labels = host.slice(0, -1).split('.');
      let found = false;
      for (let i = 1; i < labels.length; i++) {
        const candidate = `*.${labels.slice(i).join('.')}.`;
        if (this.hosts.has(candidate)) {
          host = candidate;
          found = true;
          break;
        }
      }
      if (!found) return undefined;
    }
    if (qtype !== DnsType.A && qtype !== DnsType.AAAA && qtype !== DnsType.ANY) return undefined;
    const owner = questionName.endsWith('.') ? questionName : `${questionName}.`;
    const answers: DnsAnswer[] = [];
    let target = host;
    const cnameTarget = this.cname.get(host);
    if (cnameTarget !== undefined) {
      answers.push({ name: owner, type: DnsType.CNAME, ttl: MESH_DNS_TTL, data: cnameTarget });
      target = cnameTarget;
    }
    // Records are owned by the name asked (so a wildcard answers for the exact name), or by the CNAME target.
    const recordOwner = cnameTarget ?? owner;
    const v4 = qtype === DnsType.AAAA ? [] : (this.name4.get(target) ?? []);
    const v6 = qtype === DnsType.A ? [] : (this.name6.get(target) ?? []);
    const addresses: DnsAnswer[] = [
      ...v4.map((ip) => ({ name: recordOwner, type: DnsType.A, ttl: MESH_DNS_TTL, data: ip })),
      ...v6.map((ip) => ({ name: recordOwner, type: DnsType.AAAA, ttl: MESH_DNS_TTL, data: ip })),
    ];
    // Istio sends the CNAME only together with addresses.
    if (addresses.length === 0) return { answers: [] };
    return { answers: [...answers, ...addresses] };
  }
}

function kubernetesAltHosts(
  hostname: string,
  info: NameTable['table'][string],
  proxyNamespace: string | undefined,
  proxyDomain: string,
): Set<string> {
  const out = new Set<string>();
  if (hostname.endsWith('.')) return out;
  out.add(fqdn(hostname));
  if (!hostname.toLowerCase().endsWith(proxyDomain) || !info.shortname || !info.namespace) return out;
  out.add(fqdn(`${info.shortname}.${info.namespace}`));
  if (proxyNamespace === info.namespace) out.add(fqdn(info.shortname));
  out.add(fqdn(`${info.shortname}.${info.namespace}.svc`));
  for (const a of info.altHosts ?? []) out.add(fqdn(a));
  return out;
}

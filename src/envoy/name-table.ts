// Istio's DNS name table (NDS), pushed to each sidecar's DNS proxy: the host names the mesh knows and
// the addresses to answer with. Mirrors istio.networking.nds.v1.NameTable; meshgate serves it over ADS
// with the type URL below, as istiod does.

export const NameTableTypeUrl = 'type.googleapis.com/istio.networking.nds.v1.NameTable';

export interface NameInfo {
  /** IPv4/IPv6 addresses to answer with (a ServiceEntry's addresses, a Service's cluster IP, or an auto-allocated VIP). */
  ips: string[];
  /** 'Kubernetes' for Services, 'External' for ServiceEntries. */
  registry?: string;
  /** For Kubernetes services: the short name and namespace, so `mysql` and `mysql.default` resolve from that namespace. */
  shortname?: string;
  namespace?: string;
  altHosts?: string[];
}

export interface NameTable {
  table: Record<string, NameInfo>;
}

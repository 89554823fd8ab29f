// The DNS name table (NDS) a sidecar's DNS proxy answers from, as Istio's BuildNameTable: Kubernetes
// Services by cluster IP (with short name and namespace so `mysql` and `mysql.default` resolve), and
// ServiceEntry hosts by their `addresses` or, when they have none, an address auto-allocated from
// 240.240.0.0/16 (Istio's DNS auto-allocation range).
import { createHash } from 'node:crypto';
import type { ConfigSnapshot } from '../config/types.js';
import type { NameInfo, NameTable } from '../envoy/name-table.js';
import type { ProxyNode } from '../envoy/node.js';
import { byString } from './labels.js';
import { visibleServices, type MeshService } from './services.js';
import { pushContext } from './push-context.js';

const AUTO_PREFIX = [240, 240] as const;
const AUTO_SLOTS = 65534; // 240.240.0.1 … 240.240.255.254

function autoKey(svc: MeshService): string {
  return `${svc.namespace}/${svc.hostname}`;
}

function slotToIp(slot: number): string {
  const n = slot + 1;
  return `${AUTO_PREFIX[0]}.${AUTO_PREFIX[1]}.${n >> 8}.${n & 255}`;
}

/**
 * Auto-allocated VIPs keyed by `namespace/host`. Each host's preferred slot is a hash of its key, so
 * the address depends only on the configuration (not on the order objects arrived in, nor on a
 * restart); a collision moves the later key (in key order) to the next free slot.
 */
export function allocateAutoVips(services: readonly MeshService[]): Map<string, string> {
  const keys = [...new Set(services.filter(needsAutoVip).map(autoKey))].sort(byString);
  const used = new Set<number>();
  const out = new Map<string, string>();
  for (const key of keys) {
    let slot = createHash('sha256').update(key).digest().readUInt32BE(0) % AUTO_SLOTS;
    for (let i = 0; i < AUTO_SLOTS && used.has(slot); i++) slot = (slot + 1) % AUTO_SLOTS;
    used.add(slot);
    out.set(key, slotToIp(slot));
  }
  return out;
}

/** Istio allocates for ServiceEntry hosts without addresses, except wildcards and resolution NONE. */
function needsAutoVip(svc: MeshService): boolean {
  return (
    svc.registry === 'External' &&
    svc.vips.length === 0 &&
    svc.cidrs.length === 0 &&
    !svc.hostname.startsWith('*') &&
    svc.resolution !== 'NONE'
  );
}

export function buildNameTable(snapshot: ConfigSnapshot, node: ProxyNode): NameTable {
  const push = pushContext(snapshot);
  const registry = push.registry;
  // Allocate over the whole registry so a host's address does not depend on which proxy asks.
  const auto = push.memo('auto-vips', () => allocateAutoVips(registry));
  const table: Record<string, NameInfo> = {};
  for (const svc of visibleServices(registry, node.namespace)) {
    if (svc.hostname.startsWith('*')) continue;
    if (svc.registry === 'Kubernetes') {
      if (svc.vips.length === 0) continue; // headless: the pods' own DNS records answer
      table[svc.hostname] = { ips: [...svc.vips], registry: 'Kubernetes', shortname: svc.name, namespace: svc.namespace };
      continue;
    }
    const ips = svc.vips.length > 0 ? [...svc.vips] : auto.has(autoKey(svc)) ? [auto.get(autoKey(svc)) as string] : [];
    if (ips.length === 0) continue;
    table[svc.hostname] = { ips, registry: 'External' };
  }
  const sorted: Record<string, NameInfo> = {};
  for (const k of Object.keys(table).sort(byString)) sorted[k] = table[k] as NameInfo;
  return { table: sorted };
}

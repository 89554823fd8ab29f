// The listeners a lab's proxies could not bind. A proxy leaves such a listener out and serves the rest
// (as Envoy does), so the lab becomes ready; what is left out is read from each proxy's config_dump
// (`dynamic_listeners[].error_state` without an active state) and named in the summary. The usual
// cause: loopback mode as a user other than root binds every service port a sidecar sees on the pod's
// own address, and the default gateways' Services expose 80 and 443, below the kernel's
// net.ipv4.ip_unprivileged_port_start (1024 on most hosts; 0 in most containers).
import { readFileSync } from 'node:fs';

export interface UnboundListener {
  /** cluster/namespace/name of the proxy. */
  proxy: string;
  listener: string;
  address: string;
  /** The errno of the failed bind (EACCES, EADDRINUSE, ...), or UNKNOWN. */
  errno: string;
}

interface DumpedListener {
  name?: string;
  activeState?: unknown;
  errorState?: { details?: string; failedConfiguration?: { address?: { socketAddress?: { address?: string; portValue?: number } } } };
}

/** The listeners of one config_dump that failed and are not running an earlier version either. */
export function unboundListenersOf(proxy: string, dump: { configs?: Record<string, unknown>[] }): UnboundListener[] {
  const ld = dump.configs?.find((c) => String(c['@type'] ?? '').endsWith('ListenersConfigDump')) as
    { dynamicListeners?: DumpedListener[] } | undefined;
  return (ld?.dynamicListeners ?? []).flatMap((l) => {
    if (l.activeState || !l.errorState) return [];
    const sa = l.errorState.failedConfiguration?.address?.socketAddress;
    const errno = /\b(E[A-Z]+)\b/.exec(l.errorState.details ?? '')?.[1] ?? 'UNKNOWN';
    return [{ proxy, listener: l.name ?? '', address: sa ? `${sa.address}:${sa.portValue ?? 0}` : '', errno }];
  });
}

/** Asks each proxy's admin for its config_dump; a proxy that does not answer contributes nothing. */
export async function collectUnboundListeners(
  proxies: { cluster: string; namespace: string; name: string; adminUrl: string }[],
): Promise<UnboundListener[]> {
  const out: UnboundListener[] = [];
  for (const p of proxies) {
    try {
      const r = await fetch(`${p.adminUrl}/config_dump`, { signal: AbortSignal.timeout(5_000) });
      if (r.ok)
        out.push(
          ...unboundListenersOf(`${p.cluster}/${p.namespace}/${p.name}`, (await r.json()) as { configs?: Record<string, unknown>[] }),
        );
    } catch {
      // The summary note is best effort: the proxy's own log and config_dump still say it.
    }
  }
  return out;
}

function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    // Not Linux, or no /proc: the kernel's default.
    return 1024;
  }
}

/** One line for the summary naming what is not served and why; undefined when everything bound. */
export function unboundListenersHint(unbound: UnboundListener[], portStart = unprivilegedPortStart()): string | undefined {
  if (unbound.length === 0) return undefined;
  const byProxy = new Map<string, string[]>();
  for (const u of unbound) byProxy.set(u.proxy, [...(byProxy.get(u.proxy) ?? []), `${u.address} (${u.errno})`]);
  const list = [...byProxy].map(([p, as]) => `${p} ${as.join(', ')}`).join('; ');
  const denied = unbound.some((u) => u.errno === 'EACCES');
  const why = denied
    ? ` Ports below ${portStart} need root (net.ipv4.ip_unprivileged_port_start); to have them too: sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0, or run the lab as root.`
    : '';
  return `${unbound.length} listener(s) could not bind and are left out; their proxies serve the rest: ${list}.${why}`;
}

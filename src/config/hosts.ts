// Host names as Istio reads them (pkg/config/host): short names resolve against the namespace of the
// object that wrote them; `*` is a wildcard only as the whole name or the leftmost label (`*.example.com`).

/**
 * Istio's `ResolveShortnameToFQDN`: `reviews` in namespace `default` is `reviews.default.svc.cluster.local`.
 * Names with a dot, wildcards and IP addresses are left as they are.
 */
export function resolveShortHost(host: string, namespace: string, domainSuffix: string): string {
  if (host === '' || host === '*' || host.includes('.') || host.includes(':')) return host;
  if (host.startsWith('*')) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

/**
 * Istio's `host.Name.Matches`: true when the two names overlap, wildcards on either side included:
 * `*.example.com` matches `a.example.com` and `*.a.example.com`; `*` matches everything.
 */
export function hostMatches(patternHost: string, host: string): boolean {
  const a = patternHost.toLowerCase();
  const b = host.toLowerCase();
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw) {
    if (bw) {
      // both wildcards: the longer suffix must end with the shorter one
      return a.length > b.length ? a.slice(1).endsWith(b.slice(1)) : b.slice(1).endsWith(a.slice(1));
    }
    return b.endsWith(a.slice(1));
  }
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/**
 * Istio's `host.Name.SubsetOf`: every name `host` can match is also matched by `patternHost`.
 */
export function hostSubsetOf(host: string, patternHost: string): boolean {
  const h = host.toLowerCase();
  const p = patternHost.toLowerCase();
  if (p.startsWith('*')) {
    if (h.startsWith('*')) return h.slice(1).endsWith(p.slice(1));
    return h.endsWith(p.slice(1));
  }
  return !h.startsWith('*') && h === p;
}

/** A Gateway server host is `[namespace/]host`; `./` means the Gateway's namespace, `*` any. */
export function splitNamespacedHost(h: string, ownNamespace: string): { namespace: string; host: string } {
  const slash = h.indexOf('/');
  if (slash < 0) return { namespace: '*', host: h };
  const ns = h.slice(0, slash);
  return { namespace: ns === '.' ? ownNamespace : ns, host: h.slice(slash + 1) };
}

const LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** Istio's host validation: an FQDN or a short name, optionally with a leading `*` label. */
export function validateHostName(h: string): string | undefined {
  if (h === '*') return undefined;
  if (h.length === 0) return 'host must not be empty';
  if (h.length > 255) return `host is ${h.length} characters long; the limit is 255`;
  const labels = h.split('.');
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as string;
    if (i === 0 && l === '*') continue;
    if (i === 0 && l.startsWith('*')) return 'a wildcard must be the whole leftmost label ("*.example.com")';
    if (i === labels.length - 1 && l === '' && labels.length > 1) return 'a host must not end with a dot';
    if (!LABEL.test(l)) return `"${l}" is not a valid DNS label`;
  }
  return undefined;
}

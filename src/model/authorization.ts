// L4 AuthorizationPolicy → envoy.filters.network.rbac (Istio's pilot/pkg/security/authz builder, TCP
// flavour): DENY policies in one filter ahead of ALLOW policies in another; with any ALLOW policy, a
// connection matching none is refused. HTTP-only fields (methods, paths, hosts, request principals,
// request.* conditions) cannot be checked on a TCP connection: Istio drops such an ALLOW rule (it
// never matches) and ignores those fields in a DENY rule (so it matches more) — meshgate does the same.
import type { AuthorizationPolicy, AuthorizationRule, AuthorizationSource, ConfigSnapshot } from '../config/types.js';
import type { CidrRange, Filter, NetworkRbac, RbacPermission, RbacPolicy, RbacPrincipal, StringMatcher } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { byString, labelsMatch } from './labels.js';

function cidr(block: string): CidrRange {
  const [addr, len] = block.split('/');
  const v6 = (addr ?? '').includes(':');
  return { addressPrefix: addr ?? block, prefixLen: len !== undefined ? Number(len) : v6 ? 128 : 32 };
}

/** Istio's principal string matcher: `*` any, `prefix*`, `*suffix`, else exact; principals get `spiffe://`. */
function principalMatcher(v: string): StringMatcher {
  if (v === '*') return { safeRegex: { regex: '.+' } };
  if (v.endsWith('*')) return { prefix: `spiffe://${v.slice(0, -1)}` };
  if (v.startsWith('*')) return { suffix: v.slice(1) };
  return { exact: `spiffe://${v}` };
}

function namespaceMatcher(ns: string): StringMatcher {
  if (ns === '*') return { safeRegex: { regex: '.+' } };
  return { safeRegex: { regex: `.*/ns/${ns.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*` } };
}

function orIds(ids: RbacPrincipal[]): RbacPrincipal {
  return ids.length === 1 ? (ids[0] as RbacPrincipal) : { orIds: { ids } };
}

function orRules(rules: RbacPermission[]): RbacPermission {
  return rules.length === 1 ? (rules[0] as RbacPermission) : { orRules: { rules } };
}

const HTTP_ONLY_CONDITION = /^(request\.|source\.user|experimental\.)/;

export interface TcpRuleResult {
  policy?: RbacPolicy;
  /** Why an ALLOW rule was left out, or which fields a DENY rule ignored. */
  note?: string;
}

function sourcePrincipals(s: AuthorizationSource): RbacPrincipal[] {
  const parts: RbacPrincipal[] = [];
  const add = (vals: string[] | undefined, mk: (v: string) => RbacPrincipal, negate: boolean): void => {
    if (!vals || vals.length === 0) return;
    const p = orIds(vals.map(mk));
    parts.push(negate ? { notId: p } : p);
  };
  add(s.principals, (v) => ({ authenticated: { principalName: principalMatcher(v) } }), false);
  add(s.notPrincipals, (v) => ({ authenticated: { principalName: principalMatcher(v) } }), true);
  add(s.namespaces, (v) => ({ authenticated: { principalName: namespaceMatcher(v) } }), false);
  add(s.notNamespaces, (v) => ({ authenticated: { principalName: namespaceMatcher(v) } }), true);
  add(s.ipBlocks, (v) => ({ directRemoteIp: cidr(v) }), false);
  add(s.notIpBlocks, (v) => ({ directRemoteIp: cidr(v) }), true);
  add(s.remoteIpBlocks, (v) => ({ remoteIp: cidr(v) }), false);
  add(s.notRemoteIpBlocks, (v) => ({ remoteIp: cidr(v) }), true);
  return parts;
}

/** Translates one rule for a TCP filter chain, or explains why it cannot apply. */
export function tcpRule(rule: AuthorizationRule, action: 'ALLOW' | 'DENY'): TcpRuleResult {
  const httpFields: string[] = [];
  for (const f of rule.from ?? []) {
    if (f.source.requestPrincipals?.length) httpFields.push('from.source.requestPrincipals');
    if (f.source.notRequestPrincipals?.length) httpFields.push('from.source.notRequestPrincipals');
  }
  for (const t of rule.to ?? []) {
    const o = t.operation;
    for (const k of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const)
      if (o[k]?.length) httpFields.push(`to.operation.${k}`);
  }
  for (const w of rule.when ?? [])
    if (HTTP_ONLY_CONDITION.test(w.key) || !/^(source\.(ip|namespace|principal)|remote\.ip|destination\.(port|ip))$/.test(w.key))
      httpFields.push(`when ${w.key}`);
  if (httpFields.length > 0 && action === 'ALLOW')
    return { note: `ALLOW rule uses HTTP-only fields (${httpFields.join(', ')}) and never matches a TCP connection` };

  // from: any of the sources; each source requires all of its fields.
  const fromIds: RbacPrincipal[] = [];
  for (const f of rule.from ?? []) {
    const parts = sourcePrincipals(f.source);
    fromIds.push(parts.length === 0 ? { any: true } : parts.length === 1 ? (parts[0] as RbacPrincipal) : { andIds: { ids: parts } });
  }
  const perms: RbacPermission[] = [];
  for (const t of rule.to ?? []) {
    const parts: RbacPermission[] = [];
    const ports = (t.operation.ports ?? []).map((p) => ({ destinationPort: Number(p) }));
    if (ports.length) parts.push(orRules(ports));
    const notPorts = (t.operation.notPorts ?? []).map((p) => ({ destinationPort: Number(p) }));
    if (notPorts.length) parts.push({ notRule: orRules(notPorts) });
    perms.push(parts.length === 0 ? { any: true } : parts.length === 1 ? (parts[0] as RbacPermission) : { andRules: { rules: parts } });
  }
  const principals: RbacPrincipal[] = [fromIds.length === 0 ? { any: true } : orIds(fromIds)];
  const permissions: RbacPermission[] = [perms.length === 0 ? { any: true } : orRules(perms)];
  for (const w of rule.when ?? []) {
    const vals = w.values ?? [];
    const notVals = w.notValues ?? [];
    switch (w.key) {
      case 'source.ip':
        if (vals.length) principals.push(orIds(vals.map((v) => ({ directRemoteIp: cidr(v) }))));
        if (notVals.length) principals.push({ notId: orIds(notVals.map((v) => ({ directRemoteIp: cidr(v) }))) });
        break;
      case 'remote.ip':
        if (vals.length) principals.push(orIds(vals.map((v) => ({ remoteIp: cidr(v) }))));
        if (notVals.length) principals.push({ notId: orIds(notVals.map((v) => ({ remoteIp: cidr(v) }))) });
        break;
      case 'source.namespace':
        if (vals.length) principals.push(orIds(vals.map((v) => ({ authenticated: { principalName: namespaceMatcher(v) } }))));
        if (notVals.length)
          principals.push({ notId: orIds(notVals.map((v) => ({ authenticated: { principalName: namespaceMatcher(v) } }))) });
        break;
      case 'source.principal':
        if (vals.length) principals.push(orIds(vals.map((v) => ({ authenticated: { principalName: principalMatcher(v) } }))));
        if (notVals.length)
          principals.push({ notId: orIds(notVals.map((v) => ({ authenticated: { principalName: principalMatcher(v) } }))) });
        break;
      case 'destination.port':
        if (vals.length) permissions.push(orRules(vals.map((v) => ({ destinationPort: Number(v) }))));
        if (notVals.length) permissions.push({ notRule: orRules(notVals.map((v) => ({ destinationPort: Number(v) }))) });
        break;
      case 'destination.ip':
        if (vals.length) permissions.push(orRules(vals.map((v) => ({ destinationIp: cidr(v) }))));
        if (notVals.length) permissions.push({ notRule: orRules(notVals.map((v) => ({ destinationIp: cidr(v) }))) });
        break;
      default:
        break; // HTTP-only keys: already refused for ALLOW above, ignored for DENY as Istio does
    }
  }
  const policy: RbacPolicy = {
    permissions: permissions.length === 1 ? permissions : [{ andRules: { rules: permissions } }],
    principals: principals.length === 1 ? principals : [{ andIds: { ids: principals } }],
  };
  return { policy, ...(httpFields.length > 0 ? { note: `DENY rule ignores HTTP-only fields (${httpFields.join(', ')})` } : {}) };
}

/** Policies that select a workload: its namespace (selector matching or none) and the root namespace. */
export function policiesFor(snapshot: ConfigSnapshot, namespace: string, labels: Record<string, string>): AuthorizationPolicy[] {
  const root = snapshot.meshConfig.rootNamespace;
  return snapshot.authorizationPolicies
    .filter((p) => p.metadata.namespace === namespace || p.metadata.namespace === root)
    .filter((p) => labelsMatch(p.spec.selector?.matchLabels, labels))
    .sort((a, b) => byString(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`));
}

function rbacFilter(action: 'ALLOW' | 'DENY', policies: Record<string, RbacPolicy>): Filter {
  const cfg: NetworkRbac = { statPrefix: 'tcp.', rules: { action, policies } };
  return { name: 'envoy.filters.network.rbac', typedConfig: { '@type': TypeUrl.RBAC, ...cfg } };
}

/**
 * The RBAC filters for a workload's inbound chains: DENY first, then ALLOW, each present only when a
 * policy of that action selects the workload. AUDIT and CUSTOM policies have no L4 effect in meshgate.
 */
export function buildRbacFilters(snapshot: ConfigSnapshot, namespace: string, labels: Record<string, string>): Filter[] {
  const deny: Record<string, RbacPolicy> = {};
  const allow: Record<string, RbacPolicy> = {};
  let hasDeny = false;
  let hasAllow = false;
  for (const p of policiesFor(snapshot, namespace, labels)) {
    const action = p.spec.action ?? 'ALLOW';
    if (action !== 'ALLOW' && action !== 'DENY') continue;
    if (action === 'ALLOW') hasAllow = true;
    else hasDeny = true;
    (p.spec.rules ?? []).forEach((rule, i) => {
      const r = tcpRule(rule, action);
      // Istio's policy naming: ns[NAMESPACE]-policy[NAME]-rule[INDEX].
      if (r.policy) (action === 'ALLOW' ? allow : deny)[`ns[${p.metadata.namespace}]-policy[${p.metadata.name}]-rule[${i}]`] = r.policy;
    });
  }
  const filters: Filter[] = [];
  if (hasDeny) filters.push(rbacFilter('DENY', deny));
  if (hasAllow) filters.push(rbacFilter('ALLOW', allow));
  return filters;
}

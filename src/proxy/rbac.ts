// The RBAC network filter (envoy.filters.network.rbac): L4 authorization from the peer certificate's
// principal, the source address and the destination. Istio's AuthorizationPolicy for TCP becomes this.
// Evaluated once per connection after the TLS handshake, before any upstream connection is opened.
import type { NetworkRbac, RbacPermission, RbacPrincipal } from '../envoy/envoy-types.js';
import { ProxyConfigError } from './errors.js';
import { cidrContains, compileCidr, compileStringMatcher, ipBytes } from './matchers.js';

export interface RbacFacts {
  principal: string; // '' when the peer presented no certificate
  authenticated: boolean;
  remoteIp: string;
  directRemoteIp: string;
  destinationIp: string;
  destinationPort: number;
}

type Pred = (f: RbacFacts) => boolean;

function compilePrincipal(p: RbacPrincipal, res: string, f: string): Pred {
  if (!p || typeof p !== 'object') throw new ProxyConfigError(res, f, 'must be an object');
  if (p.any === true) return () => true;
  if (p.andIds) {
    const ps = p.andIds.ids.map((x, i) => compilePrincipal(x, res, `${f}.andIds.ids[${i}]`));
    return (x) => ps.every((q) => q(x));
  }
  if (p.orIds) {
    const ps = p.orIds.ids.map((x, i) => compilePrincipal(x, res, `${f}.orIds.ids[${i}]`));
    return (x) => ps.some((q) => q(x));
  }
  if (p.notId) {
    const q = compilePrincipal(p.notId, res, `${f}.notId`);
    return (x) => !q(x);
  }
  if (p.authenticated) {
    if (!p.authenticated.principalName) return (x) => x.authenticated;
    const m = compileStringMatcher(p.authenticated.principalName, res, `${f}.authenticated.principalName`);
    return (x) => x.authenticated && m(x.principal);
  }
  if (p.directRemoteIp) {
    const c = compileCidr(p.directRemoteIp, res, `${f}.directRemoteIp`);
    return (x) => cidrContains(c, ipBytes(x.directRemoteIp));
  }
  if (p.remoteIp) {
    const c = compileCidr(p.remoteIp, res, `${f}.remoteIp`);
    return (x) => cidrContains(c, ipBytes(x.remoteIp));
  }
  throw new ProxyConfigError(
    res,
    f,
    'unsupported principal (supported: any, andIds, orIds, notId, authenticated, directRemoteIp, remoteIp)',
  );
}

function compilePermission(p: RbacPermission, res: string, f: string): Pred {
  if (!p || typeof p !== 'object') throw new ProxyConfigError(res, f, 'must be an object');
  if (p.any === true) return () => true;
  if (p.andRules) {
    const ps = p.andRules.rules.map((x, i) => compilePermission(x, res, `${f}.andRules.rules[${i}]`));
    return (x) => ps.every((q) => q(x));
  }
  if (p.orRules) {
    const ps = p.orRules.rules.map((x, i) => compilePermission(x, res, `${f}.orRules.rules[${i}]`));
    return (x) => ps.some((q) => q(x));
  }
  if (p.notRule) {
    const q = compilePermission(p.notRule, res, `${f}.notRule`);
    return (x) => !q(x);
  }
  if (p.destinationPort !== undefined) {
    if (!Number.isInteger(p.destinationPort)) throw new ProxyConfigError(res, `${f}.destinationPort`, 'must be a port number');
    const port = p.destinationPort;
    return (x) => x.destinationPort === port;
  }
  if (p.destinationIp) {
    const c = compileCidr(p.destinationIp, res, `${f}.destinationIp`);
    return (x) => cidrContains(c, ipBytes(x.destinationIp));
  }
  throw new ProxyConfigError(res, f, 'unsupported permission (supported: any, andRules, orRules, notRule, destinationPort, destinationIp)');
}

export class RbacFilter {
  private readonly action: 'ALLOW' | 'DENY' | 'LOG' | undefined;
  private readonly policies: { name: string; perms: Pred[]; principals: Pred[] }[];

  constructor(cfg: NetworkRbac, res: string, f: string) {
    if (!cfg.rules) {
      this.action = undefined;
      this.policies = [];
      return;
    }
    if (!['ALLOW', 'DENY', 'LOG'].includes(cfg.rules.action))
      throw new ProxyConfigError(res, `${f}.rules.action`, `must be ALLOW, DENY or LOG, got ${JSON.stringify(cfg.rules.action)}`);
    this.action = cfg.rules.action;
    this.policies = Object.entries(cfg.rules.policies ?? {}).map(([name, p]) => ({
      name,
      perms: (p.permissions ?? []).map((x, i) => compilePermission(x, res, `${f}.rules.policies.${name}.permissions[${i}]`)),
      principals: (p.principals ?? []).map((x, i) => compilePrincipal(x, res, `${f}.rules.policies.${name}.principals[${i}]`)),
    }));
  }

  /** undefined when allowed, else Envoy's termination detail `rbac_access_denied_matched_policy[...]`. */
  check(x: RbacFacts): string | undefined {
    if (this.action === undefined || this.action === 'LOG') return undefined;
    const matched = this.policies.find((p) => p.perms.some((q) => q(x)) && p.principals.some((q) => q(x)));
    if (this.action === 'ALLOW') return matched ? undefined : 'rbac_access_denied_matched_policy[none]';
    return matched ? `rbac_access_denied_matched_policy[${matched.name}]` : undefined;
  }
}

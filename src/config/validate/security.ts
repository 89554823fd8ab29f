// Istio's ValidatePeerAuthentication and ValidateAuthorizationPolicy (pkg/config/validation), for the
// fields meshgate reads. Messages are Istio's.
import { checkWorkloadSelector, type Checker, type Seg } from './report.js';

export function checkPeerAuthentication(c: Checker, spec: Record<string, unknown>): void {
  const selector = spec.selector as { matchLabels?: Record<string, string> } | undefined;
  const plm = spec.portLevelMtls as Record<string, unknown> | undefined;
  // Port-level settings only make sense for the ports of a selected workload.
  if (Object.keys(selector?.matchLabels ?? {}).length === 0 && plm && Object.keys(plm).length > 0)
    c.error(['spec', 'portLevelMtls'], 'mesh/namespace peer authentication cannot have port level mTLS');
  if (plm && Object.keys(plm).length === 0)
    c.error(['spec', 'portLevelMtls'], 'port level mTLS, if defined, must have at least one element');
  for (const port of Object.keys(plm ?? {})) {
    const n = Number(port);
    if (!(n > 0 && n <= 65535)) c.error(['spec', 'portLevelMtls', port], 'port must be in range 1..65535', true);
  }
  checkWorkloadSelector(c, selector?.matchLabels, ['spec', 'selector'], selector !== undefined);
}

interface Rule {
  from?: { source?: Record<string, unknown[] | undefined> }[];
  to?: { operation?: Record<string, string[] | undefined> }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
}

export function checkAuthorizationPolicy(c: Checker, spec: Record<string, unknown>): void {
  const selector = spec.selector as { matchLabels?: Record<string, string> } | undefined;
  const targetRefs = spec.targetRefs as unknown[] | undefined;
  if ([selector !== undefined, spec.targetRef !== undefined, (targetRefs?.length ?? 0) > 0].filter(Boolean).length > 1)
    c.error(['spec'], 'only one of targetRefs or workloadSelector can be set');
  checkWorkloadSelector(c, selector?.matchLabels, ['spec', 'selector'], selector !== undefined);
  const action = (spec.action as string | undefined) ?? 'ALLOW';
  const rules = spec.rules as Rule[] | undefined;
  const provider = spec.provider as { name?: string } | undefined;
  if (action === 'CUSTOM') {
    if (rules === undefined)
      c.error(
        ['spec'],
        'CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
      );
    else if (!provider?.name) c.error(['spec', 'provider'], '`provider.name` must not be empty');
  }
  if (provider && action !== 'CUSTOM') c.error(['spec', 'provider'], `\`provider\` must not be with non CUSTOM action, found ${action}`);
  // A DENY policy with no rules matches nothing: it looks protective and denies nothing.
  if (action === 'DENY' && rules === undefined)
    c.error(
      ['spec'],
      'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
    );
  (rules ?? []).forEach((rule, i) => checkRule(c, rule, i, action));
}

function checkRule(c: Checker, rule: Rule, i: number, action: string): void {
  const at: Seg[] = ['spec', 'rules', i];
  if (rule.from !== undefined && rule.from.length === 0) c.error([...at, 'from'], `\`from\` must not be empty, found at rule ${i}`);
  let tcpInFrom = false;
  let tcpInTo = false;
  let fromExists = false;
  let toExists = false;
  (rule.from ?? []).forEach((f, j) => {
    const src = f.source;
    if (!src) {
      c.error([...at, 'from', j], `\`from.source\` must not be nil, found at rule ${i}`);
      return;
    }
    fromExists = true;
    if (Object.values(src).every((v) => !v || v.length === 0))
      c.error([...at, 'from', j, 'source'], `\`from.source\` must not be empty, found at rule ${i}`);
    const count = (k: string): number => src[k]?.length ?? 0;
    if (
      count('principals') + count('notPrincipals') + count('namespaces') + count('notNamespaces') > 0 &&
      count('serviceAccounts') + count('notServiceAccounts') > 0
    )
      c.error([...at, 'from', j, 'source'], `cannot set serviceAccounts with namespaces or principals, found at rule ${i}`);
    for (const k of [
      'principals',
      'notPrincipals',
      'ipBlocks',
      'notIpBlocks',
      'namespaces',
      'notNamespaces',
      'remoteIpBlocks',
      'notRemoteIpBlocks',
      'serviceAccounts',
      'notServiceAccounts',
    ])
      if (src[k] !== undefined) tcpInFrom = true;
  });
  if (rule.to !== undefined && rule.to.length === 0) c.error([...at, 'to'], `\`to\` must not be empty, found at rule ${i}`);
  (rule.to ?? []).forEach((t, j) => {
    const op = t.operation;
    if (!op) {
      c.error([...at, 'to', j], `\`to.operation\` must not be nil, found at rule ${i}`);
      return;
    }
    toExists = true;
    if (Object.values(op).every((v) => !v || v.length === 0))
      c.error([...at, 'to', j, 'operation'], `\`to.operation\` must not be empty, found at rule ${i}`);
    for (const k of ['ports', 'notPorts'] as const) {
      (op[k] ?? []).forEach((p, n) => {
        // security.ValidatePorts: a decimal number no larger than 65535.
        if (!/^\d+$/.test(p) || Number(p) > 65535)
          c.error([...at, 'to', j, 'operation', k, n], `bad port (${p}): ${/^\d+$/.test(p) ? 'out of range' : 'invalid syntax'}`);
      });
      if (op[k] !== undefined) tcpInTo = true;
    }
  });
  (rule.when ?? []).forEach((w, j) => {
    if (w.key === '') c.error([...at, 'when', j, 'key'], '`key` must not be empty');
    else if (!w.values?.length && !w.notValues?.length)
      c.error([...at, 'when', j], `at least one of \`values\` or \`notValues\` must be set for key ${w.key}`);
  });
  // HTTP-only attributes in a DENY rule cannot be evaluated on TCP, so Istio denies all TCP traffic.
  if (action === 'DENY' && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo)))
    c.warn(
      at,
      'configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port',
    );
}

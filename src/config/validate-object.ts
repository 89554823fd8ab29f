// Checks one decoded document against its kind's schema and turns it into a typed ConfigObject with
// Istio's defaults applied. Unknown fields are Warnings (as kubectl), wrong types, bad enums, missing
// required fields and Istio's own validation rules are Errors. Every diagnostic names the field.
import type { z } from 'zod';
import { DiagnosticCodes, formatFieldPath, type Diagnostic } from './diagnostics.js';
import type { FieldLocator } from './positions.js';
import { protocolFromPortName } from './protocol.js';
import { KIND_SCHEMAS } from './schema/index.js';
import { checkSemantics, type Report } from './validate/index.js';
import { checkUnservedFields } from './unserved-fields.js';
import type { ConfigObject } from './types.js';

type Seg = string | number;

export interface ValidateContext {
  file: string;
  locator: FieldLocator;
}

export interface ValidateResult {
  object?: ConfigObject;
  diagnostics: Diagnostic[];
  /** True for a Kustomization document: not config, handled by the directory loader. */
  kustomization?: boolean;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === 'number') return `number ${v}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

function valueAt(root: unknown, path: readonly Seg[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

const EXPECTED_NAMES: Record<string, string> = {
  number: 'integer',
  int: 'integer',
  string: 'string',
  boolean: 'boolean',
  object: 'mapping',
  record: 'mapping',
  array: 'list',
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** `Kind/namespace/name` for messages, from whatever the raw document says. */
export function rawObjectKey(raw: unknown): string | undefined {
  if (!isPlainObject(raw) || typeof raw.kind !== 'string') return undefined;
  const md = isPlainObject(raw.metadata) ? raw.metadata : {};
  const name = typeof md.name === 'string' ? md.name : '<unnamed>';
  const ns = raw.kind === 'Namespace' ? '' : typeof md.namespace === 'string' && md.namespace !== '' ? md.namespace : 'default';
  return `${raw.kind}/${ns}/${name}`;
}

export function validateObject(raw: unknown, ctx: ValidateContext): ValidateResult {
  const diagnostics: Diagnostic[] = [];
  const objectKey = rawObjectKey(raw);
  const report = (level: Diagnostic['level'], code: string, path: readonly Seg[], message: string, key = false): void => {
    const pos = ctx.locator.locate(path, { key });
    const d: Diagnostic = { level, code, message, file: ctx.file, line: pos.line, column: pos.column };
    if (objectKey) d.object = objectKey;
    if (path.length) d.field = formatFieldPath(path);
    diagnostics.push(d);
  };
  if (!isPlainObject(raw)) {
    report(
      'Error',
      DiagnosticCodes.SchemaValidationError,
      [],
      `expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found ${describeValue(raw)}`,
    );
    return { diagnostics };
  }
  if (typeof raw.kind !== 'string' || raw.kind === '') {
    report(
      'Error',
      DiagnosticCodes.SchemaValidationError,
      ['kind'],
      raw.kind === undefined ? 'required field "kind" is missing' : `expected string, found ${describeValue(raw.kind)}`,
    );
    return { diagnostics };
  }
  if (typeof raw.apiVersion !== 'string' || raw.apiVersion === '') {
    report(
      'Error',
      DiagnosticCodes.SchemaValidationError,
      ['apiVersion'],
      raw.apiVersion === undefined ? 'required field "apiVersion" is missing' : `expected string, found ${describeValue(raw.apiVersion)}`,
    );
    return { diagnostics };
  }
  if (raw.kind === 'Kustomization' && raw.apiVersion.startsWith('kustomize.config.k8s.io/')) return { diagnostics, kustomization: true };
  const ks = KIND_SCHEMAS[raw.kind];
  if (!ks) {
    report(
      'Warning',
      DiagnosticCodes.UnknownKind,
      ['kind'],
      `kind "${raw.kind}" (${raw.apiVersion}) is not one meshgate reads; the object is ignored`,
    );
    return { diagnostics };
  }
  if (!ks.apiVersions.includes(raw.apiVersion)) {
    report(
      'Error',
      DiagnosticCodes.SchemaValidationError,
      ['apiVersion'],
      `${raw.kind} is not served as "${raw.apiVersion}"; expected one of ${ks.apiVersions.join(', ')}`,
    );
    return { diagnostics };
  }

  let parsed = ks.schema.safeParse(raw);
  let errors = false;
  if (!parsed.success) {
    const unknown: { path: Seg[]; key: string }[] = [];
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((p): p is Seg => typeof p !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) {
          unknown.push({ path, key: k });
          report('Warning', DiagnosticCodes.SchemaWarning, [...path, k], `unknown field "${k}"; it is ignored`, true);
        }
        continue;
      }
      errors = true;
      report('Error', DiagnosticCodes.SchemaValidationError, path, issueMessage(issue, valueAt(raw, path), path));
    }
    if (errors) return { diagnostics };
    // Only unknown fields: drop them (kubectl prunes them too) and read the rest.
    const clone = structuredClone(raw);
    for (const u of unknown) {
      const parent = valueAt(clone, u.path);
      if (isPlainObject(parent)) delete parent[u.key];
    }
    parsed = ks.schema.safeParse(clone);
    if (!parsed.success) {
      report(
        'Error',
        DiagnosticCodes.SchemaValidationError,
        [],
        `internal: object did not validate after unknown fields were removed: ${parsed.error.message}`,
      );
      return { diagnostics };
    }
  }
  const data = parsed.data as Record<string, unknown>;
  const before = diagnostics.length;
  checkSemantics(data, report);
  if (diagnostics.slice(before).some((d) => d.level === 'Error')) return { diagnostics };
  checkUnservedFields(data, report);
  return { object: normalize(data, report), diagnostics };
}

function issueMessage(issue: z.core.$ZodIssue, value: unknown, path: readonly Seg[]): string {
  const found = describeValue(value);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
      if (value === undefined) return `required field "${String(path[path.length - 1] ?? '')}" is missing (expected ${expected})`;
      return `expected ${expected}, found ${found}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}, found ${found}`;
    case 'too_small':
    case 'too_big':
      if (/^Too (small|big)/.test(issue.message)) {
        const bound = issue.code === 'too_small' ? `>= ${String(issue.minimum)}` : `<= ${String(issue.maximum)}`;
        return `expected a value ${bound}, found ${found}`;
      }
      return `${issue.message}, found ${found}`;
    case 'invalid_union':
      return issue.message === 'Invalid input' ? `unexpected ${found}` : `${issue.message}, found ${found}`;
    case 'custom':
      return `${issue.message}, found ${found}`;
    default:
      return `${issue.message}, found ${found}`;
  }
}

export { isIpAddress } from './validate/index.js';

/** Istio's and Kubernetes' defaults, so that downstream code never has to guess. */
function normalize(o: Record<string, unknown>, _report: Report): ConfigObject {
  const md = o.metadata as Record<string, unknown>;
  // Namespaces are cluster-scoped: their key is `Namespace//name`. Everything else defaults to `default`.
  if (o.kind === 'Namespace') md.namespace = '';
  else if (md.namespace === undefined || md.namespace === '') md.namespace = 'default';
  const spec = o.spec as Record<string, unknown> | undefined;
  switch (o.kind) {
    case 'ServiceEntry': {
      const s = spec as Record<string, unknown>;
      s.exportTo ??= ['*'];
      s.location ??= 'MESH_EXTERNAL';
      s.resolution ??= 'NONE';
      for (const p of (s.ports ?? []) as { name: string; protocol?: string }[]) {
        if (p.protocol !== undefined) p.protocol = p.protocol.toUpperCase();
        else {
          const derived = protocolFromPortName(p.name);
          if (derived !== undefined) p.protocol = derived;
        }
      }
      break;
    }
    case 'VirtualService':
    case 'DestinationRule':
      (spec as Record<string, unknown>).exportTo ??= ['*'];
      break;
    case 'Gateway':
      for (const s of ((spec as Record<string, unknown>).servers ?? []) as { port: { protocol: string } }[])
        s.port.protocol = s.port.protocol.toUpperCase();
      break;
    case 'Sidecar':
      for (const l of ((spec as Record<string, unknown>).egress ?? []) as { port?: { protocol?: string } }[])
        if (l.port?.protocol) l.port.protocol = l.port.protocol.toUpperCase();
      break;
    case 'PeerAuthentication':
    case 'AuthorizationPolicy':
      o.spec ??= {};
      break;
    case 'Service': {
      o.spec ??= {};
      for (const p of ((o.spec as Record<string, unknown>).ports ?? []) as {
        port: number;
        protocol?: string;
        targetPort?: number | string;
      }[]) {
        p.protocol ??= 'TCP'; // Kubernetes' default
        p.targetPort ??= p.port; // Kubernetes' default: the target port is the port
      }
      break;
    }
    case 'Secret': {
      // Kubernetes merges stringData over data; keep only the decoded bytes.
      const out: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries((o.data ?? {}) as Record<string, string>))
        out[k] = Buffer.from(v.replace(/[\r\n]/g, ''), 'base64');
      for (const [k, v] of Object.entries((o.stringData ?? {}) as Record<string, string>)) out[k] = Buffer.from(v, 'utf8');
      delete o.stringData;
      o.data = out;
      break;
    }
    default:
      break;
  }
  return o as unknown as ConfigObject;
}

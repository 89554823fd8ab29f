// The protoc-gen-validate rules Envoy annotates its API with (`(validate.rules)`, `(validate.required)`),
// checked on protobufjs-native messages so that the control plane never sends, and the proxy never
// accepts, a resource a real Envoy would reject. A subset: the rule kinds Envoy's v3 API uses on the
// messages meshgate exchanges (required messages and oneofs, string/bytes lengths and affixes, numeric
// bounds, defined enums, duration bounds, repeated and map sizes, item rules).
import protobuf from 'protobufjs';

type Rules = Record<string, Record<string, unknown> | undefined> & { message?: { required?: boolean; skip?: boolean } };

export class ValidationError extends Error {
  readonly code = 'E_XDS_INVALID';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export function fieldRules(field: protobuf.Field): Rules | undefined {
  const parsed = field.parsedOptions as Record<string, unknown>[] | null | undefined;
  if (!parsed) return undefined;
  for (const opt of parsed) {
    if (opt && typeof opt === 'object' && '(validate.rules)' in opt) return opt['(validate.rules)'] as Rules;
  }
  return undefined;
}

/** True when a field is set in a native message, with proto3 presence semantics. */
export function isPresent(field: protobuf.Field, msg: Record<string, unknown>): boolean {
  if (!Object.prototype.hasOwnProperty.call(msg, field.name)) return false;
  const v = msg[field.name];
  if (v === null || v === undefined) return false;
  if (field.map) return Object.keys(v as object).length > 0;
  if (field.repeated) return (v as unknown[]).length > 0;
  if (field.resolvedType instanceof protobuf.Type || field.partOf) return true;
  return !isDefaultScalar(v);
}

export function isDefaultScalar(v: unknown): boolean {
  if (v === 0 || v === '' || v === false) return true;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v)
    return (v as { low: number; high: number }).low === 0 && (v as { high: number }).high === 0;
  return false;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (typeof v === 'object' && v !== null && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return NaN;
}

const WRAPPERS = new Set([
  '.google.protobuf.DoubleValue',
  '.google.protobuf.FloatValue',
  '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value',
  '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue',
  '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);

/** Checks every field rule and required oneof of one message (not recursing: the codec calls this per message). */
export function validateMessage(
  type: protobuf.Type,
  msg: Record<string, unknown>,
  path: string,
  jsonName: (f: protobuf.Field) => string,
): void {
  for (const oneof of type.oneofsArray) {
    if (oneof.options?.['(validate.required)'] !== true) continue;
    if (!oneof.fieldsArray.some((f) => isPresent(f, msg))) {
      throw new ValidationError(path || type.fullName.slice(1), `one of ${oneof.fieldsArray.map(jsonName).join(', ')} is required`);
    }
  }
  for (const field of type.fieldsArray) {
    const rules = fieldRules(field);
    if (!rules) continue;
    const fpath = `${path ? `${path}.` : ''}${jsonName(field)}`;
    const present = isPresent(field, msg);
    if (rules.message?.skip) continue;
    if (field.partOf && !present) continue; // PGV checks a oneof member (or proto3 optional) only when it is set
    if (rules.message?.required && !present) throw new ValidationError(fpath, 'is required');
    const value = msg[field.name];
    if (field.map) {
      checkMap(rules, (value ?? {}) as Record<string, unknown>, fpath, field);
    } else if (field.repeated) {
      checkRepeated(rules, (value ?? []) as unknown[], fpath, field);
    } else if (field.resolvedType instanceof protobuf.Type) {
      if (present) checkMessageValue(rules, field.resolvedType, value as Record<string, unknown>, fpath);
      else if (
        (rules.duration as { required?: boolean } | undefined)?.required ||
        (rules.any as { required?: boolean } | undefined)?.required
      ) {
        throw new ValidationError(fpath, 'is required');
      }
    } else {
      checkScalar(rules, field, value ?? field.typeDefault, fpath);
    }
  }
}

function checkRepeated(rules: Rules, items: unknown[], path: string, field: protobuf.Field): void {
  const r = rules.repeated as
    { min_items?: number; max_items?: number; unique?: boolean; items?: Rules; ignore_empty?: boolean } | undefined;
  if (!r) return;
  if (r.ignore_empty && items.length === 0) return;
  if (r.min_items !== undefined && items.length < toNumber(r.min_items))
    throw new ValidationError(path, `must have at least ${r.min_items} item(s), has ${items.length}`);
  if (r.max_items !== undefined && items.length > toNumber(r.max_items))
    throw new ValidationError(path, `must have at most ${r.max_items} item(s), has ${items.length}`);
  if (r.unique) {
    const seen = new Set(items.map((i) => JSON.stringify(i)));
    if (seen.size !== items.length) throw new ValidationError(path, 'items must be unique');
  }
  if (r.items) {
    items.forEach((item, i) => {
      if (field.resolvedType instanceof protobuf.Type)
        checkMessageValue(r.items!, field.resolvedType, item as Record<string, unknown>, `${path}[${i}]`);
      else checkScalar(r.items!, field, item, `${path}[${i}]`);
    });
  }
}

function checkMap(rules: Rules, map: Record<string, unknown>, path: string, field: protobuf.Field): void {
  const r = rules.map as { min_pairs?: number; max_pairs?: number; keys?: Rules; values?: Rules; ignore_empty?: boolean } | undefined;
  if (!r) return;
  const keys = Object.keys(map);
  if (r.ignore_empty && keys.length === 0) return;
  if (r.min_pairs !== undefined && keys.length < toNumber(r.min_pairs))
    throw new ValidationError(path, `must have at least ${r.min_pairs} entr(ies)`);
  if (r.max_pairs !== undefined && keys.length > toNumber(r.max_pairs))
    throw new ValidationError(path, `must have at most ${r.max_pairs} entr(ies)`);
  for (const k of keys) {
    if (r.keys?.string) checkString(r.keys.string, k, `${path}[${JSON.stringify(k)}] (key)`);
    if (r.values) {
      if (field.resolvedType instanceof protobuf.Type)
        checkMessageValue(r.values, field.resolvedType, map[k] as Record<string, unknown>, `${path}[${JSON.stringify(k)}]`);
      else checkScalar(r.values, field, map[k], `${path}[${JSON.stringify(k)}]`);
    }
  }
}

// Rules on a message-typed value: wrappers carry scalar rules for their `value`, Duration and Any their own.
function checkMessageValue(rules: Rules, type: protobuf.Type, msg: Record<string, unknown>, path: string): void {
  if (WRAPPERS.has(type.fullName)) {
    const inner = type.fields.value!;
    checkScalar(rules, inner, msg.value ?? inner.typeDefault, path);
    return;
  }
  if (type.fullName === '.google.protobuf.Duration' && rules.duration) {
    const d = rules.duration as Record<string, { seconds?: unknown; nanos?: unknown } | undefined>;
    const ns = toNumber(msg.seconds ?? 0) * 1e9 + toNumber(msg.nanos ?? 0);
    const bound = (b: { seconds?: unknown; nanos?: unknown } | undefined): number | undefined =>
      b === undefined ? undefined : toNumber(b.seconds ?? 0) * 1e9 + toNumber(b.nanos ?? 0);
    const fmt = (n: number): string => `${n / 1e9}s`;
    const gt = bound(d.gt),
      gte = bound(d.gte),
      lt = bound(d.lt),
      lte = bound(d.lte);
    if (gt !== undefined && !(ns > gt)) throw new ValidationError(path, `must be greater than ${fmt(gt)}`);
    if (gte !== undefined && !(ns >= gte)) throw new ValidationError(path, `must be at least ${fmt(gte)}`);
    if (lt !== undefined && !(ns < lt)) throw new ValidationError(path, `must be less than ${fmt(lt)}`);
    if (lte !== undefined && !(ns <= lte)) throw new ValidationError(path, `must be at most ${fmt(lte)}`);
    return;
  }
  if (type.fullName === '.google.protobuf.Any' && rules.any) {
    const allowed = (rules.any as { in?: string[] }).in;
    if (allowed && !allowed.includes(String(msg.type_url)))
      throw new ValidationError(path, `type ${String(msg.type_url)} is not one of ${allowed.join(', ')}`);
  }
}

function checkScalar(rules: Rules, field: protobuf.Field, value: unknown, path: string): void {
  if (rules.string) checkString(rules.string, String(value ?? ''), path);
  if (rules.bytes) {
    const b = rules.bytes as { min_len?: number; max_len?: number };
    const len = (value as Uint8Array | undefined)?.length ?? 0;
    if (b.min_len !== undefined && len < toNumber(b.min_len)) throw new ValidationError(path, `must be at least ${b.min_len} byte(s)`);
    if (b.max_len !== undefined && len > toNumber(b.max_len)) throw new ValidationError(path, `must be at most ${b.max_len} byte(s)`);
  }
  if (rules.enum && field.resolvedType instanceof protobuf.Enum) {
    const e = rules.enum as { defined_only?: boolean; in?: number[]; not_in?: number[]; const?: number };
    const n = toNumber(value ?? 0);
    const names = field.resolvedType.valuesById;
    if (e.defined_only && names[n] === undefined) throw new ValidationError(path, `${n} is not a value of enum ${field.resolvedType.name}`);
    if (e.in && !e.in.map(toNumber).includes(n))
      throw new ValidationError(path, `must be one of ${e.in.map((i) => names[toNumber(i)] ?? i).join(', ')}`);
    if (e.not_in && e.not_in.map(toNumber).includes(n)) throw new ValidationError(path, `must not be ${names[n] ?? n}`);
  }
  for (const kind of [
    'uint32',
    'int32',
    'uint64',
    'int64',
    'sint32',
    'sint64',
    'fixed32',
    'fixed64',
    'sfixed32',
    'sfixed64',
    'double',
    'float',
  ]) {
    const r = rules[kind] as
      { gt?: unknown; gte?: unknown; lt?: unknown; lte?: unknown; const?: unknown; in?: unknown[]; not_in?: unknown[] } | undefined;
    if (!r) continue;
    const n = toNumber(value ?? 0);
    if (r.const !== undefined && n !== toNumber(r.const)) throw new ValidationError(path, `must equal ${String(r.const)}`);
    if (r.gt !== undefined && !(n > toNumber(r.gt))) throw new ValidationError(path, `must be greater than ${String(r.gt)}, got ${n}`);
    if (r.gte !== undefined && !(n >= toNumber(r.gte))) throw new ValidationError(path, `must be at least ${String(r.gte)}, got ${n}`);
    if (r.lt !== undefined && !(n < toNumber(r.lt))) throw new ValidationError(path, `must be less than ${String(r.lt)}, got ${n}`);
    if (r.lte !== undefined && !(n <= toNumber(r.lte))) throw new ValidationError(path, `must be at most ${String(r.lte)}, got ${n}`);
    if (r.in && !r.in.map(toNumber).includes(n)) throw new ValidationError(path, `must be one of ${r.in.map(String).join(', ')}`);
    if (r.not_in && r.not_in.map(toNumber).includes(n)) throw new ValidationError(path, `must not be ${n}`);
  }
}

function checkString(raw: Record<string, unknown>, s: string, path: string): void {
  const r = raw as {
    min_len?: unknown;
    max_len?: unknown;
    len?: unknown;
    min_bytes?: unknown;
    max_bytes?: unknown;
    prefix?: string;
    suffix?: string;
    contains?: string;
    not_contains?: string;
    in?: string[];
    not_in?: string[];
    const?: string;
    pattern?: string;
    ignore_empty?: boolean;
  };
  if (r.ignore_empty && s === '') return;
  const chars = [...s].length;
  const bytes = Buffer.byteLength(s);
  if (r.min_len !== undefined && chars < toNumber(r.min_len))
    throw new ValidationError(path, s === '' ? 'is required (must not be empty)' : `must be at least ${String(r.min_len)} character(s)`);
  if (r.max_len !== undefined && chars > toNumber(r.max_len))
    throw new ValidationError(path, `must be at most ${String(r.max_len)} character(s)`);
  if (r.len !== undefined && chars !== toNumber(r.len)) throw new ValidationError(path, `must be exactly ${String(r.len)} character(s)`);
  if (r.min_bytes !== undefined && bytes < toNumber(r.min_bytes))
    throw new ValidationError(path, s === '' ? 'is required (must not be empty)' : `must be at least ${String(r.min_bytes)} byte(s)`);
  if (r.max_bytes !== undefined && bytes > toNumber(r.max_bytes))
    throw new ValidationError(path, `must be at most ${String(r.max_bytes)} byte(s)`);
  if (r.const !== undefined && s !== r.const) throw new ValidationError(path, `must equal "${r.const}"`);
  if (r.prefix !== undefined && !s.startsWith(r.prefix)) throw new ValidationError(path, `must start with "${r.prefix}"`);
  if (r.suffix !== undefined && !s.endsWith(r.suffix)) throw new ValidationError(path, `must end with "${r.suffix}"`);
  if (r.contains !== undefined && !s.includes(r.contains)) throw new ValidationError(path, `must contain "${r.contains}"`);
  if (r.not_contains !== undefined && s.includes(r.not_contains)) throw new ValidationError(path, `must not contain "${r.not_contains}"`);
  if (r.in && !r.in.includes(s)) throw new ValidationError(path, `must be one of ${r.in.join(', ')}`);
  if (r.not_in && r.not_in.includes(s)) throw new ValidationError(path, `must not be "${s}"`);
  if (r.pattern !== undefined) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(r.pattern, 'u');
    } catch {
      // An RE2 construct JavaScript cannot compile: leave this one rule to Envoy rather than reject valid input.
      re = undefined;
    }
    if (re && !re.test(s)) throw new ValidationError(path, `must match /${r.pattern}/`);
  }
}

// Proto3 canonical JSON (the form of envoy-types.ts and of golden files) ⇄ Envoy's protobuf encoding.
// JSON in: lowerCamelCase names (the proto field names are accepted too), `Any` as {"@type", ...fields}
// (well-known types as {"@type", "value"}), Duration "1.5s", Timestamp RFC 3339, wrappers as bare values,
// enums by name (or number), Struct as plain JSON, bytes base64, 64-bit integers as string or number.
// JSON out: the canonical form (int64 as strings, defaults omitted). Every unknown field, wrong type and
// violated protoc-gen-validate rule is an error naming the field path, so the control plane refuses to
// send what Envoy would reject and the proxy NACKs what Envoy would NACK.
import protobuf from 'protobufjs';
import { DurationError, formatProto3Duration, parseDurationNs } from '../shared/duration.js';
import { lookupMessageType } from './protos.js';
import { isPresent, isDefaultScalar, validateMessage, ValidationError } from './pgv.js';

export { ValidationError } from './pgv.js';

export class XdsCodecError extends Error {
  readonly code = 'E_XDS_CODEC';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path || '(root)'}: ${reason}`);
  }
}

export interface PackedAny {
  typeUrl: string;
  value: Buffer;
}

type Native = Record<string, unknown>;
type Json = unknown;

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** `type.googleapis.com/envoy.config.listener.v3.Listener` → `envoy.config.listener.v3.Listener`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

export function typeUrlOf(fullName: string): string {
  return TYPE_URL_PREFIX + fullName.replace(/^\./, '');
}

function messageType(typeUrlOrName: string, path: string): protobuf.Type {
  const t = lookupMessageType(typeNameOfUrl(typeUrlOrName));
  if (!t) throw new XdsCodecError(path, `unknown message type "${typeUrlOrName}" (not in Envoy's protos loaded by meshgate)`);
  return t;
}

/** protoc's json_name: `consecutive_5xx` → `consecutive5xx`, `stat_prefix` → `statPrefix`. */
export function jsonNameOf(field: protobuf.Field): string {
  const explicit = field.options?.json_name;
  if (typeof explicit === 'string') return explicit;
  let out = '';
  let upper = false;
  for (const ch of field.name) {
    if (ch === '_') {
      upper = true;
      continue;
    }
    out += upper ? ch.toUpperCase() : ch;
    upper = false;
  }
  return out;
}

const jsonIndexCache = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
function fieldsByJsonKey(type: protobuf.Type): Map<string, protobuf.Field> {
  let m = jsonIndexCache.get(type);
  if (!m) {
    m = new Map();
    for (const f of type.fieldsArray) {
      m.set(jsonNameOf(f), f);
      m.set(f.name, f);
    }
    jsonIndexCache.set(type, m);
  }
  return m;
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'string'
        ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`
        : typeof v;

// ------------------------------------------------------------------ JSON → native

/** Converts canonical JSON to the protobufjs-native object of `type`, validating as it goes. */
export function messageFromJson(type: protobuf.Type, json: Json, path: string): Native {
  const wkt = WKT_FROM_JSON[type.fullName];
  if (wkt) return wkt(type, json, path);
  if (!isPlainObject(json)) throw new XdsCodecError(path, `expected an object for ${type.fullName.slice(1)}, got ${describe(json)}`);
  const out: Native = {};
  const index = fieldsByJsonKey(type);
  const oneofSetBy = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = index.get(key);
    if (!field) throw new XdsCodecError(join(path, key), `unknown field (${type.fullName.slice(1)} has no field "${key}")`);
    const fpath = join(path, jsonNameOf(field));
    if (value === null && field.resolvedType?.fullName !== '.google.protobuf.Value') continue; // proto3 JSON: null means unset
    if (out[field.name] !== undefined) throw new XdsCodecError(fpath, `set twice (as "${jsonNameOf(field)}" and "${field.name}")`);
    if (field.partOf && !field.partOf.name.startsWith('_')) {
      const other = oneofSetBy.get(field.partOf.name);
      if (other) throw new XdsCodecError(fpath, `cannot be set together with "${other}": both belong to oneof "${field.partOf.name}"`);
      oneofSetBy.set(field.partOf.name, jsonNameOf(field));
    }
    out[field.name] = fieldFromJson(field, value, fpath);
  }
  validateMessage(type, out, path, jsonNameOf);
  return out;
}

function fieldFromJson(field: protobuf.Field, value: Json, path: string): unknown {
  if (field.map) {
    if (!isPlainObject(value)) throw new XdsCodecError(path, `expected an object (map), got ${describe(value)}`);
    const out: Record<string, unknown> = {};
    const keyType = (field as unknown as protobuf.MapField).keyType;
    for (const [k, v] of Object.entries(value)) {
      if (keyType !== 'string' && !/^-?\d+$/.test(k) && keyType !== 'bool')
        throw new XdsCodecError(`${path}[${JSON.stringify(k)}]`, `map key must be an integer`);
      out[k] = singleFromJson(field, v, `${path}[${JSON.stringify(k)}]`);
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw new XdsCodecError(path, `expected an array, got ${describe(value)}`);
    return value.map((v, i) => {
      if (v === null) throw new XdsCodecError(`${path}[${i}]`, 'null is not allowed in a repeated field');
      return singleFromJson(field, v, `${path}[${i}]`);
    });
  }
  return singleFromJson(field, value, path);
}

function singleFromJson(field: protobuf.Field, value: Json, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageFromJson(rt, value, path);
  if (rt instanceof protobuf.Enum) return enumFromJson(rt, value, path);
  return scalarFromJson(field.type, value, path);
}

function enumFromJson(e: protobuf.Enum, value: Json, path: string): number {
  if (typeof value === 'string') {
    const n = e.values[value];
    if (n === undefined)
      throw new XdsCodecError(path, `"${value}" is not a value of enum ${e.name} (one of ${Object.keys(e.values).join(', ')})`);
    return n;
  }
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  throw new XdsCodecError(path, `expected an enum ${e.name} name, got ${describe(value)}`);
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647],
  sint32: [-2147483648, 2147483647],
  sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  fixed32: [0, 4294967295],
};

function scalarFromJson(type: string, value: Json, path: string): unknown {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw new XdsCodecError(path, `expected a string, got ${describe(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new XdsCodecError(path, `expected true or false, got ${describe(value)}`);
      return value;
    case 'bytes': {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value))
        throw new XdsCodecError(path, `expected base64 bytes, got ${describe(value)}`);
      return Buffer.from(value, 'base64');
    }
    case 'double':
    case 'float': {
      if (typeof value === 'number') return value;
      if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
      if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
      throw new XdsCodecError(path, `expected a number, got ${describe(value)}`);
    }
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      const unsigned = type === 'uint64' || type === 'fixed64';
      let s: string;
      if (typeof value === 'number' && Number.isInteger(value)) s = String(value);
      else if (typeof value === 'string' && /^-?\d+$/.test(value)) s = value;
      else throw new XdsCodecError(path, `expected an integer, got ${describe(value)}`);
      if (unsigned && s.startsWith('-')) throw new XdsCodecError(path, `expected a non-negative integer, got ${s}`);
      const big = BigInt(s);
      const [min, max] = unsigned ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
      if (big < min || big > max) throw new XdsCodecError(path, `${s} is out of range for ${type}`);
      return Number.isSafeInteger(Number(s)) ? Number(s) : s;
    }
    default: {
      const range = INT_RANGES[type];
      if (!range) throw new XdsCodecError(path, `unsupported scalar type ${type}`);
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new XdsCodecError(path, `expected an integer, got ${describe(value)}`);
      if (n < range[0] || n > range[1]) throw new XdsCodecError(path, `${n} is out of range for ${type}`);
      return n;
    }
  }
}

// ------------------------------------------------------------------ native → JSON

/** Converts a decoded protobufjs message of `type` to canonical JSON, validating as it goes. */
export function messageToJson(type: protobuf.Type, msg: Native, path: string): Json {
  const wkt = WKT_TO_JSON[type.fullName];
  if (wkt) return wkt(type, msg, path);
  validateMessage(type, msg, path, jsonNameOf);
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!isPresent(field, msg)) continue;
    const name = jsonNameOf(field);
    const fpath = join(path, name);
    const value = msg[field.name];
    if (field.map) {
      const m: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>))
        m[k] = singleToJson(field, v, `${fpath}[${JSON.stringify(k)}]`);
      out[name] = m;
    } else if (field.repeated) {
      out[name] = (value as unknown[]).map((v, i) => singleToJson(field, v, `${fpath}[${i}]`));
    } else {
      out[name] = singleToJson(field, value, fpath);
    }
  }
  return out;
}

function singleToJson(field: protobuf.Field, value: unknown, path: string): Json {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageToJson(rt, value as Native, path);
  if (rt instanceof protobuf.Enum) return rt.valuesById[value as number] ?? value;
  return scalarToJson(field.type, value);
}

function scalarToJson(type: string, value: unknown): Json {
  switch (type) {
    case 'bytes':
      return Buffer.from(value as Uint8Array).toString('base64');
    case 'double':
    case 'float': {
      const n = value as number;
      return Number.isFinite(n) ? n : String(n);
    }
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      if (typeof value === 'object' && value !== null) {
        // protobufjs hands 64-bit values out as Long; unsigned types decode with `unsigned` set.
        const long = value as { low: number; high: number; unsigned: boolean };
        const big = (BigInt(long.high >>> 0) << 32n) | BigInt(long.low >>> 0);
        const unsigned = type === 'uint64' || type === 'fixed64';
        return (unsigned ? big : BigInt.asIntN(64, big)).toString();
      }
      return String(value);
    }
    default:
      return value;
  }
}

// ------------------------------------------------------------------ well-known types

type FromJson = (type: protobuf.Type, json: Json, path: string) => Native;
type ToJson = (type: protobuf.Type, msg: Native, path: string) => Json;

// google.protobuf.Duration through the one duration parser every layer shares (its proto3 grammar).
function durationFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  if (typeof json !== 'string') throw new XdsCodecError(path, `expected a duration like "1.5s", got ${describe(json)}`);
  let ns: bigint;
  try {
    ns = parseDurationNs(json, 'proto3');
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    throw new XdsCodecError(
      path,
      err.reason === 'range' ? `duration ${json} is out of range` : `expected a duration like "1.5s", got ${describe(json)}`,
    );
  }
  // BigInt division truncates toward zero, so seconds and nanos share the sign, as the proto requires.
  return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
}

function durationToJson(_t: protobuf.Type, msg: Native): Json {
  return formatProto3Duration(BigInt(String(msg.seconds ?? 0)) * 1_000_000_000n + BigInt(Number(msg.nanos ?? 0)));
}

function timestampFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  const m = typeof json === 'string' ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(json) : null;
  if (!m) throw new XdsCodecError(path, `expected an RFC 3339 timestamp, got ${describe(json)}`);
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) throw new XdsCodecError(path, `invalid timestamp ${String(json)}`);
  return { seconds: Math.floor(ms / 1000), nanos: m[2] ? Number(m[2].padEnd(9, '0')) : 0 };
}

function timestampToJson(_t: protobuf.Type, msg: Native): Json {
  const seconds = Number(String(msg.seconds ?? 0));
  const nanos = Number(msg.nanos ?? 0);
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${base}${
    nanos
      ? `.${String(nanos)
          .padStart(9, '0')
          .replace(/(\d{3})(0{3}){1,2}$/, '$1')}`
      : ''
  }Z`;
}

function wrapperFromJson(t: protobuf.Type, json: Json, path: string): Native {
  return { value: scalarFromJson(t.fields.value!.type, json, path) };
}
function wrapperToJson(t: protobuf.Type, msg: Native): Json {
  const f = t.fields.value!;
  return scalarToJson(f.type, msg.value ?? f.typeDefault);
}

// protobufjs declares Struct/Value/ListValue itself with camelCase field names whatever keepCase says, so
// those fields are found by number (struct.proto: Value 1..6, Struct.fields 1, ListValue.values 1).
function fieldName(typeName: string, id: number): string {
  return messageType(typeName, '').fieldsById[id]!.name;
}
const VALUE_KINDS = { null: 1, number: 2, string: 3, bool: 4, struct: 5, list: 6 } as const;
const vk = (k: keyof typeof VALUE_KINDS): string => fieldName('google.protobuf.Value', VALUE_KINDS[k]);

function valueFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  if (json === null) return { [vk('null')]: 0 };
  if (typeof json === 'number') return { [vk('number')]: json };
  if (typeof json === 'string') return { [vk('string')]: json };
  if (typeof json === 'boolean') return { [vk('bool')]: json };
  if (Array.isArray(json)) return { [vk('list')]: listFromJson(_t, json, path) };
  if (isPlainObject(json)) return { [vk('struct')]: structFromJson(_t, json, path) };
  throw new XdsCodecError(path, `expected a JSON value, got ${describe(json)}`);
}
function valueToJson(_t: protobuf.Type, msg: Native, path: string): Json {
  const has = (k: keyof typeof VALUE_KINDS): boolean => Object.prototype.hasOwnProperty.call(msg, vk(k)) && msg[vk(k)] != null;
  if (has('struct')) return structToJson(_t, msg[vk('struct')] as Native, path);
  if (has('list')) return listToJson(_t, msg[vk('list')] as Native, path);
  if (has('string')) return msg[vk('string')];
  if (has('number')) return msg[vk('number')];
  if (has('bool')) return msg[vk('bool')];
  return null;
}
function structFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  if (!isPlainObject(json)) throw new XdsCodecError(path, `expected an object (Struct), got ${describe(json)}`);
  const fields: Record<string, Native> = {};
  for (const [k, v] of Object.entries(json)) fields[k] = valueFromJson(_t, v, join(path, k));
  return { [fieldName('google.protobuf.Struct', 1)]: fields };
}
function structToJson(_t: protobuf.Type, msg: Native, path: string): Json {
  const out: Record<string, unknown> = {};
  const fields = (msg[fieldName('google.protobuf.Struct', 1)] ?? {}) as Record<string, Native>;
  for (const [k, v] of Object.entries(fields)) out[k] = valueToJson(_t, v, join(path, k));
  return out;
}
function listFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  if (!Array.isArray(json)) throw new XdsCodecError(path, `expected an array (ListValue), got ${describe(json)}`);
  return { [fieldName('google.protobuf.ListValue', 1)]: json.map((v, i) => valueFromJson(_t, v, `${path}[${i}]`)) };
}
function listToJson(_t: protobuf.Type, msg: Native, path: string): Json {
  return ((msg[fieldName('google.protobuf.ListValue', 1)] ?? []) as Native[]).map((v, i) => valueToJson(_t, v, `${path}[${i}]`));
}

function emptyFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  if (!isPlainObject(json) || Object.keys(json).length > 0) throw new XdsCodecError(path, `expected {} (Empty), got ${describe(json)}`);
  return {};
}

function anyFromJson(_t: protobuf.Type, json: Json, path: string): Native {
  if (!isPlainObject(json)) throw new XdsCodecError(path, `expected an object with "@type" (Any), got ${describe(json)}`);
  const { '@type': typeUrl, ...rest } = json;
  if (typeof typeUrl !== 'string' || typeUrl === '') throw new XdsCodecError(join(path, '@type'), 'is required in an Any');
  const inner = messageType(typeUrl, join(path, '@type'));
  let body: Json = rest;
  if (WKT_FROM_JSON[inner.fullName]) {
    const keys = Object.keys(rest);
    if (keys.length !== 1 || keys[0] !== 'value')
      throw new XdsCodecError(path, `an Any holding ${inner.fullName.slice(1)} must have exactly "@type" and "value"`);
    body = rest.value;
  }
  const native = messageFromJson(inner, body, path);
  return { type_url: typeUrl, value: inner.encode(native).finish() };
}

function anyToJson(_t: protobuf.Type, msg: Native, path: string): Json {
  const typeUrl = String(msg.type_url ?? '');
  if (typeUrl === '') throw new XdsCodecError(join(path, '@type'), 'an Any without a type URL');
  const inner = messageType(typeUrl, join(path, '@type'));
  const decoded = decodeNative(inner, (msg.value ?? new Uint8Array()) as Uint8Array, path);
  const json = messageToJson(inner, decoded, path);
  if (WKT_TO_JSON[inner.fullName]) return { '@type': typeUrl, value: json };
  return { '@type': typeUrl, ...(json as Record<string, unknown>) };
}

const WRAPPER_NAMES = [
  'DoubleValue',
  'FloatValue',
  'Int64Value',
  'UInt64Value',
  'Int32Value',
  'UInt32Value',
  'BoolValue',
  'StringValue',
  'BytesValue',
];

const WKT_FROM_JSON: Record<string, FromJson> = {
  '.google.protobuf.Any': anyFromJson,
  '.google.protobuf.Duration': durationFromJson,
  '.google.protobuf.Timestamp': timestampFromJson,
  '.google.protobuf.Struct': structFromJson,
  '.google.protobuf.Value': valueFromJson,
  '.google.protobuf.ListValue': listFromJson,
  '.google.protobuf.Empty': emptyFromJson,
  ...Object.fromEntries(WRAPPER_NAMES.map((n) => [`.google.protobuf.${n}`, wrapperFromJson])),
};
const WKT_TO_JSON: Record<string, ToJson> = {
  '.google.protobuf.Any': anyToJson,
  '.google.protobuf.Duration': durationToJson,
  '.google.protobuf.Timestamp': timestampToJson,
  '.google.protobuf.Struct': structToJson,
  '.google.protobuf.Value': valueToJson,
  '.google.protobuf.ListValue': listToJson,
  '.google.protobuf.Empty': () => ({}),
  ...Object.fromEntries(WRAPPER_NAMES.map((n) => [`.google.protobuf.${n}`, wrapperToJson])),
};

function decodeNative(type: protobuf.Type, bytes: Uint8Array, path: string): Native {
  try {
    return type.decode(bytes) as unknown as Native;
  } catch (err) {
    throw new XdsCodecError(path, `malformed ${type.fullName.slice(1)} bytes: ${(err as Error).message}`);
  }
}

// ------------------------------------------------------------------ public API

function wrapValidation<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValidationError) throw new XdsCodecError(err.path, err.reason);
    throw err;
  }
}

/** Encodes a message given by its full name (`envoy.config.core.v3.Node`) from canonical JSON. */
export function encodeMessage(fullName: string, json: Json): Buffer {
  return wrapValidation(() => {
    const type = messageType(fullName, '');
    return Buffer.from(type.encode(messageFromJson(type, json, '')).finish());
  });
}

/** Decodes a message given by its full name to canonical JSON. */
export function decodeMessage(fullName: string, bytes: Uint8Array): Record<string, unknown> {
  return wrapValidation(() => {
    const type = messageType(fullName, '');
    return messageToJson(type, decodeNative(type, bytes, ''), '') as Record<string, unknown>;
  });
}

/** Packs `{ '@type': URL, ...fields }` into an Any. */
export function encodeAny(json: ({ '@type': string } & object) | { '@type': string; [field: string]: unknown }): PackedAny {
  return wrapValidation(() => {
    const native = anyFromJson(envoyAnyType(), json, '');
    return { typeUrl: native.type_url as string, value: Buffer.from(native.value as Uint8Array) };
  });
}

/** Unpacks an Any (as decoded from the wire: `typeUrl`/`type_url` and `value`) to `{ '@type', ...fields }`. */
export function decodeAny(any: { typeUrl?: string; type_url?: string; value: Uint8Array }): { '@type': string } & Record<string, unknown> {
  return wrapValidation(
    () =>
      anyToJson(envoyAnyType(), { type_url: any.typeUrl ?? any.type_url, value: any.value }, '') as { '@type': string } & Record<
        string,
        unknown
      >,
  );
}

/** Encodes one xDS resource (a Listener, Cluster, ...) of `typeUrl`; a matching "@type" in `json` is allowed. */
export function encodeResource(typeUrl: string, json: object): Buffer {
  const { '@type': t, ...rest } = json as Record<string, unknown>;
  if (t !== undefined && t !== typeUrl) throw new XdsCodecError('@type', `is "${String(t)}" but the resource is encoded as ${typeUrl}`);
  const name = (rest as { name?: unknown; clusterName?: unknown }).name ?? (rest as { clusterName?: unknown }).clusterName;
  try {
    return encodeMessage(typeNameOfUrl(typeUrl), rest);
  } catch (err) {
    if (err instanceof XdsCodecError && typeof name === 'string')
      throw new XdsCodecError(`${typeNameOfUrl(typeUrl).split('.').pop()} "${name}": ${err.path}`, err.reason);
    throw err;
  }
}

/** Decodes one xDS resource of `typeUrl` to canonical JSON (without "@type"). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  return decodeMessage(typeNameOfUrl(typeUrl), bytes);
}

/** JSON → encode → decode: the form a resource takes after a trip through Envoy's encoding (defaults dropped). */
export function canonicalResource(typeUrl: string, json: object): Record<string, unknown> {
  return decodeResource(typeUrl, encodeResource(typeUrl, json));
}

function envoyAnyType(): protobuf.Type {
  return messageType('google.protobuf.Any', '');
}

export { isDefaultScalar };

// Redaction of key material in anything meshgate prints about xDS resources: the control plane's
// /debug/config_dump, the proxy's admin /config_dump, `meshgate proxy-config` and `proxy-status`.
// Envoy marks the fields that hold secrets `udpa.annotations.sensitive` (TlsCertificate.private_key and
// .password, GenericSecret.secret, TlsSessionTicketKeys.keys) and its admin prints them as "[redacted]";
// meshgate does the same, wherever the field sits: in an SDS Secret, or inline in a Listener's or a
// Cluster's transport socket (`commonTlsContext.tlsCertificates`). Certificates are left as they are.

export const REDACTED = '[redacted]';

/** Fields whose value is secret wherever they appear in an Envoy resource (Envoy's `sensitive` fields). */
const SENSITIVE_FIELDS = new Set(['privateKey', 'password']);

/** A PEM private key quoted in free text (an error message, a log line): the whole block goes. */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;

/**
 * A DataSource holding a secret, as Envoy prints it: inline contents become "[redacted]". A `filename`
 * alone is only a path (the key stays in that file) and is kept, so a reader still sees where it comes from.
 */
function redactDataSource(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactDataSource);
  if (value === null || typeof value !== 'object') return REDACTED;
  const ds = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof ds.filename === 'string') out.filename = ds.filename;
  if (Object.keys(ds).some((k) => k !== 'filename')) out.inlineString = REDACTED;
  return out;
}

/**
 * A deep copy of `value` (an Envoy resource, a config dump, or any JSON holding them) with every private
 * key, password and generic secret replaced by "[redacted]". Never mutates its argument.
 */
export function redactSecrets<T>(value: T): T {
  return redact(value) as T;
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value === 'string') return value.includes('PRIVATE KEY-----') ? value.replace(PEM_PRIVATE_KEY, REDACTED) : value;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SENSITIVE_FIELDS.has(k)) out[k] = redactDataSource(v);
    else if (k === 'sessionTicketKeys' && v !== null && typeof v === 'object')
      out[k] = { ...(v as object), keys: redactDataSource((v as { keys?: unknown }).keys ?? []) };
    else if (k === 'genericSecret' && v !== null && typeof v === 'object')
      out[k] = { ...(redact(v) as object), secret: redactDataSource((v as { secret?: unknown }).secret ?? {}) };
    else out[k] = redact(v);
  }
  return out;
}

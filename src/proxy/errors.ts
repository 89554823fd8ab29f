// Error classes of the data plane. Each has a stable `code` so the agent, the CLI and tests can act on
// it, and a message naming the resource and field a person has to fix.

/** An xDS update the proxy refuses (the agent NACKs it); the running configuration is left untouched. */
export class ProxyConfigError extends Error {
  readonly code = 'E_CONFIG_REJECTED';
  constructor(
    /** e.g. `listener "0.0.0.0_13306"` or `cluster "outbound|3306||mysql.default.svc.cluster.local"`. */
    readonly resource: string,
    /** Field path inside the resource, e.g. `filterChains[0].filters[1].typedConfig.cluster`. */
    readonly field: string,
    reason: string,
  ) {
    super(`${resource}: ${field}: ${reason}`);
    this.name = 'ProxyConfigError';
  }
}

/** A listener could not bind its address (port in use, address not local, permission). */
export class ListenerBindError extends Error {
  readonly code = 'E_LISTENER_BIND';
  /** The errno name from the bind (EACCES, EADDRINUSE, EADDRNOTAVAIL, ...), or UNKNOWN. */
  readonly errno: string;
  constructor(
    readonly listener: string,
    readonly address: string,
    cause: Error & { code?: string },
  ) {
    super(`listener "${listener}": cannot bind ${address}: ${cause.message}`, { cause });
    this.name = 'ListenerBindError';
    this.errno = typeof cause.code === 'string' ? cause.code : 'UNKNOWN';
  }
}

/**
 * An LDS update applied except for the listeners that could not bind, as Envoy's listener manager does:
 * the others serve, the failing ones are left out (a listener they would replace keeps running) and
 * the agent NACKs the update naming them. Not a ProxyConfigError: the running config did change.
 */
export class ListenersNotBoundError extends Error {
  readonly code = 'E_LISTENERS_NOT_BOUND';
  constructor(readonly failures: ListenerBindError[]) {
    super(`error adding listener(s), the others were applied: ${failures.map((f) => f.message).join('; ')}`);
    this.name = 'ListenersNotBoundError';
  }
}

/** The admin server could not start. */
export class AdminError extends Error {
  readonly code = 'E_ADMIN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminError';
  }
}

/** The bootstrap file is unreadable or invalid. */
export class BootstrapError extends Error {
  readonly code = 'E_BOOTSTRAP_INVALID';
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
    this.name = 'BootstrapError';
  }
}

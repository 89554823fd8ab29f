// Errors raised by transparent capture (iptables, original destination) and the DNS proxy. Each has a
// stable `code` so callers and tests can tell the failure apart without parsing messages.

export type CaptureErrorCode =
  | 'E_ORIGINAL_DST_UNAVAILABLE'
  | 'E_ORIGINAL_DST'
  | 'E_CAPTURE_CONFIG'
  | 'E_IPTABLES_MISSING'
  | 'E_IPTABLES_BACKEND'
  | 'E_IPTABLES_APPLY'
  | 'E_IPTABLES_CLEANUP'
  | 'E_IPTABLES_STATE'
  | 'E_DNS_CODEC'
  | 'E_DNS_LISTEN';

export class CaptureError extends Error {
  readonly code: CaptureErrorCode;
  constructor(code: CaptureErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaptureError';
    this.code = code;
  }
}

// One type's subscription on the proxy's side of ADS, whichever the protocol: the names it asks for,
// the version it runs (the last ACKed), the nonce the server last sent and the error of the last NACK.
// A protocol (sotw.ts, delta.ts) turns it into requests and applies responses to the proxy.

export interface SubscriptionStatus {
  names: string[];
  ackedVersion: string;
  lastNonce: string;
  lastError?: string;
}

export interface Subscription extends SubscriptionStatus {
  /** Whether this stream has been sent a request for the type. */
  requested: boolean;
}

/** Applies a response to the proxy; throwing NACKs it with the error's message. */
export type OnResources = (typeUrl: string, resources: object[], version: string) => Promise<void>;

/** What applying a response came to: its version, and the proxy's error when it refused it. */
export interface Applied {
  version: string;
  error: string | undefined;
  /** Whether an ACK says so (`ack` event): not for a response that changed nothing. */
  announce: boolean;
}

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
export const INVALID_ARGUMENT = 3;

export function newSubscription(names: string[]): Subscription {
  return { names: normalize(names), ackedVersion: '', lastNonce: '', requested: false };
}

/** What `status()` reports of a subscription. */
export function subscriptionStatus(s: Subscription): SubscriptionStatus {
  return { names: [...s.names], ackedVersion: s.ackedVersion, lastNonce: s.lastNonce, lastError: s.lastError };
}

export function normalize(names: string[]): string[] {
  return [...new Set(names)].sort();
}

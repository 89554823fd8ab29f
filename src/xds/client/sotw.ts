// State-of-the-world ADS on the proxy's side, as Envoy's gRPC mux speaks it: a request names the
// subscribed resources and carries the last ACKed version (so a server can skip what the proxy holds
// after a reconnect) and the nonce it answers; a response holds every resource of the type, and is
// handed to the proxy whole.
import { decodeAny } from '../codec.js';
import type { DiscoveryRequest, DiscoveryResponse } from '../discovery.js';
import { INVALID_ARGUMENT, type Applied, type OnResources, type Subscription } from './subscription.js';

/** On a new stream (`initial`) the names and version; afterwards the ACK (NACK with `errorMessage`) of `nonce`. */
export function sotwRequest(typeUrl: string, sub: Subscription, initial: boolean, errorMessage?: string, nonce?: string): DiscoveryRequest {
  const req: DiscoveryRequest = {
    versionInfo: sub.ackedVersion,
    resourceNames: sub.names,
    typeUrl,
    responseNonce: initial ? '' : (nonce ?? sub.lastNonce),
  };
  if (errorMessage !== undefined) req.errorDetail = { code: INVALID_ARGUMENT, message: errorMessage };
  return req;
}

/** Decodes a response and hands the proxy its resources. */
export async function applySotwResponse(res: DiscoveryResponse, onResources: OnResources): Promise<Applied> {
  let error: string | undefined;
  try {
    const resources = res.resources.map((r, i) => {
      if (r.typeUrl !== res.typeUrl) throw new Error(`resource ${i} has type ${r.typeUrl} in a ${res.typeUrl} response`);
      const { '@type': _t, ...json } = decodeAny(r);
      return json;
    });
    await onResources(res.typeUrl, resources, res.versionInfo);
  } catch (err) {
    error = (err as Error).message ?? String(err);
  }
  return { version: res.versionInfo, error, announce: true };
}

// Request checks shared by meshgate's two debug HTTP servers, the control plane's monitoring port
// (istiod's 15014) and the proxy's admin (Envoy's 15000). Both are meant for a person or a tool on the
// same host, so a browser must not be turned against them:
// - DNS rebinding: a page on evil.example that re-resolves its own name to 127.0.0.1 makes the browser
//   send requests with `Host: evil.example`. Answering only requests addressed to an IP literal or
//   `localhost` defeats it (the browser never sends an IP literal for a name it resolved).
// - CSRF: a page can POST to http://127.0.0.1:15000/drain_listeners without reading the answer; the
//   browser then adds an `Origin` header naming the page. Mutating routes refuse a foreign origin.
import net from 'node:net';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `address` (an IP literal or `localhost`) is this host's loopback: 127.0.0.0/8, ::1, ::ffff:127.x. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (a === 'localhost') return true;
  const v4 = a.startsWith('::ffff:') && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
  if (net.isIPv4(v4)) return LOOPBACK.check(v4, 'ipv4');
  return net.isIPv6(a) && LOOPBACK.check(a, 'ipv6');
}

/** The host part of a Host header: `name:port`, `1.2.3.4:port`, `[::1]:port`, or without the port. */
export function hostOfHostHeader(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(1, end);
  }
  // A bare IPv6 address (no brackets, no port) has several colons; name:port and v4:port have one.
  if (h.split(':').length > 2) return h;
  const i = h.lastIndexOf(':');
  return i < 0 ? h : h.slice(0, i);
}

/**
 * Why a request must be refused as a possible DNS rebinding, or undefined when its Host is an IP
 * literal or `localhost` (or absent: HTTP/1.0 clients, never a browser). With `loopbackOnly`, an IP
 * literal must also be a loopback address.
 */
export function hostHeaderProblem(header: string | undefined, loopbackOnly = false): string | undefined {
  if (header === undefined || header === '') return undefined;
  const host = hostOfHostHeader(header);
  if (host === 'localhost') return undefined;
  if (net.isIP(host) === 0)
    return `Host "${header}" refused: this endpoint answers only requests addressed to an IP address or localhost (DNS rebinding protection)`;
  if (loopbackOnly && !isLoopbackAddress(host))
    return `Host "${header}" refused: this endpoint answers only requests addressed to a loopback address or localhost`;
  return undefined;
}

/**
 * Why a state-changing request must be refused as a possible cross-site request, or undefined: the Host
 * must be loopback or `localhost`, and an `Origin` header, when present, must be the server's own origin
 * (`http://` + the Host it was addressed to), which no other site's page can send.
 */
export function mutatingRequestProblem(headers: { host?: string; origin?: string | string[] }): string | undefined {
  const hostProblem = hostHeaderProblem(headers.host, true);
  if (hostProblem) return hostProblem;
  const origin = Array.isArray(headers.origin) ? headers.origin.join(', ') : headers.origin;
  if (origin === undefined) return undefined;
  const own = headers.host ? `http://${headers.host.trim().toLowerCase()}` : undefined;
  if (own !== undefined && origin.trim().toLowerCase() === own) return undefined;
  return `Origin "${origin}" refused: a state-changing admin request must come from the admin's own origin${own ? ` (${own})` : ''} or from a client that sends no Origin (curl, meshgate)`;
}

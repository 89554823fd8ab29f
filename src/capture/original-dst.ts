// The original destination of a connection that iptables REDIRECTed to the proxy (Envoy's
// `envoy.filters.listener.original_dst`). Linux keeps it in conntrack and returns it through
// getsockopt(SOL_IP, SO_ORIGINAL_DST) / getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST); Node exposes neither,
// so a small N-API addon (native/original_dst.cc, built by node-gyp when `npm ci` runs) makes that call.
import { createRequire } from 'node:module';
import type net from 'node:net';
import path from 'node:path';
import { CaptureError } from './errors.js';
import { packageRoot } from '../shared/package-root.js';

export interface OriginalDestination {
  address: string;
  port: number;
}

interface OriginalDstAddon {
  getOriginalDst(fd: number): OriginalDestination | null;
}

/** Where node-gyp puts the addon, relative to the package root. */
export const ORIGINAL_DST_ADDON_PATH = path.join('build', 'Release', 'original_dst.node');

let addon: OriginalDstAddon | undefined;
let loadError: CaptureError | undefined;

function loadAddon(): OriginalDstAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  // MESHGATE_ORIGINAL_DST_ADDON points at a build elsewhere (a packaged install, or a test of the missing case).
  const file = process.env.MESHGATE_ORIGINAL_DST_ADDON || path.join(packageRoot(), ORIGINAL_DST_ADDON_PATH);
  try {
    if (process.platform !== 'linux') throw new Error(`SO_ORIGINAL_DST exists only on Linux (this is ${process.platform})`);
    const loaded = createRequire(import.meta.url)(file) as Partial<OriginalDstAddon>;
    if (typeof loaded.getOriginalDst !== 'function') throw new Error('the addon does not export getOriginalDst');
    addon = loaded as OriginalDstAddon;
    return addon;
  } catch (err) {
    loadError = new CaptureError(
      'E_ORIGINAL_DST_UNAVAILABLE',
      `cannot load the SO_ORIGINAL_DST addon ${file}: ${(err as Error).message}. ` +
        'Build it with `npm ci` (runs node-gyp) or `npx --yes node-gyp rebuild` in the package root, or offline with ' +
        "npm's own copy: `node $(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild` " +
        '(needs python3, make and a C++ compiler); transparent capture (useOriginalDst listeners) needs it.',
      { cause: err },
    );
    throw loadError;
  }
}

/** True when the addon loads, i.e. the proxy can serve useOriginalDst listeners. */
export function originalDstAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch (err) {
    // Availability probe: the error is remembered and thrown, with how to fix it, by getOriginalDestination.
    void err;
    return false;
  }
}

/**
 * The destination the client connected to before iptables redirected it, or undefined when the
 * connection was not redirected (no NAT record: the local address is the destination).
 * Throws CaptureError E_ORIGINAL_DST_UNAVAILABLE when the addon is not built, E_ORIGINAL_DST when the
 * socket has no file descriptor or the kernel refuses.
 */
export function getOriginalDestination(socket: net.Socket): OriginalDestination | undefined {
  const impl = loadAddon();
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new CaptureError(
      'E_ORIGINAL_DST',
      `socket from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} has no file descriptor (closed, or not a TCP socket)`,
    );
  }
  let result: OriginalDestination | null;
  try {
    result = impl.getOriginalDst(fd);
  } catch (err) {
    throw new CaptureError(
      'E_ORIGINAL_DST',
      `SO_ORIGINAL_DST for ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (result === null) return undefined;
  // A v4 NAT record read through a dual-stack socket is already plain IPv4; strip a mapped prefix if any.
  const address = result.address.startsWith('::ffff:') && result.address.includes('.') ? result.address.slice(7) : result.address;
  return { address, port: result.port };
}

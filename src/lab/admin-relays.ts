// Starts an admin relay in one netns-mode namespace (a pod's, or a cluster's bridge namespace): the
// listening sockets are bound here, in the host namespace on the lab's 127.b.k.n addresses, and handed
// to the relay process running inside that namespace, recorded in the lab state like every process.
import net from 'node:net';
import type { LabState } from './lab-state.js';
import { nodeEntry, startLabProcess, type LabProcess } from './lab-process.js';

export interface RelayPair {
  listen: { host: string; port: number };
  target: { host: string; port: number };
}

function listenHost(pair: RelayPair): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: pair.listen.host, port: pair.listen.port, exclusive: true }, () => resolve(s));
  });
}

export async function startAdminRelay(
  state: LabState,
  logDir: string,
  name: string,
  netns: string,
  pairs: RelayPair[],
): Promise<LabProcess> {
  const servers: net.Server[] = [];
  try {
    for (const p of pairs) servers.push(await listenHost(p));
    const fds = servers.map((s) => (s as unknown as { _handle: { fd: number } })._handle.fd);
    const entry = nodeEntry('admin-relay', import.meta.url);
    return await startLabProcess(state, logDir, {
      name,
      netns,
      argv: [...entry, ...pairs.flatMap((p) => ['--target', `${p.target.host}:${p.target.port}`])],
      extraFds: fds,
    });
  } finally {
    // The child holds its own copies of the sockets now; ours close without affecting them.
    for (const s of servers) s.close();
  }
}

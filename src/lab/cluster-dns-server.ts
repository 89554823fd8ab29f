// The cluster DNS server as its own process (started by the lab inside the cluster's bridge namespace):
// answers from the static table in --table on --listen (UDP and TCP) until SIGTERM. Writes --ready-file
// once it listens.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DnsProxy } from '../capture/dns-proxy.js';
import type { NameTable } from '../envoy/name-table.js';
import { jsonLogFn } from '../shared/log.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, table: { type: 'string' }, 'ready-file': { type: 'string' } } });
  if (!values.listen || !values.table)
    throw Object.assign(new Error('usage: cluster-dns-server --listen IP:PORT --table FILE [--ready-file FILE]'), {
      code: 'E_CLUSTER_DNS',
    });
  const cut = values.listen.lastIndexOf(':');
  const listen = { address: values.listen.slice(0, cut), port: Number(values.listen.slice(cut + 1)) };
  const table = JSON.parse(readFileSync(values.table, 'utf8')) as NameTable;
  const log = jsonLogFn({ scope: 'cluster-dns', write: (line) => process.stdout.write(line) });
  // No upstream: the lab has no route to the host's resolvers, so unknown names fail at once (SERVFAIL).
  const server = new DnsProxy({ listen, upstream: [], table: () => table, log });
  const at = await server.start();
  log('info', `cluster DNS on ${at.address}:${at.port}: ${Object.keys(table.table).length} names`, { names: Object.keys(table.table) });
  if (values['ready-file']) writeFileSync(values['ready-file'], JSON.stringify({ pid: process.pid, ...at }));
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster-dns-server: [${(err as { code?: string }).code ?? 'E_CLUSTER_DNS'}] ${(err as Error).message}\n`);
  process.exit(1);
});

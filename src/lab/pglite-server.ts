// The embedded PostgreSQL as its own process, so the lab can run it inside a pod's network namespace
// (`ip netns exec NS node pglite-server.js ...`) and stop it by pid like any other workload.
// Prints one JSON line `{"ready":true,...}` on stdout once it accepts connections.
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5432' },
      socket: { type: 'string' },
      'data-dir': { type: 'string' },
      'max-connections': { type: 'string', default: '64' },
    },
  });
  const db = new PGlite(values['data-dir'] ?? 'memory://');
  await db.waitReady;
  const maxConnections = Number(values['max-connections']);
  const tcp = new PGLiteSocketServer({ db, host: values.host, port: Number(values.port), maxConnections });
  await tcp.start();
  // A second listener on a unix socket gives the lab an administrative path that bypasses the mesh,
  // as MariaDB's socket does.
  const unix = values.socket !== undefined ? new PGLiteSocketServer({ db, path: values.socket, maxConnections }) : undefined;
  await unix?.start();
  process.stdout.write(
    `${JSON.stringify({ ready: true, host: values.host, port: Number(values.port), socket: values.socket ?? null, pid: process.pid })}\n`,
  );

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await tcp.stop();
    await unix?.stop();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`pglite-server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

// netns mode's window onto admin ports: runs inside one lab namespace (`ip netns exec NS`), accepts on
// listening sockets that the lab created in the host namespace on 127.b.k.n (inherited as fd 3, 4, ...;
// a socket stays in the namespace it was created in), and connects each accepted connection, from
// inside NS, to a loopback-only port there: a pod's proxy admin (127.0.0.1:15000 in the pod's
// namespace) or the control plane's HTTP port (127.0.0.1:15014 in the cluster's bridge namespace).
// Usage: admin-relay.js --target HOST:PORT [--target HOST:PORT ...]   (one per inherited fd, in order)
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { target: { type: 'string', multiple: true, default: [] } } });
const targets = values.target.map((t) => {
  const i = t.lastIndexOf(':');
  return { host: t.slice(0, i), port: Number(t.slice(i + 1)) };
});

const servers = targets.map((target, i) => {
  const server = net.createServer((down) => {
    const up = net.connect(target);
    down.pipe(up);
    up.pipe(down);
    // Either side failing ends both; nothing else to do for an admin relay.
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  server.listen({ fd: 3 + i });
  return server;
});

process.stdout.write(`${JSON.stringify({ relaying: targets.length })}\n`);
const stop = (): void => {
  for (const s of servers) s.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// The churn and idle-scale backend: a TCP echo server in its own process (so it never competes with the
// load generator's event loop). Usage: node echo-server.js HOST PORT. Prints "listening" when ready.
import net from 'node:net';

const [host, portText] = process.argv.slice(2);
if (host === undefined || portText === undefined) {
  process.stderr.write('usage: echo-server HOST PORT\n');
  process.exit(2);
}
const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy()); // a peer reset is normal under churn; nothing to report
  socket.pipe(socket);
});
server.maxConnections = 1_000_000;
server.listen({ host, port: Number(portText), backlog: 4096 }, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));

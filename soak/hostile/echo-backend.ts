// The echo backend a hostile-input target proxies to: one loopback TCP echo whose open sockets are
// counted (a target reports them to show nothing leaked) and closed with it.
import net from 'node:net';

export interface EchoBackend {
  port: number;
  sockets: ReadonlySet<net.Socket>;
  close(): void;
}

export async function startEchoBackend(): Promise<EchoBackend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => s.destroy()); // a proxied peer may reset; the echo has nothing to report
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close(): void {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

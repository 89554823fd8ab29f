// Backends behind a chain (or hit directly): the echo server, iperf3's server. MariaDB comes from
// src/lab/mariadb.ts. Each runs in its own process, recorded and stopped by pid.
import { fileURLToPath } from 'node:url';
import { waitForPort } from './ports.js';
import { ProcessGroup } from './processes.js';

export interface RunningBackend {
  host: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** The compiled `.js` sibling when running from dist/, the `.ts` one under tsx. */
function siblingScript(name: string): { file: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  return { file: self.replace(/backends\.(ts|js)$/, `${name}${ext}`), execArgv: ext === '.ts' ? process.execArgv : [] };
}

async function startProcessBackend(name: string, host: string, port: number, command: string, args: string[]): Promise<RunningBackend> {
  const group = new ProcessGroup();
  const proc = group.start(name, command, args);
  try {
    await Promise.race([
      waitForPort(host, port, 10_000),
      proc.exited.then(({ code }) => {
        throw new Error(`${name} exited (code ${code}) before listening: ${proc.output()}`);
      }),
    ]);
  } catch (err) {
    await group.stopAll();
    throw err;
  }
  return { host, port, pid: proc.pid, stop: () => group.stopAll() };
}

export function startEchoServer(host: string, port: number): Promise<RunningBackend> {
  const s = siblingScript('echo-server');
  return startProcessBackend('echo server', host, port, process.execPath, [...s.execArgv, s.file, host, String(port)]);
}

export function startIperfServer(host: string, port: number): Promise<RunningBackend> {
  return startProcessBackend('iperf3 server', host, port, 'iperf3', ['-s', '-B', host, '-p', String(port)]);
}

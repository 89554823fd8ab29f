// A V8 CPU profile of a running Node process (a meshgate proxy the lab started) without restarting it:
// SIGUSR1 opens its inspector on 127.0.0.1:9229, the Chrome DevTools protocol starts and stops the
// profiler, and the inspector is closed again. Run with `node --experimental-websocket` (Node 20):
//   node --experimental-websocket dist/bench/profile-proxy.js PID SECONDS OUT.cpuprofile
// One process at a time: SIGUSR1 always uses port 9229.
import { writeFile } from 'node:fs/promises';

const [pidText, secondsText, out] = process.argv.slice(2);
if (!pidText || !secondsText || !out) {
  process.stderr.write('usage: profile-proxy PID SECONDS OUT.cpuprofile\n');
  process.exit(2);
}
const pid = Number(pidText);
const seconds = Number(secondsText);

class ProfileError extends Error {
  readonly code = 'E_BENCH_PROFILE';
}

async function debuggerUrl(): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const res = await fetch('http://127.0.0.1:9229/json/list', { signal: AbortSignal.timeout(1000) });
      const list = (await res.json()) as { webSocketDebuggerUrl?: string }[];
      const url = list[0]?.webSocketDebuggerUrl;
      if (url) return url;
    } catch {
      // the inspector is not listening yet: poll until the deadline
    }
    if (Date.now() > deadline) throw new ProfileError(`process ${pid}: no inspector on 127.0.0.1:9229 after SIGUSR1`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  process.kill(pid, 'SIGUSR1');
  const ws = new WebSocket(await debuggerUrl());
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new ProfileError('inspector websocket failed')));
  });
  let nextId = 0;
  const pending = new Map<number, (r: { result?: unknown; error?: { message: string } }) => void>();
  ws.addEventListener('message', (ev: MessageEvent) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg);
  });
  const call = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, (r) => (r.error ? reject(new ProfileError(`${method}: ${r.error.message}`)) : resolve(r.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await call('Profiler.start');
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const { profile } = (await call('Profiler.stop')) as { profile: object };
  await writeFile(out!, JSON.stringify(profile));
  // Close the inspector again so the port is free for the next process and nothing stays listening.
  await call('Runtime.evaluate', { expression: "require('node:inspector').close()", includeCommandLineAPI: true }).catch(() => {
    // closing the inspector may drop this very connection before it answers; the profile is already saved
  });
  ws.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`profile-proxy: ${(err as Error).message}\n`);
    process.exit(1);
  },
);

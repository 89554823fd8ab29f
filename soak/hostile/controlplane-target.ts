// The control plane under attack, in a process of its own (so a crash shows as a dead process):
// startControlPlane on 127.0.0.1 port 0 with the given config folder and token key. Usage:
// node controlplane-target.js CONFIG_DIR STATE_DIR TOKEN_PUBLIC_KEY ISSUER LOG_FILE; prints one JSON line when ready.
import { appendFileSync } from 'node:fs';
import { startControlPlane } from '../../src/controlplane/control-plane.js';
import { jsonLogger } from '../../src/shared/log.js';

const [configDir, stateDir, tokenKey, issuer, logFile] = process.argv.slice(2);
if (!configDir || !stateDir || !tokenKey || !issuer || !logFile) {
  process.stderr.write('usage: controlplane-target CONFIG_DIR STATE_DIR TOKEN_PUBLIC_KEY ISSUER LOG_FILE\n');
  process.exit(2);
}
// Every log line goes to LOG_FILE too: the soak scans the whole log for private keys and tokens.
const cp = await startControlPlane({
  configDir,
  clusterId: 'cluster-a',
  trustDomain: 'cluster.local',
  listen: '127.0.0.1:0',
  httpListen: '127.0.0.1:0',
  stateDir,
  tokenPublicKeyFiles: [tokenKey],
  tokenIssuer: issuer,
  debounceMs: 20,
  logger: jsonLogger({
    scope: 'control-plane',
    write: (l) => {
      process.stderr.write(l);
      appendFileSync(logFile, l);
    },
  }),
});
process.stdout.write(
  `${JSON.stringify({ address: cp.address, httpAddress: cp.httpAddress, rootCertFile: cp.rootCertFile, pid: process.pid })}\n`,
);
process.on('SIGTERM', () => {
  cp.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

// The Debian packages the test suite and the benchmark use, and the binary that shows each is present.
import { existsSync } from 'node:fs';

export const systemPackages = [
  { pkg: 'mariadb-server', bin: ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'] },
  { pkg: 'mariadb-client', bin: ['/usr/bin/mariadb'] },
  { pkg: 'iptables', bin: ['/usr/sbin/iptables', '/sbin/iptables'] },
  { pkg: 'iproute2', bin: ['/usr/sbin/ip', '/sbin/ip', '/bin/ip'] },
  { pkg: 'haproxy', bin: ['/usr/sbin/haproxy'] },
  { pkg: 'tcpdump', bin: ['/usr/bin/tcpdump', '/usr/sbin/tcpdump'] },
  { pkg: 'openssl', bin: ['/usr/bin/openssl'] },
  { pkg: 'sysbench', bin: ['/usr/bin/sysbench'] },
  { pkg: 'iperf3', bin: ['/usr/bin/iperf3'] },
  { pkg: 'procps', bin: ['/usr/bin/ps', '/bin/ps'] },
  { pkg: 'kubernetes-client', bin: ['/usr/bin/kubectl'] },
];

export function missingPackages() {
  return systemPackages.filter((p) => !p.bin.some((b) => existsSync(b))).map((p) => p.pkg);
}

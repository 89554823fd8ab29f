// Envoy's load balancers for a cluster's host set: ROUND_ROBIN (smooth weighted), LEAST_REQUEST (power of
// two choices, Envoy's default choice_count 2) and RANDOM (weighted). They choose among the hosts they
// are given; which hosts are eligible (health, ejection, panic) is the cluster's decision.
import type { UpstreamHost } from './host.js';

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

export interface LoadBalancer {
  choose(hosts: readonly UpstreamHost[]): UpstreamHost | undefined;
}

export class RoundRobinLb implements LoadBalancer {
  private next = 0;
  choose(hosts: readonly UpstreamHost[]): UpstreamHost | undefined {
    if (hosts.length === 0) return undefined;
    const w0 = hosts[0]!.weight;
    if (hosts.every((h) => h.weight === w0)) return hosts[this.next++ % hosts.length];
    let total = 0;
    let best: UpstreamHost | undefined;
    for (const h of hosts) {
      h.currentWeight += h.weight;
      total += h.weight;
      if (!best || h.currentWeight > best.currentWeight) best = h;
    }
    best!.currentWeight -= total;
    return best;
  }
}

export class LeastRequestLb implements LoadBalancer {
  constructor(private readonly random: () => number) {}
  choose(hosts: readonly UpstreamHost[]): UpstreamHost | undefined {
    if (hosts.length <= 1) return hosts[0];
    const a = hosts[Math.floor(this.random() * hosts.length)]!;
    const b = hosts[Math.floor(this.random() * hosts.length)]!;
    return b.active < a.active ? b : a;
  }
}

export class RandomLb implements LoadBalancer {
  constructor(private readonly random: () => number) {}
  choose(hosts: readonly UpstreamHost[]): UpstreamHost | undefined {
    if (hosts.length <= 1) return hosts[0];
    let total = 0;
    for (const h of hosts) total += h.weight;
    let r = this.random() * total;
    for (const h of hosts) {
      r -= h.weight;
      if (r < 0) return h;
    }
    return hosts[hosts.length - 1];
  }
}

export function createLoadBalancer(policy: LbPolicy, random: () => number): LoadBalancer {
  switch (policy) {
    case 'LEAST_REQUEST':
      return new LeastRequestLb(random);
    case 'RANDOM':
      return new RandomLb(random);
    default:
      return new RoundRobinLb();
  }
}

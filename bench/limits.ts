// The file-descriptor limit the benchmark runs under. Idle scale needs two descriptors per connection in
// every proxy (downstream + upstream), so the largest idle count a run can hold is about half the limit.
import { readFileSync } from 'node:fs';

export function nofileLimits(): { soft: number; hard: number } {
  const text = readFileSync('/proc/self/limits', 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const m = line?.match(/Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/);
  const num = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? 1 << 30 : Number(s));
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}

/** Connections each proxy may hold given the hard limit, keeping 200 descriptors for listeners, logs and admin. */
export function maxConnectionsPerProxy(hard = nofileLimits().hard): number {
  return Math.max(100, Math.floor((hard - 200) / 2));
}

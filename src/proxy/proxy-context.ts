// What listeners and network filters need from the proxy that owns them. Kept as an interface so the
// objects of the data path do not import the Proxy class (and tests can see the seams).
import type net from 'node:net';
import type { AccessLogger, StreamInfo } from './access-log.js';
import type { ClusterRuntime } from './cluster.js';
import type { UpstreamHost } from './host.js';
import type { SecretStore } from './secrets.js';
import type { ProxyStats } from './stats.js';
import type { PeerIdentity } from './tls-context.js';

import type { LogFn } from '../shared/log.js';
export type { LogFn, LogLevel } from '../shared/log.js';

export interface OriginalDestination {
  address: string;
  port: number;
}

/** One downstream connection while it is being set up and proxied. */
export interface DownstreamConnection {
  /** The accepted TCP socket. */
  raw: net.Socket;
  /** What bytes are read from and written to: `raw`, or the TLS socket on top of it. */
  socket: net.Socket;
  si: StreamInfo;
  originalDst: OriginalDestination;
  trafficDirection: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  downstreamPeer: PeerIdentity | undefined;
  /** The listener-level chain object, used to drain connections of chains an update removed. */
  chainToken: object;
  /** Set by the network filter that owns the connection; closes it (drain, shutdown). */
  close?: (reason: string) => void;
}

/** What the proxy sees of a running tcp_proxy session. */
export interface ProxySession {
  report(): void;
  buffered(): number;
}

export interface ProxyContext {
  readonly secrets: SecretStore;
  readonly stats: ProxyStats;
  readonly log: LogFn;
  readonly random: () => number;
  readonly now: () => number;
  getCluster(name: string): ClusterRuntime | undefined;
  accessLoggers(paths: { path: string; format: 'text' | 'json' }[]): AccessLogger[];
  /** Called once per connection when it closes (access log, Istio stats). */
  connectionClosed(c: DownstreamConnection, loggers: AccessLogger[]): void;
  /** Istio metric labels for a connection once its upstream host is known (or known to be none). */
  istioLabels(c: DownstreamConnection, upstream?: UpstreamHost): Record<string, string>;
  registerSession(s: ProxySession): void;
  unregisterSession(s: ProxySession): void;
}

// Envoy's /config_dump (admin.v3 *ConfigDump messages) built from what the managers hold: the bootstrap
// node, dynamic clusters, listeners (active and error state), endpoints on request, and secrets with every
// private key and generic secret redacted.
import { TypeUrl } from '../envoy/envoy-types.js';
import type { ProxyNode } from '../envoy/node.js';
import { redactSecrets } from '../xds/redact.js';
import type { ClusterManager } from './cluster-manager.js';
import type { ListenerManager } from './listener-manager.js';
import type { SecretManager } from './secret-manager.js';

export interface ConfigDumpSources {
  node: ProxyNode | undefined;
  listeners: ListenerManager;
  clusters: ClusterManager;
  secrets: SecretManager;
}

/** Config in Envoy's /config_dump JSON shape. */
export function configDump(src: ConfigDumpSources, includeEds: boolean): { configs: Record<string, unknown>[] } {
  const { node, listeners, clusters, secrets } = src;
  const configs: Record<string, unknown>[] = [];
  configs.push({
    '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
    bootstrap: {
      node: node
        ? {
            id: node.id,
            cluster: node.namespace,
            metadata: { NAMESPACE: node.namespace, SERVICE_ACCOUNT: node.serviceAccount, LABELS: node.labels, CLUSTER_ID: node.clusterId },
          }
        : {},
    },
  });
  configs.push({
    '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
    dynamicActiveClusters: [...clusters.versions.values()].map((v) => ({
      versionInfo: v.version,
      cluster: { '@type': TypeUrl.Cluster, ...v.value },
      lastUpdated: v.lastUpdated,
    })),
  });
  configs.push({
    '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
    dynamicListeners: [...new Set([...listeners.versions.keys(), ...listeners.errors.keys()])].map((name) => {
      const v = listeners.versions.get(name);
      const e = listeners.errors.get(name);
      return {
        name,
        ...(v
          ? { activeState: { versionInfo: v.version, listener: { '@type': TypeUrl.Listener, ...v.value }, lastUpdated: v.lastUpdated } }
          : {}),
        ...(e
          ? {
              errorState: {
                failedConfiguration: { '@type': TypeUrl.Listener, ...e.failedConfiguration },
                lastUpdateAttempt: e.lastUpdateAttempt,
                details: e.details,
                versionInfo: e.versionInfo,
              },
            }
          : {}),
      };
    }),
  });
  if (includeEds) {
    configs.push({
      '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
      dynamicEndpointConfigs: [...clusters.endpoints.values()].map((v) => ({
        versionInfo: v.version,
        endpointConfig: { '@type': TypeUrl.ClusterLoadAssignment, ...v.value },
        lastUpdated: v.lastUpdated,
      })),
    });
  }
  configs.push({
    '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
    dynamicActiveSecrets: secrets.store.all().map((s) => ({
      name: s.name,
      versionInfo: secrets.versions.get(s.name)?.version ?? '',
      lastUpdated: secrets.versions.get(s.name)?.lastUpdated,
      secret: { '@type': TypeUrl.Secret, ...s.raw },
    })),
  });
  // Envoy prints private keys and generic secrets as "[redacted]", in SDS secrets and inline alike.
  return redactSecrets({ configs });
}

// A proxy's node names its pod (`role~ip~POD.NAMESPACE~...`); its claimed namespace and service account
// are already checked against the identity it proved. What the node id itself names is checked here
// against the control plane's own knowledge: when the pod is known, it must run as that service account.
// Without this another service account of the same namespace could claim a pod's node id before the pod
// connects (node ids are bound to the first identity that proves them, see xds/server/node-binding.ts)
// and so keep that pod from its config.
import type { ConfigSnapshot } from '../config/types.js';
import type { ProxyNode } from '../envoy/node.js';

/** Why `node`, proven as `serviceAccount`, may not speak for the pod it names; undefined when it may. */
export function podClaimRefusal(
  snapshot: ConfigSnapshot,
  node: Pick<ProxyNode, 'podName' | 'namespace'>,
  serviceAccount: string,
): string | undefined {
  const pod = snapshot.pods.find((p) => p.metadata.name === node.podName && p.metadata.namespace === node.namespace);
  if (!pod) return undefined; // a pod the control plane does not know yet: its identity is all there is
  const runsAs = pod.spec.serviceAccountName ?? 'default';
  if (runsAs === serviceAccount) return undefined;
  return `pod ${node.namespace}/${node.podName} runs as service account ${runsAs}, not ${serviceAccount}`;
}

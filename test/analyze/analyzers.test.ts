// Each analyzer on small inputs, asserting Istio's code, level, message and the exact position.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeText } from './analyze-helpers.js';

const cases: { name: string; only: string[]; yaml: string; expect: string[] }[] = [
  {
    name: 'DR subset missing',
    only: ['virtualservice.DestinationRuleAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [db.example]\n  tcp:\n  - route:\n    - destination: {host: db.example, subset: v2}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr}\nspec:\n  host: db.example\n  subsets:\n  - name: v1\n',
    expect: [
      'in.yaml:8:39: Error [IST0101] (VirtualService default/vs) spec.tcp[0].route[0].destination.subset: Referenced host+subset in destinationrule not found: "db.example+v2"',
    ],
  },
  {
    name: 'VS destination host unknown, and port needed',
    only: ['virtualservice.DestinationHostAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [db.example]\n  tcp:\n  - route:\n    - destination: {host: nowhere}\n  - route:\n    - destination: {host: istio-ingressgateway.istio-system.svc.cluster.local}\n',
    expect: [
      'in.yaml:8:21: Error [IST0101] (VirtualService default/vs) spec.tcp[0].route[0].destination.host: Referenced host not found: "nowhere.default.svc.cluster.local"',
      'in.yaml:10:7: Error [IST0112] (VirtualService default/vs) spec.tcp[1].route[0].destination: This VirtualService routes to a service "istio-ingressgateway.istio-system.svc.cluster.local" that exposes multiple ports [15021 80 443]. Specifying a port in the destination is required to disambiguate.',
    ],
  },
  {
    name: 'mesh VS conflict',
    only: ['virtualservice.ConflictingMeshGatewayHostsAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [db.example]\n  tcp:\n  - route:\n    - destination: {host: db.example}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec:\n  hosts: [db.example]\n  gateways: [mesh]\n  tcp:\n  - route:\n    - destination: {host: db.example}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: c}\nspec:\n  hosts: [db.example]\n  gateways: [gw]\n  tls:\n  - match: [{sniHosts: [db.example]}]\n    route:\n    - destination: {host: db.example}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: d}\nspec:\n  hosts: [db.example]\n  gateways: [default/gw]\n  tcp:\n  - route:\n    - destination: {host: db.example}\n',
    expect: [
      'in.yaml:3:12: Error [IST0109] (VirtualService default/a) metadata.name: The VirtualServices default/a,default/b associated with mesh gateway define the same host */db.example which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.',
      'in.yaml:12:12: Error [IST0109] (VirtualService default/b) metadata.name: The VirtualServices default/a,default/b associated with mesh gateway define the same host */db.example which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.',
      'in.yaml:22:12: Warning [MG0104] (VirtualService default/c) metadata.name: The VirtualServices default/c,default/d bound to gateway default/gw define TCP/TLS routes for the same host db.example; only one of them takes effect. Merge them into one VirtualService.',
      'in.yaml:33:12: Warning [MG0104] (VirtualService default/d) metadata.name: The VirtualServices default/c,default/d bound to gateway default/gw define TCP/TLS routes for the same host db.example; only one of them takes effect. Merge them into one VirtualService.',
    ],
  },
  {
    name: 'VS host not in gateway',
    only: ['virtualservice.GatewayAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: [other.example]\n    tls: {mode: PASSTHROUGH}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [db.example]\n  gateways: [gw, istio-system/missing]\n  tcp:\n  - route:\n    - destination: {host: db.example}\n',
    expect: [
      'in.yaml:16:14: Warning [IST0132] (VirtualService default/vs) spec.gateways[0]: one or more host [db.example] defined in VirtualService default/vs not found in Gateway default/gw.',
      'in.yaml:16:18: Error [IST0101] (VirtualService default/vs) spec.gateways[1]: Referenced gateway not found: "istio-system/missing"',
      'in.yaml:16:18: Warning [IST0132] (VirtualService default/vs) spec.gateways[1]: one or more host [db.example] defined in VirtualService default/vs not found in Gateway istio-system/missing.',
    ],
  },
  {
    name: 'conflicting gateways and unknown selector',
    only: ['gateway.ConflictingGatewayAnalyzer', 'gateway.IngressGatewayPortAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: one}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ["*.example"]\n    tls: {mode: PASSTHROUGH}\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: two}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ["db.example"]\n    tls: {mode: PASSTHROUGH}\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: three}\nspec:\n  selector: {istio: nosuchgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n',
    expect: [
      'in.yaml:7:5: Error [IST0145] (Gateway default/one) spec.servers[0]: Conflict with gateways default/two (workload selector istio=ingressgateway, port 443, hosts *.example).',
      'in.yaml:17:5: Error [IST0145] (Gateway default/two) spec.servers[0]: Conflict with gateways default/one (workload selector istio=ingressgateway, port 443, hosts db.example).',
      'in.yaml:25:14: Error [IST0101] (Gateway default/three) spec.selector.istio: Referenced selector not found: "istio=nosuchgateway"',
    ],
  },
  {
    name: 'CA certificates',
    only: ['destinationrule.CaCertificateAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr}\nspec:\n  host: db.example\n  trafficPolicy:\n    tls: {mode: SIMPLE}\n    portLevelSettings:\n    - port: {number: 443}\n      tls: {mode: SIMPLE, caCertificates: /etc/ca.pem}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: sel}\nspec:\n  host: db2.example\n  workloadSelector: {matchLabels: {app: x}}\n  trafficPolicy:\n    tls: {mode: MUTUAL, credentialName: c}\n',
    expect: [
      'in.yaml:7:11: Warning [IST0128] (DestinationRule default/dr) spec.trafficPolicy.tls.mode: DestinationRule dr in namespace default has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: db.example',
    ],
  },
  {
    name: 'DR host unknown',
    only: ['destinationrule.SubsetSelectPodAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr, namespace: shop}\nspec:\n  host: reviews\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ok}\nspec:\n  host: istio-egressgateway.istio-system.svc.cluster.local\n',
    expect: [
      'in.yaml:5:3: Warning [IST0174] (DestinationRule shop/dr) spec.host: The host reviews.shop.svc.cluster.local defined in the DestinationRule does not match any services in the mesh.',
    ],
  },
  {
    name: 'TLS mode mismatch',
    only: ['destinationrule.TlsModeMismatchAnalyzer'],
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: egress}\nspec:\n  selector: {istio: egressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: [db.example]\n    tls: {mode: MUTUAL, credentialName: c}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: to-egress}\nspec:\n  host: istio-egressgateway.istio-system.svc.cluster.local\n  subsets:\n  - name: db\n    trafficPolicy:\n      portLevelSettings:\n      - port: {number: 443}\n        tls: {mode: ISTIO_MUTUAL}\n',
    expect: [
      'in.yaml:21:15: Error [MG0103] (DestinationRule default/to-egress) spec.subsets[0].trafficPolicy.portLevelSettings[0].tls.mode: traffic to istio-egressgateway.istio-system.svc.cluster.local:443 originates ISTIO_MUTUAL (mesh CA certificates) but the server expects MUTUAL with credentialName certificates: Gateway default/egress serves port 443 with tls mode MUTUAL; the TLS handshake will fail',
    ],
  },
];

for (const c of cases) {
  test(`analyzer: ${c.name}`, () => {
    assert.deepEqual(analyzeText(c.yaml, { only: c.only }), c.expect);
  });
}

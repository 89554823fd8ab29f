// Bad input, case by case: each asserts the exact file:line:column, code, object, field and message,
// and how many objects still load. Generated once from the loader, then reviewed line by line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfigText } from '../../src/config/load.js';

interface Case {
  name: string;
  file?: string;
  text: string;
  objects: number;
  expect: string[];
}

const cases: Case[] = [
  {
    name: 'port number is a string',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  ports:\n  - number: "3306"\n    name: tcp\n    protocol: TCP\n',
    objects: 0,
    expect: ['x.yaml:8:13: Error [IST0106] (ServiceEntry default/se) spec.ports[0].number: expected integer, found string "3306"'],
  },
  {
    name: 'port number 0',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  ports:\n  - {number: 0, name: tcp, protocol: TCP}\n',
    objects: 0,
    expect: [
      'x.yaml:8:14: Error [IST0106] (ServiceEntry default/se) spec.ports[0].number: expected a port number between 1 and 65535, found number 0',
    ],
  },
  {
    name: 'port number 70000',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  ports:\n  - {number: 70000, name: tcp, protocol: TCP}\n',
    objects: 0,
    expect: [
      'x.yaml:8:14: Error [IST0106] (ServiceEntry default/se) spec.ports[0].number: expected a port number between 1 and 65535, found number 70000',
    ],
  },
  {
    name: 'port number not an integer',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  ports:\n  - {number: 33.5, name: tcp, protocol: TCP}\n',
    objects: 0,
    expect: ['x.yaml:8:14: Error [IST0106] (ServiceEntry default/se) spec.ports[0].number: expected integer, found number 33.5'],
  },
  {
    name: 'bad protocol',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  ports:\n  - {number: 3306, name: tcp, protocol: SQL}\n',
    objects: 0,
    expect: [
      'x.yaml:8:41: Error [IST0106] (ServiceEntry default/se) spec.ports[0].protocol: expected one of HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, MYSQL, REDIS, TCP, TLS, UDP, found string "SQL"',
    ],
  },
  {
    name: 'bad location enum',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  location: EXTERNAL\n',
    objects: 0,
    expect: [
      'x.yaml:7:13: Error [IST0106] (ServiceEntry default/se) spec.location: expected one of MESH_EXTERNAL, MESH_INTERNAL, found string "EXTERNAL"',
    ],
  },
  {
    name: 'bad resolution enum',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  resolution: dns\n',
    objects: 0,
    expect: [
      'x.yaml:7:15: Error [IST0106] (ServiceEntry default/se) spec.resolution: expected one of NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS, found string "dns"',
    ],
  },
  {
    name: 'hosts is a string, not a list',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: db.example\n',
    objects: 0,
    expect: ['x.yaml:6:10: Error [IST0106] (ServiceEntry default/se) spec.hosts: expected list, found string "db.example"'],
  },
  {
    name: 'missing hosts',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  location: MESH_EXTERNAL\n',
    objects: 0,
    expect: ['x.yaml:5:1: Error [IST0106] (ServiceEntry default/se) spec.hosts: required field "hosts" is missing (expected list)'],
  },
  {
    name: 'invalid host name',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: ["db_server.example"]\n',
    objects: 0,
    expect: [
      'x.yaml:6:11: Error [IST0106] (ServiceEntry default/se) spec.hosts[0]: "db_server" is not a valid DNS label, found string "db_server.example"',
    ],
  },
  {
    name: 'duplicate port names in a ServiceEntry',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  ports:\n  - {number: 3306, name: tcp, protocol: TCP}\n  - {number: 3307, name: tcp, protocol: TCP}\n',
    objects: 0,
    expect: [
      'x.yaml:9:26: Error [IST0106] (ServiceEntry default/se) spec.ports[1].name: service entry port name "tcp" already defined (spec.ports[0])',
    ],
  },
  {
    name: 'endpoint port names no port',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  resolution: DNS\n  ports:\n  - {number: 3306, name: tcp, protocol: TCP}\n  endpoints:\n  - address: db.example\n    ports:\n      tls: 13306\n',
    objects: 0,
    expect: [
      'x.yaml:13:7: Error [IST0106] (ServiceEntry default/se) spec.endpoints[0].ports.tls: endpoint port 13306 is not defined by the service entry: no port is named "tls" (ports: tcp)',
    ],
  },
  {
    name: 'unknown field is a warning and the object loads',
    text: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example]\n  resolutoin: DNS\n',
    objects: 1,
    expect: ['x.yaml:7:3: Warning [IST0133] (ServiceEntry default/se) spec.resolutoin: unknown field "resolutoin"; it is ignored'],
  },
  {
    name: 'VirtualService weight out of range',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\nspec:\n  hosts: [db.example]\n  tcp:\n  - route:\n    - destination: {host: db.example}\n      weight: 150\n',
    objects: 0,
    expect: [
      'x.yaml:10:15: Error [IST0106] (VirtualService default/vs) spec.tcp[0].route[0].weight: expected a weight between 0 and 100, found number 150',
    ],
  },
  {
    name: 'VirtualService without routes',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\nspec:\n  hosts: [db.example]\n',
    objects: 0,
    expect: ['x.yaml:6:3: Error [IST0106] (VirtualService default/vs) spec: http, tcp or tls must be provided in virtual service'],
  },
  {
    name: 'VirtualService tls route without sniHosts',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\nspec:\n  hosts: [db.example]\n  tls:\n  - match:\n    - port: 443\n    route:\n    - destination: {host: db.example}\n',
    objects: 0,
    expect: [
      'x.yaml:9:7: Error [IST0106] (VirtualService default/vs) spec.tls[0].match[0].sniHosts: required field "sniHosts" is missing (expected list)',
    ],
  },
  {
    name: 'VirtualService destination port is not a number',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\nspec:\n  hosts: [db.example]\n  tcp:\n  - route:\n    - destination:\n        host: db.example\n        port:\n          number: mysql\n',
    objects: 0,
    expect: [
      'x.yaml:12:19: Error [IST0106] (VirtualService default/vs) spec.tcp[0].route[0].destination.port.number: expected integer, found string "mysql"',
    ],
  },
  {
    name: 'VirtualService gateways is a map',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\nspec:\n  hosts: [db.example]\n  gateways: {mesh: true}\n  tcp:\n  - route:\n    - destination: {host: db.example}\n',
    objects: 0,
    expect: ['x.yaml:7:13: Error [IST0106] (VirtualService default/vs) spec.gateways: expected list, found a mapping'],
  },
  {
    name: 'DestinationRule bad tls mode',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  trafficPolicy:\n    tls:\n      mode: MUTUAL_TLS\n',
    objects: 0,
    expect: [
      'x.yaml:9:13: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.tls.mode: expected one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, found string "MUTUAL_TLS"',
    ],
  },
  {
    name: 'DestinationRule bad load balancer',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  trafficPolicy:\n    loadBalancer:\n      simple: ROUNDROBIN\n',
    objects: 0,
    expect: [
      'x.yaml:9:15: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.loadBalancer.simple: expected one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, found string "ROUNDROBIN"',
    ],
  },
  {
    name: 'DestinationRule bad duration',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  trafficPolicy:\n    connectionPool:\n      tcp:\n        connectTimeout: 10 seconds\n',
    objects: 0,
    expect: [
      'x.yaml:10:25: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.connectionPool.tcp.connectTimeout: expected a duration like "10s", "500ms" or "1h", found string "10 seconds"',
    ],
  },
  {
    name: 'DestinationRule duplicate subsets',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  subsets:\n  - name: v1\n  - name: v1\n',
    objects: 0,
    expect: ['x.yaml:9:11: Error [IST0106] (DestinationRule default/dr) spec.subsets[1].name: duplicate subset names: v1'],
  },
  {
    name: 'DestinationRule MUTUAL without certificates',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  trafficPolicy:\n    tls:\n      mode: MUTUAL\n',
    objects: 0,
    expect: [
      'x.yaml:8:5: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls: set credentialName, or clientCertificate and privateKey',
      'x.yaml:8:5: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.tls.privateKey: private key required for mutual tls: set credentialName, or clientCertificate and privateKey',
    ],
  },
  {
    name: 'DestinationRule port-level settings without a port',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  trafficPolicy:\n    portLevelSettings:\n    - tls:\n        mode: ISTIO_MUTUAL\n',
    objects: 0,
    expect: [
      'x.yaml:9:7: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.portLevelSettings[0]: portTrafficPolicy must have valid port',
    ],
  },
  {
    name: 'DestinationRule insecureSkipVerify is a string',
    text: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: db.example\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n      insecureSkipVerify: "yes"\n',
    objects: 0,
    expect: [
      'x.yaml:10:27: Error [IST0106] (DestinationRule default/dr) spec.trafficPolicy.tls.insecureSkipVerify: expected boolean, found string "yes"',
    ],
  },
  {
    name: 'Gateway TLS server without tls settings',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ["*"]\n',
    objects: 0,
    expect: ['x.yaml:8:5: Error [IST0106] (Gateway default/gw) spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols'],
  },
  {
    name: 'Gateway bad server tls mode',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ["*"]\n    tls: {mode: STRICT}\n',
    objects: 0,
    expect: [
      'x.yaml:10:17: Error [IST0106] (Gateway default/gw) spec.servers[0].tls.mode: expected one of PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL, found string "STRICT"',
    ],
  },
  {
    name: 'Gateway port without a name',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  servers:\n  - port: {number: 443, protocol: TLS}\n    hosts: ["*"]\n    tls: {mode: PASSTHROUGH}\n',
    objects: 0,
    expect: [
      'x.yaml:7:5: Error [IST0106] (Gateway default/gw) spec.servers[0].port.name: required field "name" is missing (expected string)',
    ],
  },
  {
    name: 'Gateway without servers',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector: {istio: ingressgateway}\n',
    objects: 0,
    expect: ['x.yaml:5:1: Error [IST0106] (Gateway default/gw) spec.servers: required field "servers" is missing (expected list)'],
  },
  {
    name: 'Gateway bad minProtocolVersion',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ["*"]\n    tls: {mode: SIMPLE, credentialName: c, minProtocolVersion: TLS1_2}\n',
    objects: 0,
    expect: [
      'x.yaml:9:64: Error [IST0106] (Gateway default/gw) spec.servers[0].tls.minProtocolVersion: expected one of TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3, found string "TLS1_2"',
    ],
  },
  {
    name: 'Sidecar egress host without namespace',
    text: 'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: default\nspec:\n  egress:\n  - hosts: ["db.example"]\n',
    objects: 0,
    expect: [
      'x.yaml:7:13: Error [IST0106] (Sidecar default/default) spec.egress[0].hosts[0]: expected "namespace/dnsName" (for example "./*" or "istio-system/*"), found string "db.example"',
    ],
  },
  {
    name: 'PeerAuthentication bad mode',
    text: 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istio-system\nspec:\n  mtls:\n    mode: REQUIRED\n',
    objects: 0,
    expect: [
      'x.yaml:8:11: Error [IST0106] (PeerAuthentication istio-system/default) spec.mtls.mode: expected one of UNSET, DISABLE, PERMISSIVE, STRICT, found string "REQUIRED"',
    ],
  },
  {
    name: 'AuthorizationPolicy bad action',
    text: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny\nspec:\n  action: REJECT\n',
    objects: 0,
    expect: [
      'x.yaml:6:11: Error [IST0106] (AuthorizationPolicy default/deny) spec.action: expected one of ALLOW, DENY, AUDIT, CUSTOM, found string "REJECT"',
    ],
  },
  {
    name: 'Service bad L4 protocol',
    text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: mysql\nspec:\n  ports:\n  - {name: tcp-mysql, port: 3306, protocol: tcp}\n',
    objects: 0,
    expect: [
      'x.yaml:7:45: Error [IST0106] (Service default/mysql) spec.ports[0].protocol: expected one of TCP, UDP, SCTP, found string "tcp"',
    ],
  },
  {
    name: 'Service two unnamed ports',
    text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: mysql\nspec:\n  ports:\n  - port: 3306\n  - port: 3307\n',
    objects: 0,
    expect: [
      'x.yaml:7:5: Error [IST0106] (Service default/mysql) spec.ports[0].name: a Service with more than one port must name every port',
      'x.yaml:8:5: Error [IST0106] (Service default/mysql) spec.ports[1].name: a Service with more than one port must name every port',
    ],
  },
  {
    name: 'Service targetPort is a boolean',
    text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: mysql\nspec:\n  ports:\n  - {name: tcp, port: 3306, targetPort: true}\n',
    objects: 0,
    expect: [
      'x.yaml:7:41: Error [IST0106] (Service default/mysql) spec.ports[0].targetPort: expected a port number or a port name, found boolean true',
    ],
  },
  {
    name: 'Secret data is not base64',
    text: 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: cred\ndata:\n  tls.crt: "not base64!"\n',
    objects: 0,
    expect: ['x.yaml:6:12: Error [IST0106] (Secret default/cred) data["tls.crt"]: expected base64 data, found string "not base64!"'],
  },
  {
    name: 'metadata name with capitals',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: MyGateway\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n',
    objects: 0,
    expect: [
      'x.yaml:4:9: Error [IST0106] (Gateway default/MyGateway) metadata.name: expected a lower-case RFC 1123 name (a-z, 0-9, "-", "."), found string "MyGateway"',
    ],
  },
  {
    name: 'metadata missing',
    text: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n',
    objects: 0,
    expect: ['x.yaml:1:1: Error [IST0106] (Gateway default/<unnamed>) metadata: required field "metadata" is missing (expected mapping)'],
  },
  {
    name: 'kind missing',
    text: 'apiVersion: networking.istio.io/v1\nmetadata:\n  name: x\n',
    objects: 0,
    expect: ['x.yaml:1:1: Error [IST0106] kind: required field "kind" is missing'],
  },
  {
    name: 'apiVersion not served',
    text: 'apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata:\n  name: x\n',
    objects: 0,
    expect: [
      'x.yaml:1:13: Error [IST0106] (Gateway default/x) apiVersion: Gateway is not served as "networking.istio.io/v2"; expected one of networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1',
    ],
  },
  {
    name: 'unknown kind is a warning',
    text: 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mysql\n',
    objects: 0,
    expect: [
      'x.yaml:2:7: Warning [MG0004] (Deployment default/mysql) kind: kind "Deployment" (apps/v1) is not one meshgate reads; the object is ignored',
    ],
  },
  {
    name: 'document is a scalar',
    text: 'just some text\n',
    objects: 0,
    expect: [
      'x.yaml:1:1: Error [IST0106] expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found string "just some text"',
    ],
  },
  {
    name: 'duplicate objects in one file',
    text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n',
    objects: 1,
    expect: [
      'x.yaml:6:1: Error [MG0003] (Namespace app) duplicate object: Namespace//app is already defined at x.yaml:1:1; this one is ignored',
    ],
  },
  {
    name: 'duplicate key in a mapping',
    text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n  name: app2\n',
    objects: 0,
    expect: ['x.yaml:5:3: Error [MG0001] YAML syntax error: Map keys must be unique'],
  },
  {
    name: 'YAML syntax error: bad indentation',
    text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n   labels: {}\n',
    objects: 0,
    expect: [
      'x.yaml:4:9: Error [MG0001] YAML syntax error: Nested mappings are not allowed in compact mappings',
      'x.yaml:4:9: Error [MG0001] YAML syntax error: Implicit keys need to be on a single line',
    ],
  },
  {
    name: 'YAML syntax error: unclosed flow sequence',
    text: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [db.example\n',
    objects: 0,
    expect: [
      'x.yaml:7:1: Error [MG0001] YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  },
  {
    name: 'YAML tab indentation',
    text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: app\n',
    objects: 0,
    expect: ['x.yaml:4:1: Error [MG0001] YAML syntax error: Tabs are not allowed as indentation'],
  },
  {
    name: 'one bad document among good ones',
    text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: good1\n---\napiVersion: v1\nkind: Namespace\nmetadata: [oops\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: good2\n',
    objects: 2,
    expect: [
      'x.yaml:9:1: Error [MG0001] YAML syntax error (document 2): Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  },
  {
    name: 'empty file',
    text: '',
    objects: 0,
    expect: ['x.yaml:1:1: Warning [MG0008] file is empty; it holds no objects'],
  },
  {
    name: 'comments only',
    text: '# nothing here\n---\n# still nothing\n',
    objects: 0,
    expect: ['x.yaml:1:1: Warning [MG0008] file holds no objects (only comments or empty documents)'],
  },
  {
    name: 'binary garbage',
    text: 'apiVersion: v1\nkind: \u0000\u0001\u0002',
    objects: 0,
    expect: ['x.yaml:2:7: Error [MG0002] file contains the control character U+0000; it is binary data, not YAML or JSON'],
  },
  {
    name: 'invalid UTF-8',
    text: 'kind: Namespace\nmetadata:\n  name: caf�\n',
    objects: 0,
    expect: ['x.yaml:3:12: Error [MG0002] file contains bytes that are not valid UTF-8; it is binary data, not YAML or JSON'],
  },
  {
    name: 'JSON syntax error',
    file: 'x.json',
    text: '{\n  "apiVersion": "v1",\n  "kind": "Namespace",\n  "metadata": {"name": "a",}\n}\n',
    objects: 0,
    expect: ['x.json:4:28: Error [MG0001] invalid JSON: Expected double-quoted property name'],
  },
  {
    name: 'JSON object with a wrong type',
    file: 'x.json',
    text: '{\n  "apiVersion": "v1",\n  "kind": "Service",\n  "metadata": {"name": "a"},\n  "spec": {"ports": [{"name": "tcp", "port": "3306"}]}\n}\n',
    objects: 0,
    expect: ['x.json:5:46: Error [IST0106] (Service default/a) spec.ports[0].port: expected integer, found string "3306"'],
  },
  {
    name: 'JSON patch with a bad op',
    file: 'p.json',
    text: '[\n  {"op": "insert", "path": "/spec/ports/0", "value": {}}\n]\n',
    objects: 0,
    expect: ['p.json:2:10: Error [IST0106] [0].op: expected one of add, remove, replace, move, copy, test, found string "insert"'],
  },
  {
    name: 'JSON patch path not a pointer',
    file: 'p.json',
    text: '[\n  {"op": "remove", "path": "spec/ports/0"}\n]\n',
    objects: 0,
    expect: ['p.json:2:28: Error [IST0106] [0].path: expected a JSON pointer starting with "/", found string "spec/ports/0"'],
  },
  {
    name: 'JSON patch add without value',
    file: 'p.json',
    text: '[\n  {"op": "add", "path": "/spec/ports/0"}\n]\n',
    objects: 0,
    expect: ['p.json:2:3: Error [IST0106] [0]: an "add" operation needs a "value"'],
  },
  {
    name: 'top-level list that is not a patch',
    text: '- a\n- b\n',
    objects: 0,
    expect: [
      'x.yaml:1:1: Error [IST0106] a top-level list must be an RFC 6902 JSON patch (a list of {"op", "path", ...}); use kind: List for a list of objects',
    ],
  },
  {
    name: 'List kind with a bad item',
    text: 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: ok}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: 7}\n',
    objects: 1,
    expect: ['x.yaml:9:20: Error [IST0106] (Namespace <unnamed>) metadata.name: expected string, found number 7'],
  },
  {
    name: 'alias bomb',
    text: 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
    objects: 0,
    expect: ['x.yaml:1:1: Error [MG0001] YAML could not be read: Excessive alias count indicates a resource exhaustion attack'],
  },
];

for (const c of cases) {
  test(`rejects bad input: ${c.name}`, () => {
    const r = loadConfigText(c.text, c.file ?? 'x.yaml');
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), c.expect);
    assert.equal(r.objects.length, c.objects, 'objects that still load');
  });
}

test('there are at least 40 bad-input cases', () => {
  assert.ok(cases.length >= 40, `only ${cases.length} cases`);
});

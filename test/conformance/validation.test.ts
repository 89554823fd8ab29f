// Istio's semantic validation rules, case by case, each derived from a case of Istio's own tests
// (istio/istio pkg/config/validation/validation_test.go unless said otherwise): the same input shape
// written as YAML, and the error (IST0106) or warning (IST0133) Istio gives, in Istio's words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { net, sec, validationFindings, type ConformanceCase } from './conformance-helpers.js';

const VT = 'pkg/config/validation/validation_test.go';
const srv = (port: string, tls?: string, hosts = '[foo.bar.com]'): string =>
  `  selector: {istio: ingressgateway}\n  servers:\n  - port: ${port}\n    hosts: ${hosts}\n${tls ? `    tls: ${tls}\n` : ''}`;
const gw = (port: string, tls?: string): string => net('Gateway', 'gw', srv(port, tls));
const se = (spec: string): string => net('ServiceEntry', 'se', spec);
const dr = (spec: string): string => net('DestinationRule', 'dr', spec);
const vs = (spec: string): string => net('VirtualService', 'vs', spec);
const tcpRoute = '  - route:\n    - destination: {host: db.example}\n';

const cases: ConformanceCase[] = [
  // ---- Gateway
  {
    source: `${VT} TestValidateServerPort "happy"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: PASSTHROUGH}'),
    expect: [],
  },
  {
    source: `${VT} TestValidateServer "invalid port" (66000)`,
    yaml: gw('{number: 66000, name: http, protocol: HTTP}'),
    expect: ['Error [IST0106] spec.servers[0].port.number: expected a port number between 1 and 65535, found number 66000'],
  },
  {
    source: `${VT} TestValidateServerPort "invalid number" (0)`,
    yaml: gw('{number: 0, name: http, protocol: HTTP}'),
    expect: ['Error [IST0106] spec.servers[0].port.number: expected a port number between 1 and 65535, found number 0'],
  },
  {
    source: `${VT} TestValidateServer "no tls on HTTPS"`,
    yaml: gw('{number: 443, name: https, protocol: HTTPS}'),
    expect: ['Error [IST0106] spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols'],
  },
  {
    source: `${VT} TestValidateServer "tls on HTTP"`,
    yaml: gw('{number: 80, name: http, protocol: HTTP}', '{mode: SIMPLE, credentialName: c}'),
    expect: ['Error [IST0106] spec.servers[0].tls: server cannot have TLS settings for plain text HTTP ports'],
  },
  {
    source: `${VT} TestValidateServer "tls redirect on HTTP"`,
    yaml: gw('{number: 80, name: http, protocol: HTTP}', '{httpsRedirect: true}'),
    expect: [],
  },
  {
    source: `${VT} TestValidateGateway "invalid https httpsRedirect"`,
    yaml: gw('{number: 443, name: https, protocol: HTTPS}', '{httpsRedirect: true, mode: SIMPLE, credentialName: c}'),
    expect: ['Warning [IST0133] spec.servers[0].tls.httpsRedirect: tls.httpsRedirect should only be used with http servers'],
  },
  {
    source: `${VT} TestValidateServer (TLS settings on a TCP port, validateServer's "non HTTPS/TLS" branch)`,
    yaml: gw('{number: 3306, name: tcp, protocol: TCP}', '{mode: SIMPLE, credentialName: c}'),
    expect: ['Error [IST0106] spec.servers[0].tls: server cannot have TLS settings for non HTTPS/TLS ports'],
  },
  {
    source: `${VT} TestValidateGateway "duplicate port names"`,
    yaml: net(
      'Gateway',
      'gw',
      `${srv('{number: 80, name: foo, protocol: HTTP}')}  - port: {number: 8080, name: foo, protocol: HTTP}\n    hosts: [foo.bar.com]\n`,
    ),
    expect: ['Error [IST0106] spec.servers[1].port.name: port names in servers must be unique: duplicate name foo'],
  },
  {
    source: `${VT} TestValidateTlsOptions "istio_mutual no certs"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: ISTIO_MUTUAL}'),
    expect: [],
  },
  {
    source: `${VT} TestValidateTlsOptions "istio_mutual with credential name"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: ISTIO_MUTUAL, credentialName: some-cred}'),
    expect: ['Error [IST0106] spec.servers[0].tls.credentialName: ISTIO_MUTUAL TLS cannot have associated credentialName'],
  },
  {
    source: `${VT} TestValidateTlsOptions "istio_mutual with server cert"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: ISTIO_MUTUAL, serverCertificate: Captain Jean-Luc Picard}'),
    expect: ['Error [IST0106] spec.servers[0].tls.serverCertificate: ISTIO_MUTUAL TLS cannot have associated server certificate'],
  },
  {
    source: `${VT} TestValidateTlsOptions "mutual sds"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: MUTUAL, credentialName: sds-name}'),
    expect: [],
  },
  {
    source: `${VT} TestValidateTlsOptions "mutual no client CA bundle"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: MUTUAL, serverCertificate: cert, privateKey: key}'),
    expect: ['Error [IST0106] spec.servers[0].tls.caCertificates: MUTUAL TLS requires a client CA bundle'],
  },
  {
    source: `${VT} TestValidateTlsOptions "simple no private key"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: SIMPLE, serverCertificate: cert}'),
    expect: ['Error [IST0106] spec.servers[0].tls.privateKey: SIMPLE TLS requires a private key'],
  },
  {
    source: `${VT} TestValidateTlsOptions "simple sds with client bundle but with server cert"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: SIMPLE, credentialName: c, serverCertificate: cert, privateKey: key}'),
    expect: [
      'Error [IST0106] spec.servers[0].tls: only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified',
    ],
  },
  {
    source: `${VT} TestValidateTlsOptions "pass through sds crl"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: PASSTHROUGH, caCrl: crl}'),
    expect: ['Warning [IST0133] spec.servers[0].tls.mode: PASSTHROUGH mode does not use certificates, they will be ignored'],
  },
  {
    source: `${VT} TestValidateTlsOptions "crl specified for SIMPLE TLS"`,
    yaml: gw('{number: 443, name: tls, protocol: TLS}', '{mode: SIMPLE, serverCertificate: cert, privateKey: key, caCrl: crl}'),
    expect: ['Error [IST0106] spec.servers[0].tls.caCrl: CRL is not supported with SIMPLE TLS'],
  },
  {
    source: `${VT} TestValidateServerPort (validateServerPort "targetPort has no impact on Gateways")`,
    yaml: gw('{number: 443, name: tls, protocol: TLS, targetPort: 8443}', '{mode: PASSTHROUGH}'),
    expect: ['Error [IST0106] spec.servers[0].port.targetPort: targetPort has no impact on Gateways'],
  },

  {
    source: `${VT} TestValidateServer "happy" (a TCP server without TLS settings)`,
    yaml: gw('{number: 3306, name: tcp, protocol: TCP}'),
    expect: [],
  },

  // ---- ServiceEntry (TestValidateServiceEntries)
  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 80, name: http-valid1, protocol: HTTP}]\n  endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}}]\n  resolution: DNS\n',
    ),
    expect: [],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS, no endpoints" (wildcard host)`,
    yaml: se('  hosts: ["*.google.com"]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  resolution: DNS\n'),
    expect: [
      'Error [IST0106] spec.hosts[0]: hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, domain name "*.google.com" invalid (label "*" invalid)',
    ],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS Round Robin" (two endpoints)`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  endpoints: [{address: a.google.com}, {address: b.google.com}]\n  resolution: DNS_ROUND_ROBIN\n',
    ),
    expect: ['Error [IST0106] spec.endpoints: there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS, unix endpoint"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  endpoints: [{address: "unix:///path/to/socket"}]\n  resolution: DNS\n',
    ),
    expect: ['Error [IST0106] spec.endpoints[0].address: endpoint address "unix:///path/to/socket" is not a valid FQDN or an IP address'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type none"`,
    yaml: se(
      '  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: [{number: 3306, name: tcp, protocol: TCP}]\n  resolution: NONE\n',
    ),
    expect: [],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type none, endpoints provided"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: 1.1.1.1}]\n  resolution: NONE\n',
    ),
    expect: ['Error [IST0106] spec.endpoints: no endpoints should be provided for resolution type none'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type static, cidr addresses with endpoints"`,
    yaml: se(
      '  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: 1.1.1.1}]\n  resolution: STATIC\n',
    ),
    expect: [],
  },
  {
    source: `${VT} TestValidateServiceEntries (CIDR addresses with DNS resolution)`,
    yaml: se(
      '  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n',
    ),
    expect: ['Error [IST0106] spec.addresses: CIDR addresses are allowed only for NONE/STATIC resolution types'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type static, FQDN in endpoints"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: google.com}]\n  resolution: STATIC\n',
    ),
    expect: ['Error [IST0106] spec.endpoints[0].address: endpoint address "google.com" is not a valid IP address'],
  },
  {
    source: `${VT} TestValidateServiceEntries "undefined endpoint port"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 80, name: http-valid1, protocol: HTTP}]\n  endpoints: [{address: 1.1.1.1, ports: {http-dne: 8080}}]\n  resolution: STATIC\n',
    ),
    expect: [
      'Error [IST0106] spec.endpoints[0].ports.http-dne: endpoint port 8080 is not defined by the service entry: no port is named "http-dne" (ports: http-valid1)',
    ],
  },
  {
    source: `${VT} TestValidateServiceEntries "full wildcard host"`,
    yaml: se(
      '  hosts: [foo.com, "*"]\n  addresses: [240.0.0.1]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: NONE\n',
    ),
    expect: ['Error [IST0106] spec.hosts[1]: invalid host *'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS, multi hosts set with IP address and https port" (a TCP port instead)`,
    yaml: se('  hosts: [a.example, b.example]\n  ports: [{number: 3306, name: tcp, protocol: TCP}]\n  resolution: DNS\n'),
    expect: ['Error [IST0106] spec.ports[0].protocol: multiple hosts provided with non-HTTP, non-TLS ports'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS, multi hosts set with IP address and https port"`,
    yaml: se(
      '  hosts: [a.example, b.example]\n  addresses: [10.10.10.10]\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n  resolution: DNS\n',
    ),
    expect: [],
  },
  {
    source: `${VT} TestValidateServiceEntries "selector and endpoints"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  workloadSelector: {labels: {app: x}}\n  endpoints: [{address: 1.1.1.1}]\n  resolution: STATIC\n',
    ),
    expect: ['Error [IST0106] spec.workloadSelector: only one of WorkloadSelector or Endpoints is allowed in Service Entry'],
  },
  {
    source: `${VT} TestValidateServiceEntries "discovery type none, conflicting port names"`,
    yaml: se(
      '  hosts: [google.com]\n  addresses: [240.0.0.1]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http, protocol: HTTP}]\n',
    ),
    expect: ['Error [IST0106] spec.ports[1].name: service entry port name "http" already defined (spec.ports[0])'],
  },

  {
    source: `${VT} TestValidateServiceEntries "discovery type DNS Round Robin"`,
    yaml: se(
      '  hosts: [google.com]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  endpoints: [{address: a.google.com}]\n  resolution: DNS_ROUND_ROBIN\n',
    ),
    expect: [],
  },

  // ---- VirtualService (TestValidateVirtualService)
  {
    source: `${VT} TestValidateVirtualService "delegate with no hosts"`,
    yaml: vs('  http:\n  - route:\n    - destination: {host: foo.bar}\n'),
    expect: [],
  },
  {
    source: `${VT} TestValidateVirtualService (delegate: "delegate virtual service must have no tcp route specified")`,
    yaml: vs(`  tcp:\n${tcpRoute}`),
    expect: ['Error [IST0106] spec.tcp: delegate virtual service must have no tcp route specified'],
  },
  {
    source: `${VT} TestValidateVirtualService "wildcard for mesh gateway"`,
    yaml: vs(`  hosts: ["*"]\n  tcp:\n${tcpRoute}`),
    expect: ['Error [IST0106] spec.hosts[0]: wildcard host * is not allowed for virtual services bound to the mesh gateway'],
  },
  {
    source: `${VT} TestValidateVirtualService "wildcard for non-mesh gateway"`,
    yaml: vs(`  hosts: ["*"]\n  gateways: [somegateway]\n  tcp:\n${tcpRoute}`),
    expect: [],
  },
  {
    source: `${VT} TestValidateVirtualService "duplicate hosts"`,
    yaml: vs(`  hosts: ["*.foo.bar", "*.bar"]\n  tcp:\n${tcpRoute}`),
    expect: ['Error [IST0106] spec.hosts[1]: duplicate hosts in virtual service: *.foo.bar & *.bar'],
  },
  {
    source: `${VT} TestValidateVirtualService "missing tcp route"`,
    yaml: vs('  hosts: [foo.bar]\n  tcp:\n  - match: [{port: 999}]\n'),
    expect: ['Error [IST0106] spec.tcp[0].route: TCP route is required'],
  },
  {
    source: `${VT} TestValidateVirtualService "missing tls route"`,
    yaml: vs('  hosts: [foo.bar]\n  tls:\n  - match: [{sniHosts: [foo.bar]}]\n'),
    expect: ['Error [IST0106] spec.tls[0].route: TLS route is required'],
  },
  {
    source: `${VT} TestValidateRouteDestinations (validateRouteDestinations "total destination weight = 0")`,
    yaml: vs(
      '  hosts: [foo.bar]\n  tcp:\n  - route:\n    - {destination: {host: a.bar}, weight: 0}\n    - {destination: {host: b.bar}, weight: 0}\n',
    ),
    expect: ['Error [IST0106] spec.tcp[0].route: total destination weight = 0'],
  },
  {
    source: `${VT} TestValidateVirtualService "ip address as sni host"`,
    yaml: vs('  hosts: [foo.bar]\n  tls:\n  - match: [{sniHosts: [1.1.1.1]}]\n    route:\n    - destination: {host: foo.bar}\n'),
    expect: [
      'Warning [IST0133] spec.tls[0].match[0].sniHosts[0]: using an IP address ("1.1.1.1") goes against SNI spec and most clients do not support this',
    ],
  },
  {
    source: `${VT} TestValidateTLSRoute (validateSniHost "not a compatible subset")`,
    yaml: vs('  hosts: [foo.bar]\n  tls:\n  - match: [{sniHosts: [other.bar]}]\n    route:\n    - destination: {host: foo.bar}\n'),
    expect: [
      'Error [IST0106] spec.tls[0].match[0].sniHosts[0]: SNI host "other.bar" is not a compatible subset of any of the virtual service hosts: [foo.bar]',
    ],
  },

  {
    source: `${VT} TestValidateRouteDestinations (weights that add up to 100)`,
    yaml: vs(
      '  hosts: [foo.bar]\n  tcp:\n  - route:\n    - {destination: {host: a.bar}, weight: 50}\n    - {destination: {host: b.bar}, weight: 50}\n',
    ),
    expect: [],
  },
  {
    source: `${VT} TestValidateTLSRoute (an SNI host under the VirtualService's wildcard host)`,
    yaml: vs(
      '  hosts: ["*.bar"]\n  gateways: [gw]\n  tls:\n  - match: [{sniHosts: [foo.bar]}]\n    route:\n    - destination: {host: foo.bar}\n',
    ),
    expect: [],
  },

  // ---- DestinationRule (TestValidateDestinationRule, TestValidateTrafficPolicy)
  {
    source: `${VT} TestValidateDestinationRule "simple destination rule"`,
    yaml: dr('  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n'),
    expect: [],
  },
  {
    source: `${VT} TestValidateDestinationRule "missing subset name"`,
    yaml: dr('  host: reviews\n  subsets:\n  - {name: "", labels: {version: v1}}\n'),
    expect: ['Error [IST0106] spec.subsets[0].name: expected a non-empty subset name, found string ""'],
  },
  {
    source: `${VT} TestValidateDestinationRule "duplicate subset names"`,
    yaml: dr('  host: reviews\n  subsets:\n  - {name: foo, labels: {version: v1}}\n  - {name: foo, labels: {version: v2}}\n'),
    expect: ['Error [IST0106] spec.subsets[1].name: duplicate subset names: foo'],
  },
  {
    source: `${VT} TestValidateDestinationRule "InsecureSkipVerify is not specified with tls mode mutual, and the ca cert is specified by CredentialName"`,
    yaml: dr('  host: reviews\n  trafficPolicy:\n    tls: {mode: MUTUAL, credentialName: c}\n'),
    expect: [],
  },
  {
    source: `pkg/config/validation/agent/validation_test.go TestValidateTLS (credentialName with caCertificates)`,
    yaml: dr('  host: reviews\n  trafficPolicy:\n    tls: {mode: MUTUAL, credentialName: c, caCertificates: /etc/ca.pem}\n'),
    expect: [
      'Error [IST0106] spec.trafficPolicy.tls.credentialName: cannot specify client certificates or CA certificate or CA CRL If credentialName is set',
    ],
  },
  {
    source: `pkg/config/validation/agent/validation_test.go TestValidateTLS (MUTUAL without client certificate)`,
    yaml: dr('  host: reviews\n  trafficPolicy:\n    tls: {mode: MUTUAL, privateKey: /etc/key.pem}\n'),
    expect: [
      'Error [IST0106] spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls: set credentialName, or clientCertificate and privateKey',
    ],
  },
  {
    source: `${VT} TestValidateDestinationRule "InsecureSkipVerify is set true with tls mode simple, and the ca cert is specified by CaCertificates"`,
    yaml: dr('  host: reviews\n  trafficPolicy:\n    tls: {mode: SIMPLE, caCertificates: /etc/ca.pem, insecureSkipVerify: true}\n'),
    expect: [
      'Error [IST0106] spec.trafficPolicy.tls.insecureSkipVerify: cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true',
    ],
  },
  {
    source: `${VT} TestValidateTrafficPolicy "invalid traffic policy, missing port in port level settings"`,
    yaml: dr('  host: reviews\n  trafficPolicy:\n    portLevelSettings:\n    - loadBalancer: {simple: RANDOM}\n'),
    expect: ['Error [IST0106] spec.trafficPolicy.portLevelSettings[0]: portTrafficPolicy must have valid port'],
  },

  {
    source: `pkg/config/validation/agent/validation_test.go TestValidateTLS (MUTUAL with client certificate and key)`,
    yaml: dr('  host: reviews\n  trafficPolicy:\n    tls: {mode: MUTUAL, clientCertificate: /etc/cert.pem, privateKey: /etc/key.pem}\n'),
    expect: [],
  },

  // ---- PeerAuthentication (TestValidatePeerAuthentication)
  {
    source: `${VT} TestValidatePeerAuthentication "port level"`,
    yaml: sec('PeerAuthentication', 'pa', '  selector: {matchLabels: {app: httpbin}}\n  portLevelMtls:\n    "8080": {mode: DISABLE}\n'),
    expect: [],
  },
  {
    source: `${VT} TestValidatePeerAuthentication "empty selector with port level mtls"`,
    yaml: sec('PeerAuthentication', 'pa', '  portLevelMtls:\n    "8080": {mode: DISABLE}\n'),
    expect: ['Error [IST0106] spec.portLevelMtls: mesh/namespace peer authentication cannot have port level mTLS'],
  },
  {
    source: `${VT} TestValidatePeerAuthentication "port 0"`,
    yaml: sec('PeerAuthentication', 'pa', '  selector: {matchLabels: {app: httpbin}}\n  portLevelMtls:\n    "0": {mode: DISABLE}\n'),
    expect: ['Error [IST0106] spec.portLevelMtls["0"]: port must be in range 1..65535'],
  },

  // ---- AuthorizationPolicy (TestValidateAuthorizationPolicy)
  {
    source: `${VT} TestValidateAuthorizationPolicy "allow-rules-nil"`,
    yaml: sec('AuthorizationPolicy', 'ap', '  action: ALLOW\n'),
    expect: [],
  },
  {
    source: `${VT} TestValidateAuthorizationPolicy "deny-rules-nil"`,
    yaml: sec('AuthorizationPolicy', 'ap', '  action: DENY\n'),
    expect: [
      'Error [IST0106] spec: DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
    ],
  },
  {
    source: `${VT} TestValidateAuthorizationPolicy "Ports-empty" family (security.ValidatePorts: a port out of range)`,
    yaml: sec('AuthorizationPolicy', 'ap', '  rules:\n  - to:\n    - operation: {ports: ["70000"]}\n'),
    expect: ['Error [IST0106] spec.rules[0].to[0].operation.ports[0]: bad port (70000): out of range'],
  },
  {
    source: `${VT} TestValidateAuthorizationPolicy "selector-empty-labels"`,
    yaml: sec('AuthorizationPolicy', 'ap', '  selector: {}\n  rules: [{}]\n'),
    expect: ['Warning [IST0133] spec.selector: workload selector specified without labels'],
  },
  {
    source: `${VT} TestValidateAuthorizationPolicy "dry-run-valid-deny" (DENY with a TCP rule)`,
    yaml: sec('AuthorizationPolicy', 'ap', '  action: DENY\n  rules:\n  - to:\n    - operation: {ports: ["3306"]}\n'),
    expect: [],
  },
];

for (const c of cases) {
  test(`validation: ${c.source}`, () => {
    assert.deepEqual(validationFindings(c.yaml), c.expect);
  });
}

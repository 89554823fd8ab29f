// Istio's analyzers, case by case, each derived from `istioctl analyze`'s own test data (istio/istio
// pkg/config/analysis/analyzers/testdata/*.yaml, run by analyzers_test.go): the object Istio's test
// names, reduced to what the check reads, with Istio's code, level and message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzerFindings, net, sec, type ConformanceCase } from './conformance-helpers.js';

const TD = 'pkg/config/analysis/analyzers/testdata';
const pod = (name: string, ns: string, labels: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}, labels: ${labels}}\nspec: {containers: [{name: app}]}\n`;
const svc = (name: string, ns: string, ports: string, selector = '{app: httpbin}'): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: ${selector}\n  ports: ${ports}\n`;
const tcpEcho = (name: string, tcp: string): string =>
  net('VirtualService', name, `  hosts: ["*"]\n  gateways: [tcp-echo-gateway]\n  tcp:\n${tcp}`);
const echoRoute = (subset: string): string => `    route:\n    - destination: {host: tcp-echo, port: {number: 9000}, subset: ${subset}}\n`;

const cases: (ConformanceCase & { only: string[] })[] = [
  // ---- IST0127 NoMatchingWorkloadsFound (analyzers_test.go "authorizationpolicies")
  {
    source: `${TD}/authorizationpolicies.yaml AuthorizationPolicy httpbin/httpbin-nopods`,
    only: ['auth.AuthorizationPoliciesAnalyzer'],
    yaml: [
      sec('AuthorizationPolicy', 'httpbin-nopods', '  selector: {matchLabels: {app: httpbin, version: v1}}\n  rules: [{}]\n', 'httpbin'),
      pod('other', 'httpbin', '{app: other}'),
    ].join('---\n'),
    expect: ['Warning [IST0127] spec.selector: No matching workloads for this resource with the following labels: app=httpbin,version=v1'],
  },
  {
    source: `${TD}/authorizationpolicies.yaml AuthorizationPolicy httpbin/httpbin (a pod matches)`,
    only: ['auth.AuthorizationPoliciesAnalyzer'],
    yaml: [
      sec('AuthorizationPolicy', 'httpbin', '  selector: {matchLabels: {app: httpbin}}\n  rules: [{}]\n', 'httpbin'),
      pod('httpbin-1', 'httpbin', '{app: httpbin, version: v1}'),
    ].join('---\n'),
    expect: [],
  },
  {
    source: `${TD}/authorizationpolicies.yaml AuthorizationPolicy httpbin-empty/httpbin-empty-namespace-wide`,
    only: ['auth.AuthorizationPoliciesAnalyzer'],
    yaml: [
      sec('AuthorizationPolicy', 'httpbin-empty-namespace-wide', '  rules: [{}]\n', 'httpbin-empty'),
      pod('httpbin-1', 'httpbin', '{app: httpbin}'),
    ].join('---\n'),
    expect: ['Warning [IST0127] metadata.name: No matching workloads for this resource with the following labels: '],
  },
  {
    source: `${TD}/authorizationpolicies.yaml AuthorizationPolicy istio-system/meshwide-httpbin-v1`,
    only: ['auth.AuthorizationPoliciesAnalyzer'],
    yaml: [
      sec(
        'AuthorizationPolicy',
        'meshwide-httpbin-v1',
        '  selector: {matchLabels: {app: httpbin, version: v1}}\n  rules: [{}]\n',
        'istio-system',
      ),
      pod('httpbin-1', 'httpbin', '{app: httpbin, version: v2}'),
    ].join('---\n'),
    expect: ['Warning [IST0127] spec.selector: No matching workloads for this resource with the following labels: app=httpbin,version=v1'],
  },
  {
    source: `${TD}/authorizationpolicies.yaml AuthorizationPolicy istio-system/meshwide-httpbin (a pod in another namespace matches)`,
    only: ['auth.AuthorizationPoliciesAnalyzer'],
    yaml: [
      sec('AuthorizationPolicy', 'meshwide-httpbin', '  selector: {matchLabels: {app: httpbin}}\n  rules: [{}]\n', 'istio-system'),
      pod('httpbin-1', 'httpbin', '{app: httpbin}'),
    ].join('---\n'),
    expect: [],
  },

  // ---- IST0130 / IST0131 (analyzers_test.go "dupmatches")
  {
    source: `${TD}/virtualservice_dupmatches.yaml VirtualService duplicate-tcp-match`,
    only: ['virtualservice.UnreachableRulesAnalyzer'],
    yaml: tcpEcho('duplicate-tcp-match', `  - match: [{port: 31400}]\n${echoRoute('v1')}  - match:\n    - port: 31400\n${echoRoute('v2')}`),
    expect: [
      'Warning [IST0130] spec.tcp[1]: VirtualService rule #1 not used (all matches used by prior rules).',
      'Info [IST0131] spec.tcp[1].match[0]: VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).',
    ],
  },
  {
    source: `${TD}/virtualservice_dupmatches.yaml VirtualService duplicate-empty-tcp`,
    only: ['virtualservice.UnreachableRulesAnalyzer'],
    yaml: tcpEcho('duplicate-empty-tcp', `  -${echoRoute('v1').slice(3)}  -${echoRoute('v2').slice(3)}`),
    expect: ['Warning [IST0130] spec.tcp[1]: VirtualService rule #1 not used (only the last rule can have no matches).'],
  },
  {
    source: `${TD}/virtualservice_dupmatches.yaml VirtualService almost-duplicate-tcp-match`,
    only: ['virtualservice.UnreachableRulesAnalyzer'],
    yaml: tcpEcho(
      'almost-duplicate-tcp-match',
      `  - match: [{port: 31400}]\n${echoRoute('v1')}  - match:\n    - port: 31400\n    - port: 31401\n${echoRoute('v2')}`,
    ),
    expect: ['Info [IST0131] spec.tcp[1].match[0]: VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).'],
  },
  {
    source: `${TD}/virtualservice_dupmatches.yaml (the catch-all after specific rules, as the testdata's valid objects order them)`,
    only: ['virtualservice.UnreachableRulesAnalyzer'],
    yaml: tcpEcho(
      'ordered',
      `  - match: [{port: 31400}]\n${echoRoute('v1')}  - match: [{port: 31401}]\n${echoRoute('v2')}  -${echoRoute('v3').slice(3)}`,
    ),
    expect: [],
  },
  {
    source: `${TD}/virtualservice_dupmatches.yaml VirtualService none/tls-routing`,
    only: ['virtualservice.UnreachableRulesAnalyzer'],
    yaml: net(
      'VirtualService',
      'tls-routing',
      '  hosts: [www1.googleapis.com, api1.facebook.com]\n  gateways: [istio-egressgateway]\n  tls:\n  - match: [{sniHosts: [www1.googleapis.com]}]\n    route: [{destination: {host: www1.googleapis.com}}]\n  - match:\n    - sniHosts: [www1.googleapis.com]\n    route: [{destination: {host: api1.facebook.com}}]\n',
      'none',
    ),
    expect: [
      'Warning [IST0130] spec.tls[1]: VirtualService rule #1 not used (all matches used by prior rules).',
      'Info [IST0131] spec.tls[1].match[0]: VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).',
    ],
  },

  // ---- IST0132 VirtualServiceHostNotFoundInGateway (analyzers_test.go "virtualServiceGateways")
  {
    source: `${TD}/virtualservice_gateways.yaml VirtualService httpbin (host not in the gateway)`,
    only: ['virtualservice.GatewayAnalyzer'],
    yaml: [
      net(
        'Gateway',
        'httpbin-gateway',
        '  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: [bogus.example.com]\n    tls: {mode: PASSTHROUGH}\n',
      ),
      net(
        'VirtualService',
        'httpbin',
        '  hosts: [httpbin.example.com]\n  gateways: [httpbin-gateway]\n  tcp:\n  - route: [{destination: {host: httpbin.example.com}}]\n',
      ),
    ].join('---\n'),
    expect: [
      'Warning [IST0132] spec.gateways[0]: one or more host [httpbin.example.com] defined in VirtualService default/httpbin not found in Gateway default/httpbin-gateway.',
    ],
  },
  {
    source: `${TD}/virtualservice_gateways.yaml VirtualService httpbin-bogus (gateway missing: IST0101 and IST0132)`,
    only: ['virtualservice.GatewayAnalyzer'],
    yaml: net(
      'VirtualService',
      'httpbin-bogus',
      '  hosts: [httpbin.example.com]\n  gateways: [httpbin-gateway-bogus]\n  tcp:\n  - route: [{destination: {host: httpbin.example.com}}]\n',
    ),
    expect: [
      'Error [IST0101] spec.gateways[0]: Referenced gateway not found: "httpbin-gateway-bogus"',
      'Warning [IST0132] spec.gateways[0]: one or more host [httpbin.example.com] defined in VirtualService default/httpbin-bogus not found in Gateway default/httpbin-gateway-bogus.',
    ],
  },
  {
    source: `${TD}/virtualservice_gateways.yaml (a VirtualService whose host the gateway serves via "./host")`,
    only: ['virtualservice.GatewayAnalyzer'],
    yaml: [
      net(
        'Gateway',
        'httpbin-gateway',
        '  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: ["./*.example.com"]\n    tls: {mode: PASSTHROUGH}\n',
      ),
      net(
        'VirtualService',
        'httpbin',
        '  hosts: [httpbin.example.com]\n  gateways: [httpbin-gateway]\n  tcp:\n  - route: [{destination: {host: httpbin.example.com}}]\n',
      ),
    ].join('---\n'),
    expect: [],
  },

  // ---- IST0173 / IST0174 (analyzers_test.go "DestinationRuleSubsetsNotSelectPods", "DestinationRuleWithFakeHost")
  {
    source: `${TD}/destinationrule-subsets-not-select-pods.yaml DestinationRule default/subsets-not-select-pods`,
    only: ['destinationrule.SubsetSelectPodAnalyzer'],
    yaml: [
      net(
        'DestinationRule',
        'subsets-not-select-pods',
        '  host: httpbin.default.svc.cluster.local\n  subsets:\n  - {name: fake, labels: {version: v3}}\n',
      ),
      svc('httpbin', 'default', '[{name: http, port: 8000}]'),
      pod('httpbin-v1', 'default', '{app: httpbin, version: v1}'),
    ].join('---\n'),
    expect: [
      'Error [IST0173] spec.subsets[0].name: The Subset fake defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).',
    ],
  },
  {
    source: `${TD}/destinationrule-subsets-not-select-pods.yaml (the subset's pod exists)`,
    only: ['destinationrule.SubsetSelectPodAnalyzer'],
    yaml: [
      net(
        'DestinationRule',
        'subsets-select-pods',
        '  host: httpbin.default.svc.cluster.local\n  subsets:\n  - {name: v1, labels: {version: v1}}\n',
      ),
      svc('httpbin', 'default', '[{name: http, port: 8000}]'),
      pod('httpbin-v1', 'default', '{app: httpbin, version: v1}'),
    ].join('---\n'),
    expect: [],
  },
  {
    source: `${TD}/destinationrule-with-fake-host.yaml DestinationRule default/fake-host`,
    only: ['destinationrule.SubsetSelectPodAnalyzer'],
    yaml: net(
      'DestinationRule',
      'fake-host',
      '  host: fake-host.default.svc.cluster.local\n  trafficPolicy:\n    loadBalancer: {simple: LEAST_REQUEST}\n',
    ),
    expect: [
      'Warning [IST0174] spec.host: The host fake-host.default.svc.cluster.local defined in the DestinationRule does not match any services in the mesh.',
    ],
  },
  {
    source: `${TD}/destinationrule-with-fake-host.yaml (a ServiceEntry wildcard host covers the rule's host)`,
    only: ['destinationrule.SubsetSelectPodAnalyzer'],
    yaml: [
      net('DestinationRule', 'real-host', '  host: api.example.com\n  trafficPolicy:\n    loadBalancer: {simple: LEAST_REQUEST}\n'),
      net('ServiceEntry', 'wild', '  hosts: ["*.example.com"]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n'),
    ].join('---\n'),
    expect: [],
  },

  // ---- IST0118 PortNameIsNotUnderNamingConvention (analyzers_test.go "portNameNotFollowConvention")
  {
    source: `${TD}/service-no-port-name.yaml Service my-namespace1/my-service1`,
    only: ['service.PortNameAnalyzer'],
    yaml: svc('my-service1', 'my-namespace1', '[{name: foo, port: 8080, targetPort: 9080}]'),
    expect: [
      "Info [IST0118] spec.ports[0]: Port name foo (port: 8080, targetPort: 9080) doesn't follow the naming convention of Istio port.",
    ],
  },
  {
    source: `${TD}/service-no-port-name.yaml (a named port, and MySQL's well-known port unnamed)`,
    only: ['service.PortNameAnalyzer'],
    yaml: svc('my-service3', 'my-namespace3', '[{name: http-foo, port: 8080}, {name: db, port: 3306}]'),
    expect: [],
  },
];

for (const c of cases) {
  test(`analyzer: ${c.source}`, () => {
    assert.deepEqual(analyzerFindings(c.yaml, c.only), c.expect);
  });
}

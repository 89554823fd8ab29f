// `meshgate install --dry-run -o yaml`: the objects that run meshgate in a Kubernetes cluster (control
// plane with the injection webhook, gateways, RBAC, the webhook configuration, the mesh root ConfigMap),
// printed for `kubectl apply -f -`. No API server is contacted; without a --root-cert the webhook's
// caBundle and istio-ca-root-cert are empty and say where their content comes from.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../shared/package-root.js';
import { checkManifests } from '../install/manifest-check.js';
import { defaultInstallOptions, renderInstall, type InstallOptions } from '../install/manifests.js';
import { manifestsJson, manifestsYaml } from '../install/manifests-yaml.js';
import { outputHelp, parseOutputFormat } from './output-format.js';

const INSTALL_FORMATS = ['yaml', 'json'] as const;

class InstallError extends Error {
  constructor(
    readonly code: 'E_CLI_USAGE' | 'E_INSTALL_INVALID',
    message: string,
  ) {
    super(message);
  }
}

interface InstallCliOptions {
  dryRun?: boolean;
  output: string;
  image?: string;
  namespace: string;
  revision?: string;
  trustDomain: string;
  clusterId: string;
  injectionNamespace?: string[];
  rootCert?: string;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The rendered stream for these options, checked (a set that fails the schema check is never printed). */
export function renderInstallText(o: InstallOptions, format: 'yaml' | 'json', header: string[]): string {
  const objects = renderInstall(o);
  const problems = checkManifests(objects);
  if (problems.length > 0) throw new InstallError('E_INSTALL_INVALID', `the rendered install is inconsistent:\n  ${problems.join('\n  ')}`);
  return format === 'json' ? manifestsJson(objects) : manifestsYaml(objects, header);
}

export function installHeader(o: InstallOptions): string[] {
  return [
    `meshgate ${packageVersion()} install: namespace ${o.namespace}, image ${o.image}, trust domain ${o.trustDomain}, cluster ${o.clusterId}${o.revision ? `, revision ${o.revision}` : ''}`,
    'Apply with: kubectl apply -f <this file>. Before the control plane starts it needs, in its namespace:',
    '  Secret cacerts (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem; meshgate ca create-root makes a root),',
    "  ConfigMap meshgate-token-keys (sa.pub: the public key that signs the cluster's service-account tokens).",
    ...(o.rootCertPem
      ? []
      : ['The webhook caBundle and istio-ca-root-cert are empty: render with --root-cert cacerts/root-cert.pem to fill them.']),
  ];
}

export function registerInstallCommand(program: Command): void {
  const defaults = defaultInstallOptions(packageVersion());
  program
    .command('install')
    .description(
      'Render the Kubernetes objects that run meshgate (control plane, injection webhook, gateways); --dry-run prints them, no API server is contacted.',
    )
    .option('--dry-run', 'print the objects instead of applying them (required: meshgate does not talk to an API server here)')
    .option('-o, --output <format>', outputHelp(INSTALL_FORMATS), 'yaml')
    .option('--image <image>', 'the meshgate image for the control plane, the proxies and capture', defaults.image)
    .option('-n, --namespace <ns>', "the control plane's namespace", defaults.namespace)
    .option('--revision <rev>', "a control plane revision (Istio's istio.io/rev); object names get -REV")
    .option('--trust-domain <domain>', 'the SPIFFE trust domain', defaults.trustDomain)
    .option('--cluster-id <id>', "this cluster's id (Istio's CLUSTER_ID)", defaults.clusterId)
    .option(
      '--injection-namespace <ns>',
      'a namespace to label istio-injection=enabled and give istio-ca-root-cert (repeatable; default: default)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--root-cert <file>', "the mesh root (the cacerts Secret's root-cert.pem): the webhook's caBundle and istio-ca-root-cert")
    .action((o: InstallCliOptions) => {
      const format = parseOutputFormat(o.output, INSTALL_FORMATS, 'install');
      if (!o.dryRun)
        throw new InstallError(
          'E_CLI_USAGE',
          'meshgate install contacts no API server: use --dry-run and apply the output with kubectl apply -f -',
        );
      let rootCertPem: string | undefined;
      if (o.rootCert) {
        try {
          rootCertPem = readFileSync(o.rootCert, 'utf8');
        } catch (err) {
          throw new InstallError('E_CLI_USAGE', `--root-cert: cannot read ${o.rootCert}: ${(err as Error).message}`);
        }
        if (!rootCertPem.includes('-----BEGIN CERTIFICATE-----'))
          throw new InstallError('E_CLI_USAGE', `--root-cert: ${o.rootCert} holds no PEM certificate`);
      }
      const opts: InstallOptions = {
        image: o.image ?? defaults.image,
        namespace: o.namespace,
        ...(o.revision ? { revision: o.revision } : {}),
        trustDomain: o.trustDomain,
        clusterId: o.clusterId,
        injectionNamespaces: o.injectionNamespace ?? defaults.injectionNamespaces,
        ...(rootCertPem ? { rootCertPem } : {}),
      };
      process.stdout.write(renderInstallText(opts, format as 'yaml' | 'json', installHeader(opts)));
      if (!rootCertPem)
        process.stderr.write(
          'meshgate install: the webhook caBundle and ConfigMap istio-ca-root-cert are empty; pass --root-cert with the root-cert.pem of the cacerts Secret\n',
        );
    });
}

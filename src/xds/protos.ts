// Envoy's v3 API as protobufjs reflection, loaded from the `.proto` files that ship in
// @grpc/grpc-js-xds (its `deps/` folder: envoy-api, xds, googleapis, protoc-gen-validate), each folder
// found through a file the package publishes. Loaded once,
// lazily, into one Root shared by the codec, the ADS server and the ADS client. Istio's own NameTable
// (NDS) is not in those files, so it is declared here by reflection, field for field as in
// istio/pkg/dns/proto/nds.proto.
import protobuf from 'protobufjs';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The files whose messages meshgate sends or receives; their imports are pulled in transitively. */
export const ENVOY_PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/core/v3/base.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
] as const;

export class ProtoLoadError extends Error {
  readonly code = 'E_XDS_PROTO_LOAD';
}

/** One published file per include directory (`@grpc/grpc-js-xds`'s package.json lists deps/**.proto in
 * `files` and has no `exports` map, so these paths are part of what it ships; it documents no API for
 * them, so each is resolved by name here and a missing one is reported, never guessed around). */
const INCLUDE_MARKERS = [
  ['envoy-api', 'envoy/service/discovery/v3/ads.proto'],
  ['xds', 'udpa/annotations/status.proto'],
  ['googleapis', 'google/rpc/status.proto'],
  ['protoc-gen-validate', 'validate/validate.proto'],
] as const;

/** The include directories, in lookup order: protobufjs' own google/protobuf/descriptor.proto, then the
 * four deps/ folders of @grpc/grpc-js-xds. `from` is where packages are resolved from (tests). */
export function protoIncludeDirs(from: string = import.meta.url): string[] {
  const req = from === import.meta.url ? require : createRequire(from);
  const pbjs = path.dirname(req.resolve('protobufjs/package.json'));
  const dirs = [pbjs];
  for (const [dir, marker] of INCLUDE_MARKERS) {
    const spec = `@grpc/grpc-js-xds/deps/${dir}/${marker}`;
    let file: string;
    try {
      file = req.resolve(spec);
    } catch (err) {
      let where = 'is not installed';
      try {
        const pkg = req.resolve('@grpc/grpc-js-xds/package.json');
        const { version } = JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string };
        where = `${version ?? '?'} at ${path.dirname(pkg)} does not ship deps/${dir}/${marker}`;
      } catch {
        // No package.json either: "is not installed" is the accurate message.
      }
      throw new ProtoLoadError(
        `Envoy's .proto files come from @grpc/grpc-js-xds's deps/ folder, but @grpc/grpc-js-xds ${where}; run npm ci (a version that moved the folder needs src/xds/protos.ts updated)`,
        { cause: err },
      );
    }
    dirs.push(file.slice(0, file.length - marker.length - 1));
  }
  return dirs;
}

let cached: protobuf.Root | undefined;

/** The shared Root with Envoy's messages and Istio's NameTable; loaded on first use. */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const dirs = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    // protobufjs serves google/protobuf/{any,duration,struct,wrappers,...}.proto from memory.
    return target;
  };
  try {
    root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
    defineNameTable(root);
    root.resolveAll();
  } catch (err) {
    throw new ProtoLoadError(`loading Envoy .proto files from ${dirs.join(', ')}: ${(err as Error).message}`, { cause: err });
  }
  cached = root;
  return root;
}

/** The message type for a fully qualified name (`envoy.config.listener.v3.Listener`), or undefined. */
export function lookupMessageType(fullName: string): protobuf.Type | undefined {
  const found = envoyRoot().lookup(fullName.replace(/^\./, ''));
  return found instanceof protobuf.Type ? found : undefined;
}

// istio.networking.nds.v1.NameTable, as istiod sends it over NDS.
function defineNameTable(root: protobuf.Root): void {
  const nameInfo = new protobuf.Type('NameInfo')
    .add(new protobuf.Field('ips', 1, 'string', 'repeated'))
    .add(new protobuf.Field('registry', 2, 'string'))
    .add(new protobuf.Field('shortname', 3, 'string'))
    .add(new protobuf.Field('namespace', 4, 'string'))
    .add(new protobuf.Field('alt_hosts', 5, 'string', 'repeated'));
  const nameTable = new protobuf.Type('NameTable')
    .add(nameInfo)
    .add(new protobuf.MapField('table', 1, 'string', 'NameInfo'))
    .add(new protobuf.Field('name_info', 2, 'NameInfo'));
  root.define('istio.networking.nds.v1').add(nameTable);
}

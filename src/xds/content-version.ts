// The version meshgate's ADS server gives one type's content for one proxy: a hash of exactly the
// resources (names and content hashes, in name order). A delta client can compute it over what it holds
// (each delta Resource carries its content hash as version) and compare it with a response's
// system_version_info: equal means it holds the whole set, even when the server sent it in pieces.
import { createHash } from 'node:crypto';

export interface NamedContent {
  readonly name: string;
  readonly hash: string;
}

/** `sorted` must be in resource-name order (byte order of the names). */
export function contentVersion(typeUrl: string, sorted: readonly NamedContent[]): string {
  const h = createHash('sha256').update(typeUrl);
  for (const r of sorted) h.update(`\0${r.name}\0${r.hash}`);
  return h.digest('hex').slice(0, 16);
}

/** The order `contentVersion` wants: byte order of the names. */
export function byResourceName(a: NamedContent, b: NamedContent): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// Walks every route destination of a VirtualService (tcp, tls and http), with its JSON path.
import type { Destination, VirtualService } from '../config/types.js';

export interface RouteDestinationRef {
  destination: Destination;
  /** JSON path of the route destination, like `spec.tcp[0].route[1]`. */
  field: string;
}

export function routeDestinations(vs: VirtualService): RouteDestinationRef[] {
  const out: RouteDestinationRef[] = [];
  for (const kind of ['tcp', 'tls', 'http'] as const) {
    const routes = (vs.spec[kind] ?? []) as { route?: { destination?: Destination }[] }[];
    routes.forEach((r, i) => {
      (r.route ?? []).forEach((rd, j) => {
        if (rd.destination?.host) out.push({ destination: rd.destination, field: `spec.${kind}[${i}].route[${j}]` });
      });
    });
  }
  return out;
}

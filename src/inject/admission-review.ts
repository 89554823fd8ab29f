// The AdmissionReview v1 contract (admission.k8s.io/v1) for a mutating webhook: the response echoes
// `request.uid`, says `allowed`, and when it changes the object carries `patchType: JSONPatch` and the
// RFC 6902 patch base64-encoded. Anything that is not a Pod CREATE is allowed unchanged.
import { injectionDecision, type InjectionDecision } from './injection-policy.js';
import { asPod } from './pod.js';
import { injectionPatch, type InjectionSettings } from './sidecar-injection.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export class AdmissionReviewError extends Error {
  readonly code = 'E_ADMISSION_REVIEW';
}

export interface AdmissionRequest {
  uid: string;
  namespace?: string;
  operation?: string;
  resource?: { group?: string; version?: string; resource?: string };
  object?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; message: string };
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** The review's request, checked: a v1 AdmissionReview with a string uid (else the webhook answers 400). */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!body || typeof body !== 'object') throw new AdmissionReviewError('the body is not a JSON object');
  const o = body as Record<string, unknown>;
  if (o.kind !== 'AdmissionReview') throw new AdmissionReviewError(`kind must be AdmissionReview, got ${JSON.stringify(o.kind)}`);
  if (o.apiVersion !== ADMISSION_API_VERSION)
    throw new AdmissionReviewError(
      `apiVersion must be ${ADMISSION_API_VERSION}, got ${JSON.stringify(o.apiVersion)} (the webhook declares admissionReviewVersions: [v1])`,
    );
  const r = o.request as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object') throw new AdmissionReviewError('request: required');
  if (typeof r.uid !== 'string' || r.uid === '') throw new AdmissionReviewError('request.uid: required, a non-empty string');
  return r as unknown as AdmissionRequest;
}

export interface ReviewOutcome {
  review: AdmissionReview;
  /** Why nothing was injected, when nothing was. */
  decision: InjectionDecision;
}

/** Answers one request: the patch for a Pod that gets a sidecar, `allowed: true` and nothing else otherwise. */
export function reviewPod(
  request: AdmissionRequest,
  settings: InjectionSettings,
  namespaceLabels?: (ns: string) => Record<string, string> | undefined,
): ReviewOutcome {
  const answer = (response: Omit<AdmissionResponse, 'uid'>, decision: InjectionDecision): ReviewOutcome => ({
    review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid: request.uid, ...response } },
    decision,
  });
  const res = request.resource;
  if (res && (res.resource !== 'pods' || (res.group ?? '') !== ''))
    return answer({ allowed: true }, { inject: false, reason: `not a Pod (${res.group ?? ''}/${res.resource ?? ''})` });
  if (request.operation !== undefined && request.operation !== 'CREATE')
    return answer({ allowed: true }, { inject: false, reason: `operation ${request.operation}` });
  const pod = asPod(request.object);
  // Istio refuses what it cannot read; with failurePolicy Fail the API server then refuses the Pod.
  if (!pod)
    return answer(
      { allowed: false, status: { code: 400, message: 'request.object is not a Pod (metadata, spec.containers with names)' } },
      { inject: false, reason: 'not a Pod' },
    );
  const namespace = request.namespace || pod.metadata.namespace || 'default';
  const decision = injectionDecision(pod, namespace, namespaceLabels?.(namespace));
  if (!decision.inject) return answer({ allowed: true }, decision);
  const patch = injectionPatch(pod, settings);
  return answer({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }, decision);
}

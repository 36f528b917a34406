// The three patch formats a Kubernetes API server accepts (server-side apply is not served):
// JSON Patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
import jsonpatch from 'fast-json-patch';
import mergePatch from 'json-merge-patch';
import { ApiError, badRequest, unsupportedMediaType } from './errors.js';
import type { ResourceType, SmpField, SmpSchema } from './resources.js';
import type { PatchType } from './types.js';

export const PATCH_CONTENT_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

const APPLY_PATCH = 'application/apply-patch+yaml';

/**
 * The patch types a resource accepts, as content types, as the real 415 message lists them (server-side
 * apply included: the real server accepts it, the emulator refuses it apart, see patchTypeFor).
 */
export function acceptedPatchTypes(rt: ResourceType): string[] {
  return [
    ...Object.entries(PATCH_CONTENT_TYPES)
      .filter(([, t]) => t !== 'strategic' || rt.smp !== undefined)
      .map(([ct]) => ct),
    APPLY_PATCH,
  ];
}

export function patchTypeFor(contentType: string, rt: ResourceType): PatchType {
  const ct = contentType.split(';')[0].trim().toLowerCase();
  if (ct === APPLY_PATCH)
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      'server-side apply (application/apply-patch+yaml) is not served by this emulator; use a JSON, merge or strategic merge patch',
    );
  const t = PATCH_CONTENT_TYPES[ct];
  // A content type that is no patch at all fails content negotiation, before the resource's own list.
  if (!t) throw new ApiError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});
  if (t === 'strategic' && !rt.smp) throw unsupportedMediaType(acceptedPatchTypes(rt));
  return t;
}

/** Applies a patch to a copy of `original` and returns the result. */
export function applyPatch(rt: ResourceType, original: any, type: PatchType, patch: unknown): any {
  const doc = JSON.parse(JSON.stringify(original));
  switch (type) {
    case 'json':
      return applyJsonPatch(doc, patch);
    case 'merge':
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
        throw badRequest('json: cannot unmarshal a merge patch that is not an object');
      return mergePatch.apply(doc, patch);
    case 'strategic':
      if (!rt.smp) throw unsupportedMediaType(acceptedPatchTypes(rt));
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
        throw badRequest('json: cannot unmarshal a strategic merge patch that is not an object');
      return strategicMerge(doc, patch as Record<string, unknown>, rt.smp);
    default:
      throw unsupportedMediaType(acceptedPatchTypes(rt));
  }
}

function applyJsonPatch(doc: any, patch: unknown): any {
  if (!Array.isArray(patch))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  for (const [i, op] of patch.entries()) {
    if (op === null || typeof op !== 'object' || typeof op.op !== 'string' || typeof op.path !== 'string')
      throw badRequest(`Unexpected kind: invalid operation ${i}`);
  }
  try {
    return jsonpatch.applyPatch(doc, patch as jsonpatch.Operation[], true, true, true).newDocument;
  } catch (err: any) {
    // The real server turns every application failure (a failed `test` included) into a 422.
    const op = err?.operation;
    const why =
      err?.name === 'TEST_OPERATION_FAILED'
        ? `testing value ${op?.path} failed: test failed`
        : `${op?.op ?? 'patch'} operation does not apply: doc is missing path: "${op?.path ?? ''}": ${String(err?.message ?? err).split('\n')[0]}`;
    // The real answer stops at the message (its details are empty); the emulator adds why, as a
    // cause (a known difference, sandbox/kube/README.md).
    throw new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
      causes: [{ reason: 'UnexpectedServerResponse', message: why }],
    });
  }
}

// ---------- strategic merge patch ----------

const isMap = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Removes directives and nulls from a value being added fresh (nothing to merge with). */
function clean(v: any): any {
  if (Array.isArray(v)) return v.filter((x) => !(isMap(x) && x.$patch === 'delete')).map(clean);
  if (!isMap(v)) return v;
  const out: Record<string, any> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (x === null) continue;
    out[k] = clean(x);
  }
  return out;
}

/** Merges a strategic merge patch map into `original` (both plain JSON) following `schema`. */
export function strategicMerge(
  original: any,
  patch: Record<string, any>,
  schema: SmpSchema | undefined,
): any {
  if (patch.$patch === 'replace') return clean(patch);
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch !== undefined) throw badRequest(`Unknown patch type: ${String(patch.$patch)} in map`);
  const out: Record<string, any> = isMap(original) ? { ...original } : {};

  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set<string>(patch.$retainKeys as string[]);
    for (const k of Object.keys(out)) if (!keep.has(k) && !(k in patch)) delete out[k];
  }

  const orders = new Map<string, unknown[]>();
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.set(k.slice('$setElementOrder/'.length), v);
    } else if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[f]) && Array.isArray(v)) out[f] = out[f].filter((x: unknown) => !v.includes(x));
    }
  }

  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    const fieldSchema: SmpField | undefined = schema?.[k];
    if (v === null) {
      delete out[k];
    } else if (isMap(v)) {
      const merged = isMap(out[k])
        ? strategicMerge(out[k], v, fieldSchema?.fields)
        : strategicMerge({}, v, fieldSchema?.fields);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      out[k] = mergeList(out[k], v, fieldSchema);
    } else {
      out[k] = v;
    }
  }

  for (const [f, order] of orders) {
    const list = out[f];
    const key = schema?.[f]?.mergeKey;
    if (Array.isArray(list)) out[f] = applyOrder(list, order, key);
  }
  return out;
}

function mergeList(original: unknown, patch: unknown[], field: SmpField | undefined): unknown[] {
  const orig = Array.isArray(original) ? original : [];
  // A list-level `$patch: replace` element replaces the list with the other elements.
  if (patch.some((x) => isMap(x) && x.$patch === 'replace')) {
    return patch.filter((x) => !(isMap(x) && x.$patch === 'replace')).map(clean);
  }
  if (field?.mergeScalars) {
    const out = [...orig];
    for (const x of patch) if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
    return normalizeElementOrder(out, patch, orig, (x) => x);
  }
  const key = field?.mergeKey;
  if (!key) return patch.map(clean); // no patch strategy: the list is replaced whole
  const out: any[] = [...orig];
  for (const item of patch) {
    if (!isMap(item)) throw badRequest(`patch list element of a list merged by ${key} is not an object`);
    const id = item[key];
    const idx = out.findIndex((o) => isMap(o) && o[key] === id);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (id === undefined)
      throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item, field?.fields);
    else out.push(clean(item));
  }
  return normalizeElementOrder(
    out,
    patch.filter((x) => !(isMap(x) && x.$patch === 'delete')),
    orig,
    (x) => (isMap(x) ? x[key] : x),
  );
}

/**
 * The order of a merged list, as apimachinery's normalizeElementOrder gives it: the patch's
 * elements in the patch's order, with the elements only the server had interleaved by their
 * place in the server's list (an element only the server had goes before a patch element when
 * both were in the server's list in that order). So elements new in the patch come first.
 */
function normalizeElementOrder(
  merged: unknown[],
  patch: unknown[],
  server: unknown[],
  idOf: (x: unknown) => unknown,
): unknown[] {
  const same = (a: unknown, b: unknown) => JSON.stringify(idOf(a)) === JSON.stringify(idOf(b));
  const indexIn = (list: unknown[], x: unknown) => list.findIndex((y) => same(y, x));
  const fromPatch = merged
    .filter((x) => indexIn(patch, x) >= 0)
    .sort((a, b) => indexIn(patch, a) - indexIn(patch, b));
  const serverOnly = merged.filter((x) => indexIn(patch, x) < 0);
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < fromPatch.length) {
    if (j >= fromPatch.length) out.push(serverOnly[i++]);
    else if (i >= serverOnly.length) out.push(fromPatch[j++]);
    else {
      const li = indexIn(server, serverOnly[i]);
      const ri = indexIn(server, fromPatch[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(serverOnly[i++]);
      else out.push(fromPatch[j++]);
    }
  }
  return out;
}

/** `$setElementOrder`: the patch's order first, then elements it does not mention, in their order. */
function applyOrder(list: any[], order: unknown[], key: string | undefined): any[] {
  const idOf = (x: any) => (key && isMap(x) ? x[key] : x);
  const orderIds = order.map((o) => idOf(o));
  const pos = (x: any) => {
    const i = orderIds.findIndex((o) => JSON.stringify(o) === JSON.stringify(idOf(x)));
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return list
    .map((x, i) => ({ x, i }))
    .sort((a, b) => pos(a.x) - pos(b.x) || a.i - b.i)
    .map((e) => e.x);
}

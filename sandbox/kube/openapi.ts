// A minimal OpenAPI v3 discovery: for each group/version, the PATCH operations of its kinds with
// the `fieldValidation` parameter. That is what kubectl looks for to decide that the server does
// field validation itself; it then skips client-side schema validation (which would need the full
// OpenAPI v2 document, not served). The schemas themselves are not served (`kubectl explain` has none).
import { createHash } from 'node:crypto';
import { SERVER_VERSION } from './discovery.js';
import { apiVersionOf, type ResourceRegistry } from './resources.js';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export class OpenApiV3 {
  private readonly docs = new Map<string, string>();
  private readonly root: string;

  constructor(registry: ResourceRegistry) {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    for (const { group, versions } of registry.groups()) {
      for (const version of versions) {
        const doc = JSON.stringify(this.gvDoc(registry, group, version));
        const p = gvPath(group, version);
        const hash = createHash('sha512').update(doc).digest('hex').slice(0, 64).toUpperCase();
        this.docs.set(p, doc);
        paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
      }
    }
    this.root = JSON.stringify({ paths });
  }

  private gvDoc(registry: ResourceRegistry, group: string, version: string): Record<string, unknown> {
    const paths: Record<string, unknown> = {};
    const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const param = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
    for (const rt of registry.inGroupVersion(group, version)) {
      if (rt.virtual) continue;
      const path = rt.namespaced
        ? `${prefix}/namespaces/{namespace}/${rt.plural}/{name}`
        : `${prefix}/${rt.plural}/{name}`;
      paths[path] = {
        patch: {
          operationId: `patch${rt.kind}`,
          parameters: [param('dryRun'), param('fieldManager'), param('fieldValidation'), param('force')],
          responses: { '200': { description: 'OK' } },
          'x-kubernetes-action': 'patch',
          'x-kubernetes-group-version-kind': { group, version, kind: rt.kind },
        },
      };
    }
    return {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion },
      paths,
      components: { schemas: {} },
      'x-api-version': apiVersionOf({ group, version }),
    };
  }

  rootDocument(): string {
    return this.root;
  }

  /** The document of `api/v1` or `apis/<group>/<version>`, undefined when not served. */
  groupVersionDocument(path: string): string | undefined {
    return this.docs.get(path);
  }
}

// ---------- OpenAPI v2 ----------

/** The media type kubectl asks /openapi/v2 for (gnostic's protobuf encoding of the document). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

/** A length-delimited protobuf field (wire type 2) holding `payload`. */
function lengthDelimited(field: number, payload: Buffer): Buffer {
  const varint: number[] = [];
  let n = payload.length;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    varint.push(b);
  } while (n);
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint]), payload]);
}

/**
 * An OpenAPI v2 document with no definitions, as JSON or as gnostic's protobuf (Document: swagger=1,
 * info=2 {title=1, version=2}, paths=8). kubectl validates on the client, with this document, the
 * kinds whose PATCH operation in /openapi/v3 lacks `fieldValidation` — here GameServerAllocation,
 * which has no PATCH (Agones' aggregated API server, too, contributes an empty v2 document). A kind
 * without a definition is not validated: kubectl sends it as it is, as against a real cluster.
 */
export function openApiV2(version: string): { json: string; protobuf: Buffer } {
  const title = 'Kubernetes';
  return {
    json: JSON.stringify({ swagger: '2.0', info: { title, version }, paths: {}, definitions: {} }),
    protobuf: Buffer.concat([
      lengthDelimited(1, Buffer.from('2.0')),
      lengthDelimited(
        2,
        Buffer.concat([lengthDelimited(1, Buffer.from(title)), lengthDelimited(2, Buffer.from(version))]),
      ),
      lengthDelimited(8, Buffer.alloc(0)),
    ]),
  };
}

// A minimal OpenAPI v3 discovery: for each group/version, the PATCH operations of its kinds with
// the `fieldValidation` parameter. That is what kubectl looks for to decide that the server does
// field validation itself; it then skips client-side schema validation (which would need the full
// OpenAPI v2 document, not served). The schemas themselves are not served (`kubectl explain` has none).
import { createHash } from 'node:crypto';
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
      info: { title: 'Kubernetes', version: 'v1.32.4' },
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

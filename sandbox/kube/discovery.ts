// Discovery documents (what kubectl and client libraries read to map kinds to resources):
// /version, /api, /apis, /apis/<group>, /api/v1 and /apis/<group>/<version>. Aggregated
// discovery is not served: answering plain application/json makes kubectl fall back to these.
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.js';

// The release the emulator is measured against (test/sandbox/control-plane/differential.test.ts), as the
// test bed's build of it answers (a build from source has no commit or date stamped in; the Go
// version, which depends on the toolchain, is left out).
export const SERVER_VERSION = {
  major: '1',
  minor: '34',
  emulationMajor: '1',
  emulationMinor: '34',
  minCompatibilityMajor: '1',
  minCompatibilityMinor: '33',
  gitVersion: 'v1.34.4',
  gitCommit: '$Format:%H$',
  gitTreeState: 'clean',
  buildDate: '1970-01-01T00:00:00Z',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function resourceEntries(rt: ResourceType): Record<string, unknown>[] {
  const main: Record<string, unknown> = {
    name: rt.plural,
    singularName: rt.singular,
    namespaced: rt.namespaced,
    kind: rt.kind,
    verbs: rt.verbs,
  };
  if (rt.shortNames.length) main.shortNames = rt.shortNames;
  if (rt.categories.length) main.categories = rt.categories;
  const subs = rt.subresources.map((s) => ({
    name: `${rt.plural}/${s.name}`,
    singularName: '',
    namespaced: rt.namespaced,
    ...(s.group !== undefined ? { group: s.group, version: s.version } : {}),
    kind: s.kind,
    verbs: s.verbs,
  }));
  return [main, ...subs];
}

export class Discovery {
  constructor(private readonly registry: ResourceRegistry) {}

  apiVersions(serverAddress: string): Record<string, unknown> {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    };
  }

  private groupDoc(group: string, versions: string[]): Record<string, unknown> {
    const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
    return { name: group, versions: vs, preferredVersion: vs[0] };
  }

  apiGroupList(): Record<string, unknown> {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: this.registry
        .groups()
        .filter((g) => g.group !== '')
        .map((g) => this.groupDoc(g.group, g.versions)),
    };
  }

  apiGroup(group: string): Record<string, unknown> | undefined {
    const g = this.registry.groups().find((x) => x.group === group && group !== '');
    return g ? { kind: 'APIGroup', apiVersion: 'v1', ...this.groupDoc(g.group, g.versions) } : undefined;
  }

  resourceList(group: string, version: string): Record<string, unknown> | undefined {
    const types = this.registry.inGroupVersion(group, version);
    if (types.length === 0) return undefined;
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: apiVersionOf({ group, version }),
      resources: types.flatMap(resourceEntries),
    };
  }
}

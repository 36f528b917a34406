// An in-memory ObjectReader for the policy unit tests: the stored objects the RBAC authorizer and
// the admission webhooks read their configuration from, each write bumping a resourceVersion.
import type { KubeObject, ObjectReader } from '../../../../sandbox/kube/types.js';

export class PolicyReader implements ObjectReader {
  private readonly objects = new Map<string, KubeObject>();
  private rv = 0;
  listCalls = 0;

  private key(group: string, resource: string, namespace: string | undefined, name: string): string {
    return `${group}/${resource}/${namespace ?? ''}/${name}`;
  }

  put(group: string, resource: string, obj: KubeObject): KubeObject {
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(this.key(group, resource, obj.metadata.namespace, obj.metadata.name ?? ''), stored);
    return stored;
  }

  remove(group: string, resource: string, namespace: string | undefined, name: string): void {
    this.objects.delete(this.key(group, resource, namespace, name));
  }

  list(group: string, resource: string, namespace?: string): KubeObject[] {
    this.listCalls++;
    const prefix = `${group}/${resource}/`;
    return [...this.objects.entries()]
      .filter(
        ([k, o]) => k.startsWith(prefix) && (namespace === undefined || o.metadata.namespace === namespace),
      )
      .map(([, o]) => o);
  }

  get(group: string, resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(this.key(group, resource, namespace, name));
  }
}

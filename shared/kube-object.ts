// Kubernetes objects in their wire form (watch events and responses are plain JSON), as far as the
// caches of shared/scoped-informer.ts and the components reading them rely on.

/** The parts of any object relied on (unknown fields are kept as they are). */
export interface KubeObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; uid?: string; controller?: boolean }[];
  };
  spec?: any;
  status?: any;
}

/** `namespace/name` (or `name` for a cluster-scoped object): the key of every cache. */
export function objectKey(obj: { metadata: { name?: string; namespace?: string } }): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : String(obj.metadata.name);
}

/**
 * Compares two resourceVersions: negative, 0 or positive like a comparator; undefined when they cannot
 * be compared. Kubernetes calls them opaque, but every API server in use (etcd revisions, the
 * emulator's counter) hands out increasing integers; callers rely on the comparison only to skip
 * work or wait a little longer, never for correctness of a write (writes carry preconditions).
 */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `a` is known to be at least as new as `b`. */
export function atLeastAsNew(a: string | undefined, b: string | undefined): boolean {
  const c = compareResourceVersions(a, b);
  return c !== undefined && c >= 0;
}

/** `a` is known to be older than `b`. */
export function olderThan(a: string | undefined, b: string | undefined): boolean {
  const c = compareResourceVersions(a, b);
  return c !== undefined && c < 0;
}

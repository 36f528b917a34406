declare module 'json-merge-patch' {
  /** RFC 7386: applies a merge patch to a target (the target may be modified) and returns the result. */
  export function apply(target: unknown, patch: unknown): any;
  const mergePatch: { apply: typeof apply };
  export default mergePatch;
}

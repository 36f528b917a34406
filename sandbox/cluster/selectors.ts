// Label selectors (metav1.LabelSelector) and node selectors (core/v1 NodeSelector) as Kubernetes
// evaluates them. Kept apart because the two differ: only node selectors know Gt/Lt and matchFields.

export interface LabelSelectorRequirement {
  key: string;
  operator: string; // In | NotIn | Exists | DoesNotExist
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string; // In | NotIn | Exists | DoesNotExist | Gt | Lt
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

type Labels = Record<string, string> | undefined;

function has(labels: Labels, key: string): boolean {
  return labels !== undefined && Object.prototype.hasOwnProperty.call(labels, key);
}

/**
 * One requirement. Unknown operators match nothing (the API server would have rejected them).
 * NotIn and DoesNotExist match objects without the key, as labels.Selector does.
 */
export function matchesRequirement(req: NodeSelectorRequirement, labels: Labels): boolean {
  const values = req.values ?? [];
  const present = has(labels, req.key);
  const value = present ? labels![req.key] : undefined;
  switch (req.operator) {
    case 'In':
      return present && values.includes(value!);
    case 'NotIn':
      return !present || !values.includes(value!);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    case 'Gt':
    case 'Lt': {
      if (!present || values.length !== 1) return false;
      const have = parseStrictInt(value!);
      const want = parseStrictInt(values[0]);
      if (have === undefined || want === undefined) return false;
      return req.operator === 'Gt' ? have > want : have < want;
    }
    default:
      return false;
  }
}

function parseStrictInt(s: string): number | undefined {
  return /^-?\d+$/.test(s) ? Number(s) : undefined;
}

/**
 * metav1.LabelSelector semantics: an empty selector ({}) selects everything, an absent one
 * (undefined/null) selects nothing. Callers whose API treats absence as "everything" pass `{}`.
 */
export function matchesLabelSelector(selector: LabelSelector | undefined | null, labels: Labels): boolean {
  if (selector === undefined || selector === null) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(labels, k) || labels![k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    if (req.operator === 'Gt' || req.operator === 'Lt') return false; // not valid in a label selector
    if (!matchesRequirement(req, labels)) return false;
  }
  return true;
}

/** A pod's `spec.nodeSelector`: every pair must be on the node. */
export function matchesNodeSelectorMap(
  nodeSelector: Record<string, string> | undefined,
  labels: Labels,
): boolean {
  for (const [k, v] of Object.entries(nodeSelector ?? {})) {
    if (!has(labels, k) || labels![k] !== v) return false;
  }
  return true;
}

/**
 * One NodeSelectorTerm: expressions ANDed. A term with neither expressions nor fields matches no
 * node (Kubernetes: "a null or empty node selector term matches no objects").
 */
export function matchesNodeSelectorTerm(
  term: NodeSelectorTerm,
  node: { metadata: { name?: string; labels?: Labels } },
): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const req of exprs) if (!matchesRequirement(req, node.metadata.labels)) return false;
  for (const req of fields) {
    // Only metadata.name is a supported node field.
    if (req.key !== 'metadata.name') return false;
    if (!matchesRequirement(req, { 'metadata.name': node.metadata.name ?? '' })) return false;
  }
  return true;
}

/** NodeSelector terms are ORed; no terms match no node. */
export function matchesNodeSelectorTerms(
  terms: NodeSelectorTerm[] | undefined,
  node: { metadata: { name?: string; labels?: Labels } },
): boolean {
  return (terms ?? []).some((t) => matchesNodeSelectorTerm(t, node));
}

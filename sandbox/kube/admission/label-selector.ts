// metav1.LabelSelector (matchLabels + matchExpressions) as webhooks use it for namespaceSelector
// and objectSelector: matching, and the validation kube-apiserver applies when a configuration
// is written.

import type { FieldError } from '../errors.js';

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** True when the selector selects everything (`{}`, as the defaulted selectors are). */
export function isEmptySelector(selector: LabelSelector | undefined): boolean {
  return (
    !selector ||
    (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)
  );
}

/** Whether `labels` satisfy every matchLabels pair and every requirement (absent keys satisfy NotIn and DoesNotExist). */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (isEmptySelector(selector)) return true;
  const have = labels ?? {};
  for (const [k, v] of Object.entries(selector!.matchLabels ?? {})) {
    if (have[k] !== v) return false;
  }
  for (const req of selector!.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(have, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!present || !values.includes(have[req.key]!)) return false;
        break;
      case 'NotIn':
        if (present && values.includes(have[req.key]!)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Problems with a label key, worded as apimachinery's IsQualifiedName does (empty when fine). */
export function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const errs: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) {
      errs.push(
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      );
    }
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  else if (!QUALIFIED_NAME.test(name)) {
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
  }
  return errs;
}

/** Field errors of a LabelSelector at `path` (e.g. `webhooks[0].namespaceSelector`). */
export function validateLabelSelector(selector: unknown, path: string): FieldError[] {
  if (selector === undefined || selector === null) return [];
  if (typeof selector !== 'object' || Array.isArray(selector)) {
    return [
      {
        type: 'FieldValueInvalid',
        field: path,
        message: 'Invalid value: "object": must be a label selector',
      },
    ];
  }
  const errs: FieldError[] = [];
  const s = selector as LabelSelector;
  const matchLabels = s.matchLabels !== null && typeof s.matchLabels === 'object' ? s.matchLabels : {};
  for (const [k, v] of Object.entries(matchLabels)) {
    for (const e of qualifiedNameErrors(k)) {
      errs.push({
        type: 'FieldValueInvalid',
        field: `${path}.matchLabels`,
        message: `Invalid value: ${JSON.stringify(k)}: ${e}`,
      });
    }
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
      errs.push({
        type: 'FieldValueInvalid',
        field: `${path}.matchLabels`,
        message: `Invalid value: ${JSON.stringify(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
      });
    }
  }
  (Array.isArray(s.matchExpressions) ? s.matchExpressions : []).forEach((raw, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const req: LabelSelectorRequirement =
      raw !== null && typeof raw === 'object' ? raw : ({ key: '', operator: '' } as LabelSelectorRequirement);
    const values = Array.isArray(req.values) ? req.values : [];
    switch (req.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) {
          errs.push({
            type: 'FieldValueRequired',
            field: `${at}.values`,
            message: "Required value: must be specified when `operator` is 'In' or 'NotIn'",
          });
        }
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) {
          errs.push({
            type: 'FieldValueForbidden',
            field: `${at}.values`,
            message: "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
          });
        }
        break;
      default:
        errs.push({
          type: 'FieldValueInvalid',
          field: `${at}.operator`,
          message: `Invalid value: ${JSON.stringify(req.operator)}: not a valid selector operator`,
        });
    }
    for (const e of qualifiedNameErrors(typeof req.key === 'string' ? req.key : '')) {
      errs.push({
        type: 'FieldValueInvalid',
        field: `${at}.key`,
        message: `Invalid value: ${JSON.stringify(req.key ?? '')}: ${e}`,
      });
    }
  });
  return errs;
}

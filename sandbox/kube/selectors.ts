// Label and field selectors as the API server parses and matches them. Parse errors are 400s.
import { badRequest } from './errors.js';
import type { FieldGetter } from './resources.js';
import type { KubeObject } from './types.js';
import { labelValueErrors, qualifiedNameErrors } from './names.js';

export type LabelOp = 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export type FieldSelector = FieldRequirement[];

// ---------- label selectors ----------

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function checkKey(key: string): void {
  const errs = qualifiedNameErrors(key);
  if (errs.length > 0)
    throw badRequest(`unable to parse requirement: key: Invalid value: "${key}": ${errs.join('; ')}`);
}

function checkValue(value: string, i: number): void {
  const errs = labelValueErrors(value);
  if (errs.length > 0)
    throw badRequest(
      `unable to parse requirement: values[${i}][]: Invalid value: "${value}": ${errs.join('; ')}`,
    );
}

export function parseLabelSelector(input: string | undefined): LabelSelector {
  const s = (input ?? '').trim();
  if (s === '') return [];
  const reqs: LabelSelector = [];
  for (const raw of splitTopLevel(s)) {
    const term = raw.trim();
    if (term === '') throw badRequest(`found '', expected: !, identifier, or 'end of string'`);
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s=!<>(),]+)$/.exec(term))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: '!', values: [] });
    } else if ((m = /^([^\s=!<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term))) {
      checkKey(m[1]);
      const values = m[3].split(',').map((v) => v.trim());
      values.forEach(checkValue);
      reqs.push({ key: m[1], op: m[2] as 'in' | 'notin', values: values });
    } else if ((m = /^([^\s=!<>(),]+)\s*(==|=|!=)\s*([^\s=!<>(),]*)$/.exec(term))) {
      checkKey(m[1]);
      checkValue(m[3], 0);
      reqs.push({ key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] });
    } else if ((m = /^([^\s=!<>(),]+)\s*([<>])\s*(-?\d+)$/.exec(term))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: m[2] === '>' ? 'gt' : 'lt', values: [m[3]] });
    } else if ((m = /^([^\s=!<>(),]+)$/.exec(term))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: couldn't parse the selector string "${s}": "${term}"`);
    }
  }
  return reqs;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of selector) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

/** A metav1.LabelSelector (matchLabels + matchExpressions) as stored in PDBs, webhooks, workloads. */
export function labelSelectorFromObject(sel: any): LabelSelector | 'nothing' {
  if (sel === null || sel === undefined) return 'nothing';
  const reqs: LabelSelector = [];
  for (const [key, value] of Object.entries((sel.matchLabels ?? {}) as Record<string, string>)) {
    reqs.push({ key, op: 'in', values: [value] });
  }
  for (const e of (sel.matchExpressions ?? []) as Array<{
    key: string;
    operator: string;
    values?: string[];
  }>) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' } as Record<string, LabelOp>)[
      e.operator
    ];
    if (!op) return 'nothing';
    reqs.push({ key: e.key, op, values: e.values ?? [] });
  }
  return reqs;
}

// ---------- field selectors ----------

/** Splits on an unescaped separator and unescapes `\,` `\=` `\\` as fields.ParseSelector does. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function unescapeValue(v: string, whole: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') {
      const next = v[i + 1];
      if (next === '\\' || next === ',' || next === '=') {
        out += next;
        i++;
        continue;
      }
      throw badRequest(`invalid field selector: '${whole}'; invalid escape sequence`);
    }
    if (v[i] === '=' || v[i] === ',')
      throw badRequest(`invalid field selector: '${whole}'; unescaped ${v[i]}`);
    out += v[i];
  }
  return out;
}

/**
 * Parses a field selector and checks every field against those the type supports
 * (`field label not supported: x` otherwise, as the real conversion does).
 */
export function parseFieldSelector(
  input: string | undefined,
  supported: Record<string, FieldGetter>,
): FieldSelector {
  const s = (input ?? '').trim();
  if (s === '') return [];
  const reqs: FieldSelector = [];
  for (const term of splitEscaped(s, ',')) {
    const t = term.trim();
    if (t === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^=!]+?)(!=|==|=)(.*)$/.exec(t))) {
      const fieldName = m[1].trim();
      if (!Object.prototype.hasOwnProperty.call(supported, fieldName)) {
        throw badRequest(`field label not supported: ${fieldName}`);
      }
      reqs.push({ field: fieldName, op: m[2] === '!=' ? '!=' : '=', value: unescapeValue(m[3], s) });
    } else {
      throw badRequest(`invalid selector: '${s}'; can't understand '${t}'`);
    }
  }
  return reqs;
}

export function matchesFields(
  selector: FieldSelector,
  obj: KubeObject,
  getters: Record<string, FieldGetter>,
): boolean {
  for (const r of selector) {
    const v = getters[r.field](obj);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

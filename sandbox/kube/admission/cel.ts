// matchConditions: CEL expressions over `object`, `oldObject` and `request`, compiled once per
// expression string and evaluated with kube-apiserver's semantics (matchconditions/matcher.go):
// any condition that is false skips the webhook, whatever the others did; otherwise any
// evaluation error is an error (the caller applies the failure policy); otherwise it matches.
// `authorizer` (and `authorizer.requestResource`) is not offered: an expression using it fails to
// compile, so such a configuration is rejected when written.

import { Environment } from '@marcbachmann/cel-js';

export interface MatchCondition {
  name: string;
  expression: string;
}

export type CompiledExpression =
  { ok: true; evaluate: (vars: Record<string, unknown>) => unknown } | { ok: false; error: string };

// Kubernetes' typed objects give integers CEL type int; optional types (`object.?spec.?x`) are on
// in its CEL environment as well.
const environment = new Environment({ enableOptionalTypes: true })
  .registerVariable('object', 'dyn')
  .registerVariable('oldObject', 'dyn')
  .registerVariable('request', 'dyn');

const compiled = new Map<string, CompiledExpression>();
const MAX_CACHED = 10_000;

function firstLine(err: unknown): string {
  const e = err as { summary?: string; message?: string };
  return (e?.summary || e?.message || String(err)).split('\n')[0]!;
}

/** Compiles (parse + type check, result bool or dyn) once per distinct expression text. */
export function compileExpression(expression: string): CompiledExpression {
  const hit = compiled.get(expression);
  if (hit) return hit;
  let result: CompiledExpression;
  try {
    const program = environment.parse(expression);
    const checked = program.check();
    if (!checked.valid) result = { ok: false, error: `compilation failed: ${firstLine(checked.error)}` };
    else if (checked.type !== 'bool' && checked.type !== 'dyn')
      result = { ok: false, error: 'must evaluate to bool' };
    else result = { ok: true, evaluate: (vars) => program(vars) };
  } catch (err) {
    result = { ok: false, error: `compilation failed: ${firstLine(err)}` };
  }
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(expression, result);
  return result;
}

/**
 * JSON → CEL values: whole numbers become int (BigInt), as the typed fields of a Kubernetes object
 * are, so `object.spec.replicas + 1` works; everything else is as JSON decoding gave it.
 */
export function toCelValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCelValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCelValue(v);
    return out;
  }
  return value;
}

export type ConditionsResult =
  { matches: true } | { matches: false; failedCondition: string } | { matches: false; error: string };

/** Evaluates every condition against the (already CEL-converted) variables. */
export function evaluateConditions(
  conditions: MatchCondition[],
  vars: { object: unknown; oldObject: unknown; request: unknown },
): ConditionsResult {
  const errors: string[] = [];
  for (const c of conditions) {
    const program = compileExpression(String(c?.expression ?? '').trim());
    if (!program.ok) {
      errors.push(`expression '${c.expression}' resulted in error: ${program.error}`);
      continue;
    }
    let value: unknown;
    try {
      value = program.evaluate(vars);
    } catch (err) {
      errors.push(`expression '${c.expression}' resulted in error: ${firstLine(err)}`);
      continue;
    }
    // Only a false skips: kube compares the result with celtypes.False.
    if (value === false) return { matches: false, failedCondition: String(c.name) };
  }
  if (errors.length > 0) {
    return { matches: false, error: errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]` };
  }
  return { matches: true };
}

import { describe, expect, it } from '@jest/globals';
import {
  matchesLabelSelector,
  matchesNodeSelectorMap,
  matchesNodeSelectorTerms,
  matchesRequirement,
} from '../../../sandbox/cluster/selectors.js';
import { integral, milliCpu, parseQuantity } from '../../../sandbox/cluster/quantity.js';
import { formatRFC3339, formatRFC3339Nano } from '../../../sandbox/cluster/time.js';

const labels = { role: 'game-servers', size: '8', zone: 'us-east-1a' };
const n = (l: Record<string, string>, name = 'n1') => ({ metadata: { name, labels: l } });

describe('label and node selectors', () => {
  it('evaluates every operator like labels.Selector', () => {
    expect(matchesRequirement({ key: 'role', operator: 'In', values: ['game-servers', 'x'] }, labels)).toBe(
      true,
    );
    expect(matchesRequirement({ key: 'role', operator: 'In', values: ['x'] }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'missing', operator: 'In', values: ['x'] }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'role', operator: 'NotIn', values: ['x'] }, labels)).toBe(true);
    expect(matchesRequirement({ key: 'role', operator: 'NotIn', values: ['game-servers'] }, labels)).toBe(
      false,
    );
    expect(matchesRequirement({ key: 'missing', operator: 'NotIn', values: ['x'] }, labels)).toBe(true);
    expect(matchesRequirement({ key: 'role', operator: 'Exists' }, labels)).toBe(true);
    expect(matchesRequirement({ key: 'missing', operator: 'Exists' }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'missing', operator: 'DoesNotExist' }, labels)).toBe(true);
    expect(matchesRequirement({ key: 'role', operator: 'DoesNotExist' }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'size', operator: 'Gt', values: ['4'] }, labels)).toBe(true);
    expect(matchesRequirement({ key: 'size', operator: 'Gt', values: ['8'] }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'size', operator: 'Lt', values: ['10'] }, labels)).toBe(true);
    expect(matchesRequirement({ key: 'size', operator: 'Lt', values: ['8'] }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'role', operator: 'Gt', values: ['1'] }, labels)).toBe(false); // not an integer
    expect(matchesRequirement({ key: 'missing', operator: 'Lt', values: ['1'] }, labels)).toBe(false);
    expect(matchesRequirement({ key: 'role', operator: 'Bogus' }, labels)).toBe(false);
  });

  it('a LabelSelector ANDs matchLabels and expressions; {} selects all, absent selects none', () => {
    expect(matchesLabelSelector({}, labels)).toBe(true);
    expect(matchesLabelSelector(undefined, labels)).toBe(false);
    expect(matchesLabelSelector(null, labels)).toBe(false);
    expect(matchesLabelSelector({ matchLabels: { role: 'game-servers' } }, labels)).toBe(true);
    expect(
      matchesLabelSelector(
        {
          matchLabels: { role: 'game-servers' },
          matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['us-east-1a'] }],
        },
        labels,
      ),
    ).toBe(false);
    expect(matchesLabelSelector({ matchLabels: { role: 'x' } }, undefined)).toBe(false);
    // Gt is a node-selector operator only.
    expect(
      matchesLabelSelector({ matchExpressions: [{ key: 'size', operator: 'Gt', values: ['1'] }] }, labels),
    ).toBe(false);
  });

  it('node selector terms are ORed, expressions within a term ANDed, an empty term matches nothing', () => {
    const terms = [
      { matchExpressions: [{ key: 'role', operator: 'In', values: ['x'] }] },
      {
        matchExpressions: [
          { key: 'role', operator: 'In', values: ['game-servers'] },
          { key: 'size', operator: 'Gt', values: ['4'] },
        ],
      },
    ];
    expect(matchesNodeSelectorTerms(terms, n(labels))).toBe(true);
    expect(matchesNodeSelectorTerms([terms[0]], n(labels))).toBe(false);
    expect(matchesNodeSelectorTerms([{}], n(labels))).toBe(false);
    expect(matchesNodeSelectorTerms([], n(labels))).toBe(false);
    expect(
      matchesNodeSelectorTerms(
        [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }],
        n(labels),
      ),
    ).toBe(true);
    expect(
      matchesNodeSelectorTerms(
        [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }],
        n(labels),
      ),
    ).toBe(false);
    expect(
      matchesNodeSelectorTerms(
        [{ matchFields: [{ key: 'spec.foo', operator: 'In', values: ['n1'] }] }],
        n(labels),
      ),
    ).toBe(false);
  });

  it('a nodeSelector map needs every pair', () => {
    expect(matchesNodeSelectorMap({ role: 'game-servers', zone: 'us-east-1a' }, labels)).toBe(true);
    expect(matchesNodeSelectorMap({ role: 'game-servers', zone: 'us-east-1b' }, labels)).toBe(false);
    expect(matchesNodeSelectorMap(undefined, labels)).toBe(true);
  });
});

describe('quantities', () => {
  it('parses decimal, binary and exponent forms', () => {
    expect(milliCpu('500m')).toBe(500);
    expect(milliCpu('2')).toBe(2000);
    expect(milliCpu('0.25')).toBe(250);
    expect(milliCpu(1.5)).toBe(1500);
    expect(integral('1Gi')).toBe(2 ** 30);
    expect(integral('512Mi')).toBe(512 * 2 ** 20);
    expect(integral('1G')).toBe(1e9);
    expect(integral('1e3')).toBe(1000);
    expect(integral('110')).toBe(110);
    expect(parseQuantity('abc')).toBeUndefined();
    expect(milliCpu(undefined)).toBe(0);
  });
});

describe('timestamps', () => {
  it('formats RFC3339 with nanoseconds like Go, trimming trailing zeros', () => {
    const ms = Date.parse('2026-05-06T07:08:09.120Z');
    expect(formatRFC3339Nano(ms)).toBe('2026-05-06T07:08:09.12Z');
    expect(formatRFC3339Nano(ms, 456)).toBe('2026-05-06T07:08:09.120000456Z');
    expect(formatRFC3339Nano(Date.parse('2026-05-06T07:08:09Z'))).toBe('2026-05-06T07:08:09Z');
    expect(formatRFC3339(ms)).toBe('2026-05-06T07:08:09Z');
  });
});

// What every benchmark's figures rest on: its flags and its percentiles.
import { describe, expect, it } from '@jest/globals';
import { argNumber, argString, percentile, percentileOf, round } from '../../bench/lib.js';

describe('bench/lib', () => {
  const argv = ['node', 'bench/x.ts', '--nodes', '12', '--control-plane', 'real', '--rate', 'fast'];

  it('reads a flag’s value, or the fallback when the flag is absent or has no value', () => {
    expect(argString('control-plane', 'emulated', argv)).toBe('real');
    expect(argString('seed', '1', argv)).toBe('1');
    expect(argString('x', 'd', ['node', 'b', '--x'])).toBe('d');
    expect(argNumber('nodes', 200, { argv })).toBe(12);
    expect(argNumber('agents', 1000, { argv })).toBe(1000);
  });

  it('refuses anything but a positive number where one is required, naming the flag', () => {
    expect(() => argNumber('rate', 200, { argv, positive: true })).toThrow(
      '--rate must be a positive number',
    );
    expect(() => argNumber('n', 1, { argv: ['node', 'b', '--n', '0'], positive: true })).toThrow('--n');
    expect(argNumber('nodes', 1, { argv, positive: true })).toBe(12);
  });

  it('takes the nearest-rank percentile', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([], 50)).toBeNaN();
    expect(percentileOf([30, 10, 20], 50)).toBe(20);
    expect(percentileOf([30, 10, 20], 99)).toBe(30);
  });

  it('rounds to the digits asked', () => {
    expect(round(1.26)).toBe(1.3);
    expect(round(1.2345, 2)).toBe(1.23);
  });
});

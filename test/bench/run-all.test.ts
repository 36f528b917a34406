// `npm run bench`: which scripts it runs and the headline figures of its table.
import { describe, expect, it } from '@jest/globals';
import { benchScripts, headline } from '../../bench/run-all.js';

describe('bench/run-all', () => {
  it('runs every bench:* script, not itself', () => {
    expect(
      benchScripts({
        build: 'tsc',
        bench: 'tsx bench/run-all.ts',
        'bench:kube': 'x',
        'bench:sandbox': 'y',
        benchmark: 'z',
      }),
    ).toEqual(['bench:kube', 'bench:sandbox']);
  });

  it("prefers a result's own headline, else its first numbers", () => {
    expect(headline({ headline: { sessionsLost: 0, reactionP99Ms: 1234.567 }, other: 5 })).toBe(
      'sessionsLost=0, reactionP99Ms=1234.57',
    );
    expect(
      headline({ date: 'x', cpus: 2, settings: { a: 1 }, p50: 1.234, nested: { deep: { x: 3 }, y: 2 } }),
    ).toBe('p50=1.23, nested.deep.x=3, nested.y=2');
    expect(headline(undefined)).toBe('');
  });
});

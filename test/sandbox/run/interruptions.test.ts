// What a seed fixes in a sandbox run: the interruption schedule (times and kinds), the generated
// game server names (and so Packed placement), and the tie-breaks of target choice; and where Spot
// notices land by default: on the busiest nodes.
import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../../sandbox/clock.js';
import { startKubeEmulator } from '../../../sandbox/kube/emulator.js';
import { pickBusiest, rateSchedule } from '../../../sandbox/run/interruptions.js';

describe('rateSchedule', () => {
  it('is fixed by the seed: the same times and kinds every time, others for another seed', () => {
    const a = rateSchedule(2, 0.5, 7, 600_000);
    expect(rateSchedule(2, 0.5, 7, 600_000)).toEqual(a);
    expect(a.map((s) => s.atMs)).toEqual(Array.from({ length: 20 }, (_, i) => (i + 1) * 30_000));
    expect(a.every((s) => s.count === 1)).toBe(true);
    const kinds = (seed: number) => rateSchedule(2, 0.5, seed, 600_000).map((s) => s.status);
    expect(kinds(8)).not.toEqual(kinds(7));
    expect(new Set(kinds(7))).toEqual(new Set(['DRAINING', 'SPOT_TERMINATING']));
  });

  it('honours the Spot share at its ends', () => {
    expect(rateSchedule(6, 1, 1, 60_000).every((s) => s.status === 'SPOT_TERMINATING')).toBe(true);
    expect(rateSchedule(6, 0, 1, 60_000).every((s) => s.status === 'DRAINING')).toBe(true);
    expect(rateSchedule(1, 0.5, 1, 59_000)).toEqual([]);
  });
});

describe('pickBusiest', () => {
  const sessions: Record<string, number> = { 'i-a': 0, 'i-b': 5, 'i-c': 2, 'i-d': 5, 'i-e': 0 };
  const of = (id: string) => sessions[id] ?? 0;

  it('hits the nodes holding the most sessions, not empty ones', () => {
    const ids = Object.keys(sessions);
    expect(new Set(pickBusiest(ids, 2, of, new SeededRandom(1)))).toEqual(new Set(['i-b', 'i-d']));
    expect(pickBusiest(ids, 3, of, new SeededRandom(1))[2]).toBe('i-c');
  });

  it('breaks ties with the seed, whatever the candidates order', () => {
    const ids = Object.keys(sessions);
    const first = (seed: number, list: string[]) => pickBusiest(list, 1, of, new SeededRandom(seed))[0];
    expect(first(3, ids)).toBe(first(3, [...ids].reverse()));
    const seen = new Set(Array.from({ length: 20 }, (_, seed) => first(seed, ids)));
    expect(seen).toEqual(new Set(['i-b', 'i-d']));
  });
});

describe('generated names', () => {
  it('follow a seeded random source, so the same seed names game servers the same way', async () => {
    const names = async (seed: number) => {
      const random = new SeededRandom(seed);
      const emu = await startKubeEmulator({ random: () => random.next() });
      try {
        const out: string[] = [];
        for (let i = 0; i < 3; i++)
          out.push(
            (
              await emu.client().create(
                { group: '', version: 'v1', resource: 'configmaps', namespace: 'default' },
                {
                  apiVersion: 'v1',
                  kind: 'ConfigMap',
                  metadata: { generateName: 'game-', namespace: 'default' },
                },
              )
            ).metadata.name!,
          );
        return out;
      } finally {
        await emu.stop();
      }
    };
    const a = await names(5);
    expect(await names(5)).toEqual(a);
    expect(await names(6)).not.toEqual(a);
  });
});

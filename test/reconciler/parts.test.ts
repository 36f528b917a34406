// Stopping the agent's parts never holds its exit up: a part whose stop never settles is abandoned after
// the grace period, and one whose stop fails is logged while the others still stop.
import { describe, expect, it } from '@jest/globals';
import type { Logger } from '../../shared/logger.js';
import { stopAgentParts, type AgentParts } from '../../reconciler/parts.js';

function fakeParts(stops: { status: () => Promise<void>; membership: () => Promise<void> }) {
  const stopped: string[] = [];
  const parts = {
    statusSource: { stop: () => (stopped.push('statusSource'), stops.status()) },
    membership: { stop: () => (stopped.push('membership'), stops.membership()) },
    membershipSteps: {},
  } as unknown as AgentParts;
  return { parts, stopped };
}

function recordingLogger(warned: string[]): Logger {
  return { warn: (_obj: unknown, msg: string) => warned.push(msg) } as unknown as Logger;
}

describe('stopAgentParts', () => {
  it('stops every part, and returns though one never finishes stopping', async () => {
    const { parts, stopped } = fakeParts({
      status: () => Promise.resolve(),
      membership: () => new Promise<void>(() => undefined),
    });
    await stopAgentParts(parts, 20, recordingLogger([]));
    expect(stopped.sort()).toEqual(['membership', 'statusSource']);
  });

  it('logs a part whose stop fails, after stopping the others', async () => {
    const warned: string[] = [];
    const { parts, stopped } = fakeParts({
      status: () => Promise.reject(new Error('redis gone')),
      membership: () => Promise.resolve(),
    });
    await stopAgentParts(parts, 10_000, recordingLogger(warned));
    expect(stopped.sort()).toEqual(['membership', 'statusSource']);
    expect(warned).toEqual(['reconciler: stopping a part failed']);
  });

  it('has nothing to stop before the parts are started', async () => {
    await expect(stopAgentParts(undefined, 10, recordingLogger([]))).resolves.toBeUndefined();
  });
});
